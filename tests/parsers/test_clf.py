"""nginx/Apache access logs: annotated samples (with log-injection negatives), vhost layouts, sites."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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


def test_annotated_forwarded_chains():
    """X-Forwarded-For chains in front (nginx $proxy_add_x_forwarded_for): client picked from the right."""
    check("combined_forwarded.log", "combined", site="shop.example.com")


def test_trusted_proxies_setting_picks_the_client():
    from cloudward.config import ConfigError, from_dict
    from cloudward.parsers._forwarded import TrustedProxies, pick_client
    from cloudward.pipeline import scan_text

    chain = ["85.181.35.98", "198.51.100.7", "10.0.0.1"]
    assert pick_client(chain) == "198.51.100.7"
    cdn = TrustedProxies.from_section({"trusted_proxies": ["198.51.100.0/24", "10.0.0.0/8"]})
    assert pick_client(chain, cdn) == "85.181.35.98"
    assert pick_client(["10.0.0.9", "10.0.0.1"]) == "10.0.0.9"
    with pytest.raises(ConfigError, match=r"web\.trusted_proxies"):
        TrustedProxies.from_section({"trusted_proxies": ["nope"]})
    line = ('85.181.35.98, 198.51.100.7, 10.0.0.1 - - [02/Nov/2026:09:15:28 +0000] "GET / HTTP/1.1" 200 153 '
            '"-" "WhatWeb/0.5.5"\n')
    config = from_dict({"web": {"trusted_proxies": ["198.51.100.0/24", "10.0.0.0/8"]}, "site": "shop.example.com"})
    alerts, _ = scan_text(line * 3, None, config=config, only={"AppServices_WebFingerprinting"})
    assert [a.entities["source_ip"] for a in alerts] == ["85.181.35.98"]
    assert alerts[0].entities["forwarded_for"] == chain


def test_malformed_lines_are_rejected_whatever_page_they_name():
    """With the raw-bytes fast path on, a truncated line naming an ordinary page is rejected exactly like
    one naming a sensitive page (it used to be "skipped by the prefilter")."""
    from cloudward.pipeline import scan_text

    good = '203.0.113.9 - - [02/Nov/2026:09:15:{s:02d} +0000] "GET /about/ HTTP/1.1" 200 812 "-" "Mozilla/5.0"\n'
    rows = [good.format(s=i) for i in range(30)]
    rows[10] = '203.0.113.9 - - [02/Nov/2026:09:15:10 +0000] "GET /index.html HTTP/1.1" 200 81\n'[:-12] + "\n"
    rows[20] = '203.0.113.9 - - [02/Nov/2026:09:15:20 +0000] "GET /.env HTTP/1.1" 200 81\n'[:-12] + "\n"
    rows[25] = "\x00\x01garbage from a crashed writer\n"
    _, stats = scan_text("".join(rows), "combined", display="access.log")
    assert [r.where for r in stats.rejections] == ["access.log:11", "access.log:21", "access.log:26"]
    assert stats.rejections[0].reason.split(":")[0] == stats.rejections[1].reason.split(":")[0]
    assert (stats.lines, stats.events, stats.skipped) == (30, 1, 26)  # the first line is always parsed


def test_forwarded_chains_fast_path_and_robust_parser_agree():
    from web_annotated import load

    from cloudward.parsers.clf import CHAIN_LINE, _FastPath, _LineParser

    data, _ = load("combined_forwarded.log")
    fast_ctx, slow_ctx = ParseContext(), ParseContext()
    fast = _FastPath(_LineParser("a", 0, "s", fast_ctx), None)
    slow = _LineParser("a", 0, "s", slow_ctx)
    matched = 0
    for n, line in enumerate(data.split(b"\n"), 1):
        if not line:
            continue
        matched += CHAIN_LINE.match(line) is not None
        a, b = fast.parse(line, n), slow.parse(line, n)
        assert (a is None) == (b is None), line
        if a is not None:
            assert (a.client_ip, a.forwarded_for, a.username, a.path) == (b.client_ip, b.forwarded_for, b.username,
                                                                         b.path), line
    assert matched >= 5
    assert [r.where for r in fast_ctx.stats.rejections] == [r.where for r in slow_ctx.stats.rejections]


# -- the fast path and the robust parser agree, field by field ------------------------------------------
_TEXT = st.text(st.sampled_from([*"ab-/ \\\"x;()=", "é", "²", "\t"]), max_size=12)
_HEADER = st.one_of(st.sampled_from(["", "-", "Mozilla/5.0", "a\\\\b", 'say \\"hi\\"', "ends\\", "\\x22q"]), _TEXT)


@st.composite
def _access_lines(draw: st.DrawFn) -> bytes:
    ip = draw(st.sampled_from(["203.0.113.9", "2001:db8::1", "::ffff:198.51.100.2", "300.1.1.1", "-"]))
    user = draw(st.sampled_from(["-", "alice", "bob smith", ""]))
    stamp = draw(st.sampled_from(["02/Nov/2026:09:15:27 +0000", "02/Nov/2026:09:15:27 -0130", "2/Nov/2026:9:15:27"]))
    method = draw(st.sampled_from(["GET", "POST", "PROPFIND", "get", ""]))
    target = draw(st.sampled_from(["/", "/a?b=1", "/x%20y", "*", "/p\\q"]))
    proto = draw(st.sampled_from([" HTTP/1.1", " HTTP/2.0", ""]))
    status = draw(st.sampled_from(["200", "404", "99", "²00"]))
    size = draw(st.sampled_from(["512", "-", "0", "1²"]))
    line = f'{ip} - {user} [{stamp}] "{method} {target}{proto}" {status} {size}'
    tail = draw(st.integers(0, 3))
    if tail:
        line += f' "{draw(_HEADER)}" "{draw(_HEADER)}"'
        if tail == 3:
            line += ' "-"'
    return line.encode()


@settings(max_examples=400, deadline=None)
@given(_access_lines())
def test_fast_and_robust_parsers_agree_field_by_field(line):
    from cloudward.parsers.clf import _FastPath, _LineParser

    fast_ctx, robust_ctx = ParseContext(), ParseContext()
    robust = _LineParser("x.log", 0, "shop.example.com", robust_ctx)
    fast = _FastPath(_LineParser("x.log", 0, "shop.example.com", fast_ctx), None)
    a, b = fast.parse(line, 7), robust.parse(line, 7)
    assert (a is None) == (b is None), (a, b, robust_ctx.stats.rejections, fast_ctx.stats.rejections)
    if a is not None:
        assert a == b
    assert [(r.where, r.reason) for r in fast_ctx.stats.rejections] == [
        (r.where, r.reason) for r in robust_ctx.stats.rejections]


@pytest.mark.parametrize("fields, referer, agent", [
    ('"" "curl/8.5"', "", "curl/8.5"),
    ('"-" "curl/8.5"', "", "curl/8.5"),
    ('"-" "a\\\\b"', "", "a\\b"),
    ('"-" "say \\"hi\\""', "", 'say "hi"'),
])
def test_the_three_cases_the_parsers_once_disagreed_on(fields, referer, agent):
    line = f'203.0.113.9 - - [02/Nov/2026:09:15:27 +0000] "GET / HTTP/1.1" 200 1 {fields}\n'.encode()
    (event,) = CombinedLog().parse(InputFile.from_bytes(line, "x.log"), ParseContext())
    assert (event.referer, event.user_agent) == (referer, agent)


def test_a_header_ending_in_an_escaped_quote_is_rejected():
    line = b'203.0.113.9 - - [02/Nov/2026:09:15:27 +0000] "GET / HTTP/1.1" 200 1 "-" "tool\\"\n'
    ctx = ParseContext()
    assert list(CombinedLog().parse(InputFile.from_bytes(line, "x.log"), ctx)) == []
    assert ctx.stats.rejections[0].reason.startswith("truncated line")


_DATE_CHARS = "0123456789/:+- JanFebMrApyulgSOctNvDe"


@given(st.text(alphabet=_DATE_CHARS, min_size=26, max_size=26)
       | st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2999, 12, 31)).map(
           lambda d: d.strftime("%d/%b/%Y:%H:%M:%S +0000")))
@settings(max_examples=400, deadline=None)
def test_the_block_scans_date_grammar_accepts_only_what_clf_time_accepts(text: str) -> None:
    """`CLF_DATE` (RE2, what the block scan passes over) never admits a text `clf_time` rejects."""
    import re2

    from cloudward.parsers._web import clf_time
    from cloudward.parsers.clf import CLF_DATE

    if re2.fullmatch(CLF_DATE, text):
        clf_time(text)
    elif text[:2] != "29":  # 29 February is left to the parser, which knows leap years
        with pytest.raises(ValueError):
            clf_time(text)


@given(st.ip_addresses().map(str) | st.ip_addresses(v=6).map(lambda a: a.exploded)
       | st.text(alphabet="0123456789abcdefABCDEF:.", min_size=2, max_size=45))
@settings(max_examples=400, deadline=None)
def test_the_block_scans_address_grammar_accepts_only_addresses(text: str) -> None:
    import re2

    from cloudward.parsers._web import client_ip
    from cloudward.parsers.clf import CLF_ADDRESS

    if re2.fullmatch(CLF_ADDRESS, text):
        assert client_ip(text), text


def test_clf_time_refuses_what_is_not_a_date():
    from cloudward.parsers._web import clf_time

    assert clf_time("29/Feb/2028:23:59:59 -0130") == datetime(2028, 3, 1, 1, 29, 59, tzinfo=UTC).timestamp()
    for bad in ("99/Foo/2026:25:61:61 +0000", "29/Feb/2026:09:00:00 +0000", "31/Apr/2026:09:00:00 +0000",
                "02/Nov/2026:24:00:00 +0000", "02/Nov/2026:09:60:00 +0000", "02/Nov/2026:09:00:60 +0000",
                "02/Nov/2_26:09:00:00 +0000", "02/Nov/2026:09:00:00 +2400", "02/Nov/2026:09:00:0\u00b2 +0000"):
        with pytest.raises(ValueError):
            clf_time(bad)
    clf_time("02/Nov/2026:09:00:01 +0000")  # the minute is cached now: the cache checks the seconds too
    with pytest.raises(ValueError):
        clf_time("02/Nov/2026:09:00:6x +0000")


def test_a_chain_whose_left_looks_like_an_address_and_a_user_is_rejected():
    """The client writes the left of an X-Forwarded-For chain: `6.6.6.6 - ` there makes the line read as
    address 6.6.6.6 with a user name holding the rest of the chain. Neither reading can be trusted, so the
    line is rejected with its place (a user name with spaces but no chain is still read)."""
    spoofed = b'6.6.6.6 - , 10.0.0.9, 203.0.113.1 - - [02/Nov/2026:09:15:27 +0000] "GET / HTTP/1.1" 200 1 "-" "x"\n'
    spaced = b'203.0.113.1 - alice smith [02/Nov/2026:09:15:27 +0000] "GET / HTTP/1.1" 200 1 "-" "x"\n'
    ctx = ParseContext()
    events = list(CombinedLog().parse(InputFile.from_bytes(spoofed + spaced, "f.log"), ctx))
    assert [(e.client_ip, e.username) for e in events] == [("203.0.113.1", "alice smith")]
    assert [r.where for r in ctx.stats.rejections] == ["f.log:1"]


def test_an_address_with_a_nul_is_no_address() -> None:
    """Hostile bytes in the address column: refused, not a crash (`inet_pton` raises ValueError on a NUL)."""
    from cloudward.parsers._web import client_ip

    assert client_ip("1.2.3.4\x00") == client_ip("1.2.\x003.4") == client_ip("::1\x00") == ""
