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


def test_junk_line_breaks_before_the_first_event_do_not_hide_it_from_sniffing():
    # \r, \x85 and \u2028 are line breaks to str.splitlines but not to the readers (found by hypothesis)
    text = "\n" * 4 + "\r\r\r\r\x85\u2028\u2028\n" * 2 + GOOD + "\n"
    pipe = Pipeline(raise_errors=True)
    pipe.run_input(InputFile.from_bytes(text.encode(), "j.log"))
    assert [a.alert_type for a in pipe.finish()] == ["K8S_PrivilegedContainer"]
