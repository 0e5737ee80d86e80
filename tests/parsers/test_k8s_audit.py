"""Native audit.k8s.io input in every layout, the raw-bytes verb filter, and redelivery."""

from __future__ import annotations

import gzip
import json

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudward.detections.kubernetes._samples import audit, container, pod
from cloudward.inputs import InputFile
from cloudward.parsers._k8s import verb_line_filter
from cloudward.parsers.base import Interest
from cloudward.pipeline import Pipeline, scan_text

PRIV = audit("create", "pods", pod("p", [container("c", "nginx", privileged=True)]))


def kinds(alerts):
    return sorted(a.alert_type for a in alerts)


def test_jsonl_single_object_array_and_eventlist_are_equivalent():
    line = json.dumps(PRIV)
    layouts = {
        "jsonl": line + "\n",
        "pretty": json.dumps(PRIV, indent=2),
        "array": json.dumps([PRIV], indent=1),
        "eventlist": json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [PRIV]}),
        "timestamped": "2026-11-02T09:15:27.401Z " + line + "\n",
        "concatenated": json.dumps(PRIV, indent=2) + json.dumps(dict(PRIV, auditID="second"), indent=2),
    }
    for name, text in layouts.items():
        alerts, stats = scan_text(text)
        assert kinds(alerts) == ["K8S_PrivilegedContainer"], name
        assert stats.rejected == 0, (name, stats.rejections)


def test_v1beta1_and_missing_api_version_accepted():
    old = dict(PRIV, apiVersion="audit.k8s.io/v1beta1", timestamp="2018-10-25T14:09:12Z")
    bare = {k: v for k, v in PRIV.items() if k != "apiVersion"}
    for doc in (old, bare):
        alerts, _ = scan_text(json.dumps(doc))
        assert kinds(alerts) == ["K8S_PrivilegedContainer"]


def test_gzip_input_and_truncated_gzip_keeps_earlier_lines():
    rs = ("ReplicaSet", "web-7d9c5b6f4")  # one Deployment's pods: one alert, fifty events
    lines = [json.dumps(audit("create", "pods", pod(f"web-7d9c5b6f4-{i:05d}", [
        container("c", "nginx", privileged=True)], owner=rs), when=f"2026-11-02T09:{i:02d}:00Z")) for i in range(50)]
    blob = gzip.compress(("\n".join(lines) + "\n").encode())
    pipe = Pipeline(raise_errors=True)
    pipe.run_input(InputFile.from_bytes(blob, "audit.log.gz"))
    assert pipe.finish()[0].count == 50
    pipe = Pipeline(raise_errors=True)
    pipe.run_input(InputFile.from_bytes(blob[: len(blob) * 2 // 3], "cut.log.gz"))
    alerts = pipe.finish()
    assert 0 < alerts[0].count < 50
    assert pipe.stats.rejected == 1
    assert "truncated or corrupt gzip" in pipe.stats.rejections[0].reason
    assert pipe.stats.rejections[0].where.startswith("cut.log.gz:")


def test_bad_lines_are_counted_with_line_numbers_and_the_rest_processed():
    good = json.dumps(PRIV)
    text = "\n".join([
        good,
        "{not json",
        '{"kind": 0}',
        '"a string"',
        json.dumps({"kind": "Event", "auditID": "x"}),  # no verb
        "\x00\x01\x02binary\xff",
        "[1, 2]",
        good.replace(PRIV["auditID"], "other-id"),
    ]) + "\n"
    alerts, stats = scan_text(text.encode("utf-8", "surrogateescape"), display="mixed.log")
    assert alerts[0].count == 2
    assert stats.rejected == 6
    assert [r.where for r in stats.rejections] == [f"mixed.log:{n}" for n in (2, 3, 4, 5, 6, 7)]


def test_twenty_megabyte_line_rejected_without_losing_neighbours():
    huge = '{"kind":"Event","pad":"' + "A" * (20 * 1024 * 1024) + '"}'
    text = json.dumps(PRIV) + "\n" + huge + "\n" + json.dumps(dict(PRIV, auditID="z")) + "\n"
    alerts, stats = scan_text(text, display="big.log")
    assert alerts[0].count == 2
    assert stats.rejected == 1
    assert stats.rejections[0].where == "big.log:2"
    assert stats.rejections[0].reason.startswith("line too long")


def test_binary_file_rejected_as_a_whole():
    alerts, stats = scan_text(bytes(range(256)) * 100, display="garbage.bin")
    assert alerts == []
    assert stats.rejected == 1
    assert "unrecognized input format (binary data)" in stats.rejections[0].reason


def test_redelivered_event_changes_nothing_but_a_new_stage_is_not_a_redelivery():
    line = json.dumps(PRIV)
    alerts, stats = scan_text("\n".join([line, line, line]) + "\n")
    assert alerts[0].count == 1
    assert stats.duplicates == 2


def test_update_is_judged_by_the_response_object():
    # the request is a strategic-merge patch without the privileged flag; the stored pod is privileged
    stored = pod("p", [container("c", "nginx", privileged=True)])
    patched = audit("patch", "pods", {"metadata": {"labels": {"x": "y"}}}, name="p", response=stored)
    alerts, _ = scan_text(json.dumps(patched))
    assert kinds(alerts) == ["K8S_PrivilegedContainer"]
    # and the other way round: the request asked for privileged, the stored result is not (mutated by policy)
    safe = pod("p", [container("c", "nginx", privileged=False)])
    denied = audit("update", "pods", pod("p", [container("c", "nginx", privileged=True)]), name="p",
                   response=safe)
    alerts, _ = scan_text(json.dumps(denied))
    assert alerts == []


def test_metadata_level_creates_are_counted_as_uninspectable():
    meta = audit("create", "pods", pod("p", [container("c", "nginx")]), level="Metadata")
    read = audit("get", "pods", None, name="p", level="Metadata")
    _, stats = scan_text(json.dumps(meta) + "\n" + json.dumps(read) + "\n")
    assert stats.uninspectable == 1


# -- the raw-bytes filter ------------------------------------------------------------------------
WANTED = frozenset({"create", "update", "patch"})
RESOURCES = frozenset({"pods", "deployments", "clusterrolebindings"})


def needed(raw: bytes, resources=RESOURCES) -> bool:
    test = verb_line_filter(Interest(audit_verbs=WANTED, audit_resources=resources))
    return test(raw, 0, len(raw))


def test_filter_skips_compact_reads_and_unwanted_resources_only():
    assert needed(orjson.dumps(audit("get", "pods", None, name="x"))) is False
    assert needed(orjson.dumps(PRIV)) is True
    lease = orjson.dumps(audit("update", "leases", {"kind": "Lease", "metadata": {"name": "n"}}, name="n"))
    assert needed(lease) is False
    assert needed(lease, resources=None) is True
    assert needed(json.dumps(audit("get", "pods", None, name="x")).encode()) is True  # spaced: parse to be sure
    assert verb_line_filter(Interest(audit_verbs=None)) is None


def test_filter_is_exact_on_tricky_lines():
    # verb after a nested object (sorted keys): cannot know its depth cheaply, so parse
    assert needed(b'{"objectRef":{"resource":"pods"},"requestObject":{"verb":"get"},"verb":"create"}') is True
    # an escaped verb value or key
    assert needed(b'{"kind":"Event","verb":"cr\\u0065ate","objectRef":{"resource":"pods"}}') is True
    assert needed(b'{"kind":"Event","\\u0076erb":"create","user":{"verb":"get"},"verb":"get"}') is True
    # a resource hidden behind an escape, or a second objectRef
    assert needed(b'{"kind":"Event","verb":"create","objectRef":{"resource":"leases"},"\\u006fbjectRef":{}}') is True
    # a truncated line is parsed so that it is reported, not silently skipped
    assert needed(orjson.dumps(audit("get", "pods", None, name="x"))[:-5]) is True
    # a CRLF line end is fine
    assert needed(orjson.dumps(audit("get", "pods", None, name="x")) + b"\r") is False


@settings(max_examples=400, deadline=None)
@given(verb=st.sampled_from(["get", "list", "watch", "create", "update", "patch", "delete", "escalate"]),
       resource=st.sampled_from(["pods", "leases", "events", "deployments", ""]),
       nested=st.dictionaries(st.sampled_from(["verb", "verbs", "objectRef", "resource", "data"]),
                              st.sampled_from(["get", "create", ["*"], {"resource": "pods"}, "x"]), max_size=3),
       layout=st.sampled_from(["compact", "spaced", "sorted"]))
def test_filter_never_skips_an_event_a_detection_needs(verb, resource, nested, layout):
    doc = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "1", "verb": verb,
           "user": {"username": "u", "extra": nested}, "objectRef": {"resource": resource},
           "requestObject": {"metadata": {}, "data": nested}}
    raw = {"compact": orjson.dumps(doc), "spaced": json.dumps(doc).encode(),
           "sorted": orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)}[layout]
    if not needed(raw):
        parsed = orjson.loads(raw)
        assert parsed["verb"] not in WANTED or parsed["objectRef"]["resource"] not in RESOURCES


def test_corrupt_gzip_header_is_reported_not_ignored():
    alerts, stats = scan_text(b"\x1f\x8b\x08\x00garbage-not-deflate", display="x.gz")
    assert alerts == [] and stats.rejected == 1
    assert stats.rejections[0].where == "x.gz:1" and "gzip" in stats.rejections[0].reason
