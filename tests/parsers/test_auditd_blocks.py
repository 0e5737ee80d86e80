"""The auditd decoder's whole-event fast path (`_AuditDecoder.take_block`) gives exactly what the
record-at-a-time path (`line`) gives: the same events in the same order, the same line numbers, the same
skipped and rejected counts, on real-format logs with every kind of disorder mixed in."""

from __future__ import annotations

import dataclasses
import random
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cloudward.parsers.auditd import Auditd, _AuditDecoder
from cloudward.parsers.base import LineDecoder, ParseContext

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import host_bench  # noqa: E402


def _decode(data: bytes, *, fast: bool, chunk: int = 1 << 16) -> tuple[list[dict], ParseContext]:
    ctx = ParseContext()
    decoder = Auditd().decoder(ctx, "audit.log", max_line_bytes=4096)
    if not fast:
        decoder.take_block = LineDecoder.take_block.__get__(decoder)  # type: ignore[method-assign]
    events = []
    for i in range(0, len(data), chunk):
        events += decoder.feed(data[i : i + chunk])
    events += decoder.close()
    return [_plain(e) for e in events], ctx


def _plain(event: object) -> dict:
    return {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}  # type: ignore[arg-type]


def _same(data: bytes, chunk: int = 1 << 16) -> None:
    fast, fctx = _decode(data, fast=True, chunk=chunk)
    slow, sctx = _decode(data, fast=False, chunk=chunk)
    assert fast == slow
    for stat in ("lines", "skipped", "rejected", "events"):
        assert getattr(fctx.stats, stat) == getattr(sctx.stats, stat), stat
    assert fctx.stats.rejections == sctx.stats.rejections


def _generated(tmp_path: Path, events: int = 400) -> list[bytes]:
    path = tmp_path / "audit.log"
    host_bench.write_audit(path, events)
    return path.read_bytes().split(b"\n")[:-1]


def test_the_benchmark_log_decodes_the_same(tmp_path: Path, monkeypatch) -> None:
    lines = _generated(tmp_path, 2000)
    # the fast path is what reads these: `line` sees none of their records (read as one block; at the
    # edges of smaller blocks the records of a cut event go through `line`)
    calls = []
    original = _AuditDecoder.line
    monkeypatch.setattr(_AuditDecoder, "line", lambda self, *a: calls.append(1) or original(self, *a))
    events, _ = _decode(b"\n".join(lines) + b"\n", fast=True, chunk=1 << 26)
    assert len(events) > 1900 and not calls
    monkeypatch.undo()
    _same(b"\n".join(lines) + b"\n")
    _same(b"\n".join(lines))  # no newline after the last record
    _same(b"\n".join(lines) + b"\n", chunk=333)  # blocks that cut events


def _disorder(lines: list[bytes], seed: int) -> bytes:
    rnd = random.Random(seed)
    out = list(lines)
    for _ in range(max(1, len(out) // 20)):
        i = rnd.randrange(len(out))
        what = rnd.randrange(9)
        if what == 0 and i + 1 < len(out):
            out[i], out[i + 1] = out[i + 1], out[i]  # interleaved events
        elif what == 1:
            out[i] = out[i] + b"\r"  # CRLF line
        elif what == 2:
            out[i] = out[i].replace(b"=", b"=\x00", 1)  # NUL byte: rejected
        elif what == 3:
            out[i] = b"node=web-1 " + out[i]
        elif what == 4:
            out.insert(i, out[i].replace(b"type=", b"type=USER_ACCT ", 1))  # another record type
        elif what == 5:
            del out[i]  # an event without its SYSCALL, or without its PROCTITLE
        elif what == 6:
            out.insert(i, out[i])  # a record twice (two SYSCALL records under one id)
        elif what == 7:
            out.insert(i, b"garbage that is no audit record")
        else:
            out[i] = out[i] + b"x" * 5000  # over the line limit
    return b"\n".join(out) + b"\n"


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**9), chunk=st.sampled_from([97, 4096, 1 << 16]))
def test_disordered_logs_decode_the_same(tmp_path_factory, seed: int, chunk: int) -> None:
    if not _LINES:
        _LINES.extend(_generated(tmp_path_factory.mktemp("gen"), 300))
    _same(_disorder(_LINES, seed), chunk=chunk)


#: the generated log the disorder examples start from, made once
_LINES: list[bytes] = []


def test_many_open_events_are_closed_in_the_same_order(tmp_path: Path) -> None:
    lines = _generated(tmp_path, 300)
    # 80 SYSCALL records whose other records never come, then ordinary events: the held ones are closed
    # oldest first as newer ones arrive (64 at most held), on both paths alike
    open_ones = [ln.replace(b"msg=audit(", b"msg=audit(9", 1) for ln in lines if ln.startswith(b"type=SYSCALL")][:80]
    _same(b"\n".join(open_ones + lines) + b"\n")
