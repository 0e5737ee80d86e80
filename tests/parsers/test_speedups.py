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


RESOURCES = frozenset({"pods", "daemonsets"})
python_needed_by_resource = _k8s.verb_line_filter(Interest(audit_verbs=WANTED, audit_resources=RESOURCES))
resource_parts = st.one_of(
    line_parts,
    st.sampled_from([b',"objectRef":{"resource":"leases"', b',"objectRef":{"resource":"pods"', b',"resource":"x"',
                     b',"objectRef":{"resource":"le\\u0061ses"', b'"objectRef"', b'"resource"', b',"namespace":"n"}',
                     b',"\\u006fbjectRef":{"resource":"pods"}', b',"objectRef": {"resource":"leases"}']),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.lists(resource_parts, max_size=9).map(b"".join), min_size=1, max_size=12))
def test_resource_rule_in_c_never_skips_what_python_keeps(lines):
    lines = [ln.replace(b"\n", b" ") for ln in lines]
    buf = b"\n".join(lines)
    spans, count = speedups.audit_lines(buf, 0, len(buf), tuple(sorted(v.encode() for v in WANTED)),
                                        tuple(sorted(r.encode() for r in RESOURCES)))
    returned = {index for index, _, _ in spans}
    pos = 0
    for index, line in enumerate(lines[:count]):
        # C may return more than Python keeps (Python decides those), never fewer
        if python_needed_by_resource(buf, pos, pos + len(line)):
            assert index in returned, line
        pos += len(line) + 1


def test_lease_renewals_are_skipped_in_c():
    lease = orjson.dumps(audit("update", "leases", {"kind": "Lease", "metadata": {"name": "n1"}}))
    daemonset = orjson.dumps(audit("update", "daemonsets", {"kind": "DaemonSet", "metadata": {"name": "d"}}))
    buf = lease + b"\n" + daemonset
    spans, count = speedups.audit_lines(buf, 0, len(buf), (b"create", b"patch", b"update"), (b"daemonsets", b"pods"))
    assert count == 2 and [index for index, _, _ in spans] == [1]
    spans, _ = speedups.audit_lines(buf, 0, len(buf), (b"create", b"patch", b"update"))
    assert [index for index, _, _ in spans] == [0, 1]  # no resources given: the verb rule alone


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
