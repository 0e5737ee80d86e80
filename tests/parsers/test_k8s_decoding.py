"""Typed decoding of audit lines (`_k8s.audit_line_decoder`, msgspec) gives exactly the event that orjson and
`make_event` give, or declines (None) and leaves the line to that general path: on key order, duplicate keys,
escaped keys, whitespace, wrong types, odd numbers, invalid UTF-8 and bodies of every JSON type."""

from __future__ import annotations

import dataclasses
import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudward.detections.kubernetes._samples import audit, container, pod
from cloudward.events import K8sAudit
from cloudward.inputs import InputFile
from cloudward.parsers import _k8s
from cloudward.parsers.base import ParseContext, RecordRef
from cloudward.parsers.json_records import loads_lenient
from cloudward.pipeline import Pipeline

pytest.importorskip("cloudward._speedups")
REF = RecordRef("audit.log", 7)
FIELDS = [f.name for f in dataclasses.fields(K8sAudit)]


def _general(line: bytes) -> K8sAudit | None:
    """What the general path makes of the line: orjson (lenient), the dialect's claim, `make_event`."""
    try:
        record = orjson.loads(line)
    except (orjson.JSONDecodeError, UnicodeDecodeError):
        try:
            record = loads_lenient(line)
        except (orjson.JSONDecodeError, UnicodeDecodeError):
            return None
    if type(record) is not dict or not _k8s.looks_like_audit_event(record):
        return None
    if isinstance(record.get("records"), list) and len(record) <= 2:
        return None
    try:
        return _k8s.make_event(record, REF, ParseContext(cluster="c1"))
    except ValueError:
        return None


def _same(line: bytes) -> None:
    decode = _k8s.audit_line_decoder(ParseContext(cluster="c1"))
    assert decode is not None
    fast = decode(line, REF)
    if fast is None:
        return  # declined: the general path reads it, as before
    slow = _general(line)
    assert slow is not None, line
    for name in FIELDS:
        assert repr(getattr(fast, name)) == repr(getattr(slow, name)), (name, line)
    assert fast.raw is fast.doc
    assert fast.subject_object == slow.subject_object


KEYS = {"verb": ['"verb"', '"\\u0076erb"'], "auditID": ['"auditID"', '"audit\\u0049D"'],
        "objectRef": ['"objectRef"', '"\\u006fbjectRef"'],
        "requestObject": ['"requestObject"', '"requestObjec\\u0074"']}
values = st.one_of(
    st.sampled_from(['"create"', '"get"', '""', "null", "1", "12345678901234567890123", "1e400", "-0.5e2", "true",
                     '["a",1]', '{"a":"b"}', '"x\\u0000y"', '"\\ud83d\\ude00"', '"caf\\u00e9"']),
    st.text(max_size=6).map(json.dumps),
)
bodies = st.one_of(
    st.sampled_from(["null", "[]", '"s"', "3", '{"kind":"Status"}', '{"kind":"Pod","spec":{"containers":[]}}',
                     '{"a":' + "[" * 30 + "]" * 30 + "}", '{"n":1e5,"m":99999999999999999999}']),
    st.dictionaries(st.text(max_size=4), st.integers() | st.text(max_size=4), max_size=3).map(json.dumps),
)


@st.composite
def lines(draw) -> bytes:
    # mostly usable events (so the typed path is taken), sometimes not
    verb = st.one_of(st.sampled_from(['"create"', '"patch"']), values)
    audit_id = st.one_of(st.just('"4d2b1e9a"'), values)
    pairs = [f'{draw(st.sampled_from(KEYS["verb"]))}:{draw(verb)}' for _ in range(draw(st.integers(1, 2)))]
    pairs += [f'{draw(st.sampled_from(KEYS["auditID"]))}:{draw(audit_id)}' for _ in range(draw(st.integers(1, 2)))]
    kind = draw(st.sampled_from(['"Event"', '"Event"', '"EventList"', "null", '"Other"']))
    api = draw(st.sampled_from(['"audit.k8s.io/v1"', '"audit.k8s.io/v1"', '"v1"', "3"]))
    pairs += [f'"kind":{kind}', f'"apiVersion":{api}']
    pairs += [f'{draw(st.sampled_from(KEYS["objectRef"]))}:{{"resource":{draw(values)},"namespace":{draw(values)}}}'
              for _ in range(draw(st.integers(0, 2)))]
    pairs += [f'"user":{{"username":{draw(values)},"groups":{draw(values)}}}', f'"sourceIPs":{draw(values)}',
              f'"responseStatus":{{"code":{draw(values)}}}', f'"stageTimestamp":{draw(values)}',
              f'"userAgent":{draw(values)}', f'"stage":{draw(values)}', f'"level":{draw(values)}']
    pairs += [f'{draw(st.sampled_from(KEYS["requestObject"]))}:{draw(bodies)}' for _ in range(draw(st.integers(0, 2)))]
    pairs += [f'"responseObject":{draw(bodies)}' for _ in range(draw(st.integers(0, 1)))]
    if draw(st.booleans()):
        pairs.append(f'"records":{draw(st.sampled_from(["[]", "null", "1"]))}')
    if draw(st.booleans()):
        pairs.append(f'"metadata":{{"creationTimestamp":{draw(values)}}}')
    pairs = draw(st.permutations(pairs))
    sep = draw(st.sampled_from([",", " , ", ",\t"]))
    line = ("{" + sep.join(pairs) + "}").encode()
    if draw(st.booleans()):  # invalid UTF-8 somewhere inside a string
        line = line.replace(b'"get"', b'"g\xffet"', 1).replace(b'"s"', b'"\xc3("', 1)
    return line


@settings(max_examples=400, deadline=None)
@given(lines())
def test_typed_decoding_equals_the_general_path(line):
    _same(line)


@pytest.mark.parametrize("obj", [
    audit("create", "pods", pod("p", [container("c", "nginx", privileged=True)])),
    audit("patch", "pods", {"metadata": {"labels": {"a": "b"}}}, response={"kind": "Pod", "spec": {}}),
    audit("create", "pods", None, subresource="exec", level="Request", code=101),
    audit("get", "secrets", None, code=403),
])
def test_real_events_take_the_typed_path_and_match(obj):
    compact = orjson.dumps(obj)
    pretty = json.dumps(obj, indent=2).replace("\n", " ").encode()  # whitespace everywhere, one line
    for line in (compact, pretty):
        decode = _k8s.audit_line_decoder(ParseContext(cluster="c1"))
        assert decode(line, REF) is not None  # type: ignore[misc]
        _same(line)


def test_bodies_are_decoded_only_when_read():
    line = orjson.dumps(audit("create", "pods", pod("p", [container("c", "nginx")])))
    event = _k8s.audit_line_decoder(ParseContext())(line, REF)  # type: ignore[misc]
    raw_slot = K8sAudit.__mro__[1].__dict__["raw"]
    assert type(raw_slot.__get__(event)).__name__ == "LazyJson"
    assert event.request_object["kind"] == "Pod"
    assert type(raw_slot.__get__(event)).__name__ == "LazyJson"  # the body alone was decoded
    assert event.raw == orjson.loads(line)


def test_alerts_and_rejections_the_same_with_typed_decoding_off(monkeypatch):
    good = [orjson.dumps(audit("create", "pods", pod(f"p{i}", [container("c", "nginx", privileged=i == 3)]),
                               audit_id=f"id{i}", when=f"2026-11-02T09:15:0{i}Z")) for i in range(6)]
    data = b"\n".join([*good[:2], b'{"kind":"Event","verb":"create","auditID":"x","n":1e999}', b"{broken",
                       good[2].replace(b'"nginx"', b'"ngi\xffnx"'), *good[3:]]) + b"\n"

    def run() -> tuple[list, list]:
        pipe = Pipeline()
        pipe.run_input(InputFile.from_bytes(data, "audit.log"))
        return [a.to_dict() for a in pipe.finish()], [(r.where, r.reason) for r in pipe.stats.rejections]

    typed = run()
    monkeypatch.setattr(_k8s, "FAST_DECODE", False)
    assert run() == typed
    assert len(typed[0]) == 1 and len(typed[1]) == 2


def test_repeating_values_are_shared_between_events_and_the_sharing_is_bounded(monkeypatch):
    """Two events with the same verb, resource, namespace and user hold one string each (equal to what the
    general path reads); a value longer than `_SHARED_CHARS` is not kept, and past `_SHARED_MAX` distinct values
    the decoder starts over, so what it keeps stays bounded whatever the log holds."""
    monkeypatch.setattr(_k8s, "_SHARED_MAX", 6)
    decode = _k8s.audit_line_decoder(ParseContext(cluster="c1"))
    assert decode is not None

    def line(i: int, user: str) -> bytes:
        return orjson.dumps(audit("list", "secrets", None, namespace="shop", user=user, audit_id=f"id-{i}"))

    first, second = decode(line(1, "alice"), REF), decode(line(2, "alice"), REF)
    assert first is not None and second is not None
    for name in ("verb", "resource", "namespace", "user"):
        assert getattr(first, name) is getattr(second, name), name
    _same(line(3, "alice"))
    long_user = "u" * (_k8s._SHARED_CHARS + 1)
    a, b = decode(line(4, long_user), REF), decode(line(5, long_user), REF)
    assert a.user == b.user == long_user and a.user is not b.user  # type: ignore[union-attr]
    for i in range(10):  # distinct users: the shared values are started over, never more than the bound
        assert decode(line(10 + i, f"user{i}"), REF).user == f"user{i}"  # type: ignore[union-attr]
    cells = [c.cell_contents for c in decode.__closure__ or () if type(c.cell_contents) is dict]
    assert cells and all(len(c) <= 6 + 4 for c in cells)  # (one event adds at most four)


def test_the_event_built_slot_by_slot_is_the_constructors(monkeypatch):
    # the typed path sets K8sAudit's slots itself (its keyword __init__ costs ~3x more): every field set, each
    # value the constructor's, equal as a dataclass; K8sAudit with other fields than it knows turns it off
    assert _k8s._fields_known(), "K8sAudit's fields changed: update _k8s._AUDIT_FIELDS and audit_line_decoder"
    line = orjson.dumps(audit("list", "secrets", None, namespace="team-1", user="alice"))
    decode = _k8s.audit_line_decoder(ParseContext(cluster="c1"))
    assert decode is not None
    fast = decode(line, REF)
    assert fast is not None
    for name in FIELDS:  # (an unset slot raises AttributeError)
        getattr(fast, name)
    built = K8sAudit(**{name: getattr(fast, name) for name in FIELDS if name not in ("envelope", "missing")})
    assert fast == built
    assert (fast.envelope, fast.missing) == ("native", ())
    assert _general(line) == fast
    monkeypatch.setattr(_k8s, "_AUDIT_FIELDS", _k8s._AUDIT_FIELDS[:-1])
    assert _k8s.audit_line_decoder(ParseContext(cluster="c1")) is None
