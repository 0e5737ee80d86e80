"""Shared helpers of the Sigma tests: rule paths in the copied SigmaHQ snapshot, events in Cloudward's real
input formats, and a scan through the real pipeline with a set of rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from cloudward.alerts import Alert
from cloudward.config import from_dict
from cloudward.pipeline import scan_text

SNAPSHOT = Path(__file__).parents[1] / "data" / "sigma" / "sigmahq"
RULES = SNAPSHOT / "rules"
WEB = RULES / "web" / "webserver_generic"
K8S = RULES / "application" / "kubernetes" / "audit"
LINUX_PROC = RULES / "linux" / "process_creation"
AUDITD = RULES / "linux" / "auditd"
EMERGING = SNAPSHOT / "rules-emerging-threats"


def combined(target: str, *, method: str = "GET", status: int = 200, agent: str = "Mozilla/5.0 (X11; Linux x86_64)",
             ip: str = "203.0.113.9", referer: str = "-", second: int = 1) -> str:
    """One nginx/Apache `combined` access-log line."""
    return (f'{ip} - - [02/Nov/2026:09:15:{second:02d} +0000] "{method} {target} HTTP/1.1" {status} 512 '
            f'"{referer}" "{agent}"\n')


def sysmon_exec(image: str, command_line: str, *, parent: str = "C:\\Windows\\System32\\inetsrv\\w3wp.exe",
                original: str = "", user: str = "IIS APPPOOL\\shop", second: int = 27) -> str:
    """A Sysmon process-creation record as NXLog writes it (one JSON object per line)."""
    rec: dict[str, Any] = {
        "EventTime": f"2026-11-02 09:15:{second:02d}", "Hostname": "WEBAPP01", "SourceName": "Microsoft-Windows-Sysmon",
        "EventID": 1, "Image": image, "CommandLine": command_line, "ParentImage": parent,
        "ParentCommandLine": parent, "User": user, "ProcessId": "4242", "ParentProcessId": "4100",
        "UtcTime": f"2026-11-02 09:15:{second:02d}.000", "CurrentDirectory": "C:\\inetpub\\wwwroot\\",
    }
    if original:
        rec["OriginalFileName"] = original
    return orjson.dumps(rec).decode() + "\n"


def scan(text: str, rule_paths: list[Path | str], fmt: str | None = None,
         extra: dict[str, Any] | None = None) -> list[Alert]:
    """Alerts of `text` with only the given Sigma rules (no cards) through the real pipeline."""
    config = from_dict({"sigma": {"paths": [str(p) for p in rule_paths], **(extra or {})}}, "test")
    alerts, stats = scan_text(text, fmt, config=config, only={"SIGMA_*"})
    assert stats.rejected == 0, stats.rejections[:3]
    return alerts


def alert_types(alerts: list[Alert]) -> set[str]:
    return {a.alert_type for a in alerts}


def write_rule(tmp_path: Path, text: str, name: str = "rule.yml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p
