"""Cilium Tetragon JSON export (`tetra getevents -o json`, the export file, or the gRPC JSON).

Each record is `{"<event type>": {...}, "node_name": ..., "time": ...}`:

* `process_exec` -> `ProcessExec` (binary, `arguments` as one string, cwd, uid, pod and container,
  capabilities, parent process);
* `process_kprobe` on a connect function (`tcp_connect`, `__sys_connect`, `security_socket_connect`
  ...) with a socket or sockaddr argument -> `NetConnection`;
* the 2022 sensor's `process_connect` (destination_ip / destination_port) -> `NetConnection`;
* `process_exit`, `process_close`, `process_listen`, `process_tracepoint`... carry nothing the
  detections use: no event. A line that starts with such a type is counted as skipped on its raw
  bytes, without decoding it (so a torn one is not reported as malformed: it could give nothing); so is a
  `process_kprobe` line whose bytes cannot name a connect function.

Lines are decoded into msgspec Structs of only the fields read (`tetragon_line_decoder`); the event's raw
record stays the line's bytes until evidence or a Sigma getter reads it. A line the typed path cannot read
exactly as the dict path would goes through orjson and `Tetragon.events`.

A container is privileged when the process's effective capability set holds the capabilities only
`--privileged` (or an equivalent securityContext) grants together.
"""

from __future__ import annotations

import dataclasses
import functools
import types
from collections.abc import Callable
from typing import Any

import msgspec

from cloudward.events import Event, LazyJson, NetConnection, ProcessExec
from cloudward.parsers._container_ids import strip_runtime_prefix
from cloudward.parsers._values import mapping as _d
from cloudward.parsers._values import number as _int
from cloudward.parsers._values import text as _s
from cloudward.parsers.base import Interest, JsonDialect, ParseContext, RecordRef
from cloudward.timeutil import _fast_utc, parse_time

EVENT_TYPES = frozenset({
    "process_exec", "process_exit", "process_kprobe", "process_tracepoint", "process_uprobe", "process_lsm",
    "process_loader", "process_throttle", "process_connect", "process_close", "process_listen",
})
#: together only in a privileged container's (or the host's) effective set; Docker's default lacks all
PRIVILEGED_CAPS = frozenset({"CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_PTRACE", "CAP_NET_ADMIN"})
_CONNECT_FUNCTIONS = ("connect", "tcp_v4_connect", "tcp_v6_connect")
#: record types that never give an event: a line that starts with one (as Tetragon writes them, the type
#: first) is skipped on its raw bytes, without decoding the JSON
_NO_EVENT_TYPES = EVENT_TYPES - {"process_exec", "process_kprobe", "process_connect"}
_NO_EVENT_PREFIXES = tuple(b'{"' + t.encode() + b'":' for t in sorted(_NO_EVENT_TYPES))


_KPROBE_PREFIX = b'{"process_kprobe":'


def _may_have_event(buf: bytes, start: int, end: int) -> bool:
    """False only for a line whose first key is a type without events (`process_exit`, ...), or a kprobe
    line in which no function name can end in "connect" (the bytes hold no "connect" and no \\u escape that
    could spell it): the parser takes the first event-type key of a record, so nothing after it can change
    that. A line that also names "records" might be a wrapper of other records and is decoded."""
    if buf.startswith(_NO_EVENT_PREFIXES, start, end):
        return buf.find(b'"records"', start, end) >= 0
    if buf.startswith(_KPROBE_PREFIX, start, end):
        return (buf.find(b"connect", start, end) >= 0 or buf.find(b"\\u", start, end) >= 0
                or buf.find(b'"records"', start, end) >= 0)
    return True


def split_arguments(arguments: str) -> list[str]:
    """Tetragon's `arguments` string back into a list: words, with "double quoted" words kept whole (a quote
    joins what touches it: `a"b c"d` is one word; `""` is an empty word). Outside quotes, words are split on
    spaces and tabs. Read a quoted stretch at a time, not a character at a time."""
    if '"' not in arguments:
        return arguments.split()
    out: list[str] = []
    word: str | None = None  # the word being read; None: none (as opposed to an empty quoted one)
    for i, part in enumerate(arguments.split('"')):
        if i & 1:  # inside quotes: all of it belongs to the word
            word = part if word is None else word + part
            continue
        if "\t" in part:
            part = part.replace("\t", " ")
        pieces = part.split(" ")
        if len(pieces) == 1:
            if part:
                word = part if word is None else word + part
            continue
        head = pieces[0]
        if head:
            word = head if word is None else word + head
        if word is not None:
            out.append(word)
        out += [p for p in pieces[1:-1] if p]
        word = pieces[-1] or None
    if word is not None:
        out.append(word)
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

    def line_filter(self, interest: Interest) -> Callable[[bytes, int, int], bool]:
        return _may_have_event

    def line_decoder(self, ctx: ParseContext) -> Callable[[bytes, RecordRef], Event | None] | None:
        """Typed decoding of a JSON line straight into an event (None from it: decode the line as usual)."""
        return tetragon_line_decoder(ctx)

    def line_block_decoder(self, ctx: ParseContext) -> BlockDecoder | None:
        """The C decoder of a run of lines (`tetragon_block_decoder`), or None without the C accelerator."""
        return tetragon_block_decoder(ctx)

    def events(self, record: dict[str, Any], ref: RecordRef, ctx: ParseContext) -> list[Event]:
        # a list, not a generator: one frame fewer per record
        for kind in record:
            if kind in EVENT_TYPES:
                break
        else:
            raise ValueError("no Tetragon event type")
        body = record[kind]
        if type(body) is not dict:
            raise ValueError(f"{kind} is not an object")
        if kind == "process_exec":
            return [self._exec(body, record, str(ref), ctx)]
        if kind == "process_connect":
            ip = _s(body.get("destination_ip"))
            if ip:
                return [self._connection(body, record, str(ref), ctx, ip, _int(body.get("destination_port")))]
        elif kind == "process_kprobe":
            function = _s(body.get("function_name"))
            if function.endswith(_CONNECT_FUNCTIONS):
                dest = self._kprobe_destination(body.get("args"))
                if dest is not None:
                    return [self._connection(body, record, str(ref), ctx, *dest)]
        return []

    @staticmethod
    def _context(process: dict[str, Any]) -> tuple[str, str, str, str, str]:
        """(container id, container name, image, pod, namespace) of a process."""
        pod = process.get("pod")
        if type(pod) is not dict:
            docker = process.get("docker")
            return (docker if type(docker) is str else _s(docker)), "", "", "", ""
        container = pod.get("container")
        if type(container) is not dict:
            container = {}
        cid = container.get("id")
        cid = cid if type(cid) is str else _s(cid)
        if "://" in cid:
            cid = strip_runtime_prefix(cid)[1]
        if not cid:
            cid = _s(process.get("docker"))
        image = container.get("image")
        name, pod_name, namespace = container.get("name"), pod.get("name"), pod.get("namespace")
        return (cid, name if type(name) is str else _s(name),
                _s(image.get("name")) if type(image) is dict else "",
                pod_name if type(pod_name) is str else _s(pod_name),
                namespace if type(namespace) is str else _s(namespace))

    @staticmethod
    def _user(process: dict[str, Any]) -> tuple[str, int | None]:
        uid = process.get("uid")
        uid = uid if isinstance(uid, int) and not isinstance(uid, bool) else None
        user = process.get("user")
        name = _s(user.get("name")) if type(user) is dict else ""
        if not name and uid is not None:
            name = "root" if uid == 0 else str(uid)
        return name, uid

    def _exec(self, body: dict[str, Any], record: dict[str, Any], where: str, ctx: ParseContext) -> ProcessExec:
        process = body.get("process")
        if type(process) is not dict or type(process.get("binary")) is not str:
            if not isinstance(process, dict) or not isinstance(process.get("binary"), str):
                raise ValueError("process_exec without a process binary")
        parent = body.get("parent")
        if type(parent) is not dict:
            parent = {}
        binary = process["binary"]
        arguments = process.get("arguments")
        text_args = arguments if type(arguments) is str else _s(arguments)
        parent_args = _s(parent.get("arguments"))
        parent_binary = _s(parent.get("binary"))
        caps = _caps(process) if "cap" in process else []
        user, uid = self._user(process)
        auid = process.get("auid")
        cid, cname, image, pod, namespace = self._context(process)
        return ProcessExec(
            event_id=where, time=parse_time(record.get("time") or process.get("start_time")), raw=record,
            origin=where, host=ctx.host or _s(record.get("node_name")), pid=_int(process.get("pid")),
            ppid=_int(parent.get("pid")), executable=binary, argv=[binary, *split_arguments(text_args)],
            command_line=binary + (" " + arguments if arguments else ""),
            cwd=_s(process.get("cwd")), user=user, uid=uid,
            auid=auid if isinstance(auid, int) and auid != 4294967295 else None,
            parent_executable=parent_binary,
            parent_command_line=parent_binary + (" " + parent_args if parent_args else ""),
            capabilities=caps, privileged=True if PRIVILEGED_CAPS.issubset(caps) else None,
            container_id=cid, container_name=cname, image=image, pod=pod, namespace=namespace,
        )

    def _connection(self, body: dict[str, Any], record: dict[str, Any], where: str, ctx: ParseContext,
                    ip: str, port: int) -> NetConnection:
        process = _d(body.get("process"))
        binary = _s(process.get("binary"))
        arguments = _s(process.get("arguments"))
        user, uid = self._user(process)
        cid, cname, image, pod, namespace = self._context(process)
        return NetConnection(
            event_id=where, time=parse_time(record.get("time")), raw=record, origin=where,
            host=ctx.host or _s(record.get("node_name")), pid=_int(process.get("pid")),
            ppid=_int(_d(body.get("parent")).get("pid")), executable=binary,
            command_line=binary + (" " + arguments if arguments else ""), destination_ip=ip,
            destination_port=port, user=user, uid=uid, container_id=cid, container_name=cname, image=image,
            pod=pod, namespace=namespace,
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


# -- typed decoding ------------------------------------------------------------------------------------------
# Structs of only the fields `Tetragon.events` reads, typed as the dict path reads them: a string field is `str`,
# a number `int`, an object a Struct (None where null or absent reads as empty there). A value of another type
# (a number where a string belongs, null where the dict path would reject the record, a boolean pid...) fails
# validation, and the line goes through the general path, which rejects or reads it as before: the typed path
# never judges an odd value itself. Every other key is skipped without building anything; the raw record stays
# the line's bytes, decoded by orjson only when evidence or a Sigma getter reads `event.raw`. The Structs live for
# one line and cannot form cycles: not tracked by the garbage collector (`gc=False`), so they do not trigger it.
_UNSET: Any = msgspec.UNSET


class _Image(msgspec.Struct, gc=False):
    name: str = ""


class _Container(msgspec.Struct, gc=False):
    id: str = ""
    name: str = ""
    image: _Image | None = None


class _Pod(msgspec.Struct, gc=False):
    name: str = ""
    namespace: str = ""
    container: _Container | None = None


class _Cap(msgspec.Struct, gc=False):
    effective: list[str] = []


class _User(msgspec.Struct, gc=False):
    name: str = ""


class _Process(msgspec.Struct, gc=False):
    #: None: absent or null (an exec without a binary is the general path's to reject)
    binary: str | None = None
    arguments: str = ""
    pid: int = 0
    uid: int | None = None
    auid: int | None = None
    cwd: str = ""
    user: _User | None = None
    cap: _Cap | None = None
    pod: _Pod | None = None
    docker: str = ""
    start_time: str = ""


class _Parent(msgspec.Struct, gc=False):
    binary: str = ""
    arguments: str = ""
    pid: int = 0


class _Body(msgspec.Struct, gc=False):
    """process_exec, process_kprobe and process_connect bodies alike (each reads its own fields)."""

    process: _Process | msgspec.UnsetType = _UNSET
    parent: _Parent | None = None
    function_name: Any = None
    args: Any = None
    destination_ip: Any = None
    destination_port: Any = None


class _Record(msgspec.Struct, gc=False):
    process_exec: _Body | msgspec.UnsetType = _UNSET
    process_kprobe: _Body | msgspec.UnsetType = _UNSET
    process_connect: _Body | msgspec.UnsetType = _UNSET
    # the types without events: only whether they are there (a record with two types is read in key order by
    # the general path)
    process_exit: msgspec.Raw = msgspec.Raw()
    process_tracepoint: msgspec.Raw = msgspec.Raw()
    process_uprobe: msgspec.Raw = msgspec.Raw()
    process_lsm: msgspec.Raw = msgspec.Raw()
    process_loader: msgspec.Raw = msgspec.Raw()
    process_throttle: msgspec.Raw = msgspec.Raw()
    process_close: msgspec.Raw = msgspec.Raw()
    process_listen: msgspec.Raw = msgspec.Raw()
    #: there, the line may be an export wrapper of records: the general path reads it
    records: msgspec.Raw = msgspec.Raw()
    node_name: str = ""
    time: str = ""


_EMPTY_PROCESS = _Process(binary="")
_DECODE_FAILED = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)

try:  # the optional C accelerator: it proves the numbers on a line read the same in msgspec and orjson
    from cloudward._speedups import plain_json as _plain_json
except ImportError:  # pragma: no cover - exercised where no compiler was available
    _plain_json = None

#: tests switch typed decoding off to compare it with the dict path
FAST_DECODE = True
_UNSET_AUID = 4294967295


#: `split_arguments` answers per arguments string (short ones; a pod runs the same few command lines again and
#: again), as tuples: each event gets its own argv list
_WORDS: dict[str, tuple[str, ...]] = {}
_MEMO_CHARS = 1024
_MEMO_LIMIT = 16384


def _words(arguments: str) -> tuple[str, ...]:
    words = tuple(split_arguments(arguments))
    if len(arguments) <= _MEMO_CHARS:
        if len(_WORDS) >= _MEMO_LIMIT:
            _WORDS.clear()
        _WORDS[arguments] = words
    return words


def _typed_context(process: _Process) -> tuple[str, str, str, str, str]:
    """`Tetragon._context` of a typed process."""
    pod = process.pod
    if pod is None:
        return process.docker, "", "", "", ""
    container = pod.container
    if container is None:
        return process.docker, "", "", pod.name, pod.namespace
    cid = container.id
    if "://" in cid:
        cid = cid.partition("://")[2]  # strip_runtime_prefix(cid)[1], the separator known to be there
    image = container.image
    return (cid or process.docker, container.name, "" if image is None else image.name, pod.name, pod.namespace)


def _typed_user(process: _Process) -> tuple[str, int | None]:
    uid = process.uid
    user = process.user
    name = "" if user is None else user.name
    if not name and uid is not None:
        name = "root" if uid == 0 else str(uid)
    return name, uid


def tetragon_line_decoder(ctx: ParseContext) -> Callable[[bytes, RecordRef], Event | None] | None:
    """Typed decoding of one Tetragon JSON line into its event: None for a line it does not decode exactly as
    the general path would (not one event type, a wrapper, a value of another type than the field's, no binary,
    a kprobe that is not a connect, an unusual number...), which then goes through orjson and `Tetragon.events`
    as before, rejections included. Only when the C accelerator is built."""
    if not FAST_DECODE or _plain_json is None:
        return None
    plain = _plain_json
    decode = msgspec.json.Decoder(_Record).decode
    failed = _DECODE_FAILED
    privileged_caps = PRIVILEGED_CAPS
    words_of = _WORDS
    fast_utc = _fast_utc

    def decode_line(line: bytes, ref: RecordRef) -> Event | None:
        try:
            rec = decode(line)
        except failed:
            return None
        body = rec.process_exec
        if body is not _UNSET:
            kind = 0
            if rec.process_kprobe is not _UNSET or rec.process_connect is not _UNSET:
                return None
        elif (body := rec.process_kprobe) is not _UNSET:
            kind = 1
            if rec.process_connect is not _UNSET:
                return None
        elif (body := rec.process_connect) is not _UNSET:
            kind = 2
        else:
            return None
        if (rec.process_exit or rec.process_tracepoint or rec.process_uprobe or rec.process_lsm
                or rec.process_loader or rec.process_throttle or rec.process_close or rec.process_listen
                or rec.records or not plain(line)):
            return None
        process = body.process
        parent = body.parent
        where = str(ref)
        host = ctx.host
        if kind == 0:
            if process is _UNSET:
                return None
            binary = process.binary
            if binary is None:
                return None
            arguments = process.arguments
            if parent is None:
                parent_binary = parent_command_line = ""
                ppid = 0
            else:
                parent_binary, parent_args, ppid = parent.binary, parent.arguments, parent.pid
                parent_command_line = parent_binary + " " + parent_args if parent_args else parent_binary
            cap = process.cap
            if cap is None:
                caps: list[str] = []
                privileged = None
            else:
                caps = [c if c.startswith("CAP_") else "CAP_" + c for c in cap.effective]
                privileged = True if privileged_caps.issubset(caps) else None
            uid = process.uid
            user = process.user
            name = "" if user is None else user.name
            if not name and uid is not None:
                name = "root" if uid == 0 else str(uid)
            auid = process.auid
            if auid == _UNSET_AUID:
                auid = None
            cid, cname, image, pod, namespace = _typed_context(process)
            words = words_of.get(arguments)
            if words is None:
                words = _words(arguments)
            stamp = rec.time or process.start_time
            # parse_time's own first step, without the call: the common RFC 3339 UTC form
            when = fast_utc(stamp) if stamp else 0.0
            if when is None:
                when = parse_time(stamp)
            elif when <= 0:
                when = 0.0
            return ProcessExec(
                event_id=where, time=when, raw=LazyJson(line),
                origin=where, host=host or rec.node_name, pid=process.pid,
                ppid=ppid, executable=binary, argv=[binary, *words],
                command_line=binary + " " + arguments if arguments else binary,
                cwd=process.cwd, user=name, uid=uid, auid=auid,
                parent_executable=parent_binary, parent_command_line=parent_command_line,
                capabilities=caps, privileged=privileged,
                container_id=cid, container_name=cname, image=image, pod=pod, namespace=namespace,
            )
        if kind == 2:
            ip = _s(body.destination_ip)
            if not ip:
                return None
            port = _int(body.destination_port)
        else:
            function = _s(body.function_name)
            if not function.endswith(_CONNECT_FUNCTIONS):
                return None
            dest = Tetragon._kprobe_destination(body.args)
            if dest is None:
                return None
            ip, port = dest
        if process is _UNSET:
            process = _EMPTY_PROCESS
        binary = process.binary or ""
        arguments = process.arguments
        user, uid = _typed_user(process)
        cid, cname, image, pod, namespace = _typed_context(process)
        return NetConnection(
            event_id=where, time=parse_time(rec.time), raw=LazyJson(line), origin=where,
            host=host or rec.node_name, pid=process.pid,
            ppid=0 if parent is None else parent.pid, executable=binary,
            command_line=binary + (" " + arguments if arguments else ""), destination_ip=ip,
            destination_port=port, user=user, uid=uid, container_id=cid, container_name=cname, image=image,
            pod=pod, namespace=namespace,
        )

    return decode_line


FORMATS = [Tetragon()]


# -- block decoding in C -------------------------------------------------------------------------------------
#: `(buf, pos, size, lineno, display, limit) -> (pos, lineno, skipped, events)`: the lines of buf[pos:size] from
#: line number `lineno` (the last one read), until the first it leaves to the line-at-a-time path, which starts
#: at the returned `pos`; `lineno` is then the last line it read, `skipped` how many the raw filter skipped
BlockDecoder = Callable[[bytes, int, int, int, str, int], tuple[int, int, int, list[Event]]]

try:
    from cloudward import _tetragon
except ImportError:  # pragma: no cover - exercised where no compiler was available
    _tetragon = None


def _member_slots(cls: type, names: tuple[str, ...]) -> tuple[Any, ...] | None:
    """The slot descriptors of `names` on `cls` (a property over a slot, as `raw`, is passed by), or None."""
    out = []
    for name in names:
        for klass in cls.__mro__:
            d = klass.__dict__.get(name)
            if isinstance(d, types.MemberDescriptorType):
                out.append(d)
                break
        else:
            return None
    return tuple(out)


def _setup_block_decoder() -> bool:
    """Hands the C decoder the event classes' slots; False (no C path) when ProcessExec has fields or defaults
    it does not fill as the dataclass would (it builds the object slot by slot, without `__init__`)."""
    if _tetragon is None:
        return False
    for cls, names in ((ProcessExec, _tetragon.EXEC_FIELDS), (NetConnection, _tetragon.NET_FIELDS)):
        if set(names) != {f.name for f in dataclasses.fields(cls)} or len(names) != len(set(names)):
            return False
        if "__post_init__" in vars(cls):
            return False
    blank = ProcessExec(event_id="")
    if (blank.euid, blank.os, blank.cgroup, blank.ancestors, blank.intel) != (None, "linux", "", [], []):
        return False
    conn = NetConnection(event_id="")
    if (conn.destination_host, conn.intel, conn.cgroup, conn.os) != ("", [], "", "linux"):
        return False
    if LazyJson.__slots__ != ("data", "done", "value"):
        return False
    exec_slots = _member_slots(ProcessExec, _tetragon.EXEC_FIELDS)
    net_slots = _member_slots(NetConnection, _tetragon.NET_FIELDS)
    lazy_slots = _member_slots(LazyJson, _tetragon.LAZY_FIELDS)
    if exec_slots is None or net_slots is None or lazy_slots is None:
        return False
    caps = (*sorted(PRIVILEGED_CAPS), "CAP_")
    return bool(_tetragon.setup(ProcessExec, exec_slots, NetConnection, net_slots, LazyJson, lazy_slots,
                                _NO_EVENT_PREFIXES, _KPROBE_PREFIX, caps))


_BLOCK_READY = _setup_block_decoder()


def tetragon_block_decoder(ctx: ParseContext) -> BlockDecoder | None:
    """`_tetragon.decode_block` for this context: skipped lines and ordinary process_exec lines decoded in C,
    exactly as the line-at-a-time path reads them; it hands back every other line. None without the C
    accelerator or with typed decoding off (`FAST_DECODE`)."""
    if not FAST_DECODE or not _BLOCK_READY:
        return None
    return functools.partial(_tetragon.decode_block, ctx.host or "")
