"""The optional C accelerator decides exactly as the pure-Python filter does."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudward.detections.kubernetes._samples import audit, container, pod
from cloudward.inputs import InputFile
from cloudward.parsers import _k8s
from cloudward.parsers.base import Interest
from cloudward.pipeline import Pipeline

speedups = pytest.importorskip("cloudward._speedups")
WANTED = frozenset({"create", "update", "patch"})
python_needed = _k8s.verb_line_filter(Interest(audit_verbs=WANTED, audit_resources=None))

line_parts = st.one_of(
    st.sampled_from([b'{"kind":"Event"', b',"verb":"get"', b',"verb":"create"', b',"verb":"w\\u0061tch"',
                     b',"user":{"verb":"get"}', b"}", b"\r", b'"', b",", b"{", b"[", b'"verb":"list"',
                     # decoys and escapes: the C filter must refuse exactly what the Python one refuses
                     b',"\\u0076erb":"create"', b"\\u0026", b"\\u004", b"\\\\u0065", b'"verb"', b"verb", b"\\"]),
    st.binary(max_size=12),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.lists(line_parts, max_size=8).map(b"".join), min_size=1, max_size=12))
def test_same_decision_as_python_on_arbitrary_lines(lines):
    lines = [ln.replace(b"\n", b" ") for ln in lines]
    buf = b"\n".join(lines)
    spans, count = speedups.audit_lines(buf, 0, len(buf), tuple(v.encode() for v in WANTED))
    assert count == len(lines) or (count == len(lines) - 1 and lines[-1] == b"")
    returned = {index for index, _, _ in spans}
    pos = 0
    for index, line in enumerate(lines[:count]):
        assert (index in returned) == python_needed(buf, pos, pos + len(line)), line
        pos += len(line) + 1


def test_pipeline_results_identical_with_and_without_accelerator(monkeypatch):
    lines = []
    for i in range(3000):
        verb = ("get", "list", "watch", "create", "update")[i % 5]
        writes = verb in ("create", "update")
        obj = pod(f"p{i % 7}", [container("c", "nginx", privileged=i % 11 == 0)]) if writes else None
        lines.append(orjson.dumps(audit(verb, "pods", obj, name=f"p{i % 7}", when=f"2026-11-02T09:{i % 60:02d}:00Z",
                                        audit_id=f"id-{i}")))
    lines.insert(100, b'{"kind":"Event","verb":"get"')  # truncated: must be rejected either way
    lines.insert(200, json.dumps(audit("create", "pods", pod("z", [container("c", "x", privileged=True)]))).encode())
    data = b"\n".join(lines) + b"\n"

    def run():
        pipe = Pipeline(raise_errors=True)
        pipe.run_input(InputFile.from_bytes(data, "a.log"))
        alerts = pipe.finish()
        return [(a.id, a.count) for a in alerts], pipe.stats.to_dict()

    fast = run()
    monkeypatch.setattr(_k8s, "ACCELERATED", False)
    slow = run()
    assert fast == slow
    assert fast[1]["rejected"] == 1 and fast[1]["skipped_unneeded"] > 1000
