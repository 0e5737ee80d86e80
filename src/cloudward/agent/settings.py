"""The `[agent]` configuration section: every key, its type and default, validated in one place."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from cloudward.config import Config, ConfigError

#: key -> (type, description); the schema the lead registers with whole-file validation
SCHEMA: dict[str, tuple[type | tuple[type, ...], str]] = {
    "collectors": (list, "collectors to run, best first: audit, proc_connector, docker, host_config, proc_net"),
    "audit_mode": (str, "auto (multicast next to auditd, else own the socket) | multicast | owner"),
    "audit_backlog_limit": (int, "kernel audit backlog while the agent owns the audit socket"),
    "docker_socket": (str, "path of the Docker Engine API unix socket"),
    "docker_daemon_json": (str, "path of the Docker daemon configuration file"),
    "containerd_root": (str, "containerd's state directory, whose task bundles name a container's pod "
                        "('' = do not look)"),
    "crio_root": (str, "CRI-O's container run directory (<id>/userdata/config.json names the pod; '' = do not look)"),
    "host_config_interval": (float, "seconds between checks that dockerd (re)started"),
    "proc_net_interval": (float, "seconds between /proc/<pid>/net/tcp sweeps (no audit connect())"),
    "batch_seconds": (float, "longest time records wait before they are written to the spool"),
    "spool_dir": (str, "directory of the on-disk spool of events for --to"),
    "spool_max_bytes": (int, "spool size limit; the oldest batches are dropped (and counted) beyond it"),
    "batch_events": (int, "events per posted batch"),
    "post_timeout": (float, "seconds per HTTP request to the ingest server"),
    "retry_max_seconds": (float, "longest wait between delivery retries (backoff doubles up to it)"),
    "ca_file": (str, "CA bundle to verify the ingest server's certificate ('' = system store)"),
    "metrics_port": (int, "Prometheus metrics on 127.0.0.1:PORT (0 = off)"),
    "events_file": (str, "also write every event, normalized, as JSON lines to this file ('' = off)"),
    "status_file": (str, "where the running agent writes its collectors' health for --status"),
}


@dataclass
class AgentSettings:
    collectors: list[str] = field(default_factory=lambda: ["audit", "proc_connector", "docker", "host_config",
                                                           "proc_net"])
    audit_mode: str = "auto"
    audit_backlog_limit: int = 8192
    docker_socket: str = "/var/run/docker.sock"
    docker_daemon_json: str = "/etc/docker/daemon.json"
    containerd_root: str = "/run/containerd"
    crio_root: str = "/run/containers/storage/overlay-containers"
    host_config_interval: float = 2.0
    proc_net_interval: float = 1.0
    batch_seconds: float = 0.5
    spool_dir: str = "/var/lib/cloudward/spool"
    spool_max_bytes: int = 256 << 20
    batch_events: int = 500
    post_timeout: float = 10.0
    retry_max_seconds: float = 60.0
    ca_file: str = ""
    metrics_port: int = 0
    events_file: str = ""
    status_file: str = "/run/cloudward/agent.status.json"


KNOWN_COLLECTORS = ("audit", "proc_connector", "docker", "host_config", "proc_net")


def agent_settings(config: Config) -> AgentSettings:
    """The `[agent]` section read and checked; errors name the file, the key and what was expected."""
    raw: dict[str, Any] = config.section("agent")
    where = config.source or "(configuration)"
    out = AgentSettings()
    names = {f.name for f in fields(AgentSettings)}
    for key, value in raw.items():
        if key not in names:
            raise ConfigError(f"{where}: agent.{key} is not a known key (known: {', '.join(sorted(names))})")
        expected = SCHEMA[key][0]
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, expected):
            want = expected.__name__ if isinstance(expected, type) else "/".join(t.__name__ for t in expected)
            raise ConfigError(f"{where}: agent.{key} must be a {want} ({SCHEMA[key][1]}), got {value!r}")
        setattr(out, key, value)
    for name in out.collectors:
        if name not in KNOWN_COLLECTORS:
            raise ConfigError(f"{where}: agent.collectors: unknown collector {name!r} "
                              f"(known: {', '.join(KNOWN_COLLECTORS)})")
    if out.audit_mode not in ("auto", "multicast", "owner"):
        raise ConfigError(f"{where}: agent.audit_mode must be auto, multicast or owner, got {out.audit_mode!r}")
    return out


def _schema_keys() -> dict[str, Any]:
    """`SCHEMA` in the whole-file validator's terms (`cloudward config check` sees `[agent]` mistakes too)."""
    from cloudward.config_schema import Key

    kinds = {list: "list", str: "string", int: "integer", float: "number"}
    defaults = AgentSettings()
    return {name: Key(kinds[kind], doc, getattr(defaults, name),  # type: ignore[index]
                      items=Key("string", "") if kind is list else None)
            for name, (kind, doc) in SCHEMA.items()}


def _register() -> None:
    from cloudward.config_schema import register_section

    register_section("agent", _schema_keys())


_register()
