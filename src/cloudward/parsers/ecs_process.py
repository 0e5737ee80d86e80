"""Process and connection records in Elastic Common Schema (Auditbeat, Elastic Defend, Filebeat
pipelines, or anything else writing ECS): `process.executable`, `process.args`,
`process.command_line`, `process.pid`, `process.parent.*`, `user.name` / `user.id`,
`container.id` / `container.name` / `container.image.name`, `destination.ip` / `destination.port`,
`host.name`, `@timestamp`. Fields may be nested objects or dotted keys.

Process starts (`event.type` start, or an exec-like `event.action`, or a record with a process and no
event type) become `ProcessExec`; records with a destination and `event.category` network become
`NetConnection`. Ends, stops and inbound connections are counted and skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cloudward.events import Event, NetConnection, ProcessExec
from cloudward.parsers._container_ids import from_cgroup
from cloudward.parsers._values import number as _int
from cloudward.parsers.base import JsonDialect, ParseContext, RecordRef
from cloudward.parsers.ecs_http import field
from cloudward.timeutil import parse_time

_EXEC_ACTIONS = frozenset({
    "exec", "execve", "executed", "process_started", "process-started", "start", "started", "fork-exec",
    "process_create", "processcreate", "process-create",
})
_STOP_TYPES = frozenset({"end", "stop", "deletion", "denied"})


def _s(v: Any) -> str:
    if isinstance(v, list):
        v = v[0] if v else ""
    if isinstance(v, str):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return ""


def _strs(v: Any) -> list[str]:
    if isinstance(v, str):
        return [v]
    return [x for x in v if isinstance(x, str)] if isinstance(v, list) else []


def _has_process(record: dict[str, Any]) -> bool:
    return isinstance(record.get("process"), dict) or any(k.startswith("process.") for k in record)


class EcsProcess(JsonDialect):
    name = "ecs-process"
    description = "ECS JSON process starts and network connections (Auditbeat, Elastic Defend, ...)"
    kinds = ("ProcessExec", "NetConnection")
    order = 45

    def claims(self, record: dict[str, Any]) -> bool:
        if not _has_process(record):
            return False
        return bool(field(record, "process.executable") or field(record, "process.args")
                    or field(record, "process.command_line") or field(record, "process.name"))

    def events(self, record: dict[str, Any], ref: RecordRef, ctx: ParseContext) -> Iterator[Event]:
        categories = {c.lower() for c in _strs(field(record, "event.category"))}
        types = {t.lower() for t in _strs(field(record, "event.type"))}
        action = _s(field(record, "event.action")).lower()
        host = ctx.host or _s(field(record, "host.name")) or _s(field(record, "host.hostname"))
        when = parse_time(field(record, "@timestamp") or field(record, "event.created"))
        executable = _s(field(record, "process.executable"))
        args = _strs(field(record, "process.args"))
        command_line = _s(field(record, "process.command_line")) or " ".join(args) or executable
        if not args and command_line:
            args = command_line.split()
        if not executable:
            executable = args[0] if args else _s(field(record, "process.name"))
        cgroup = _s(field(record, "process.cgroup")) or _s(field(record, "cgroup"))
        container_id = _s(field(record, "container.id"))
        if not container_id and cgroup:
            found = from_cgroup(cgroup)
            container_id = found[1] if found else ""
        uid = _s(field(record, "user.id"))
        os_name = "windows" if _s(field(record, "host.os.type")).lower() == "windows" or (
            len(executable) > 2 and executable[1] == ":") else "linux"
        common = {
            "event_id": str(ref), "time": when, "raw": record, "origin": str(ref), "host": host,
            "pid": _int(field(record, "process.pid")), "executable": executable, "command_line": command_line,
            "container_id": container_id, "container_name": _s(field(record, "container.name")),
            "image": _s(field(record, "container.image.name")),
            "pod": _s(field(record, "kubernetes.pod.name")) or _s(field(record, "orchestrator.resource.name")),
            "namespace": _s(field(record, "kubernetes.namespace")) or _s(field(record, "orchestrator.namespace")),
            "user": _s(field(record, "user.name")) or uid, "uid": int(uid) if uid.isdigit() else None,
            "cgroup": cgroup, "os": os_name,
        }
        dest_ip = _s(field(record, "destination.ip"))
        if dest_ip and ("network" in categories or "connection" in types):
            direction = _s(field(record, "network.direction")).lower()
            if direction in ("ingress", "inbound", "incoming"):
                ctx.stats.skipped += 1
                return
            yield NetConnection(
                ppid=_int(field(record, "process.parent.pid")), destination_ip=dest_ip,
                destination_port=_int(field(record, "destination.port")),
                destination_host=_s(field(record, "destination.domain")), **common,
            )
            return
        if types & _STOP_TYPES or (categories and "process" not in categories):
            ctx.stats.skipped += 1
            return
        if types and "start" not in types and action not in _EXEC_ACTIONS:
            ctx.stats.skipped += 1
            return
        parent_args = _strs(field(record, "process.parent.args"))
        event = ProcessExec(
            ppid=_int(field(record, "process.parent.pid")), argv=args or [executable],
            cwd=_s(field(record, "process.working_directory")),
            euid=_int(field(record, "user.effective.id")) if field(record, "user.effective.id") is not None else None,
            parent_executable=(_s(field(record, "process.parent.executable"))
                               or _s(field(record, "process.parent.name"))),
            parent_command_line=_s(field(record, "process.parent.command_line")) or " ".join(parent_args),
            **common,
        )
        yield event


FORMATS = [EcsProcess()]
