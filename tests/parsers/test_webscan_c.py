"""The compiled web block scan (`cloudward._webscan`, `BlockScanner.compile_clf`): its line grammar is the
RE2 grammar `clf.COMBINED_VALID` / `COMMON_VALID` (for plain IPv4 addresses; anything else it leaves to the
parser), and a decoder using it hands on exactly the events, rejections and counts of the pure-Python path,
on hostile lines as on realistic traffic, however the stream is cut."""

from __future__ import annotations

import dataclasses
import os
import re

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from cloudward.engine import Engine
from cloudward.inputs import ScanStats
from cloudward.parsers import _webscan
from cloudward.parsers._web import MONTHS, clf_time, client_ip
from cloudward.parsers.clf import COMBINED_VALID, COMMON_VALID, CombinedLog

webscan_c = pytest.importorskip("cloudward._webscan")

NAME = "shop.example.com.access.log"
HOSTILE = "ab /.-?%\"\\\r\t\x1b[31m\x00é\u202e'=;:[]{}x41\\\\\\\""
TOOL = "sqlmap/1.7.2#stable (https://sqlmap.org)"


def _text(alphabet: str = HOSTILE, max_size: int = 12) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, max_size=max_size)


ADDRESSES = st.one_of(
    st.sampled_from(["203.0.113.7", "10.0.0.1", "255.255.255.255", "0.0.0.0", "1.2.3.4", "45.1.243.198"]),
    st.sampled_from(["01.2.3.4", "256.1.1.1", "1.2.3", "1.2.3.4.5", "1..2.3", "2001:db8::1", "::ffff:1.2.3.4",
                     "-", "10.0.0.1, 203.0.113.7", "", "1.2.3.4x", "99999.1.1.1"]),
    st.tuples(*[st.integers(0, 300)] * 4).map(lambda t: ".".join(map(str, t))),
)
DATES = st.one_of(
    st.builds(lambda d, mo, y, h, mi, s, z: f"{d:02d}/{mo}/{y}:{h:02d}:{mi:02d}:{s:02d} {z}",
              st.integers(0, 32), st.sampled_from(["Jan", "Feb", "Apr", "Nov", "Dec", "nov", "Foo"]),
              st.sampled_from(["2026", "2028", "2100", "2_26", "202"]), st.integers(0, 25), st.integers(0, 61),
              st.integers(0, 61), st.sampled_from(["+0000", "-0530", "+2400", "+0060", "0+000", "+00x0", "+000"])),
    _text(max_size=30),
)
TARGETS = st.one_of(st.sampled_from(["/", "/.env", "/about/", "/products/7?x=1", "/wp-admin/", "/images/old-1.webp",
                                     "/a%2e%2e/", "//x", "/wp-login.php"]), _text(max_size=40))
HEADERS = st.lists(st.one_of(st.sampled_from(["-", "Mozilla/5.0", TOOL, "https://a.example/"]), _text(max_size=30)),
                   max_size=4)


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    """A combined or common line, every field well-formed or not, with hostile bytes anywhere."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200)).replace(b"\n", b"")
    sep = draw(st.sampled_from([" ", " ", " ", " ", "  ", "\t"]))
    parts = [draw(ADDRESSES), draw(st.sampled_from(["-", "-", "x", "", "a b"])),
             draw(st.sampled_from(["-", "-", "alice", "", "[x", "bob\\"]))]
    request = (f"{draw(st.sampled_from(['GET', 'POST', 'get', '', 'A' * 20, 'A' * 21, 'G3T']))} {draw(TARGETS)} "
               f"{draw(st.sampled_from(['HTTP/1.1', 'HTTP/2', 'HTTP/', 'HTTP/1.1.1', 'HTTX/1.1', 'HTTP/2.0 ']))}")
    status = draw(st.sampled_from(["200", "404", "403", "20", "2000", "4x4", "301"]))
    size = draw(st.sampled_from(["-", "0", "812", "1-", "", "08"]))
    line = sep.join(parts) + f' [{draw(DATES)}] "{request}" {status} {size}'
    headers = draw(HEADERS)
    if headers:
        line += "".join(f' "{h}"' for h in headers)
    if draw(st.booleans()):
        line += draw(st.sampled_from(["", "\r", "\r\r", " ", '"', "x" * 3000]))
    return line.encode("utf-8", errors="surrogatepass")


def _re2_valid(pattern: str, line: bytes) -> bool:
    data = line + b"\n"
    return _webscan._valid_run(pattern)(data, 0, len(data)) == len(data)


def _c_valid(combined: bool, line: bytes) -> bool:
    data = line + b"\n"
    return webscan_c.valid_run(data, 0, len(data), combined) == len(data)


PLAIN_START = re.compile(rb"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+ ")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=lines(), combined=st.booleans())
def test_the_compiled_grammar_is_the_re2_grammar(line: bytes, combined: bool) -> None:
    """A line the C scan passes is valid by the RE2 grammar; for a plain IPv4 address in front the two agree
    exactly (IPv6 addresses and forwarded chains the C scan leaves to the parser)."""
    pattern = COMBINED_VALID if combined else COMMON_VALID
    c, r = _c_valid(combined, line), _re2_valid(pattern, line)
    if PLAIN_START.match(line):
        assert c == r, line
    else:
        assert r or not c, line


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(block=st.lists(lines(), max_size=8), crlf=st.booleans(), last_newline=st.booleans())
def test_the_valid_run_ends_where_re2_says(block: list[bytes], crlf: bool, last_newline: bool) -> None:
    """Over a block of lines (CRLF or LF, the last with or without its newline) the run of valid lines ends
    where the RE2 pass says, when every line has a plain address or none is valid by the C scan."""
    sep = b"\r\n" if crlf else b"\n"
    data = sep.join(block) + (sep if last_newline and block else b"")
    if not all(PLAIN_START.match(ln) for ln in block):
        block = [ln for ln in block if PLAIN_START.match(ln)]
        data = sep.join(block) + (sep if last_newline and block else b"")
    assert webscan_c.valid_run(data, 0, len(data), True) == _webscan._valid_run(COMBINED_VALID)(data, 0, len(data))
    assert webscan_c.valid_run(data, 0, len(data), False) == _webscan._valid_run(COMMON_VALID)(data, 0, len(data))


@settings(max_examples=400, deadline=None)
@given(address=ADDRESSES, day=st.integers(1, 31), month=st.sampled_from(list(MONTHS)), year=st.integers(0, 9999),
       clock=st.tuples(st.integers(0, 23), st.integers(0, 59), st.integers(0, 59)),
       zone=st.tuples(st.sampled_from("+-"), st.integers(0, 23), st.integers(0, 59)))
def test_a_summary_entry_carries_the_time_and_address_python_reads(address: str, day: int, month: str, year: int,
                                                                   clock: tuple[int, int, int],
                                                                   zone: tuple[str, int, int]) -> None:
    """A client error on an ordinary page stops the C scan with its line's time and address (kind 2): the time is
    what `clf_time` gives for the date (to the second, any year and zone), the address what `client_ip` gives;
    a date `clf_time` refuses (year 0) leaves the line to the parser (kind 1)."""
    hms = ":".join(f"{v:02d}" for v in clock)
    ts = f"{day:02d}/{month}/{year:04d}:{hms} {zone[0]}{zone[1]:02d}{zone[2]:02d}"
    line = f'{address} - - [{ts}] "GET /gone?x=1 HTTP/1.1" 404 12 "-" "Mozilla/5.0"\n'.encode()
    found = webscan_c.clf_next(line, 0, len(line), True, {b"/gone?x=1": 0}, {b"Mozilla/5.0": False}, 1,
                               1 | 2 | 4, 10_000, [], [])
    if found[0] == 1:  # not valid by the grammar (an address or a day it refuses), or year 0
        assert not (PLAIN_START.match(line) and _c_valid(True, line[:-1])) or year == 0
        return
    assert found[0] == 2 and len(found) == 13
    assert found[11] == clf_time(ts) and type(found[11]) is float
    assert found[12] == client_ip(address) == address


def test_the_compiled_scan_checks_its_positions() -> None:
    with pytest.raises(ValueError):
        webscan_c.valid_run(b"abc\n", 0, 10, True)
    with pytest.raises(ValueError):
        webscan_c.clf_next(b"abc\n", 3, 1, True, {}, {}, 0, 0, 100)


# -- a decoder with and without the compiled scan ---------------------------------------------------------
def _client(i: int) -> str:
    return f"198.51.{i % 7}.{10 + i % 13}"


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    """Traffic with what the cards look at - sensitive pages, client errors on ordinary pages, tool agents,
    a few addresses coming back - between hostile and malformed lines."""
    out = ['203.0.113.1 - - [02/Nov/2026:09:00:00 +0000] "GET / HTTP/1.1" 200 812 "-" "Mozilla/5.0"']
    for i in range(draw(st.integers(1, 60))):
        second = draw(st.integers(0, 3))  # times go forwards, several lines per second
        t = f"02/Nov/2026:09:{(i // 20) % 60:02d}:{(i + second) % 60:02d} +0000"
        kind = draw(st.integers(0, 9))
        if kind == 0:
            out.append(draw(lines()).decode("utf-8", errors="surrogateescape"))
            continue
        page = draw(st.sampled_from(["/", "/about/", "/images/old-1.webp", "/.env", "/.git/config", "/products/7",
                                     "/wp-content/uploads/x.php", "/a%2e%2e/.env", "/search?q=%22"]))
        status = draw(st.sampled_from([200, 200, 304, 404, 404, 403, 500]))
        agent = draw(st.sampled_from(["Mozilla/5.0", "Mozilla/5.0", TOOL, "curl/8.4.0", "-", ""]))
        out.append(f'{_client(draw(st.integers(0, 20)))} - - [{t}] "GET {page} HTTP/1.1" {status} 153 "-" "{agent}"')
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    return (ending.join(out) + draw(st.sampled_from([ending, ""]))).encode("utf-8", errors="surrogateescape")


_ENGINE: list[Engine] = []


def _decode(data: bytes, cuts: list[int], accelerated: bool, monkeypatch: pytest.MonkeyPatch) -> tuple:
    monkeypatch.setattr(_webscan, "ACCELERATED", accelerated)
    if not _ENGINE:  # one engine's cards and web filter for every example (its caches filled as they go)
        _ENGINE.append(Engine(raise_errors=True))
    ctx = dataclasses.replace(_ENGINE[0].ctx, stats=ScanStats())
    decoder = CombinedLog().decoder(ctx, NAME)
    events = []
    last = 0
    for cut in sorted({c % (len(data) + 1) for c in cuts}):
        events += decoder.feed(data[last:cut])
        last = cut
    events += decoder.feed(data[last:])
    events += decoder.close()
    stats = ctx.stats
    return events, [f"{r.where} {r.reason}" for r in stats.rejections], stats.lines, stats.skipped


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=streams(), cuts=st.lists(st.integers(0, 8000), max_size=4))
def test_the_compiled_scan_hands_on_what_the_python_path_does(data: bytes, cuts: list[int],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The same events (summaries and their entries included), rejections, line and skip counts, for the
    stream in one piece and cut anywhere (a block's end closes its summary on both paths)."""
    assert _decode(data, [], True, monkeypatch) == _decode(data, [], False, monkeypatch)
    assert _decode(data, cuts, True, monkeypatch) == _decode(data, cuts, False, monkeypatch)


def test_the_compiled_scan_is_used_and_skips_ordinary_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """On ordinary traffic the C scan decides: most lines are passed over, the client errors become summary
    entries, the probe an event."""
    rows = [f'{_client(i)} - - [02/Nov/2026:09:{i // 60 % 60:02d}:{i % 60:02d} +0000] "GET /products/{i % 9} '
            f'HTTP/1.1" {404 if i % 10 == 3 else 200} 153 "-" "Mozilla/5.0"' for i in range(300)]
    rows[150] = rows[150].replace("/products/", "/.env?")
    data = ("\n".join(rows) + "\n").encode()
    calls = []
    real = webscan_c.clf_next
    monkeypatch.setattr(_webscan, "_clf_next", lambda *a: calls.append(a[1]) or real(*a))
    events, rejected, lines, skipped = _decode(data, [], True, monkeypatch)
    assert calls and not rejected and lines == 300
    requests = [e for e in events if type(e).__name__ == "HttpRequest"]
    errors = [en for e in events if type(e).__name__ == "HttpSummary" for en in e.entries if en[0] == "error"]
    assert [e.path for e in requests] == ["/products/0", "/.env"]  # the first line and the probe
    assert len(errors) == 30
    assert skipped == 300 - len(requests)
    assert events == _decode(data, [], False, monkeypatch)[0]


def test_the_scan_memo_answers_for_the_page_asked_on_a_busy_site(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thousands of pages, more than the scan's memo of filter answers holds, asked again in a shuffled order
    (pages sharing a set of the memo push each other out and come back): every answer is the page's own - the
    probes are events, the client errors summaries, the rest passed over - as the Python path decides."""
    import random

    rng = random.Random(26)
    pages = [f"/p/{k}/.env" if k % 97 == 0 else f"/p/{k}" for k in range(12_000)]
    rows = []
    for i in range(40_000):
        page = pages[min(int(rng.paretovariate(0.6)) - 1, len(pages) - 1) if i % 3 else rng.randrange(len(pages))]
        status = 404 if i % 23 == 0 else 200
        rows.append(f'{_client(i)} - - [02/Nov/2026:{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d} +0000] '
                    f'"GET {page} HTTP/1.1" {status} 153 "-" "Mozilla/5.0"')
    data = ("\n".join(rows) + "\n").encode()
    fast = _decode(data, [], True, monkeypatch)
    assert fast == _decode(data, [], False, monkeypatch)
    probes = [e.path for e in fast[0] if type(e).__name__ == "HttpRequest" and e.path.endswith("/.env")]
    assert len(probes) == sum(r.split('"')[1].split()[1].endswith("/.env") for r in rows)


# -- W3C (`w3c_next`) -------------------------------------------------------------------------------------------
W3C_NAME = "u_ex261102.log"
#: CLOUDWARD_NO_SHRINK=1 while debugging: a failing example is shown as found (shrinking these takes minutes)
PHASES = [p for p in Phase if p is not Phase.shrink] if os.environ.get("CLOUDWARD_NO_SHRINK") else list(Phase)
W3C_COLUMNS = ["date", "time", "s-sitename", "s-ip", "cs-method", "cs-uri-stem", "cs-uri-query", "c-ip",
               "cs(User-Agent)", "cs(Referer)", "cs-host", "sc-status", "sc-bytes", "time-taken"]


@st.composite
def w3c_streams(draw: st.DrawFn, kudu: bool = False) -> bytes:
    """IIS traffic under one or two #Fields headers (columns in any order, some missing, sometimes an unusable
    header), with what the cards look at, the client address repeated in other fields (the ordinary requests
    of recent addresses are counted by substring), Kudu sites, non-ASCII and malformed lines."""
    out = ["#Software: Microsoft Internet Information Services 10.0"]
    for _ in range(draw(st.integers(1, 2))):
        columns = draw(st.permutations(W3C_COLUMNS))
        keep = [c for c in columns if c in ("date", "time", "c-ip", "cs-uri-stem") or draw(st.integers(0, 4))]
        if draw(st.integers(0, 12)) == 0:
            keep = [c for c in keep if c != "c-ip"]  # an unusable header: its lines are rejected
        out.append("#Fields: " + " ".join(keep))
        for i in range(draw(st.integers(0, 40))):
            kind = draw(st.integers(0, 11))
            if kind == 0:
                out.append(draw(lines()).decode("utf-8", errors="surrogateescape"))
                continue
            ip = _client(draw(st.integers(0, 20)))
            second = (i + draw(st.integers(0, 2))) % 60
            values = {
                "date": draw(st.sampled_from(["2026-11-02"] * 8 + ["2028-02-29", "2026-02-29", "0000-01-01",
                                                                    "2026-13-01", "2026-11-31"])),
                "time": draw(st.sampled_from([f"09:{i // 20:02d}:{second:02d}"] * 6 + [
                    f"09:00:{second:02d}.25", "24:00:00", "09:60:00", "9:00:00"])),
                "s-sitename": draw(st.sampled_from(["SHOP", "SHOP", "-", "W3SVC1", "shÖp"]
                                                   + (["~1shop", "~1SHOP"] if kudu else []))),
                "s-ip": draw(st.sampled_from(["10.0.0.4", "-", ip, _client(draw(st.integers(0, 20)))])),
                "cs-method": draw(st.sampled_from(["GET", "POST", "-"])),
                "cs-uri-stem": draw(st.sampled_from(["/", "/about/", "/images/old-1.webp", "/.env", "/.git/config",
                                                     "/wp-content/uploads/x.php", "/a%2e%2e/.env", "/ümlaut",
                                                     "/products/7"])),
                "cs-uri-query": draw(st.sampled_from(["-", "-", "q=1", "action=edit-theme-plugin-file", "x=é"])),
                "c-ip": draw(st.sampled_from([ip] * 12 + ["2001:db8::1", "01.2.3.4", "-"])),
                "cs(User-Agent)": draw(st.sampled_from(["Mozilla/5.0+(Windows)", "Mozilla/5.0+(Windows)", "-",
                                                        TOOL.replace(" ", "+"), "curl/8.4.0", "Ünicode"])),
                "cs(Referer)": draw(st.sampled_from(["-", ip, f"https://a.example/{ip}"])),
                "cs-host": draw(st.sampled_from(["shop.example.com", "-", "SHOP.example.com:8080"]
                                                + (["shop.scm.example.com:443", "a.SCM.b"] if kudu else []))),
                "sc-status": draw(st.sampled_from(["200", "200", "304", "404", "404", "403", "500", "-", "4x4"])),
                "sc-bytes": draw(st.sampled_from(["812", "-", ip])),
                "time-taken": draw(st.sampled_from(["15", ip])),
            }
            fields = [values[c] for c in keep]
            line = " ".join(fields)
            if kind == 1:
                line = line.replace(" ", "  ", 1)  # an empty value: one field too many
            elif kind == 2:
                line = line.rsplit(" ", 1)[0]  # one field too few
            elif kind == 3:
                line = line + "\r"
            out.append(line)
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    return (ending.join(out) + draw(st.sampled_from([ending, ""]))).encode("utf-8", errors="surrogateescape")


def _decode_w3c(data: bytes, cuts: list[int], accelerated: bool, monkeypatch: pytest.MonkeyPatch,
                prefilter: bool = True) -> tuple:
    from cloudward.parsers.w3c_http import W3cHttpLog

    monkeypatch.setattr(_webscan, "ACCELERATED", accelerated)
    if not _ENGINE:
        _ENGINE.append(Engine(raise_errors=True))
    ctx = dataclasses.replace(_ENGINE[0].ctx, stats=ScanStats())
    if not prefilter:
        options = {k: ctx.options.get(k) for k in ("trusted_proxies",)}
        ctx = dataclasses.replace(ctx, options=options)
    decoder = W3cHttpLog().decoder(ctx, W3C_NAME)
    events = []
    last = 0
    for cut in sorted({c % (len(data) + 1) for c in cuts}):
        events += decoder.feed(data[last:cut])
        last = cut
    events += decoder.feed(data[last:])
    events += decoder.close()
    stats = ctx.stats
    return events, [f"{r.where} {r.reason}" for r in stats.rejections], stats.lines, stats.skipped


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture],
          phases=PHASES)
@given(data=w3c_streams(), cuts=st.lists(st.integers(0, 8000), max_size=4))
def test_the_compiled_w3c_scan_hands_on_what_the_python_path_does(data: bytes, cuts: list[int],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The same events (summaries and their entries - the counted ordinary requests - included), rejections,
    line and skip counts as the RE2 path, in one piece and cut anywhere (no Kudu/SCM sites here: see below)."""
    assert _decode_w3c(data, [], True, monkeypatch) == _decode_w3c(data, [], False, monkeypatch)
    assert _decode_w3c(data, cuts, True, monkeypatch) == _decode_w3c(data, cuts, False, monkeypatch)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=w3c_streams(kudu=True))
def test_the_compiled_w3c_scan_hands_on_every_line_of_a_kudu_site(data: bytes,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request a parse of every line makes for a Kudu/SCM site (`~1...` or `.scm.`) is an event on the C
    path too, whatever its page (the scan cannot tell a Kudu site's lines from the others without reading it)."""
    flt = _ENGINE[0].ctx.options.get("prefilter:HttpRequest") if _ENGINE else None
    fast = _decode_w3c(data, [], True, monkeypatch)
    every = _decode_w3c(data, [], True, monkeypatch, prefilter=False)
    flt = _ENGINE[0].ctx.options.get("prefilter:HttpRequest")
    kudu = {e.event_id for e in every[0] if type(e).__name__ == "HttpRequest" and flt.site_always(e.site)}
    assert kudu <= {e.event_id for e in fast[0] if type(e).__name__ == "HttpRequest"}
    assert fast[2] == every[2]


def test_the_compiled_w3c_scan_is_used_and_skips_ordinary_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """On ordinary IIS traffic the C scan decides: most lines are passed over, the client errors become summary
    entries, and the result is the RE2 path's."""
    rows = ["#Fields: date time s-sitename cs-uri-stem cs-uri-query c-ip cs(User-Agent) sc-status"]
    for i in range(400):
        page, status = ("/images/gone.webp", 404) if i % 10 == 3 else ("/about/", 200)
        rows.append(f"2026-11-02 09:{i // 60:02d}:{i % 60:02d} SHOP {page} - {_client(i)} Mozilla/5.0 {status}")
    rows.append("2026-11-02 09:07:00 SHOP /.env - 198.51.0.10 Mozilla/5.0 404")
    data = ("\n".join(rows) + "\n").encode()
    calls: list[int] = []
    real = webscan_c.w3c_next
    monkeypatch.setattr(_webscan, "_w3c_next", lambda *a: calls.append(a[1]) or real(*a))
    fast = _decode_w3c(data, [], True, monkeypatch)
    assert 0 < len(calls) < 100
    events, rejected, lines_read, skipped = fast
    assert not rejected and lines_read == 402 and skipped > 350
    assert any(type(e).__name__ == "HttpSummary" for e in events)
    monkeypatch.setattr(_webscan, "_w3c_next", real)
    assert fast == _decode_w3c(data, [], False, monkeypatch)
