"""nginx/Apache access logs: annotated samples (with log-injection negatives), vhost layouts, sites."""

from __future__ import annotations

import pytest
from web_annotated import check, run

from cloudward.inputs import InputFile
from cloudward.parsers.base import ParseContext
from cloudward.parsers.clf import CombinedLog, detect_ip_column


def test_annotated_combined():
    check("combined.log", "combined", site="shop.example.com")


def test_annotated_vhost():
    check("combined_vhost.log", "combined")


def test_site_from_the_path_when_the_line_has_none():
    line = b'203.0.113.9 - - [02/Nov/2026:09:15:27 +0000] "GET / HTTP/1.1" 200 1 "-" "-"\n'
    events = list(CombinedLog().parse(InputFile.from_bytes(line, "/var/log/nginx/blog.example.com.access.log.1"),
                                      ParseContext()))
    assert events[0].site == "blog.example.com"
    events = list(CombinedLog().parse(InputFile.from_bytes(line, "logs/shop/access.log"), ParseContext()))
    assert events[0].site == "shop"
    events = list(CombinedLog().parse(InputFile.from_bytes(line, "logs/shop/access.log"), ParseContext(site="forced")))
    assert events[0].site == "forced"


def test_layout_is_chosen_per_file_by_majority():
    good = '203.0.113.9 - - [02/Nov/2026:09:15:27 +0000] "GET / HTTP/1.1" 200 1 "-" "-"'
    vhost = 'a.example 203.0.113.9 - - [02/Nov/2026:09:15:27 +0000] "GET / HTTP/1.1" 200 1 "-" "-"'
    assert detect_ip_column([good, good, vhost]) == 0
    assert detect_ip_column([vhost, vhost, good]) == 1


def test_a_forged_line_cannot_change_the_address_column():
    # the first lines fix the layout; a later line shaped like the other layout is rejected, not re-read
    data = "\n".join([
        'a.example 203.0.113.9 - - [02/Nov/2026:09:15:27 +0000] "GET / HTTP/1.1" 200 1 "-" "-"',
        'a.example 203.0.113.10 - - [02/Nov/2026:09:15:28 +0000] "GET / HTTP/1.1" 200 1 "-" "-"',
        '6.6.6.6 - - [02/Nov/2026:09:15:29 +0000] "GET / HTTP/1.1" 200 1 "-" "-"',
    ]).encode()
    ctx = ParseContext()
    events = list(CombinedLog().parse(InputFile.from_bytes(data, "x.log"), ctx))
    assert [e.client_ip for e in events] == ["203.0.113.9", "203.0.113.10"]
    assert ctx.stats.rejected == 1


@pytest.mark.parametrize("n", [1, 5000])
def test_line_numbers_count_every_line(n):
    line = b'203.0.113.9 - - [02/Nov/2026:09:15:27 +0000] "GET / HTTP/1.1" 200 1 "-" "-"\n'
    events = list(CombinedLog().parse(InputFile.from_bytes(line * n, "x.log"), ParseContext()))
    assert len(events) == n and events[-1].event_id == f"x.log:{n}"


def test_every_annotated_line_is_an_event_or_a_rejection():
    events, rejects, ctx = run("combined.log", "combined")
    assert not set(events) & set(rejects)
    assert ctx.stats.lines == max([*events, *rejects])
