"""Every host corpus raises exactly the alerts it raised before the host fast paths (issue 10).

The expected alerts were written from main by tests/data/host/expected/make_expected.py: alert ids,
counts, entities, evidence, descriptions — the whole contract. A speed-up that changes any of them fails
here, naming the input.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import orjson
import pytest

HERE = Path(__file__).resolve().parent
MAKER = HERE.parent / "data" / "host" / "expected" / "make_expected.py"
spec = importlib.util.spec_from_file_location("make_expected", MAKER)
assert spec is not None and spec.loader is not None
make_expected = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_expected)

EXPECTED: dict[str, list[dict]] = orjson.loads((MAKER.parent / "alerts.json").read_bytes())


def test_every_host_corpus_has_expected_alerts() -> None:
    names = {make_expected.expected_name(p) for p in make_expected.corpora()}
    names |= set(make_expected.groups())
    names |= {f"generated/host-{kind}-{make_expected.GENERATED_EVENTS}.{ext}"
              for kind, ext in (("audit", "log"), ("tetragon", "jsonl"))}
    assert names == set(EXPECTED)
    assert sum(len(v) for v in EXPECTED.values()) > 50  # the corpora do alert: the comparison is not vacuous


@pytest.mark.parametrize("path", make_expected.corpora(), ids=make_expected.expected_name)
def test_corpus_alerts_unchanged(path: Path) -> None:
    assert make_expected.alerts_of(path) == EXPECTED[make_expected.expected_name(path)]


@pytest.mark.parametrize("name", sorted(make_expected.groups()))
def test_corpora_read_together_unchanged(name: str) -> None:
    assert make_expected.alerts_of(*make_expected.groups()[name]) == EXPECTED[name]


def test_benchmark_inputs_unchanged(tmp_path: Path) -> None:
    for path in make_expected.generated(tmp_path):
        assert make_expected.alerts_of(path) == EXPECTED[make_expected.expected_name(path)], path.name
