"""Linux audit logs as auditd writes them, RAW or ENRICHED (`log_format` in auditd.conf).

One audit event is several records sharing `msg=audit(<time>:<serial>)`: SYSCALL, then EXECVE,
CWD, PATH, SOCKADDR..., then PROCTITLE (and EOE where it is logged). Records are grouped by that
stamp (and `node=` when present), so interleaved events are joined correctly and two processes'
records are never merged. An event is complete at its PROCTITLE or EOE record; events still open
when many newer ones have arrived, or at the end of the file, are completed with what they have.

ENRICHED lines carry a second part after an ASCII group separator (0x1d) with names resolved on the
logging host (`UID="root"`, `SYSCALL=execve`); the raw part is read the same way in both formats.

Output: `ProcessExec` for successful execve/execveat, `NetConnection` for connect on IPv4/IPv6
sockets. Parent, ancestors and container are filled in later by the process-ancestry enricher.
"""

from __future__ import annotations

import re
import socket
from binascii import Error as BinasciiError
from binascii import unhexlify
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from cloudward.events import Event, NetConnection, ProcessExec
from cloudward.inputs import DEFAULT_MAX_LINE_BYTES
from cloudward.parsers.base import Decoder, Format, Head, LineDecoder, ParseContext

#: record types that carry something we read; everything else is skipped without grouping
_USED = frozenset({b"SYSCALL", b"EXECVE", b"CWD", b"PATH", b"PROCTITLE", b"SOCKADDR", b"EOE"})
_FINAL = frozenset({b"PROCTITLE", b"EOE"})
#: how many newer events may arrive before an incomplete one is closed with what it has
_MAX_OPEN = 64
#: (arch -> (exec syscall numbers, connect syscall numbers)) for logs without the ENRICHED names
_SYSCALLS: dict[bytes, tuple[frozenset[bytes], frozenset[bytes]]] = {
    b"c000003e": (frozenset({b"59", b"322"}), frozenset({b"42"})),        # x86_64
    b"c00000b7": (frozenset({b"221", b"281"}), frozenset({b"203"})),      # aarch64
    b"40000003": (frozenset({b"11", b"358"}), frozenset({b"362", b"102"})),  # i386 (102 = socketcall)
    b"40000028": (frozenset({b"11", b"387"}), frozenset({b"283"})),       # arm
    b"c0000015": (frozenset({b"11", b"362"}), frozenset({b"328"})),       # ppc64le
    b"80000016": (frozenset({b"11", b"354"}), frozenset({b"362"})),       # s390x
}
_NO_SYSCALLS: tuple[frozenset[bytes], frozenset[bytes]] = (frozenset(), frozenset())
_UNSET_ID = 4294967295
#: uid names when the log is RAW and names were not resolved
_WELL_KNOWN_UIDS = {0: "root"}


def _raw_value(v: bytes) -> bytes:
    """An audit string field: "quoted" as is, unquoted hex decoded, (null) empty."""
    if v[:1] == b'"':
        return v[1:-1] if v.endswith(b'"') and len(v) > 1 else v[1:]
    if v == b"(null)":
        return b""
    try:
        return unhexlify(v)
    except (BinasciiError, ValueError):
        return v


def _text(b: bytes) -> str:
    s = b.decode("utf-8", "replace")
    return s.replace("\x00", "\ufffd") if "\x00" in s else s


def _value_text(v: bytes) -> str:
    """`_text(_raw_value(v))` in one call, the quoted case without a second one."""
    if v[:1] == b'"' and len(v) > 1 and v[-1:] == b'"':
        s = v[1:-1].decode("utf-8", "replace")
        return s.replace("\x00", "\ufffd") if "\x00" in s else s
    return _text(_raw_value(v))


def _fields(body: bytes) -> dict[bytes, bytes]:
    out = {}
    for tok in body.split(b" "):
        k, sep, v = tok.partition(b"=")
        if sep:
            out[k] = v
    return out


def _field(body: bytes, needle: bytes) -> bytes | None:
    """The value of one `key=value` token; `needle` is b" key=" and `body` starts with a space."""
    i = body.find(needle)
    if i < 0:
        return None
    i += len(needle)
    j = body.find(b" ", i)
    return body[i:] if j < 0 else body[i:j]


#: the SYSCALL fields an event is built from, found in one pass: a value runs to the next space (audit
#: writes values holding spaces hex-encoded), so a key can never be found inside another's value
_SYSCALL_FIELDS = re.compile(rb" (arch|syscall|success|pid|ppid|uid|euid|auid|exe|comm)=([^ ]*)")


def _syscall_fields(record: bytes) -> dict[bytes, bytes]:
    """key -> value of the fields `_close` reads; the first occurrence wins, as with `_field`."""
    return dict(reversed(_SYSCALL_FIELDS.findall(record)))


def _execve_args(body: bytes, value_text: Callable[[bytes], str] = _value_text) -> list[str]:
    """argv of one EXECVE record without `aN[i]=` chunks: every `aN=` value after `argc=`, decoded."""
    out = []
    for tok in body.split(b" ")[1:]:
        k, sep, v = tok.partition(b"=")
        if not sep or k[:1] != b"a" or k.endswith(b"_len"):
            continue
        out.append(value_text(v))
    return out


# the same three in C where the optional extension is built (each gives its Python twin's answer)
_py_syscall_fields, _py_value_text, _py_execve_args = _syscall_fields, _value_text, _execve_args
try:
    from cloudward._auditd import execve_args as _execve_args  # type: ignore[no-redef]
    from cloudward._auditd import syscall_fields as _c_syscall_fields
    from cloudward._auditd import value_text as _value_text  # type: ignore[no-redef]
except ImportError:  # pragma: no cover - the extension is optional
    _c_syscall_fields = None


def _int(v: bytes | None) -> int | None:
    if v is None:
        return None
    try:
        n = int(v)
    except ValueError:
        return None
    return None if n in (_UNSET_ID, -1) else n


#: answers remembered per value, for values up to this long: a host logs the same few executables, working
#: directories and ENRICHED name parts (`SYSCALL=execve ... UID="root"`) again and again; each answer is a pure
#: function of the bytes (strings are immutable, so one answer serves every event)
_MEMO_BYTES = 512
_MEMO_LIMIT = 16384
_NAMES: dict[bytes, tuple[bytes | None, str | None]] = {}
_EXES: dict[bytes, str] = {}
_CWDS: dict[bytes, str] = {}


#: `_int` of user ids (uid, euid, auid): a host has few
_IDS: dict[bytes, int | None] = {}


def _id(v: bytes | None) -> int | None:
    """`_int(v)`, remembered per value."""
    n = _int(v)
    if v is not None and len(v) <= 20:
        if len(_IDS) >= _MEMO_LIMIT:
            _IDS.clear()
        _IDS[v] = n
    return n


def _remember(cache: dict[bytes, Any], key: bytes, value: Any) -> None:
    if len(key) <= _MEMO_BYTES:
        if len(cache) >= _MEMO_LIMIT:
            cache.clear()
        cache[key] = value


def _enriched_names(enriched: bytes) -> tuple[bytes | None, str | None]:
    """(the SYSCALL= name, the UID= name as text, None when absent or empty) of an ENRICHED part."""
    names = b" " + enriched
    uname = _field(names, b" UID=")
    found = (_field(names, b" SYSCALL="), _value_text(uname) if uname else None)
    _remember(_NAMES, enriched, found)
    return found


def _text_of(value: bytes) -> str:
    """`_value_text(value)`, remembered per value."""
    text = _EXES.get(value)
    if text is None:
        text = _value_text(value)
        _remember(_EXES, value, text)
    return text


def _cwd_text(body: bytes) -> str:
    """The cwd= value of a CWD record body, as text."""
    cwd = _value_text(_field(b" " + body, b" cwd=") or b"")
    _remember(_CWDS, body, cwd)
    return cwd


@dataclass(slots=True)
class _Open:
    """Records of one audit event collected so far."""

    stamp: bytes
    node: bytes
    first_line: int
    syscall: bytes | None = None
    enriched: bytes = b""
    execve: list[bytes] = field(default_factory=list)
    cwd: bytes | None = None
    sockaddr: bytes | None = None
    proctitle: bytes | None = None
    lines: list[bytes] = field(default_factory=list)
    conflict: bool = False
    #: the records as one text, when they were read in one piece (else `lines` are joined)
    text: bytes | None = None


class Auditd(Format):
    name = "auditd"
    description = "Linux audit log (auditd RAW or ENRICHED): execve and connect events"
    kinds = ("ProcessExec", "NetConnection")

    def sniff(self, head: Head) -> int:
        # split on newlines only: str.splitlines would also cut at the ENRICHED separator (0x1d)
        lines = [ln for ln in head.data.split(b"\n")[:6] if ln.strip()][:5]
        if not lines:
            return 0
        good = sum(1 for ln in lines if ln.startswith((b"type=", b"node=")) and b" msg=audit(" in ln)
        return 90 if good == len(lines) else (70 if good else 0)

    def decoder(self, ctx: ParseContext, display: str, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                head: Head | None = None) -> Decoder:
        return _AuditDecoder(self, ctx, display, max_line_bytes)

    # -- one complete event -------------------------------------------------------------------
    def _close(self, ev: _Open, display: str, ctx: ParseContext) -> Event | None:
        where = f"{display}:{ev.first_line}"
        if ev.conflict:
            ctx.reject(where, "two SYSCALL records share one audit event id; event dropped")
            return None
        if ev.syscall is None:
            if ev.execve or ev.sockaddr:
                ctx.reject(where, "partial audit event: records without their SYSCALL record")
            return None
        return self._event(ev.stamp, ev.node, where, ev.syscall, ev.enriched, ev.execve, ev.cwd, ev.sockaddr,
                           ev.proctitle, ev.text if ev.text is not None else b"\n".join(ev.lines), ctx)

    def _event(self, stamp_bytes: bytes, node_bytes: bytes, where: str, syscall: bytes, enriched: bytes,
               execve: list[bytes], cwd_body: bytes | None, sockaddr: bytes | None, proctitle: bytes | None,
               text: bytes, ctx: ParseContext) -> Event | None:
        """The event of one audit event's records (its SYSCALL there), or None (counted or rejected). The
        whole-event path calls it straight, without collecting the records in an `_Open` first."""
        f = _syscall_fields(b" " + syscall) if _c_syscall_fields is None else _c_syscall_fields(syscall)
        get = f.get
        if enriched:
            names = _NAMES.get(enriched)
            if names is None:
                names = _enriched_names(enriched)
            syscall_name, user_name = names
        else:
            syscall_name = user_name = None
        exec_nums, connect_nums = _SYSCALLS.get(get(b"arch") or b"", _NO_SYSCALLS)
        if execve or syscall_name in (b"execve", b"execveat"):
            is_exec = True
        else:
            number = get(b"syscall")
            is_exec = number in exec_nums
            if not is_exec and not (sockaddr and (syscall_name == b"connect" or number in connect_nums)):
                ctx.stats.skipped += 1
                return None
        if is_exec and get(b"success") == b"no":
            ctx.stats.skipped += 1
            return None
        pid = _int(get(b"pid"))
        if pid is None:
            ctx.reject(where, "audit SYSCALL record without a pid")
            return None
        stamp = stamp_bytes.decode("ascii", "replace")
        host = ctx.host
        if node_bytes:
            node = node_bytes.decode("utf-8", "replace")
            host = host or node
            event_id = f"{node}:{stamp}"
        else:
            event_id = stamp
        try:
            when = float(stamp.partition(":")[0])
        except ValueError:
            when = 0.0
        uid = _IDS[v] if (v := get(b"uid")) in _IDS else _id(v)
        if user_name is not None:
            user = user_name
        else:
            user = _WELL_KNOWN_UIDS.get(uid, str(uid)) if uid is not None else ""
        exe = _text_of(get(b"exe") or b"")
        # one decode for the evidence: lines with NUL bytes never get here
        raw = {"records": text.decode("utf-8", "replace").split("\n")}
        ppid = _int(get(b"ppid")) or 0
        if is_exec:
            argv = self._argv(execve) if execve else self._proctitle(proctitle)
            if not argv:
                argv = [_value_text(get(b"comm") or b"") or exe]
            cwd = ""
            if cwd_body is not None:
                cwd = _CWDS.get(cwd_body)
                if cwd is None:
                    cwd = _cwd_text(cwd_body)
            return ProcessExec(
                event_id=event_id, time=when, raw=raw, origin=where, host=host, pid=pid,
                ppid=ppid, executable=exe or argv[0], argv=argv,
                command_line=" ".join(argv), cwd=cwd, user=user, uid=uid,
                euid=_IDS[v] if (v := get(b"euid")) in _IDS else _id(v),
                auid=_IDS[v] if (v := get(b"auid")) in _IDS else _id(v),
            )
        dest = self._sockaddr(sockaddr or b"")
        if dest is None:
            ctx.stats.skipped += 1  # unix, netlink and other non-IP sockets
            return None
        ip, port = dest
        title = self._proctitle(proctitle)
        return NetConnection(
            event_id=event_id, time=when, raw=raw, origin=where, host=host, pid=pid, ppid=ppid,
            executable=exe,
            command_line=" ".join(title) if title else _value_text(get(b"comm") or b""),
            destination_ip=ip, destination_port=port,
            user=user, uid=uid,
        )

    @staticmethod
    def _argv(records: list[bytes]) -> list[str]:
        if len(records) == 1 and b"[" not in records[0]:
            # the common case: one record, `argc=N a0=... a1=...` in order
            return _execve_args(records[0])
        args: dict[int, bytes] = {}
        chunks: dict[int, dict[int, bytes]] = {}
        argc = 0
        for body in records:
            for tok in body.split(b" "):
                k, sep, v = tok.partition(b"=")
                if not sep or not k.startswith(b"a"):
                    continue
                if k == b"argc":
                    argc = _int(v) or 0
                    continue
                name = k[1:]
                if name.endswith(b"_len"):
                    continue
                if name.endswith(b"]"):
                    idx, _, part = name[:-1].partition(b"[")
                    if idx.isdigit() and part.isdigit():
                        chunks.setdefault(int(idx), {})[int(part)] = _raw_value(v)
                    continue
                if name.isdigit():
                    args[int(name)] = _raw_value(v)
        for idx, parts in chunks.items():
            args[idx] = b"".join(parts[p] for p in sorted(parts))
        count = max(argc, max(args) + 1 if args else 0)
        return [_text(args.get(i, b"")) for i in range(min(count, 4096))]

    @staticmethod
    def _proctitle(body: bytes | None) -> list[str]:
        if not body:
            return []
        value = _raw_value(_fields(body).get(b"proctitle", b""))
        return [_text(a) for a in value.split(b"\x00") if a]

    @staticmethod
    def _sockaddr(body: bytes) -> tuple[str, int] | None:
        raw, _, _ = body.partition(b"\x1d")
        hexed = _fields(raw).get(b"saddr", b"")
        try:
            data = bytes.fromhex(hexed.decode("ascii"))
        except ValueError:
            return None
        if len(data) < 8:
            return None
        family = int.from_bytes(data[0:2], "little")
        port = int.from_bytes(data[2:4], "big")
        if family == socket.AF_INET:
            return socket.inet_ntop(socket.AF_INET, data[4:8]), port
        if family == socket.AF_INET6 and len(data) >= 24:
            return socket.inet_ntop(socket.AF_INET6, data[8:24]), port
        return None


#: one whole event in one match, as auditd writes most of them: its SYSCALL record, the records between
#: (EXECVE, CWD, PATH, SOCKADDR) and the PROCTITLE or EOE that closes it, all with the same stamp, on
#: consecutive lines without `node=`, CR or NUL. Anything else (interleaved events, other record types,
#: a damaged line) does not match and goes through `line`, one record at a time.
_WHOLE_EVENT = re.compile(
    rb"type=SYSCALL msg=audit\(([0-9.:]+)\): ([^\n\r\x00]*)\n"
    rb"((?:type=(?:EXECVE|CWD|PATH|SOCKADDR) msg=audit\(\1\): [^\n\r\x00]*\n)*)"
    rb"type=(PROCTITLE|EOE) msg=audit\(\1\): ([^\n\r\x00]*)(?:\n|\Z)"
)
#: the records between SYSCALL and PROCTITLE of a matched event: (type, body)
_MIDDLE = re.compile(rb"type=(EXECVE|CWD|PATH|SOCKADDR) msg=audit\([^)]*\): ([^\n]*)\n")


def _whole_event(buf: bytes, pos: int, end: int) -> tuple[bytes, int, bytes, list[bytes], bytes | None,
                                                          bytes | None, bytes | None] | None:
    """The event `_WHOLE_EVENT` matches at `pos`: (stamp, end of the match, SYSCALL body, EXECVE bodies,
    the last CWD body, the last SOCKADDR body, the PROCTITLE body), None for absent ones; None when it
    does not match. (`whole_event` in the C extension is its twin.)"""
    m = _WHOLE_EVENT.match(buf, pos, end)
    if m is None:
        return None
    execve: list[bytes] = []
    cwd = sockaddr = None
    for rtype, body in _MIDDLE.findall(m.group(3)):
        if rtype == b"EXECVE":
            execve.append(body)
        elif rtype == b"CWD":
            cwd = body
        elif rtype == b"SOCKADDR":
            sockaddr = body
    return (m.group(1), m.end(), m.group(2), execve, cwd, sockaddr,
            m.group(5) if m.group(4) == b"PROCTITLE" else None)


_py_whole_event = _whole_event
try:
    from cloudward._auditd import whole_event as _whole_event  # type: ignore[no-redef]
except ImportError:  # pragma: no cover - the extension is optional
    pass


def _exec_fields() -> tuple[tuple[str, Any, Any, bool], ...] | None:
    """(name, slot, default, default is a fresh list) of every `ProcessExec` field, for the C builder; None when
    a field has another kind of default or no slot, which the builder could not give. The slot is the nearest
    class's member descriptor: `raw` is a property (`events._lazy_field`) whose setter writes Event's slot."""
    member = type(Event.__dict__["event_id"])
    out = []
    for f in fields(ProcessExec):
        if f.default_factory is not MISSING and f.default_factory is not list:
            return None
        slot = next((c.__dict__[f.name] for c in ProcessExec.__mro__
                     if type(c.__dict__.get(f.name)) is member), None)
        if slot is None:
            return None
        out.append((f.name, slot, None if f.default is MISSING else f.default, f.default_factory is list))
    return tuple(out)


#: the whole ordinary exec event built in C (`exec_event`: the same `ProcessExec` as `Auditd._event`, or None
#: for anything unusual, which then goes the Python way); None without the extension
_exec_event: Callable[..., ProcessExec | None] | None = None
#: and a run of them in one call (`exec_run`: the events `exec_event` builds, one after another, until one it
#: does not), for a decoder with no open event
_exec_run: Callable[..., tuple[int, int]] | None = None
try:
    from cloudward._auditd import exec_event as _c_exec_event
    from cloudward._auditd import exec_run as _c_exec_run
    from cloudward._auditd import exec_setup as _exec_setup

    if (_spec := _exec_fields()) is not None:
        _exec_setup(ProcessExec, _spec, _WELL_KNOWN_UIDS, _EXES, _CWDS, _NAMES, _MEMO_BYTES, _MEMO_LIMIT)
        _exec_event, _exec_run = _c_exec_event, _c_exec_run
except ImportError:  # pragma: no cover - the extension is optional
    pass


class _AuditDecoder(LineDecoder):
    """One audit log stream: records are held per event until its last record (or the end) arrives.

    `take_block` reads a whole event with one regular-expression match where the event's records are
    consecutive (the common case), and otherwise one record at a time (`line`); both build the same
    `_Open` and close it the same way, and the held events are counted the same, so the events, their
    order and the line numbers are those of the record-at-a-time path."""

    def __init__(self, fmt: Auditd, ctx: ParseContext, display: str, max_line_bytes: int) -> None:
        super().__init__(ctx, display, max_line_bytes)
        self.fmt = fmt
        self.pending: dict[bytes, _Open] = {}
        #: ids of events rejected for holding two SYSCALL records; their late records are dropped too
        self.poisoned: set[bytes] = set()

    def take_block(self, buf: bytes, start: int, end: int) -> list[Event]:
        out: list[Event] = []
        limit = self.limit
        lineno = first = self.lineno
        line_events = self.line
        pending = self.pending
        poisoned = self.poisoned
        whole = _whole_event
        fast_exec = _exec_event
        fast_run = _exec_run
        host = self.ctx.host
        close = self.fmt._close
        build = self.fmt._event
        display = self.display
        ctx = self.ctx
        pos = start
        try:
            while pos < end:
                if fast_run is not None and not pending:
                    # the ordinary exec events from here, built in C, up to the first other one
                    pos, lineno = fast_run(buf, pos, end, display, lineno, host, limit, poisoned, out)
                    self.lineno = lineno
                    if pos >= end:
                        break
                m = whole(buf, pos, end) if buf.startswith(b"type=SYSCALL ", pos) else None
                if m is not None:
                    stamp, stop, syscall, execve, cwd, sockaddr, proctitle = m
                    if stop - pos <= limit and stamp not in pending and not (poisoned and stamp in poisoned):
                        records = buf.count(b"\n", pos, stop) + (buf[stop - 1] != 0x0A)
                        first_line = lineno + 1
                        lineno += records
                        self.lineno = lineno
                        if len(pending) >= _MAX_OPEN:
                            # the record-at-a-time path would have held this event first, closing the oldest
                            done = close(pending.pop(next(iter(pending))), display, ctx)
                            if done is not None:
                                out.append(done)
                        raw, _, enriched = syscall.partition(b"\x1d")
                        where = f"{display}:{first_line}"
                        done = fast_exec(stamp, where, raw, enriched, execve, cwd, buf, pos, stop, host) \
                            if fast_exec is not None and execve else None
                        if done is None:
                            # what `close` does with an `_Open` of these records (no conflict: one SYSCALL)
                            done = build(stamp, b"", where, raw, enriched, execve, cwd, sockaddr, proctitle,
                                         buf[pos : stop - 1] if buf[stop - 1] == 0x0A else buf[pos:stop], ctx)
                        if done is not None:
                            out.append(done)
                        pos = stop
                        continue
                nl = buf.find(b"\n", pos, end)
                if nl < 0:
                    nl = end
                raw_line = buf[pos:nl]
                pos = nl + 1
                lineno += 1
                self.lineno = lineno
                if len(raw_line) > limit:
                    ctx.reject(f"{display}:{lineno}", f"line too long: {len(raw_line)} bytes (limit {limit})")
                    continue
                events = line_events(raw_line.rstrip(b"\r\n"), lineno)
                if events:
                    out.extend(events)
        finally:
            ctx.stats.lines += lineno - first
        return out

    def line(self, line: bytes, lineno: int) -> list[Event] | None:
        display = self.display
        ctx = self.ctx
        reject = ctx.reject
        stats = ctx.stats
        pending = self.pending
        poisoned = self.poisoned
        if line.startswith(b"node="):
            sp = line.find(b" ")
            node, rest = line[5:sp], line[sp + 1 :]
        else:
            node, rest = b"", line
        i = rest.find(b" msg=audit(")
        if not rest.startswith(b"type=") or i < 0:
            if line.strip():
                reject(f"{display}:{lineno}", "not an audit record: no type= and msg=audit(...)")
            return None
        rtype = rest[5:i]
        if rtype not in _USED:
            stats.skipped += 1
            return None
        j = rest.find(b"):", i)
        if j < 0:
            reject(f"{display}:{lineno}", "malformed audit record: msg=audit( without a closing ):")
            return None
        if b"\x00" in line:
            reject(f"{display}:{lineno}", "NUL bytes in audit record")
            return None
        stamp = rest[i + 11 : j]
        body = rest[j + 3 :]
        key = node + b" " + stamp if node else stamp
        out: list[Event] = []
        ev = pending.get(key)
        if ev is None:
            if poisoned and key in poisoned:
                stats.skipped += 1  # the rest of an event already rejected as ambiguous
                return None
            ev = pending[key] = _Open(stamp, node, lineno)
            if len(pending) > _MAX_OPEN:
                oldest = next(iter(pending))
                done = self.fmt._close(pending.pop(oldest), display, ctx)
                if done is not None:
                    out.append(done)
        ev.lines.append(line)
        if rtype == b"SYSCALL":
            if ev.syscall is not None:
                ev.conflict = True
            raw, _, enriched = body.partition(b"\x1d")
            ev.syscall = raw
            ev.enriched = enriched
        elif rtype == b"EXECVE":
            ev.execve.append(body)
        elif rtype == b"CWD":
            ev.cwd = body
        elif rtype == b"SOCKADDR":
            ev.sockaddr = body
        elif rtype == b"PROCTITLE":
            ev.proctitle = body
        if rtype in _FINAL:
            del pending[key]
            if ev.conflict:
                if len(poisoned) >= 1024:
                    poisoned.clear()
                poisoned.add(key)
            done = self.fmt._close(ev, display, ctx)
            if done is not None:
                out.append(done)
        return out

    def end(self) -> list[Event]:
        out: list[Event] = []
        for ev in list(self.pending.values()):
            done = self.fmt._close(ev, self.display, self.ctx)
            if done is not None:
                out.append(done)
        self.pending.clear()
        return out


FORMATS = [Auditd()]
