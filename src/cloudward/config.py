"""Configuration: one TOML file, every key has a default, so no file is needed.

```toml
cluster = "prod-aks"                  # cluster name when the audit log does not carry one
[detections.K8S_KubeSystemContainer]
enabled = true
severity = "medium"
learning_period = "14d"               # the card's own parameters sit beside the common keys
allow = [{ user = "system:serviceaccount:kube-system:my-operator" }]
[data]
sensitive_host_paths = ["/srv/secrets"]   # added to the shipped list
[[suppress]]
alert_type = "K8S_PrivilegedContainer"
match = { namespace = "monitoring", image = "*node-exporter*" }
expires = "2027-03-31"
reason = "node-exporter needs host access; review by March"
```

Detection ids and parameters are checked against the cards when the pipeline is built
(`cloudward.detections.build`), so a typo is an error, not a silently ignored key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cloudward.config_schema import SEVERITIES, validate

__all__ = ["SEVERITIES", "Config", "ConfigError", "DetectionSettings", "SuppressRule", "from_dict", "load"]


class ConfigError(ValueError):
    """A configuration file or value that cannot be used; the message says where and why."""


def severity_rank(severity: str) -> int:
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        raise ConfigError(f"unknown severity {severity!r}; use one of {', '.join(SEVERITIES)}") from None


@dataclass
class DetectionSettings:
    enabled: bool = True
    severity: str | None = None
    allow: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class SuppressRule:
    """Dismisses matching alerts; listed in the summary so suppression stays auditable."""

    alert_type: str
    match: dict[str, Any]
    reason: str = ""
    expires: float | None = None

    def active(self, now: float | None = None) -> bool:
        if self.expires is None:
            return True
        return (now if now is not None else datetime.now(UTC).timestamp()) < self.expires

    def label(self) -> str:
        what = ", ".join(f"{k}={v}" for k, v in self.match.items())
        return f"{self.alert_type} [{what}]" + (f" — {self.reason}" if self.reason else "")


@dataclass
class Config:
    cluster: str = ""
    site: str = ""
    host: str = ""
    max_line_bytes: int = 4 * 1024 * 1024
    #: caps on one gzip member: decompressed bytes, and decompressed/compressed ratio (decompression bombs)
    max_decompressed_bytes: int = 32 * 1024**3
    max_compression_ratio: float = 200.0
    evidence_limit: int = 10
    store_path: str = ""
    intel: list[str] = field(default_factory=list)
    detections: dict[str, DetectionSettings] = field(default_factory=dict)
    data: dict[str, list[Any]] = field(default_factory=dict)
    suppress: list[SuppressRule] = field(default_factory=list)
    #: the whole file, for sections owned by other modules (server, agent, intel, spark)
    raw: dict[str, Any] = field(default_factory=dict)
    source: str = "(defaults)"

    def detection(self, alert_type: str) -> DetectionSettings:
        return self.detections.get(alert_type) or DetectionSettings()

    def section(self, name: str) -> dict[str, Any]:
        value = self.raw.get(name, {})
        return value if isinstance(value, dict) else {}


_COMMON_DETECTION_KEYS = {"enabled", "severity", "allow"}


def _expiry(value: Any, where: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise ConfigError(f"{where}: expires must be a date like 2027-03-31, not {value!r}") from None
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
    raise ConfigError(f"{where}: expires must be a date, not {value!r}")


def from_dict(raw: dict[str, Any], source: str = "(dict)") -> Config:
    """The configuration in `raw`, validated against the schema (`cloudward.config_schema`) first: every
    unknown key and wrong type is reported at once, each naming `source`, the key path and what was expected."""
    errors = validate(raw, source)
    if errors:
        raise ConfigError("\n".join(errors))
    cfg = Config(raw=raw, source=source)
    for key in ("cluster", "site", "host"):
        value = raw.get(key, "")
        if not isinstance(value, str):
            raise ConfigError(f"{source}: {key} must be a string")
        setattr(cfg, key, value)
    scan = raw.get("scan", {})
    if "max_line_bytes" in scan:
        cfg.max_line_bytes = int(scan["max_line_bytes"])
    if "max_decompressed_bytes" in scan:
        cfg.max_decompressed_bytes = int(scan["max_decompressed_bytes"])
    if "max_compression_ratio" in scan:
        cfg.max_compression_ratio = float(scan["max_compression_ratio"])
    output = raw.get("output", {})
    if "evidence_limit" in output:
        cfg.evidence_limit = int(output["evidence_limit"])
    cfg.store_path = str(raw.get("store", {}).get("path", "") or "")
    intel = raw.get("intel", {})
    feeds = intel.get("feeds", []) if isinstance(intel, dict) else []
    cfg.intel = [f if isinstance(f, str) else str(f.get("path", "")) for f in feeds]
    for alert_type, table in (raw.get("detections") or {}).items():
        where = f"{source}: [detections.{alert_type}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{where} must be a table")
        settings = DetectionSettings()
        settings.enabled = bool(table.get("enabled", True))
        sev = table.get("severity")
        if sev is not None:
            severity_rank(sev)
            settings.severity = sev
        allow = table.get("allow", [])
        if not isinstance(allow, list) or not all(isinstance(a, dict) for a in allow):
            raise ConfigError(f"{where}: allow must be a list of tables such as {{ user = \"ci-bot\" }}")
        settings.allow = allow
        settings.params = {k: v for k, v in table.items() if k not in _COMMON_DETECTION_KEYS}
        cfg.detections[alert_type] = settings
    data = raw.get("data", {})
    for name, values in data.items():
        if not isinstance(values, list):
            raise ConfigError(f"{source}: [data] {name} must be a list")
        cfg.data[name] = values
    for i, rule in enumerate(raw.get("suppress", []) or []):
        where = f"{source}: suppress #{i + 1}"
        if not isinstance(rule, dict) or not isinstance(rule.get("match", {}), dict):
            raise ConfigError(f"{where}: needs alert_type and a match table")
        cfg.suppress.append(SuppressRule(
            alert_type=str(rule.get("alert_type", "*")),
            match=dict(rule.get("match", {})),
            reason=str(rule.get("reason", "")),
            expires=_expiry(rule.get("expires"), where),
        ))
    return cfg


def load(path: str | Path | None) -> Config:
    """The configuration in `path`, or the defaults when no path is given."""
    if path is None:
        return Config()
    p = Path(path)
    try:
        import tomllib  # only when a file is given: the defaults are built in

        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file not found: {p}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    return from_dict(raw, str(p))
