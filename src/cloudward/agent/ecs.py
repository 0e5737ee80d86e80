"""ECS process and network records built from /proc, read back by the `ecs-process` parser, so what
the /proc-based collectors see can be shipped and replayed like any Auditbeat export."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from cloudward.agent.procfs import ProcInfo, user_name


def _timestamp(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def process_record(info: ProcInfo, host: str, *, parent: ProcInfo | None = None, when: float | None = None,
                   action: str = "exec") -> dict[str, Any]:
    process: dict[str, Any] = {"pid": info.pid, "executable": info.executable or info.comm,
                               "args": info.argv or ([info.comm] if info.comm else []),
                               "working_directory": info.cwd, "name": info.comm}
    if info.cgroup:
        process["cgroup"] = info.cgroup
    if parent is not None or info.ppid:
        p: dict[str, Any] = {"pid": info.ppid}
        if parent is not None:
            p["executable"] = parent.executable
            p["args"] = parent.argv
        process["parent"] = p
    record: dict[str, Any] = {
        "@timestamp": _timestamp(when or time.time()),
        "event": {"category": ["process"], "type": ["start"], "action": action, "module": "cloudward-agent"},
        "host": {"name": host}, "process": process,
    }
    if info.uid is not None:
        record["user"] = {"id": str(info.uid), "name": user_name(info.uid)}
        if info.euid is not None:
            record["user"]["effective"] = {"id": info.euid}
    if info.capabilities:
        process["thread"] = {"capabilities": {"effective": info.capabilities}}
    return record


def connection_record(info: ProcInfo, host: str, ip: str, port: int, *, when: float | None = None) -> dict[str, Any]:
    record = process_record(info, host, when=when, action="connected-to")
    record["event"] = {"category": ["network"], "type": ["connection", "start"], "action": "connected-to",
                       "module": "cloudward-agent"}
    record["destination"] = {"ip": ip, "port": port}
    record["network"] = {"direction": "egress", "transport": "tcp"}
    return record
