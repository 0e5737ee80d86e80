"""Sigma rules run in every runner: a `[sigma] paths` configuration raises SIGMA_ alerts in `cloudward serve`
(a real uvicorn on 127.0.0.1, audit events and access-log lines POSTed to it), in `cloudward tail`
(in-process, with its store) and in the agent's engine (events handed to its `Detector`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sigma_helpers import K8S, LINUX_PROC, WEB, combined

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from serving import INGEST, READER, event_list, make_server, read_event  # noqa: F401

from cloudward.agent.detect import Detector
from cloudward.cli import main
from cloudward.config import from_dict
from cloudward.detections.kubernetes._samples import audit
from cloudward.events import ProcessExec
from cloudward.store import Store

TRAVERSAL = WEB / "web_path_traversal_exploitation_attempt.yml"
TRAVERSAL_ID = "SIGMA_7745c2ea-24a5-4290-b680-04359cb84b35"
SECRET_DELETED = K8S / "kubernetes_audit_secrets_modified_or_deleted.yml"
CLEAR_SYSLOG = LINUX_PROC / "proc_creation_lnx_clear_syslog.yml"


def _rule_id(path: Path) -> str:
    for line in path.read_text().splitlines():
        if line.startswith("id:"):
            return "SIGMA_" + line.split(":", 1)[1].strip()
    raise AssertionError(path)


def _sigma_section(*paths: Path) -> str:
    return "[sigma]\npaths = [" + ", ".join(f'"{p}"' for p in paths) + "]\n"


def test_serve_raises_sigma_alerts_for_audit_events_and_access_logs(make_server: Any) -> None:  # noqa: F811
    srv = make_server(rest=_sigma_section(SECRET_DELETED, TRAVERSAL)).start()
    deleted = audit("delete", "secrets", None, name="db-password", namespace="shop",
                    user="mallory@example.com", code=200)
    reply = srv.request("POST", "/k8s-audit", event_list([read_event(1), deleted]), token=INGEST)
    assert reply.status == 200, reply.body
    lines = (combined("/index.html", ip="198.51.100.3") + combined("/cgi-bin/../../../etc/passwd", status=400)
             + combined("/about", ip="198.51.100.4", second=3))
    reply = srv.request("POST", "/ingest/combined?site=shop", lines.encode(), token=INGEST)
    assert reply.status == 200, reply.body
    items = srv.request("GET", "/api/v1/alerts", token=READER).json()["items"]
    by_type = {a["alert_type"]: a for a in items}
    assert _rule_id(SECRET_DELETED) in by_type and TRAVERSAL_ID in by_type, sorted(by_type)
    assert by_type[TRAVERSAL_ID]["entities"]["source_ip"] == "203.0.113.9"
    assert by_type[_rule_id(SECRET_DELETED)]["entities"]["user"] == "mallory@example.com"


def test_tail_in_process_raises_sigma_alerts(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(combined("/", ip="198.51.100.3") + combined("/cgi-bin/../../../etc/passwd", status=400)
                   + combined("/products/1", ip="198.51.100.4", second=4))
    config = tmp_path / "cloudward.toml"
    config.write_text(_sigma_section(TRAVERSAL))
    store = tmp_path / "tail.db"
    args = ["tail", str(log), "--config", str(config), "--store", str(store), "--once", "--site", "shop"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    db = Store(store)
    alerts = db.list_alerts()
    db.close()
    assert [(a["alert_type"], a["count"]) for a in alerts if a["alert_type"].startswith("SIGMA_")] == [
        (TRAVERSAL_ID, 1)]


def _exec(i: int, argv: list[str]) -> ProcessExec:
    return ProcessExec(event_id=f"agent:{i}", time=1_793_000_000.0 + i, host="node-1", pid=4000 + i, ppid=1,
                       executable=argv[0], argv=argv, command_line=" ".join(argv), user="root", uid=0,
                       parent_executable="/usr/bin/bash", parent_command_line="bash", os="linux")


def test_agent_engine_raises_sigma_alerts() -> None:
    detector = Detector(from_dict({"sigma": {"paths": [str(CLEAR_SYSLOG)]}}))
    quiet = detector.feed([_exec(1, ["/usr/bin/cat", "/var/log/syslog"])])
    assert not [a for a in quiet if a.alert_type.startswith("SIGMA_")]
    changed = detector.feed([_exec(2, ["/usr/bin/rm", "-f", "/var/log/syslog"])])
    changed += detector.finish()
    assert {a.alert_type for a in changed if a.alert_type.startswith("SIGMA_")} == {_rule_id(CLEAR_SYSLOG)}
