"""Annotated sample logs (fail2ban style) for the web and FTP parsers.

A file in tests/data/web/annotated holds log lines, each optionally preceded by one annotation line:

    ## expect event {"client_ip": "203.0.113.9", "status": 200}   the next line is one event with these fields
    ## expect reject client address is not an IP                 the next line is rejected, reason containing this
    ## expect nothing                                            the next line is neither an event nor rejected

Annotation lines are removed before parsing, so line numbers in ids and rejections are those of the
real log. Raw bytes (non-UTF-8, CR) are kept as they are in the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudward import parsers
from cloudward.inputs import InputFile
from cloudward.parsers.base import Head, JsonDialect, ParseContext
from cloudward.parsers.json_records import JsonRecords

DATA = Path(__file__).resolve().parents[1] / "data" / "web" / "annotated"


@dataclass
class Expectation:
    line: int
    kind: str
    detail: Any


def load(name: str) -> tuple[bytes, list[Expectation]]:
    out: list[bytes] = []
    expectations: list[Expectation] = []
    pending: tuple[str, Any] | None = None
    for raw in (DATA / name).read_bytes().split(b"\n"):
        if raw.startswith(b"## expect "):
            kind, _, rest = raw[len(b"## expect "):].decode().partition(" ")
            pending = (kind, json.loads(rest) if kind == "event" else rest.strip())
            continue
        out.append(raw)
        if pending is not None:
            expectations.append(Expectation(len(out), *pending))
            pending = None
    return b"\n".join(out), expectations


def run(name: str, fmt: str, site: str = "") -> tuple[dict[int, Any], dict[int, str], ParseContext]:
    """Parse an annotated file with `fmt` (and check sniffing picks it); events and rejections by line."""
    data, _ = load(name)
    ctx = ParseContext(site=site)
    display = f"annotated/{name}"
    chosen = parsers.by_name(fmt)
    src = InputFile.from_bytes(data, display)
    if isinstance(chosen, JsonDialect):
        events = list(JsonRecords().parse(src, ctx, forced=chosen))
    else:
        sniffed = parsers.sniff(Head.of(InputFile.from_bytes(data, display)))
        assert sniffed is not None and sniffed.name == fmt, f"sniffed {sniffed and sniffed.name}, expected {fmt}"
        events = list(chosen.parse(src, ctx))
    by_line: dict[int, Any] = {}
    for e in events:
        line = int(e.event_id.rsplit(":", 1)[1].split("[")[0])
        assert line not in by_line, f"two events for line {line}"
        by_line[line] = e
    rejects = {}
    for r in ctx.stats.rejections:
        path, _, line = r.where.rpartition(":")
        assert path == display, r.where
        rejects[int(line.split("[")[0])] = r.reason
    return by_line, rejects, ctx


def check(name: str, fmt: str, site: str = "") -> None:
    _, expectations = load(name)
    events, rejects, _ = run(name, fmt, site)
    assert expectations, "an annotated file needs annotations"
    for exp in expectations:
        where = f"{name}:{exp.line}"
        if exp.kind == "event":
            assert exp.line in events, f"{where}: no event (rejected: {rejects.get(exp.line)})"
            event = events[exp.line]
            assert event.event_id == f"annotated/{name}:{exp.line}", event.event_id
            for key, want in exp.detail.items():
                have = getattr(event, key)
                assert have == want, f"{where}: {key} = {have!r}, expected {want!r}"
        elif exp.kind == "reject":
            assert exp.line not in events, f"{where}: expected a rejection, got {events[exp.line]}"
            assert exp.line in rejects, f"{where}: not rejected"
            assert exp.detail in rejects[exp.line], f"{where}: reason {rejects[exp.line]!r} lacks {exp.detail!r}"
        elif exp.kind == "nothing":
            assert exp.line not in events and exp.line not in rejects, f"{where}: expected nothing"
        else:  # pragma: no cover - a typo in a data file
            raise AssertionError(f"{where}: unknown expectation {exp.kind}")
