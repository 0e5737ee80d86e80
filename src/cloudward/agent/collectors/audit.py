"""Process executions and connections from the kernel audit stream, read by the auditd log parser.

Records arrive as auditd RAW lines (see `cloudward.agent.audit_netlink`); the SYSCALL record of each
event is the moment to read the process's cgroup from /proc (the earliest there is: a short-lived
process may be gone by the time its PROCTITLE arrives), and the user name is resolved like auditd's
ENRICHED format does. The parser groups the records into events exactly as it does for log files.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator

from cloudward.agent.audit_netlink import AuditStream, get_status
from cloudward.agent.collectors import Batch, Collector, Emit
from cloudward.agent.procfs import CgroupCache, user_name
from cloudward.events import Event, NetConnection, ProcessExec
from cloudward.inputs import ScanStats
from cloudward.parsers._container_ids import from_cgroup
from cloudward.parsers.auditd import Auditd
from cloudward.parsers.base import ParseContext

_MAX_PENDING = 4096


def _number(line: bytes, needle: bytes) -> int:
    i = line.find(needle)
    if i < 0:
        return 0
    i += len(needle)
    j = line.find(b" ", i)
    value = line[i:] if j < 0 else line[i:j]
    return int(value) if value.isdigit() else 0


class LiveAuditSource:
    """What the auditd parser reads from: the stream's lines, numbered, with cgroups read on the way."""

    def __init__(self, stream: AuditStream, cgroups: CgroupCache, display: str = "audit-netlink",
                 on_idle: Callable[[], None] | None = None, keep_records: bool = True) -> None:
        self.stream = stream
        self.keep_records = keep_records
        self.on_idle = on_idle
        self.cgroups = cgroups
        self.display = display
        #: audit stamp -> cgroup text of the event's process
        self.cgroup_of: OrderedDict[str, str] = OrderedDict()
        self.recent: list[bytes] = []

    def lines(self, stats: ScanStats) -> Iterator[tuple[int, bytes]]:
        n = 0
        for line in self.stream.lines(self.on_idle):
            if line.startswith(b"type=EOE "):
                continue  # the kernel ends every syscall event with PROCTITLE, which closes it already
            n += 1
            if line.startswith(b"type=SYSCALL "):
                pid = _number(line, b" pid=")
                cg = self.cgroups.lookup(pid, _number(line, b" ppid="))
                close = line.find(b"):")
                stamp = line[line.find(b"audit(") + 6 : close].decode("ascii", "replace")
                if cg:
                    self.cgroup_of[stamp] = cg
                    if len(self.cgroup_of) > _MAX_PENDING:
                        self.cgroup_of.popitem(last=False)
                uid = _number(line, b" uid=")
                if b" uid=4294967295" not in line:
                    line = line + b'\x1dUID="' + user_name(uid).encode() + b'"'
            if self.keep_records:
                self.recent.append(line)
            yield n, line


def _decoded(source: LiveAuditSource, ctx: ParseContext) -> Iterator[Event]:
    """The events of the live stream through the auditd format's decoder, one record line at a time (an
    event comes out as soon as its last record is in)."""
    decoder = Auditd().decoder(ctx, source.display)
    for _, line in source.lines(ctx.stats):
        yield from decoder.feed(line + b"\n")
    yield from decoder.close()


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
        containers: dict[str, str] = {}
        pending: list[Event] = []

        def flush() -> None:
            # what the socket had, handed on in one batch when it runs dry (or every 512 events)
            # (records with no event of ours, next to an auditd with other rules, are handed on in bulk too)
            if pending or len(source.recent) >= 4096:
                records, source.recent = source.recent, []
                emit(Batch(self.name, "auditd", records, pending[:]))
                pending.clear()

        source = LiveAuditSource(self.stream, cgroups, on_idle=flush, keep_records=self.keep_records)
        for event in _decoded(source, self.ctx):
            if type(event) is ProcessExec or type(event) is NetConnection:
                stamp = event.event_id.rsplit(":", 2)
                key = ":".join(stamp[-2:])
                cg = source.cgroup_of.pop(key, "")
                if cg and not event.container_id:
                    event.cgroup = cg
                    # most processes share a handful of cgroups: read each text into a container id once
                    found = containers.get(cg)
                    if found is None:
                        if len(containers) >= 4096:
                            containers.clear()
                        hit = from_cgroup(cg)
                        found = containers[cg] = hit[1] if hit else ""
                    if found:
                        event.container_id = found
                if type(event) is ProcessExec and not cg:
                    self.health.misses += 1
            self.health.events += 1
            pending.append(event)
            if len(pending) >= 512:
                flush()
            if self.stopping.is_set():
                break
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
