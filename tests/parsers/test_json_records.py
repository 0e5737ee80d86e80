"""The shared JSON reader never crashes, and places every rejection at a file:line."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudward.detections.kubernetes._samples import audit, container, pod
from cloudward.inputs import InputFile
from cloudward.pipeline import Pipeline, scan_text

GOOD = json.dumps(audit("create", "pods", pod("p", [container("c", "nginx", privileged=True)])))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_never_crash(data):
    alerts, stats = scan_text(data, raise_errors=False)
    assert stats.rejected >= 0 and isinstance(alerts, list)


@settings(max_examples=150, deadline=None)
@given(junk=st.lists(st.text(max_size=80), min_size=1, max_size=8), where=st.integers(0, 8))
def test_good_event_survives_any_junk_around_it(junk, where):
    lines = [j.replace("\n", " ") for j in junk]
    lines.insert(min(where, len(lines)), GOOD)
    text = "\n".join(lines) + "\n"
    pipe = Pipeline(raise_errors=True)
    pipe.run_input(InputFile.from_bytes(text.encode("utf-8", "surrogatepass"), "j.log"))
    alerts = pipe.finish()
    if text.lstrip()[:1] in ("{", "[") and not text.lstrip().startswith(GOOD[:20]) and pipe.stats.rejected:
        return  # read as one document that does not parse: rejected as a whole, and said so
    assert [a.alert_type for a in alerts] == ["K8S_PrivilegedContainer"]


def test_blocks_split_lines_exactly_across_reads():
    lines = [json.dumps(dict(json.loads(GOOD), auditID=f"id-{i}", pad="x" * (i * 37 % 3000))) for i in range(400)]
    data = ("\n".join(lines) + "\n").encode()
    stats_lines = []
    for size in (64, 1000, 4096, 1 << 20):
        src = InputFile.from_bytes(data, "b.log")
        from cloudward.inputs import ScanStats

        got = []
        for item in src.blocks(ScanStats(), size=size):
            buf, start, end = item
            got.extend(buf[start:end].splitlines())
        assert got == [ln.encode() for ln in lines]
        stats_lines.append(len(got))
    assert stats_lines == [400] * 4


def test_over_long_line_in_blocks_is_dropped_and_reading_continues():
    data = (GOOD + "\n" + "A" * 5000 + "\n" + GOOD.replace(json.loads(GOOD)["auditID"], "another-id") + "\n").encode()
    src = InputFile(path="<m>", display="m.log", max_line_bytes=3000, data=data)
    pipe = Pipeline(raise_errors=True)
    pipe.run_input(src)
    assert pipe.stats.rejected == 1 and pipe.stats.rejections[0].where == "m.log:2"
    assert pipe.finish()[0].count == 2


# -- hostile values: huge integers, invalid UTF-8, byte-order marks ---------------------------
BIG = "9" * 5000
GOOD_DOC = json.loads(GOOD)


def _with_big_int(doc: dict) -> dict:
    return dict(doc, auditID="big-1", annotations={"size": "__BIG__"})


def _layouts(records: list[dict]) -> dict[str, str]:
    """The same records in every layout the reader understands."""
    lines = [json.dumps(r) for r in records]
    return {
        "lines": "\n".join(lines) + "\n",
        "array": json.dumps(records),
        "pretty-array": json.dumps(records, indent=2),
        "event-list": json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": records}),
        "records-wrapper": json.dumps({"records": records}),
        "concatenated-pretty": "\n".join(json.dumps(r, indent=2) for r in records) + "\n",
    }


def _run(data: bytes, name: str = "doc.json"):
    pipe = Pipeline(raise_errors=True)
    pipe.run_input(InputFile.from_bytes(data, name))
    return pipe.finish(), pipe.stats


def test_a_5000_digit_integer_rejects_its_record_in_every_layout_and_the_rest_is_read():
    records = [_with_big_int(GOOD_DOC), dict(GOOD_DOC, auditID="ok-2")]
    for layout, text in _layouts(records).items():
        data = text.replace('"__BIG__"', BIG).encode()
        alerts, stats = _run(data)
        assert stats.rejected == 1, (layout, stats.rejections)
        assert [a.alert_type for a in alerts] == ["K8S_PrivilegedContainer"], layout
        assert alerts[0].count == 1, layout


def test_invalid_utf8_in_a_field_keeps_the_event_in_every_layout():
    doc = dict(GOOD_DOC, user={"username": "__USER__", "groups": ["system:authenticated"]})
    for layout, text in _layouts([doc, dict(GOOD_DOC, auditID="x-2")]).items():
        data = text.replace("__USER__", "mall\udcffory", 1).encode("utf-8", "surrogateescape")
        assert b"mall\xffory" in data
        alerts, stats = _run(data)
        assert stats.rejected == 0, (layout, stats.rejections)
        assert len(alerts) == 1 and alerts[0].count == 2, layout
        assert "mall\ufffdory" in alerts[0].entities["user"] or any(
            "mall\ufffdory" in str(e["raw"]) for e in alerts[0].evidence), layout


def test_utf8_bom_at_file_start_is_stripped_in_every_layout():
    for layout, text in _layouts([GOOD_DOC]).items():
        alerts, stats = _run(b"\xef\xbb\xbf" + text.encode())
        assert stats.rejected == 0, (layout, stats.rejections)
        assert len(alerts) == 1, layout


def test_runs_of_blank_lines_cost_one_step_per_run():
    import time

    second = json.dumps(dict(GOOD_DOC, auditID="after-the-blanks"))
    data = GOOD.encode() + b"\n" + b"\n" * 20_000_000 + b"\r\n" * 1000 + second.encode()
    started = time.perf_counter()
    alerts, stats = _run(data, "blank.log")
    assert time.perf_counter() - started < 5
    assert stats.lines == 20_001_002 and stats.rejected == 0
    assert alerts[0].count == 2


def test_junk_line_breaks_before_the_first_event_do_not_hide_it_from_sniffing():
    # \r, \x85 and \u2028 are line breaks to str.splitlines but not to the readers (found by hypothesis)
    text = "\n" * 4 + "\r\r\r\r\x85\u2028\u2028\n" * 2 + GOOD + "\n"
    pipe = Pipeline(raise_errors=True)
    pipe.run_input(InputFile.from_bytes(text.encode(), "j.log"))
    assert [a.alert_type for a in pipe.finish()] == ["K8S_PrivilegedContainer"]
