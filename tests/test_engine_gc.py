"""The engine keeps the cyclic collector off long-lived state while it runs held events (`_release` freezes
every `FREEZE_RUN_EVERY` events, as `_take` does for held events): what a run leaves alive (process-tree
nodes, memo entries, alerts) is never walked again by a young or middle collection, and the end of input
thaws it all."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudward.detections.node._samples import audit_exec
from cloudward.engine import Engine
from cloudward.inputs import InputFile
from cloudward.parsers.auditd import Auditd
from cloudward.parsers.base import ParseContext


def _log(n: int) -> bytes:
    parts = []
    for i in range(n):
        # a lineage that keeps growing: every exec leaves a tree node (and its ancestors) alive
        parts.append(audit_exec(20_000 + i, 30_000 + i, 30_000 + i - 1 if i else 1,
                                ["/usr/bin/grep", "-c", "ERROR", f"/var/log/app/{i}.log"], exe="/usr/bin/grep"))
    return "".join(parts).encode()


@pytest.fixture()
def collections() -> Iterator[list[int]]:
    counts = [0, 0, 0]

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            counts[info["generation"]] += 1

    gc.collect()
    gc.callbacks.append(count)
    try:
        yield counts
    finally:
        gc.callbacks.remove(count)


def test_running_held_events_walks_no_long_lived_state(tmp_path: Path, collections: list[int]) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(_log(4000))
    # the caller keeps the events (as a batch handed to `feed` is kept): running them frees nothing, and
    # every run leaves its tree node, ancestors and order key alive
    events = list(Auditd().parse(InputFile(str(path)), ParseContext()))
    engine = Engine()
    engine.hold = True  # everything is held until the end of input, then run in one release
    engine.feed(events)
    before = list(collections)
    alerts = engine.advance(None)
    ran = [a - b for a, b in zip(collections, before, strict=True)]
    assert engine.stats.events == 4000
    assert alerts == []  # (ordinary commands)
    # without the freezes while running (FREEZE_RUN_EVERY = 10**9): about 19 young collections and one of
    # the middle generation over what the run left alive
    assert ran == [0, 0, 0], ran
    assert gc.get_freeze_count() == 0  # thawed at the end of input
