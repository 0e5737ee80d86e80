"""Alerts on every audit corpus are the ones main raised before typed decoding and the wider prefilter.

`tests/data/k8s/expected-alerts.json` was written by `python tests/parsers/test_k8s_audit_equivalence.py`
from main before those changes; regenerate it only when a change of alerts is intended (and say so).
Each corpus file is scanned alone, and all of them together (cross-file state: owner chains, baselines).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cloudward.inputs import InputFile
from cloudward.pipeline import Pipeline

ROOT = Path(__file__).resolve().parent.parent.parent
EXPECTED = ROOT / "tests" / "data" / "k8s" / "expected-alerts.json"
CORPORA = sorted(
    [p for p in (ROOT / "tests" / "data" / "k8s" / "falco-trace-files").glob("*.json")]
    + [p for p in (ROOT / "src" / "cloudward" / "samples" / "k8s").iterdir() if p.is_file()]
)
ALL = "(all corpora together)"


def _alerts(paths: list[Path]) -> list[dict[str, Any]]:
    pipe = Pipeline(raise_errors=True)
    for path in paths:
        pipe.run_input(InputFile(str(path)))
    alerts = [a.to_dict() for a in pipe.finish()]
    # JSON round trip: the stored file holds what the contract serializes
    # and evidence origins relative to the checkout, so the stored file holds in any clone
    text = json.dumps(sorted(alerts, key=lambda a: a["id"]), sort_keys=True)
    return json.loads(text.replace(json.dumps(str(ROOT) + "/")[1:-1], ""))


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _current() -> dict[str, list[dict[str, Any]]]:
    out = {_name(p): _alerts([p]) for p in CORPORA}
    out[ALL] = _alerts(CORPORA)
    return out


@pytest.fixture(scope="module")
def expected() -> dict[str, list[dict[str, Any]]]:
    return json.loads(EXPECTED.read_text())


def test_every_corpus_is_covered(expected):
    assert set(expected) == {_name(p) for p in CORPORA} | {ALL}
    assert sum(len(v) for k, v in expected.items() if k != ALL) >= 15  # the corpora do raise alerts


@pytest.mark.parametrize("path", CORPORA, ids=_name)
def test_alerts_unchanged(path, expected):
    assert _alerts([path]) == expected[_name(path)]


def test_alerts_unchanged_all_together(expected):
    assert _alerts(CORPORA) == expected[ALL]


if __name__ == "__main__":
    EXPECTED.write_text(json.dumps(_current(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {EXPECTED}")
