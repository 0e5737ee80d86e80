"""IIS / App Service W3C HTTP logs: #Fields-driven columns, several headers per file, forged fields."""

from __future__ import annotations

from web_annotated import check

from cloudward.inputs import InputFile
from cloudward.parsers.base import ParseContext
from cloudward.parsers.w3c_http import W3cHttpLog


def test_annotated_w3c():
    check("u_ex261102.log", "w3c-http")


def test_data_before_any_header_is_rejected():
    ctx = ParseContext()
    data = b"2026-11-02 09:15:27 GET / - 203.0.113.9 curl 200\n"
    assert list(W3cHttpLog().parse(InputFile.from_bytes(data, "u_ex.log"), ctx)) == []
    assert "without a usable #Fields header" in ctx.stats.rejections[0].reason
    assert ctx.stats.rejections[0].where == "u_ex.log:1"


def test_site_falls_back_to_host_then_site_option_then_path():
    header = b"#Fields: date time cs-method cs-uri-stem c-ip cs-host sc-status\n"
    line = b"2026-11-02 09:15:27 GET / 203.0.113.9 - 200\n"
    events = list(W3cHttpLog().parse(InputFile.from_bytes(header + line, "W3SVC3/u_ex261102.log"), ParseContext()))
    assert events[0].site == "w3svc3"
    events = list(W3cHttpLog().parse(InputFile.from_bytes(header + line, "W3SVC3/u_ex261102.log"),
                                     ParseContext(site="intranet")))
    assert events[0].site == "intranet"


def test_lines_with_the_wrong_field_count_are_rejected_whatever_page_they_name():
    """With the fast path on, a line with a missing field naming an ordinary page is rejected like one
    naming a sensitive page, not counted as skipped."""
    from cloudward.pipeline import scan_text

    header = ("#Software: Microsoft Internet Information Services 10.0\n#Fields: date time s-sitename cs-method "
              "cs-uri-stem cs-uri-query c-ip cs(User-Agent) sc-status sc-bytes\n")
    good = "2026-11-02 09:15:{s:02d} SHOP GET /about/ - 203.0.113.9 Mozilla/5.0 200 812\n"
    rows = [good.format(s=i) for i in range(30)]
    rows[10] = "2026-11-02 09:15:10 SHOP GET /index.html - 203.0.113.9 200 812\n"
    rows[20] = "2026-11-02 09:15:20 SHOP GET /.env - 203.0.113.9 200 812\n"
    _, stats = scan_text(header + "".join(rows), "w3c-http", display="u_ex.log")
    assert [r.where for r in stats.rejections] == ["u_ex.log:13", "u_ex.log:23"]
    assert stats.rejections[0].reason == stats.rejections[1].reason
    assert stats.skipped == 27
