"""The engine's per-kind run plans (`Engine._plan`): worked out once per event kind, forgotten whenever cards
are set up, and running exactly what the per-event path (`Engine._run_any`) runs — the same alerts on every
host corpus and the benchmark generator's log, the same errors counted when an enricher or a card fails."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from cloudward.detections.node._samples import audit_exec, shim
from cloudward.engine import Engine
from cloudward.events import K8sAudit, ProcessExec

MAKER = Path(__file__).resolve().parent / "data" / "host" / "expected" / "make_expected.py"
spec = importlib.util.spec_from_file_location("make_expected", MAKER)
assert spec is not None and spec.loader is not None
make_expected = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_expected)


def _log(tmp_path: Path) -> bytes:
    cid = "cd" * 32
    return (shim(10, 700, cid) + audit_exec(11, 701, 700, ["sh", "-c", "id"], exe="/usr/bin/dash")
            + audit_exec(12, 702, 701, ["id"], exe="/usr/bin/id")).encode()


def test_a_plan_per_kind_forgotten_when_cards_are_set_up(tmp_path: Path) -> None:
    engine = Engine(defer_cards=True)
    engine.feed_bytes("a.log", _log(tmp_path), final=True)
    engine.advance(None)
    plan = engine._plans[ProcessExec]
    engine.feed_bytes("b.log", _log(tmp_path).replace(b"msg=audit(", b"msg=audit(9"), final=True)
    engine.advance(None)
    assert engine._plans[ProcessExec] is plan  # worked out once, not per event
    engine._setup_kinds(frozenset({K8sAudit}))  # more cards: the plans may be stale
    assert not engine._plans
    assert engine.detections  # every card
    engine.feed_bytes("c.log", _log(tmp_path).replace(b"msg=audit(", b"msg=audit(8"), final=True)
    engine.advance(None)
    assert engine._plans[ProcessExec] is not plan


class _Boom:
    name = "boom"

    def enrich(self, event: Any) -> None:
        raise ValueError("enricher fails")


class _BadCard:
    """A card that fails on every event, the first one offered executions."""

    def __init__(self, card: Any) -> None:
        self.card = card

    def evaluate(self, event: Any) -> None:
        raise RuntimeError("card fails")


def _with_failures(engine: Engine) -> None:
    engine._enrichers_by_kind[ProcessExec].insert(0, _Boom())  # type: ignore[arg-type]
    cards = engine._by_kind[ProcessExec]
    cards.insert(0, _BadCard(cards[0].card))  # type: ignore[arg-type]
    engine._process_dispatch = None
    engine._plans.clear()


@pytest.mark.parametrize("planned", [True, False])
def test_failures_are_counted_and_the_rest_still_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       planned: bool) -> None:
    if not planned:
        monkeypatch.setattr(Engine, "_plan", lambda self, kind: self._run_any)
    engine = Engine()
    _with_failures(engine)
    ran: list[Any] = []
    engine._by_kind[ProcessExec].append(type("Spy", (), {"card": None, "evaluate": lambda s, e: ran.append(e)})())
    engine.feed_bytes("a.log", _log(tmp_path), final=True)
    engine.advance(None)
    assert engine.detection_errors == 6  # (two failures on each of the three executions)
    child = next(e for e in ran if e.pid == 702)
    assert child.parent_executable == "/usr/bin/dash" and child.container_id == "cd" * 32  # enrichers ran
    assert len(ran) == 3


@pytest.mark.parametrize("path", make_expected.corpora(), ids=make_expected.expected_name)
def test_plans_raise_what_the_per_event_path_raises(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    planned = make_expected.alerts_of(path)
    monkeypatch.setattr(Engine, "_plan", lambda self, kind: self._run_any)
    assert make_expected.alerts_of(path) == planned


def test_plans_on_the_benchmark_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for path in make_expected.generated(tmp_path):
        planned = make_expected.alerts_of(path)
        assert planned
        monkeypatch.setattr(Engine, "_plan", lambda self, kind: self._run_any)
        assert make_expected.alerts_of(path) == planned, path.name
        monkeypatch.undo()
