"""`Engine.feed_live` (a live source's batch, then the watermark moved to the newest event) gives exactly
what `feed` then `advance` give: the alerts changed per batch (whole contract, in order), the final alerts,
the counts — on every corpus's events in time order (where it skips the ordering buffer) and shuffled
within the lateness, with late events, ties and context records (where it must fall back)."""

from __future__ import annotations

import copy
import dataclasses
import math
import random
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudward.engine import CONTEXT_ACTIONS, Engine, _live_key
from cloudward.events import Event
from cloudward.inputs import InputFile

ROOT = Path(__file__).parent
DATA = ROOT / "data"
SAMPLES = ROOT.parent / "src" / "cloudward" / "samples"


def _events(*folders: Path) -> list[Event]:
    decoder = Engine()
    out: list[Event] = []
    for folder in folders:
        for p in sorted(folder.rglob("*")):
            if p.is_file() and not p.name.startswith(".") and p.suffix in (".json", ".jsonl", ".log", ".xml") \
                    and "expected" not in p.parts:
                out.extend(decoder.decode_input(InputFile.from_bytes(p.read_bytes(), str(p.relative_to(ROOT.parent)))))
    # the ordering buffer's own order (time, origin, id): what a live source in time order hands over
    out.sort(key=lambda e: (e.time, *_live_key(e)))
    return out


CORPORA = {
    "host": _events(DATA / "host" / "recorded", DATA / "host" / "tetragon", DATA / "host" / "falco"),
    "host samples": _events(SAMPLES / "host"),
    "web": _events(DATA / "web", SAMPLES / "web"),
    "k8s": _events(DATA / "k8s" / "falco-trace-files", SAMPLES / "k8s"),
}


def _run(events: list[Event], cuts: list[int], *, live: bool, lateness: float = 0.0) -> tuple[Any, ...]:
    """The Detector's loop (agent/detect.py) over `events` cut into batches at `cuts`."""
    events = copy.deepcopy(events)  # enrichers write on events
    engine = Engine(raise_errors=True)
    fallbacks = [0]
    if live:
        slow = engine._feed_then_advance

        def counted(batch: list[Event], watermark: float) -> Any:
            fallbacks[0] += 1
            return slow(batch, watermark)

        engine._feed_then_advance = counted  # type: ignore[method-assign]
    newest = -math.inf
    per_batch = []
    bounds = [0, *cuts, len(events)]
    for lo, hi in pairwise(bounds):
        batch = events[lo:hi]
        for e in batch:
            newest = max(newest, e.time)
        if live:
            changed = engine.feed_live(batch, newest - lateness)
        else:
            merged = {a.id: a for a in engine.feed(batch)}
            merged.update((a.id, a) for a in engine.advance(newest - lateness))
            changed = list(merged.values())
        per_batch.append([a.to_dict() for a in changed])
    per_batch.append([a.to_dict() for a in engine.advance(None)])
    final = sorted((a.to_dict() for a in engine.alerts()), key=lambda d: d["id"])
    s = engine.stats
    counts = (s.events, s.rejected, s.duplicates, engine.late, engine.detection_errors, engine._released)
    return per_batch, final, counts, fallbacks[0]


def _cuts(n: int, rnd: random.Random, mean: int) -> list[int]:
    cuts, i = [], 0
    while True:
        i += rnd.randint(1, 2 * mean)
        if i >= n:
            return cuts
        cuts.append(i)


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_in_order_batches_skip_the_buffer_and_give_the_same_alerts(name: str) -> None:
    events = CORPORA[name]
    assert len(events) > 30
    cuts = _cuts(len(events), random.Random(7), 12)
    ref = _run(events, cuts, live=False)
    got = _run(events, cuts, live=True)
    assert got[:3] == ref[:3]
    assert any(got[0]), f"{name}: no alert, the comparison proves nothing"
    # the shortcut was taken for every batch but those holding a context record (docker inspect), which
    # the buffer runs before everything else
    assert got[3] == _with_context(events, cuts), (got[3], len(cuts) + 1)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(CORPORA)), seed=st.integers(0, 2**32), mean=st.integers(1, 40),
       swaps=st.integers(0, 30), lateness=st.sampled_from([0.0, 0.0, 30.0]), data=st.data())
def test_disordered_batches_give_the_same_alerts(name: str, seed: int, mean: int, swaps: int, lateness: float,
                                                 data: st.DataObject) -> None:
    rnd = random.Random(seed)
    events = list(CORPORA[name])
    for _ in range(swaps):  # out of order within a short distance (and so, sometimes, late)
        i = rnd.randrange(len(events))
        j = min(len(events) - 1, i + rnd.randint(1, 5))
        events[i], events[j] = events[j], events[i]
    if data.draw(st.booleans()):  # ties: a few events of one instant, from different origins, in any order
        k = rnd.randrange(len(events) - 3)
        tied = [dataclasses.replace(e, time=events[k].time) for e in events[k : k + 3]]
        rnd.shuffle(tied)
        events[k : k + 3] = tied
    cuts = _cuts(len(events), rnd, mean)
    ref = _run(events, cuts, live=False, lateness=lateness)
    got = _run(events, cuts, live=True, lateness=lateness)
    assert got[:3] == ref[:3]
    if lateness == 0:  # disordered and late events too are run without the buffer (sorted, late ones first)
        assert got[3] == _with_context(events, cuts)


def _with_context(events: list[Event], cuts: list[int]) -> int:
    """How many batches hold a context record (docker inspect): those go through the buffer."""
    bounds = [0, *cuts, len(events)]
    return sum(1 for lo, hi in pairwise(bounds)
               if any(getattr(e, "action", None) in CONTEXT_ACTIONS for e in events[lo:hi]))
