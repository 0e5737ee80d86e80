"""The agent's event log: the encoders generated per event class write exactly the bytes of the
field-by-field loop they replace, on every host corpus's events and on generated events."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cloudward import parsers
from cloudward.agent import runner
from cloudward.agent.runner import event_json, event_json_generic
from cloudward.events import ContainerEvent, NetConnection, ProcessExec
from cloudward.parsers.base import ParseContext

DATA = Path(__file__).resolve().parents[1] / "data" / "host"


def _corpus_events() -> list[object]:
    out: list[object] = []
    for path in sorted(p for p in DATA.rglob("*") if p.suffix in (".log", ".json", ".jsonl")
                       and "expected" not in p.parts):
        ctx = ParseContext()
        try:
            decoder = parsers.stream_decoder(ctx, str(path), None)
        except ValueError:
            continue
        out += decoder.feed(path.read_bytes())
        out += decoder.close()
    return out


def test_corpus_events_encode_the_same() -> None:
    events = _corpus_events()
    kinds = {type(e) for e in events}
    assert ProcessExec in kinds and NetConnection in kinds and len(events) > 50
    for event in events:
        assert event_json(event) == event_json_generic(event)


# values the emptiness test treats specially: None, "", [], 0, False, 0.0, and ordinary ones
_scalar = st.one_of(st.none(), st.just(""), st.just(0), st.just(0.0), st.booleans(), st.integers(-2, 2**33),
                    st.text(max_size=8), st.floats(allow_nan=False))
_value = st.one_of(_scalar, st.lists(st.text(max_size=4), max_size=3), st.just([]))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([ProcessExec, NetConnection, ContainerEvent]), st.data())
def test_generated_events_encode_the_same(kind: type, data: st.DataObject) -> None:
    event = kind(event_id="x", time=0.0)
    for f in dataclasses.fields(kind):
        if f.name in runner._EVENT_FIELDS and data.draw(st.booleans()):
            object.__setattr__(event, f.name, data.draw(_value))
    assert event_json(event) == event_json_generic(event)
