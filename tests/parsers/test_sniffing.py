"""Sniffing and layout decisions are taken on complete lines, never on a byte cut.

A first record longer than any fixed head (a 5 KB Deployment create, a 70 KB one), junk or binary lines
before a log, and text that starts with `[` without being JSON: each JSON input format is still
recognized as JSON lines and read through its raw-bytes filters, and what is not read is counted.
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from cloudward.detections.kubernetes._samples import audit, container, pod
from cloudward.detections.node._samples import ecs_exec
from cloudward.inputs import InputFile
from cloudward.parsers.base import ParseContext
from cloudward.pipeline import Pipeline, scan_text

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "src" / "cloudward" / "samples"
DATA = ROOT / "tests" / "data"


def _json_lines(path: Path) -> list[dict]:
    """The records of a JSON-lines file (annotations and the deliberately broken lines left out)."""
    out = []
    for ln in path.read_bytes().splitlines():
        try:
            out.append(orjson.loads(ln))
        except orjson.JSONDecodeError:
            continue
    return out


def _document_records(path: Path) -> list[dict]:
    value = orjson.loads(path.read_bytes())
    return value["records"] if isinstance(value, dict) and "records" in value else [value]


def _eks() -> list[dict]:
    event = audit("create", "pods", pod("p", [container("c", "nginx", privileged=True)]))
    return [{"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/eks/prod-eks/cluster",
             "logStream": "kube-apiserver-audit-0a1b2c3d4e5f", "subscriptionFilters": ["to-firehose"],
             "logEvents": [{"id": str(i), "timestamp": 1793611527000,
                            "message": json.dumps(dict(event, auditID=f"eks-{n}-{i}"))} for i in range(2)]}
            for n in range(3)]


def _sysmon_json() -> list[dict]:
    return [{"EventTime": "2026-11-02 09:15:27", "Hostname": "WEBAPP02", "SourceName": "Microsoft-Windows-Sysmon",
             "EventID": 1, "Image": "C:\\Windows\\System32\\cmd.exe", "CommandLine": f"cmd /c ver {i}",
             "ParentImage": "C:\\Windows\\System32\\inetsrv\\w3wp.exe", "User": "IIS APPPOOL\\x",
             "ProcessId": str(70 + i), "ParentProcessId": "76", "UtcTime": f"2026-11-02 09:15:2{i}.000"}
            for i in range(3)]


def _ecs_process() -> list[dict]:
    return [ecs_exec("/usr/bin/curl", ["curl", "-s", f"https://kubernetes.default.svc/api/{i}"],
                     container={"id": "d" * 64, "name": "web", "image": {"name": "nginx:1.27"}}) for i in range(3)]


#: dialect -> its records (one per line once written out)
FORMATS = {
    "k8s-audit": lambda: _json_lines(SAMPLES / "k8s" / "audit.log"),
    "aks-audit": lambda: _document_records(SAMPLES / "k8s" / "aks-kube-audit.json") * 2,
    "eks-audit": _eks,
    "gke-audit": lambda: _json_lines(SAMPLES / "k8s" / "gke-audit.jsonl") * 2,
    "tetragon": lambda: [r for p in sorted(SAMPLES.glob("host/tetragon-*.json")) for r in _document_records(p)],
    "falco": lambda: _json_lines(SAMPLES / "host" / "falco.jsonl"),
    "ecs-http": lambda: _json_lines(DATA / "web" / "annotated" / "ecs_http.jsonl"),
    "ecs-process": _ecs_process,
    "appservice-http": lambda: _json_lines(DATA / "web" / "annotated" / "appservice_http.jsonl"),
    "docker-events": lambda: _json_lines(SAMPLES / "host" / "docker-events.jsonl"),
    "sysmon-json": _sysmon_json,
}


def _padded(record: dict, size: int) -> dict:
    """The record with a long extra field, so its line is `size` bytes or more."""
    return {**record, "zz_padding": "x" * size}


def _lines(records: list[dict]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def _alerts(data: bytes, display: str = "in.json") -> tuple[list[tuple[str, int]], object]:
    alerts, stats = scan_text(data, display=display)
    return sorted((a.id, a.count) for a in alerts), stats


@pytest.mark.parametrize("name", sorted(FORMATS))
@pytest.mark.parametrize("size", [5 * 1024, 70 * 1024])
def test_a_long_first_line_is_still_json_lines(name, size):
    records = FORMATS[name]()
    assert len(records) >= 2
    plain, plain_stats = _alerts(_lines(records))
    data = _lines([_padded(records[0], size), *records[1:]])
    assert len(data.split(b"\n", 1)[0]) > size
    alerts, stats = _alerts(data)
    assert stats.rejected == plain_stats.rejected, stats.rejections[:3]
    assert stats.lines == len(records)
    assert stats.formats[name] == plain_stats.formats[name] > 0
    assert stats.skipped == plain_stats.skipped
    assert alerts == plain


def test_a_long_first_line_goes_through_the_raw_bytes_prefilter():
    # a 5 KB Deployment create at RequestResponse level, then reads no card needs
    deployment = audit("create", "deployments", {"kind": "Deployment", "metadata": {
        "name": "web", "namespace": "shop", "annotations": {"note": "n" * 5000}},
        "spec": {"template": {"spec": {"containers": [{"name": "xmrig", "image": "docker.io/metal3d/xmrig:latest"}]}}}})
    reads = [audit("get", "configmaps", None) | {"auditID": f"read-{i}"} for i in range(50)]
    data = _lines([deployment, *reads])
    assert len(data.split(b"\n", 1)[0]) > 5000
    alerts, stats = scan_text(data, display="audit.log")
    assert [a.alert_type for a in alerts] == ["K8S_MaliciousContainerImage"]
    assert stats.lines == 51 and stats.skipped == 50 and stats.rejected == 0


@pytest.mark.parametrize("junk", [
    b"x" * 30_000,
    bytes(b for b in range(256) if b != 10) * 20_600,  # 5 MB of binary without a newline: over the line limit
    b"\x00\x01\x02 binary \xff\xfe",
    b"-- rotated by logrotate, previous part in audit.log.1 --\n\x1b[2J",
])
def test_junk_first_lines_do_not_hide_an_audit_log(junk):
    records = _json_lines(SAMPLES / "k8s" / "audit.log")
    plain, _ = _alerts(_lines(records), "audit.log")
    data = junk + b"\n" + _lines(records)
    alerts, stats = _alerts(data, "audit.log")
    assert alerts == plain
    junk_lines = junk.count(b"\n") + 1
    assert stats.rejected == junk_lines  # what is not read is counted, with its line number
    assert stats.rejections[0].where == "audit.log:1"
    assert stats.lines == len(records) + junk_lines


def test_junk_before_an_auditd_log():
    log = (SAMPLES / "host" / "audit.log").read_bytes()
    plain, _ = _alerts(log, "audit.log")
    alerts, stats = _alerts(b"\x00\x00garbage\x7f\n" * 2 + log, "audit.log")
    assert alerts == plain and stats.formats["auditd"] and stats.rejected == 2


def test_over_long_first_line_is_rejected_and_the_rest_read():
    records = _json_lines(SAMPLES / "k8s" / "audit.log")
    limit = max(len(orjson.dumps(r)) for r in records)
    counts = []
    for junk in (b"", b"z" * (limit + 1) + b"\n", b'{"' + b"z" * limit + b"\n"):
        pipe = Pipeline(raise_errors=True)
        src = InputFile.from_bytes(junk + _lines(records), "audit.log")
        src.max_line_bytes = limit
        pipe.run_input(src)
        counts.append(pipe.stats.formats["k8s-audit"])
        if junk:
            assert [(r.where, r.reason) for r in pipe.stats.rejections] == [
                ("audit.log:1", f"line too long: {len(junk) - 1} bytes (limit {limit})")]
    assert counts[0] == counts[1] == counts[2] > 0


APACHE_ERRORS = (
    b"[Tue Dec 01 10:00:00.123456 2026] [core:error] [pid 4242:tid 140] [client 203.0.113.9:50122] AH00126: "
    b"Invalid URI in request GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\n"
    b"[Tue Dec 01 10:00:01.000001 2026] [mpm_event:notice] [pid 1:tid 1] AH00489: Apache/2.4.62 configured\n"
)


def test_text_starting_with_a_bracket_is_an_unrecognized_format_not_malformed_json():
    _, stats = scan_text(APACHE_ERRORS, display="error.log")
    assert [(r.where, r.reason) for r in stats.rejections] == [("error.log:1", "unrecognized input format (text)")]


def test_a_json_array_and_a_one_line_document_are_still_documents():
    records = FORMATS["falco"]()
    plain, _ = _alerts(_lines(records))
    assert _alerts(orjson.dumps(records))[0] == plain  # one line: an array
    assert _alerts(json.dumps(records, indent=2).encode())[0] == plain  # pretty-printed
    big = [_padded(records[0], 5 * 1024 * 1024), *records[1:]]  # a one-line array over the line limit
    alerts, stats = _alerts(orjson.dumps(big))
    assert alerts == plain and stats.rejected == 0


def test_a_torn_first_record_does_not_make_the_file_one_document():
    records = _json_lines(SAMPLES / "k8s" / "audit.log")
    plain, _ = _alerts(_lines(records))
    torn = _lines(records[:1])[-300:]  # the end of a record whose start went to the previous file
    alerts, stats = _alerts(b'{"kind":"Event","apiVersion":"audit.k8s.io/v1","lev\n' + torn + _lines(records))
    assert alerts == plain and stats.rejected == 2


def test_decoders_report_the_same_for_a_file_and_a_stream():
    from cloudward.parsers import stream_decoder

    data = b"junk\n" + _lines(FORMATS["falco"]())
    file_ctx = ParseContext()
    from_file = list(stream_decoder(file_ctx, "f.json").run(InputFile.from_bytes(data, "f.json")))
    stream_ctx = ParseContext()
    dec = stream_decoder(stream_ctx, "f.json")
    from_stream = [e for i in range(0, len(data), 7) for e in dec.feed(data[i:i + 7])] + dec.close()
    assert [e.event_id for e in from_file] == [e.event_id for e in from_stream]
    assert file_ctx.stats.to_dict() == stream_ctx.stats.to_dict()
