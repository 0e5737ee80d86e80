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


# -- the one-pass token scan (`Facts`): vector loops, byte-by-byte loop and the separate scans it replaced ----
token_parts = st.one_of(
    resource_parts,
    st.sampled_from([b'"code":403', b'"code":200', b'"code": 401', b'"code" :403', b'"code":4010', b'"\\u0063ode":403',
                     b',"responseStatus":{"metadata":{},"code":401}', b'"verb', b'"objectRef', b'"resourc', b'"cod',
                     b'"v', b'"o', b'"r', b'"c', b'\\u00', b'\\u007', b'\\u0040', b',"verb":"list"', b',"verb":"LIST"',
                     b',"verb":"li\\u017ft"', b',"objectRef":{"resource":"secrets"',
                     b',"objectRef":{"resource":"Secrets"',
                     b',"objectRef":{"resource":"events"}', b',"verb":"delete"', b"\xc5\xbf"]),
    # padding moves every token across the 16- and 32-byte steps of the vector loops
    st.integers(min_value=0, max_value=40).map(lambda n: b"x" * n),
)
PAIR_VERBS = (b"delete", b"list")
PAIR_RESOURCES = ((b"events", b"secrets"), (b"secrets",))
CODES = (b"401", b"403")


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(token_parts, max_size=12).map(lambda parts: b"{" + b"".join(parts) + b"}"),
                min_size=1, max_size=10),
       st.sampled_from(["cards", "resources", "pairs", "codes", "both"]))
def test_one_pass_token_scan_decides_as_the_separate_scans(lines, args):
    """`audit_lines` reads a line's `"verb"`, `"objectRef"`, `"resource"` and `"code"` tokens and its letter
    escapes in one vector pass; the byte-by-byte loop and the separate scans it replaced keep the same lines."""
    lines = [ln.replace(b"\n", b" ") for ln in lines]
    buf = b"\n".join(lines)
    wanted = tuple(sorted(v.encode() for v in WANTED))
    extra = {"cards": (), "resources": (tuple(sorted(r.encode() for r in RESOURCES)),),
             "pairs": (None, PAIR_VERBS, PAIR_RESOURCES, None),
             "codes": (None, None, None, CODES),
             "both": (tuple(sorted(r.encode() for r in RESOURCES)), PAIR_VERBS, PAIR_RESOURCES, CODES)}[args]
    answers = []
    try:
        for mode in (0, 1, 2):
            speedups._set_facts_mode(mode)
            answers.append(speedups.audit_lines(buf, 0, len(buf), wanted, *extra))
    finally:
        speedups._set_facts_mode(0)
    assert answers[0] == answers[1] == answers[2]


def test_one_pass_scan_finds_tokens_at_every_offset():
    """A token at each offset of a long line (the vector loops' boundaries and the scalar tail) decides."""
    wanted = (b"create",)
    for pad in range(0, 70):
        for token, kept in ((b'"code":403', True), (b'"code":200', False), (b'"verb":"x"', True),
                            (b"\\u0065", True), (b'"objectRef"', False)):
            line = b'{"kind":"Event","verb":"get",' + b"x" * pad + token + b'}'
            for mode in (0, 1, 2):
                speedups._set_facts_mode(mode)
                try:
                    spans, _ = speedups.audit_lines(line, 0, len(line), wanted, None, None, None, CODES)
                finally:
                    speedups._set_facts_mode(0)
                assert bool(spans) == kept, (pad, token, mode)
