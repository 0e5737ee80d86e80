"""Matcher specs (`cloudward.sigma.matchers`): an `or` of string tests on one field, merged into one predicate,
holds exactly when one of the tests does (checked against Sigma's semantics written out here), and the
detection's one-finding-per-match path gives the findings of the general path."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sigma_helpers import EMERGING, RULES
from test_prefilter import WEB_ATTACKS, _corpus, _generated_audit, _ordinary_web

from cloudward.config import from_dict
from cloudward.inputs import InputFile
from cloudward.parsers import by_name
from cloudward.parsers.base import ParseContext
from cloudward.parsers.json_records import JsonRecords
from cloudward.sigma import build
from cloudward.sigma.detection import detections_for
from cloudward.sigma.matchers import MULTI, EventValues
from cloudward.sigma.matchers import build as build_spec

_TEXT = st.text(alphabet="aAbB/.-_ſK\u212a", max_size=4)


@st.composite
def _leaf(draw: st.DrawFn) -> tuple[list[Any], str, str, bool]:
    kind = draw(st.sampled_from(["eq", "contains", "prefix", "suffix"]))
    text = draw(_TEXT)
    cased = draw(st.booleans())
    parts = {"eq": [text], "contains": [MULTI, text, MULTI], "prefix": [text, MULTI], "suffix": [MULTI, text]}[kind]
    return ["str", "f", parts, cased], kind, text, cased


def _oracle(kind: str, text: str, cased: bool, values: list[str]) -> bool:
    fold = (lambda x: x) if cased else str.casefold
    want = fold(text)
    for v in map(fold, values):
        if (kind == "eq" and v == want) or (kind == "contains" and want in v) or (
                kind == "prefix" and v.startswith(want)) or (kind == "suffix" and v.endswith(want)):
            return True
    return False


@examples(max_examples=400, deadline=None)
@given(st.lists(_leaf(), min_size=1, max_size=6), st.lists(_TEXT, max_size=3), st.booleans(), st.booleans())
def test_an_or_of_string_tests_on_one_field_is_any_of_them(leaves, values, as_list, nested) -> None:
    specs = [s for s, *_ in leaves]
    spec = ["any", [["any", specs[: len(specs) // 2]], ["any", specs[len(specs) // 2:]]]
                    if len(specs) >= 2 else specs] if nested else ["any", specs]
    event = {"f": values if as_list else (values[0] if values else None)}
    got = build_spec(spec).pred(EventValues(event, {"f": lambda e: e["f"]}))
    seen = values if as_list else values[:1]
    assert got == any(_oracle(kind, text, cased, seen) for _, kind, text, cased in leaves)


def _events(text: str, fmt: str) -> list[Any]:
    src = InputFile.from_bytes(text.encode(), "<sample>")
    src.open()
    try:
        parser = JsonRecords() if fmt == "json" else by_name(fmt)
        return list(parser.parse(src, ParseContext()))
    finally:
        src.close()


def _findings(found: list[Any]) -> list[bytes]:
    return [orjson.dumps([f.key, f.severity, f.params, f.card.id if f.card else None, repr(sorted(f.entities.items())),
                          f.event.event_id]) for f in found]


def test_the_one_finding_per_match_path_gives_the_general_path_s_findings() -> None:
    for text, fmt, paths in (
            (_ordinary_web(200) + "".join(WEB_ATTACKS), "combined", [RULES / "web", EMERGING]),
            (_generated_audit(11, 600) + _corpus(), "json", [RULES / "application" / "kubernetes"])):
        ruleset = build(from_dict({}), [str(p) for p in paths])
        fast, general = detections_for(ruleset)[0], detections_for(ruleset)[0]
        general.trace = []  # (a trace takes the general path)
        assert not fast._correlated
        got, want = [], []
        for ev in _events(text, fmt):
            got += _findings(list(fast.evaluate(ev) or ()))
            want += _findings(list(general.evaluate(ev) or ()))
        assert len(want) >= 5 and got == want
