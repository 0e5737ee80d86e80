"""Cilium Tetragon JSON export (`tetra getevents -o json`, the export file, or the gRPC JSON).

Each record is `{"<event type>": {...}, "node_name": ..., "time": ...}`:

* `process_exec` -> `ProcessExec` (binary, `arguments` as one string, cwd, uid, pod and container,
  capabilities, parent process);
* `process_kprobe` on a connect function (`tcp_connect`, `__sys_connect`, `security_socket_connect`
  ...) with a socket or sockaddr argument -> `NetConnection`;
* the 2022 sensor's `process_connect` (destination_ip / destination_port) -> `NetConnection`;
* `process_exit`, `process_close`, `process_listen`, `process_tracepoint`... carry nothing the
  detections use: counted, no event.

A container is privileged when the process's effective capability set holds the capabilities only
`--privileged` (or an equivalent securityContext) grants together.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cloudward.events import Event, NetConnection, ProcessExec
from cloudward.parsers._container_ids import strip_runtime_prefix
from cloudward.parsers._values import mapping as _d
from cloudward.parsers._values import number as _int
from cloudward.parsers._values import text as _s
from cloudward.parsers.base import JsonDialect, ParseContext, RecordRef
from cloudward.timeutil import parse_time

EVENT_TYPES = frozenset({
    "process_exec", "process_exit", "process_kprobe", "process_tracepoint", "process_uprobe", "process_lsm",
    "process_loader", "process_throttle", "process_connect", "process_close", "process_listen",
})
#: together only in a privileged container's (or the host's) effective set; Docker's default lacks all
PRIVILEGED_CAPS = frozenset({"CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_PTRACE", "CAP_NET_ADMIN"})
_CONNECT_FUNCTIONS = ("connect", "tcp_v4_connect", "tcp_v6_connect")


def split_arguments(arguments: str) -> list[str]:
    """Tetragon's `arguments` string back into a list: words, with "double quoted" words kept whole."""
    if '"' not in arguments:
        return arguments.split()
    out: list[str] = []
    word: list[str] = []
    quoted = False
    has_word = False
    for ch in arguments:
        if ch == '"':
            quoted = not quoted
            has_word = True
        elif ch in " \t" and not quoted:
            if has_word:
                out.append("".join(word))
                word, has_word = [], False
        else:
            word.append(ch)
            has_word = True
    if has_word:
        out.append("".join(word))
    return out


def _caps(process: dict[str, Any]) -> list[str]:
    effective = _d(process.get("cap")).get("effective")
    if not isinstance(effective, list):
        return []
    # Tetragon 2022 printed DAC_OVERRIDE without its prefix
    return [c if c.startswith("CAP_") else "CAP_" + c for c in effective if isinstance(c, str)]


class Tetragon(JsonDialect):
    name = "tetragon"
    description = "Cilium Tetragon JSON events (process_exec, process_kprobe connect, 2022 process_connect)"
    kinds = ("ProcessExec", "NetConnection")
    order = 20

    def claims(self, record: dict[str, Any]) -> bool:
        for key in record:
            if key in EVENT_TYPES:
                return True
        return False

    def events(self, record: dict[str, Any], ref: RecordRef, ctx: ParseContext) -> Iterator[Event]:
        kind = next(k for k in record if k in EVENT_TYPES)
        body = record[kind]
        if not isinstance(body, dict):
            raise ValueError(f"{kind} is not an object")
        if kind == "process_exec":
            yield self._exec(body, record, ref, ctx)
        elif kind == "process_connect":
            ip = _s(body.get("destination_ip"))
            if ip:
                yield self._connection(body, record, ref, ctx, ip, _int(body.get("destination_port")))
        elif kind == "process_kprobe":
            function = _s(body.get("function_name"))
            if function.endswith(_CONNECT_FUNCTIONS):
                dest = self._kprobe_destination(body.get("args"))
                if dest is not None:
                    yield self._connection(body, record, ref, ctx, *dest)

    @staticmethod
    def _context(process: dict[str, Any]) -> dict[str, Any]:
        pod = _d(process.get("pod"))
        container = _d(pod.get("container"))
        _, cid = strip_runtime_prefix(_s(container.get("id")))
        return {
            "container_id": cid or _s(process.get("docker")),
            "container_name": _s(container.get("name")),
            "image": _s(_d(container.get("image")).get("name")),
            "pod": _s(pod.get("name")),
            "namespace": _s(pod.get("namespace")),
        }

    @staticmethod
    def _user(process: dict[str, Any]) -> tuple[str, int | None]:
        uid = process.get("uid")
        uid = uid if isinstance(uid, int) and not isinstance(uid, bool) else None
        name = _s(_d(process.get("user")).get("name"))
        if not name and uid is not None:
            name = "root" if uid == 0 else str(uid)
        return name, uid

    def _exec(self, body: dict[str, Any], record: dict[str, Any], ref: RecordRef, ctx: ParseContext) -> ProcessExec:
        process = body.get("process")
        if not isinstance(process, dict) or not isinstance(process.get("binary"), str):
            raise ValueError("process_exec without a process binary")
        parent = _d(body.get("parent"))
        binary = process["binary"]
        args = split_arguments(_s(process.get("arguments")))
        parent_args = _s(parent.get("arguments"))
        parent_binary = _s(parent.get("binary"))
        caps = _caps(process)
        user, uid = self._user(process)
        auid = process.get("auid")
        event = ProcessExec(
            event_id=str(ref), time=parse_time(record.get("time") or process.get("start_time")), raw=record,
            origin=str(ref), host=ctx.host or _s(record.get("node_name")), pid=_int(process.get("pid")),
            ppid=_int(parent.get("pid")), executable=binary, argv=[binary, *args],
            command_line=binary + (" " + process["arguments"] if process.get("arguments") else ""),
            cwd=_s(process.get("cwd")), user=user, uid=uid,
            auid=auid if isinstance(auid, int) and auid != 4294967295 else None,
            parent_executable=parent_binary,
            parent_command_line=parent_binary + (" " + parent_args if parent_args else ""),
            capabilities=caps, privileged=True if PRIVILEGED_CAPS.issubset(caps) else None,
            **self._context(process),
        )
        return event

    def _connection(self, body: dict[str, Any], record: dict[str, Any], ref: RecordRef, ctx: ParseContext,
                    ip: str, port: int) -> NetConnection:
        process = _d(body.get("process"))
        binary = _s(process.get("binary"))
        arguments = _s(process.get("arguments"))
        user, uid = self._user(process)
        return NetConnection(
            event_id=str(ref), time=parse_time(record.get("time")), raw=record, origin=str(ref),
            host=ctx.host or _s(record.get("node_name")), pid=_int(process.get("pid")),
            ppid=_int(_d(body.get("parent")).get("pid")), executable=binary,
            command_line=binary + (" " + arguments if arguments else ""), destination_ip=ip,
            destination_port=port, user=user, uid=uid, **self._context(process),
        )

    @staticmethod
    def _kprobe_destination(args: Any) -> tuple[str, int] | None:
        for arg in args if isinstance(args, list) else ():
            if not isinstance(arg, dict):
                continue
            sock = arg.get("sock_arg")
            if isinstance(sock, dict) and _s(sock.get("daddr")):
                return _s(sock.get("daddr")), _int(sock.get("dport"))
            addr = arg.get("sockaddr_arg")
            if isinstance(addr, dict) and _s(addr.get("addr")):
                return _s(addr.get("addr")), _int(addr.get("port"))
        return None


FORMATS = [Tetragon()]
