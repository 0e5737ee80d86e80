"""Process executions and connections from the kernel audit stream, read by the auditd log parser.

Records arrive as auditd RAW lines (see `cloudward.agent.audit_netlink`); the SYSCALL record of each
event is the moment to read the process's cgroup from /proc (the earliest there is: a short-lived
process may be gone by the time its PROCTITLE arrives), and the user name is resolved like auditd's
ENRICHED format does. The parser groups the records into events exactly as it does for log files.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from cloudward.agent.audit_netlink import RECORD_TYPES, AuditStream, get_status
from cloudward.agent.collectors import Batch, Collector, Emit
from cloudward.agent.containers import ContainerResolver
from cloudward.agent.cri import CriMetadata
from cloudward.agent.procfs import CgroupCache, user_name
from cloudward.events import Event, NetConnection, ProcessExec
from cloudward.parsers.auditd import Auditd
from cloudward.parsers.base import ParseContext

_MAX_PENDING = 4096
#: the record types the collector reads: not EOE (the kernel closes every syscall event with PROCTITLE)
_LIVE_TYPES = {number: name for number, name in RECORD_TYPES.items() if name != b"EOE"}
#: ppid, pid and uid of a SYSCALL record, in the order the kernel writes them (audit_log_task_info)
_IDS = re.compile(rb" ppid=(\d+) pid=(\d+) auid=\d+ uid=(\d+) ").search


def _number(line: bytes, needle: bytes) -> int:
    i = line.find(needle)
    if i < 0:
        return 0
    i += len(needle)
    j = line.find(b" ", i)
    value = line[i:] if j < 0 else line[i:j]
    return int(value) if value.isdigit() else 0


class LiveAuditSource:
    """Reads what the auditd parser needs off each SYSCALL record as it arrives: the process's cgroup
    (the earliest moment there is), and the user name as auditd's ENRICHED format resolves it."""

    def __init__(self, cgroups: CgroupCache, keep_records: bool = True) -> None:
        self.keep_records = keep_records
        self.cgroups = cgroups
        #: audit stamp -> cgroup text of the event's process
        self.cgroup_of: OrderedDict[str, str] = OrderedDict()
        self.recent: list[bytes] = []

    def syscall(self, line: bytes) -> bytes:
        """A SYSCALL record: its process's cgroup noted under its stamp; the record with the user's name."""
        m = _IDS(line)
        if m is not None:  # the kernel's own field order: one match instead of three searches
            ppid, pid, uid = int(m.group(1)), int(m.group(2)), int(m.group(3))
        else:
            ppid, pid, uid = _number(line, b" ppid="), _number(line, b" pid="), _number(line, b" uid=")
        cg = self.cgroups.lookup(pid, ppid)
        if cg:
            close = line.find(b"):")
            stamp = line[line.find(b"audit(") + 6 : close].decode("ascii", "replace")
            self.cgroup_of[stamp] = cg
            if len(self.cgroup_of) > _MAX_PENDING:
                self.cgroup_of.popitem(last=False)
        if b" uid=4294967295" not in line:
            line = line + b'\x1dUID="' + user_name(uid).encode() + b'"'
        return line


def _with_line_breaks(recs: list[bytes], take_block: Callable[[bytes, int, int], list[Event]], decoder: Any,
                      ctx: ParseContext, display: str) -> list[Event]:
    """A batch where some record holds a line break (or CR): those go to the decoder's `line` alone, in
    order, and the runs of ordinary records between them through `take_block`."""
    events: list[Event] = []
    block: list[bytes] = []
    limit = decoder.limit
    for rec in recs:
        if b"\n" in rec or b"\r" in rec:
            if block:
                buf = b"\n".join(block)
                events += take_block(buf, 0, len(buf))
                block = []
            decoder.lineno += 1
            ctx.stats.lines += 1
            if len(rec) > limit:
                ctx.reject(f"{display}:{decoder.lineno}", f"line too long: {len(rec)} bytes (limit {limit})")
                continue
            events += decoder.line(rec, decoder.lineno) or ()
            continue
        block.append(rec)
    if block:
        buf = b"\n".join(block)
        events += take_block(buf, 0, len(buf))
    return events


def decode_batches(batches: Iterable[tuple[list[bytes], bool]], source: LiveAuditSource, ctx: ParseContext,
                   on_events: Callable[[list[Event]], None], on_idle: Callable[[], None],
                   display: str = "audit-netlink", stop: Callable[[], bool] = lambda: False) -> None:
    """The live stream's record batches through the auditd format's decoder; `on_idle` each time the
    socket ran dry.

    Each batch's records (one a datagram, whole) are joined into one block of lines for the decoder's
    `take_block`, which reads each event whose records are all in the batch with one match (see
    `cloudward.parsers.auditd`); an event cut by the batch's end is held and completed from the next
    batch. A record holding a line break (never one the kernel formats, but user messages relayed
    through it could) is handed to the per-record entry point `line` on its own, in order."""
    decoder = Auditd().decoder(ctx, display)
    take_block = decoder.take_block  # type: ignore[attr-defined]
    keep = source.keep_records
    syscall = source.syscall
    for records, dry in batches:
        recs: list[bytes] = []
        append = recs.append
        for rec in records:
            if rec.startswith(b"type=SYSCALL "):
                rec = syscall(rec)
            elif rec.startswith(b"type=EOE "):
                continue  # the kernel ends every syscall event with PROCTITLE, which closes it already
            append(rec)
        if keep:
            source.recent += recs  # (a new list each time a batch is handed on)
        events: list[Event] = []
        if recs:
            buf = b"\n".join(recs)
            if buf.count(b"\n") == len(recs) - 1 and b"\r" not in buf:
                events = take_block(buf, 0, len(buf))  # the usual case: no record holds a line break
            else:
                events = _with_line_breaks(recs, take_block, decoder, ctx, display)
        if events:
            on_events(events)
        if dry:
            on_idle()
        if stop():
            break
    done = decoder.close()
    if done:
        on_events(done)


class AuditCollector(Collector):
    name = "audit"

    def available(self) -> str:
        try:
            get_status()
        except OSError as exc:
            return (f"kernel audit netlink unavailable: {exc.strerror or exc} "
                    "(needs CAP_AUDIT_CONTROL or CAP_AUDIT_READ)")
        return ""

    def run(self, emit: Emit) -> None:
        self.stream = AuditStream(mode=self.settings.audit_mode, backlog_limit=self.settings.audit_backlog_limit)
        self.stream.open()
        self.extra["mode"] = self.stream.mode
        self.extra["rules"] = len(self.stream.added)
        self.health.set("ok", f"{self.stream.mode} mode, {len(self.stream.added)} rules loaded")
        cgroups = CgroupCache()
        st = self.settings
        resolver = ContainerResolver(CriMetadata(st.containerd_root, st.crio_root))
        pending: list[Event] = []
        source = LiveAuditSource(cgroups, keep_records=self.keep_records)
        health = self.health

        def flush() -> None:
            # what the socket had, handed on in one batch when it runs dry (or every 512 events)
            # (records with no event of ours, next to an auditd with other rules, are handed on in bulk too)
            if pending or len(source.recent) >= 4096:
                records, source.recent = source.recent, []
                emit(Batch(self.name, "auditd", records, pending[:]))
                pending.clear()

        def take(events: list[Event]) -> None:
            cgroup_of = source.cgroup_of
            for event in events:
                kind = type(event)
                if kind is ProcessExec or kind is NetConnection:
                    stamp = event.event_id.rsplit(":", 2)
                    cg = cgroup_of.pop(":".join(stamp[-2:]), "")
                    if cg:
                        resolver.apply(event, cg)
                        if event.container_id:
                            # (a host process's cgroup stays off the event: the container-context enricher
                            # would only search it again for the id the resolver's cache says it lacks)
                            event.cgroup = cg
                    if kind is ProcessExec and not cg:
                        health.misses += 1
                health.events += 1
                pending.append(event)
            if len(pending) >= 512:
                flush()

        decode_batches(self.stream.batches(types=_LIVE_TYPES), source, self.ctx, take, flush, stop=self.stopping.is_set)
        flush()
        self.extra["cgroup_misses"] = cgroups.misses

    def interrupt(self) -> None:
        stream = getattr(self, "stream", None)
        if stream is not None:
            stream.stop_reading()

    def close(self) -> None:
        stream = getattr(self, "stream", None)
        if stream is not None:
            self.extra["kernel_lost"] = stream.lost()
            self.extra["overruns"] = stream.overruns
            stream.close()

    def status(self) -> dict[str, object]:
        out = super().status()
        stream = getattr(self, "stream", None)
        if stream is not None and stream.sock is not None:
            out["kernel_lost"] = stream.lost()
            out["overruns"] = stream.overruns
        out["updated"] = time.time()
        return out


COLLECTOR = AuditCollector
