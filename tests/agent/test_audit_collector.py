"""The live audit collector's record loop (no root needed): recorded kernel records in arbitrary bursts
make the same events as the auditd file parser, with the cgroup of each SYSCALL's process attached."""

from __future__ import annotations

from pathlib import Path

from cloudward.agent.collectors.audit import LiveAuditSource, decode_batches
from cloudward.agent.procfs import CgroupCache
from cloudward.events import Event, ProcessExec
from cloudward.inputs import InputFile
from cloudward.parsers.auditd import Auditd
from cloudward.parsers.base import ParseContext

RAW = Path(__file__).resolve().parents[1] / "data" / "host" / "recorded" / "audit-raw.log"


def _facts(ev: Event) -> tuple:
    return (type(ev).__name__, ev.event_id, getattr(ev, "executable", ""), getattr(ev, "argv", None),
            getattr(ev, "cwd", ""), getattr(ev, "pid", 0), getattr(ev, "ppid", 0), getattr(ev, "uid", None))


def _live(records: list[bytes], proc: Path, burst: int) -> tuple[list[Event], int, LiveAuditSource, ParseContext]:
    source = LiveAuditSource(CgroupCache(proc=str(proc)), keep_records=True)
    ctx = ParseContext()
    got: list[Event] = []
    idle = 0

    def on_idle() -> None:
        nonlocal idle
        idle += 1

    # bursts of `burst` records, every other one "ran dry": events complete across burst boundaries
    batches = [(records[i:i + burst], (i // burst) % 2 == 1) for i in range(0, len(records), burst)]
    decode_batches(batches, source, ctx, got.extend, on_idle)
    return got, idle, source, ctx


def test_bursts_give_the_file_parsers_events_with_cgroups(tmp_path: Path) -> None:
    records = [ln for ln in RAW.read_bytes().split(b"\n") if ln]
    ctx = ParseContext()
    expected = [_facts(e) for e in Auditd().parse(InputFile(str(RAW)), ctx)]
    assert len(expected) > 10
    first = next(ln for ln in records if ln.startswith(b"type=SYSCALL "))
    pid = int(first.split(b" pid=")[1].split(b" ")[0])
    (tmp_path / str(pid)).mkdir()
    (tmp_path / str(pid) / "cgroup").write_text("0::/system.slice/docker-" + "ab" * 32 + ".scope\n")
    for burst in (1, 3, 7, 1000):
        got, idle, source, live_ctx = _live(records, tmp_path, burst)
        assert [_facts(e) for e in got] == expected
        assert idle == sum(1 for i in range(0, len(records), burst) if (i // burst) % 2 == 1)
        assert live_ctx.stats.lines == sum(1 for r in records if not r.startswith(b"type=EOE "))
        assert len(source.recent) == live_ctx.stats.lines  # every record kept for the spool
        # the one process whose cgroup could be read: noted under its event's stamp, for the collector
        assert list(source.cgroup_of.values()) == ["0::/system.slice/docker-" + "ab" * 32 + ".scope\n"]
        assert all(isinstance(e, ProcessExec) or e.user for e in got)


def test_an_over_long_record_is_refused_and_the_rest_read(tmp_path: Path) -> None:
    records = [ln for ln in RAW.read_bytes().split(b"\n") if ln]
    huge = b"type=EXECVE msg=audit(1795931077.157:99999): argc=1 a0=" + b"41" * (1 << 20)
    got, _, _, ctx = _live([huge, *records], tmp_path, 5)
    assert ctx.stats.rejected == 1
    assert len(got) == len(list(Auditd().parse(InputFile(str(RAW)), ParseContext())))


def test_a_record_holding_a_line_break_stays_one_record(tmp_path: Path) -> None:
    """A user message relayed by the kernel may hold a newline: it is one record, not two lines, and the
    events around it are read as without it."""
    records = [ln for ln in RAW.read_bytes().split(b"\n") if ln]
    odd = b"type=USER_CMD msg=audit(1795931077.157:99998): pid=1 uid=0 msg='cmd=x\ntype=SYSCALL msg=audit(1:2): '"
    middle = len(records) // 2
    for burst in (4, 1000):
        got, _, _, ctx = _live([*records[:middle], odd, *records[middle:]], tmp_path, burst)
        assert [_facts(e) for e in got] == [_facts(e) for e in Auditd().parse(InputFile(str(RAW)), ParseContext())]
        assert ctx.stats.rejected == 0
        assert ctx.stats.lines == 1 + sum(1 for r in records if not r.startswith(b"type=EOE "))
