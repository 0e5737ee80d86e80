"""The raw-bytes audit prefilter (`parsers/_k8s.py`) is exact: it never skips a line whose full parse a card
needs, whatever duplicate keys, escapes or key order an attacker writes; the C accelerator agrees."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudward.detections.kubernetes._samples import audit, container, pod, workload
from cloudward.inputs import InputFile
from cloudward.parsers import _k8s
from cloudward.parsers.base import Interest
from cloudward.pipeline import Pipeline

WANTED_VERBS = frozenset({"create", "update", "patch"})
WANTED_RESOURCES = frozenset({"pods", "daemonsets", "deployments"})
INTEREST = Interest(audit_verbs=WANTED_VERBS, audit_resources=WANTED_RESOURCES)
needed = _k8s.verb_line_filter(INTEREST)


def _truth(line: bytes) -> bool:
    """What a full parse says: does any enabled card need this event?"""
    doc = orjson.loads(line)
    ref = doc.get("objectRef") if isinstance(doc.get("objectRef"), dict) else {}
    return doc.get("verb") in WANTED_VERBS and ref.get("resource") in WANTED_RESOURCES


def _c_returns(line: bytes) -> bool:
    speedups = pytest.importorskip("cloudward._speedups")
    spans, _ = speedups.audit_lines(line, 0, len(line), tuple(sorted(v.encode() for v in WANTED_VERBS)))
    return bool(spans)


def _decides_exactly(line: bytes) -> None:
    if _truth(line):
        assert needed(line, 0, len(line)), line
        if _k8s.ACCELERATED:
            assert _c_returns(line), line


VERB_KEYS = ['"verb"', '"\\u0076erb"', '"v\\u0065rb"', '"ver\\u0062"', '"\\u0076\\u0065\\u0072\\u0062"']
RESOURCE_KEYS = ['"resource"', '"\\u0072esource"', '"resourc\\u0065"']
REF_KEYS = ['"objectRef"', '"\\u006fbjectRef"', '"objectR\\u0065f"']
verbs = st.sampled_from(["get", "list", "watch", "create", "patch", "update", "delete"])
resources = st.sampled_from(["pods", "configmaps", "daemonsets", "secrets", "deployments"])


@st.composite
def object_refs(draw) -> str:
    pairs = [f'{draw(st.sampled_from(RESOURCE_KEYS))}:"{draw(resources)}"'
             for _ in range(draw(st.integers(1, 3)))]
    pairs += ['"namespace":"kube-system"', '"name":"x"', '"apiVersion":"v1"']
    order = draw(st.permutations(pairs)) if draw(st.booleans()) else pairs
    return "{" + ",".join(order) + "}"


@st.composite
def audit_lines(draw) -> bytes:
    head = ['"kind":"Event"', '"apiVersion":"audit.k8s.io/v1"', '"level":"RequestResponse"',
            '"auditID":"4d2b1e9a-0c1f-4e65-9f0b-2a8f4c1d6e73"', '"stage":"ResponseComplete"',
            '"requestURI":"/apis/apps/v1/namespaces/kube-system/daemonsets?limit=500\\u0026watch=1"']
    verb_pairs = [f'{draw(st.sampled_from(VERB_KEYS))}:"{draw(verbs)}"' for _ in range(draw(st.integers(1, 3)))]
    ref_pairs = [f'{draw(st.sampled_from(REF_KEYS))}:{draw(object_refs())}' for _ in range(draw(st.integers(1, 2)))]
    tail = ['"user":{"username":"mallory","groups":["system:authenticated"]}', '"sourceIPs":["198.51.100.7"]',
            '"responseStatus":{"metadata":{},"code":201}']
    if draw(st.booleans()):  # a body that itself carries a "verb" key (SubjectAccessReview-like)
        tail.append('"requestObject":{"spec":{"resourceAttributes":{"verb":"get","resource":"pods"}}}')
    pairs = head + verb_pairs + ref_pairs + tail
    if draw(st.booleans()):
        pairs = draw(st.permutations(pairs))
    else:  # API-server order with the duplicates spread around: the shape the fast path reads
        pairs = head[:1] + verb_pairs[:1] + head[1:] + ref_pairs + verb_pairs[1:] + tail
    sep = draw(st.sampled_from([",", ", ", ","]))
    return ("{" + sep.join(pairs) + "}").encode()


@settings(max_examples=400, deadline=None)
@given(audit_lines())
def test_filter_never_skips_what_a_full_parse_needs(line):
    _decides_exactly(line)


@pytest.mark.parametrize("line", [
    # a decoy verb before the real one: orjson keeps the last
    b'{"kind":"Event","verb":"get","apiVersion":"audit.k8s.io/v1","auditID":"a","verb":"create",'
    b'"objectRef":{"resource":"daemonsets","namespace":"kube-system"}}',
    # the real verb hidden by an escape
    b'{"kind":"Event","verb":"list","\\u0076erb":"create","auditID":"a",'
    b'"objectRef":{"resource":"daemonsets","namespace":"kube-system"}}',
    # a repeated objectRef.resource
    b'{"kind":"Event","verb":"create","auditID":"a",'
    b'"objectRef":{"resource":"configmaps","resource":"daemonsets","namespace":"kube-system"}}',
    # an escaped resource key after a decoy one
    b'{"kind":"Event","verb":"create","auditID":"a",'
    b'"objectRef":{"resource":"configmaps","\\u0072esource":"daemonsets"}}',
])
def test_known_decoys_are_parsed(line):
    assert _truth(line)
    _decides_exactly(line)


def test_ordinary_reads_are_still_skipped_from_raw_bytes():
    # the Go encoder escapes & as \u0026: such query strings must not defeat the fast path
    line = orjson.dumps(audit("list", "pods", None)).replace(b'"/api/v1/namespaces/default/pods"',
                                                            b'"/api/v1/pods?limit=500\\u0026watch=1"')
    assert not needed(line, 0, len(line))
    if _k8s.ACCELERATED:
        assert not _c_returns(line)
    get_cm = orjson.dumps(audit("create", "configmaps", {"metadata": {"name": "c"}, "data": {}}))
    assert not needed(get_cm, 0, len(get_cm))
    assert not needed(b"", 0, 0) and not needed(b"\r", 0, 1)


@pytest.mark.parametrize("accelerated", [True, False])
def test_privileged_daemonset_behind_a_decoy_verb_alerts(monkeypatch, accelerated):
    if accelerated and not _k8s.ACCELERATED:
        pytest.skip("C accelerator not built")
    monkeypatch.setattr(_k8s, "ACCELERATED", accelerated)
    event = audit("create", "daemonsets", workload("DaemonSet", "node-agent", [
        container("agent", "docker.io/library/busybox:1.36", privileged=True)]), namespace="kube-system")
    real = orjson.dumps(event)
    decoy = real.replace(b'"verb":"create"', b'"verb":"get","verb":"create"', 1)
    escaped = real.replace(b'"verb":"create"', b'"verb":"list","\\u0076erb":"create"', 1)
    filler = b"\n".join(orjson.dumps(audit("get", "pods", None, audit_id=f"g{i}")) for i in range(50))
    for line in (decoy, escaped):
        pipe = Pipeline()
        pipe.run_input(InputFile.from_bytes(filler + b"\n" + line + b"\n", "audit.log"))
        alerts = pipe.finish()
        assert "K8S_PrivilegedContainer" in {a.alert_type for a in alerts}, line[:120]
        assert pipe.stats.skipped == 49  # the first line is parsed: it picks the dialect


def test_pod_lines_identical_with_and_without_escaped_ampersands():
    line = orjson.dumps(audit("create", "pods", pod("p", [container("c", "nginx")])))
    assert needed(line, 0, len(line))
