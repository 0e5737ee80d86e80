"""The run summary says what became of the lines read, in plain words."""

from __future__ import annotations

import io

from cloudward.inputs import ScanStats
from cloudward.pipeline import Pipeline
from cloudward.report import SummaryWriter, print_summary, reading_summary


def test_reading_summary_distinguishes_inspected_skipped_ignored():
    stats = ScanStats(files=1, lines=120, events=7, skipped=100, ignored=10, rejected=3)
    (line,) = reading_summary(stats)
    assert line.startswith("Recognized 117 record(s): 7 inspected by the detections, 100 skipped by the prefilter")
    assert "10 ignored (lines of programs no parser reads" in line
    assert "skipped" not in reading_summary(ScanStats(lines=5, events=5))[0]


def test_summary_of_a_real_run():
    pipe = Pipeline()
    from cloudward.inputs import InputFile

    # a syslog line at the top of an access log (a stream's first line is always parsed, so it is rejected)
    rows = "Nov  2 10:00:00 h CRON[1]: (root) CMD (true)\n"
    rows += "".join(f'203.0.113.9 - - [02/Nov/2026:09:15:{i:02d} +0000] "GET /a HTTP/1.1" 200 1 "-" "x"\n'
                    for i in range(20))
    pipe.run_input(InputFile.from_bytes(rows.encode(), "access.log"), None)
    alerts = pipe.finish()
    out = io.StringIO()
    print_summary(SummaryWriter(out), pipe, alerts, 0.5)
    text = out.getvalue()
    assert "Read 1 input(s), 21 lines" in text
    assert "inspected by the detections" in text and "skipped by the prefilter" in text
    assert "Rejected 1 record(s)" in text  # the syslog line inside an access log


def _site_log(client: str) -> bytes:
    return "".join(f'{client} - - [02/Nov/2026:09:{i // 60:02d}:{i % 60:02d} +0000] "GET /wp-login.php HTTP/1.1" '
                   f'404 12 "-" "curl/8.0"\n' for i in range(400)).encode()


def test_summary_says_when_events_ran_out_of_time_order():
    from cloudward.config import from_dict
    from cloudward.inputs import InputFile

    # two logs of the same minutes, read one after the other by a buffer too small to hold both
    pipe = Pipeline(from_dict({"engine": {"max_held_events": 50}}))
    for name, client in (("a.log", "198.51.100.7"), ("b.log", "198.51.100.8")):
        pipe.run_input(InputFile.from_bytes(_site_log(client), name), None)
    alerts = pipe.finish()
    assert pipe.engine.late > 0 and pipe.engine.spills > 0
    out = io.StringIO()
    print_summary(SummaryWriter(out), pipe, alerts, 0.5)
    text = out.getvalue()
    assert f"{pipe.engine.late:,} event(s) ran out of time order" in text
    assert "max_held_events = 50" in text

    # with room for both, nothing runs late and the summary says nothing about it
    roomy = Pipeline()
    for name, client in (("a.log", "198.51.100.7"), ("b.log", "198.51.100.8")):
        roomy.run_input(InputFile.from_bytes(_site_log(client), name), None)
    alerts = roomy.finish()
    out = io.StringIO()
    print_summary(SummaryWriter(out), roomy, alerts, 0.5)
    assert roomy.engine.late == 0 and "out of time order" not in out.getvalue()
