"""The web block scan: a malformed line is rejected the same way whatever page it names and however the
stream is cut, and well-formed lines no card needs are counted as skipped."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudward.engine import Engine

GOOD = '203.0.113.{ip} - - [02/Nov/2026:09:{m:02d}:{s:02d} +0000] "GET {page} HTTP/1.1" {status} 812 "-" "Mozilla/5.0"'
PAGES = ["/about/", "/index.html", "/.env", "/products/7", "/.git/config", "/static/app.js"]
W3C_HEADER = ("#Software: Microsoft Internet Information Services 10.0\n#Fields: date time s-sitename cs-method "
              "cs-uri-stem cs-uri-query c-ip cs(User-Agent) sc-status sc-bytes\n")
W3C_GOOD = "2026-11-02 09:{m:02d}:{s:02d} SHOP GET {page} - 203.0.113.{ip} Mozilla/5.0 {status} 812"


#: (what, replacement) pairs: a field of a well-formed combined line made bad - a line of the right shape
#: that a parse rejects, whatever page it names
BAD_FIELDS = [
    ("02/Nov/2026:09:", "99/Foo/2026:25:"), ("02/Nov/2026:09:", "31/Nov/2026:09:"),
    ("02/Nov/2026:09:", "30/Feb/2026:09:"), ("02/Nov/2026:09:", "02/nov/2026:09:"),
    ("02/Nov/2026:09:", "02/Nov/2_26:09:"), ("02/Nov/2026:09:", "02/Nov/2026:24:"),
    ("02/Nov/2026:09:", "00/Nov/2026:09:"), ("2026:09:", "2026:0x:"), (" +0000]", " +2400]"), (" +0000]", " +00x0]"),
    (" +0000]", " 0+000]"), ("203.0.113.", "203.0.113.99"), ("203.0.113.", "203.0.113.0"), ("203.0.113.", "-"),
    ("203.0.113.", "2001:db8::zz"), ("203.0.113.", "10.0.0.1, 203.0.113.99"), ("203.0.113.", "-, 203.0.113.x"),
    ('HTTP/1.1" ', 'HTTP/1.1" 2'), ('HTTP/1.1" ', 'HTTP/1.1" 20'), ('HTTP/1.1" ', 'HTTP/1.1"  '),
    ('HTTP/1.1" ', 'HTTP/1.1" x'), (" 812 ", " 8x2 "),
]
#: well-formed spellings the valid-line grammar must also pass (or parse and accept)
GOOD_FIELDS = [
    ("203.0.113.", "2001:db8::"), ("203.0.113.", "::ffff:203.0.113."),
    ("203.0.113.", "unknown, -, 10.0.0.2, 203.0.113."),
    ("02/Nov/2026:09:", "29/Feb/2028:09:"), ("02/Nov/2026:09:", "29/Feb/2100:09:"), (" +0000]", " -0530]"),
    ('"-" "Mozilla', '"https://a.example/?q=\\"x\\"" "Mozilla'), ("- - [", "- alice smith ["),
]

#: the same for a W3C line (`W3C_GOOD`): a bad date, time, address or status in a line of the right field count
W3C_BAD_FIELDS = [
    ("2026-11-02 09:", "2026-13-02 09:"), ("2026-11-02 09:", "2026-11-31 09:"), ("2026-11-02 09:", "2026-02-30 09:"),
    ("2026-11-02 09:", "2026-11-00 09:"), ("2026-11-02 09:", "2_26-11-02 09:"), ("2026-11-02 09:", "2026-11-02 24:"),
    ("2026-11-02 09:", "2026/11/02 09:"), ("2026-11-02 09:", "2026-11-02 0x:"), (" SHOP ", " SHOP "),
    ("- 203.0.113.", "- 203.0.113.99"), ("- 203.0.113.", "- 203.0.113.0"), ("- 203.0.113.", "- 2001:db8::zz"),
    ("- 203.0.113.", "- -"), (" Mozilla/5.0 ", " Mozilla/5.0 2"), (" Mozilla/5.0 ", " Mozilla/5.0 x"),
]
W3C_GOOD_FIELDS = [
    ("2026-11-02 09:", "2028-02-29 09:"), ("- 203.0.113.", "- 2001:db8::"), ("- 203.0.113.", "- ::ffff:203.0.113."),
    (" SHOP ", " - "), (" 812", " -"),
]


def _malformed(kind: int, cut: int, line: str, fmt: str) -> str:
    """A line as a crashed writer or a broken proxy leaves it: cut anywhere, garbage, or (W3C) a field
    missing or one too many; for `combined` also a bad field in a line of the right shape, or an unusual
    good one."""
    if kind >= 3:
        fields = BAD_FIELDS + GOOD_FIELDS if fmt == "combined" else W3C_BAD_FIELDS + W3C_GOOD_FIELDS
        old, new = fields[cut % len(fields)]
        return line.replace(old, new, 1)
    if kind == 0:
        return line[: 1 + cut % (len(line) - 1)]
    if kind == 1:
        return "\x00\x01 garbage from a crashed writer"
    parts = line.split(" ")
    return " ".join(parts[:-1]) if fmt == "w3c" else line.rsplit('"', 2)[0]


def _stream(fmt: str, rows: list[tuple[int, int, int, int, bool]]) -> bytes:
    lines: list[str] = []
    for i, (page, kind, cut, status, broken) in enumerate(rows):
        template = GOOD if fmt == "combined" else W3C_GOOD
        line = template.format(ip=1 + i % 5, m=i // 60 % 60, s=i % 60, page=PAGES[page], status=status)
        if broken and i:  # the first data line stays good: the layout is judged from it
            line = _malformed(kind, cut, line, fmt)
        lines.append(line)
    return ((W3C_HEADER if fmt == "w3c" else "") + "\n".join(lines) + "\n").encode()


def _run(fmt: str, data: bytes, cuts: list[int], prefilter: bool = True) -> tuple[list[str], int, int]:
    engine = Engine(raise_errors=True)
    engine.hold = True
    if not prefilter:
        engine.ctx.options.pop("prefilter:HttpRequest", None)
    name = "u_ex261102.log" if fmt == "w3c" else "shop.example.com.access.log"
    fmt_name = "w3c-http" if fmt == "w3c" else "combined"
    last = 0
    for cut in sorted(set(cuts)):
        engine.feed_bytes(name, data[last:cut], fmt=fmt_name)
        last = cut
    engine.feed_bytes(name, data[last:], fmt=fmt_name, final=True)
    engine.advance(None)
    stats = engine.stats
    return [f"{r.where} {r.reason}" for r in stats.rejections], stats.skipped, stats.lines


ROWS = st.lists(st.tuples(st.integers(0, len(PAGES) - 1), st.integers(0, 4), st.integers(0, 400),
                          st.sampled_from([200, 200, 304, 404]), st.booleans()), min_size=2, max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fmt=st.sampled_from(["combined", "w3c"]), rows=ROWS, cuts=st.lists(st.integers(0, 4000), max_size=6))
def test_malformed_lines_are_rejected_as_without_the_fast_path_wherever_the_stream_is_cut(
        fmt: str, rows: list[tuple[int, int, int, int, bool]], cuts: list[int]) -> None:
    """The fast path rejects exactly the lines a parse of every line rejects, with the same reasons, in
    one piece or cut anywhere; the lines it does not parse are the skipped ones."""
    data = _stream(fmt, rows)
    every_line = _run(fmt, data, [], prefilter=False)
    fast = _run(fmt, data, [])
    assert fast[0] == every_line[0]
    assert fast[2] == every_line[2]
    assert _run(fmt, data, [c % (len(data) + 1) for c in cuts]) == fast


@given(st.sampled_from(BAD_FIELDS), st.sampled_from(PAGES))
@settings(max_examples=80, deadline=None)
def test_a_bad_field_is_rejected_whatever_page_the_line_names(bad: tuple[str, str], page: str) -> None:
    """A line of the right shape with a bad date, address or status is rejected with its place, on an
    ordinary page as on a sensitive one (the block scan used to pass it over as skipped)."""
    good = [GOOD.format(ip=1 + i % 5, m=i // 60, s=i % 60, page="/about/", status=200) for i in range(8)]
    good[5] = GOOD.format(ip=3, m=0, s=5, page=page, status=200).replace(*bad, 1)
    data = ("\n".join(good) + "\n").encode()
    rejected, _, lines = _run("combined", data, [])
    assert lines == 8
    assert [r.split(" ")[0] for r in rejected] == ["shop.example.com.access.log:6"], good[5]
    assert rejected == _run("combined", data, [], prefilter=False)[0]


@given(st.sampled_from([b for b in W3C_BAD_FIELDS if b[0] != b[1]]), st.sampled_from(PAGES))
@settings(max_examples=60, deadline=None)
def test_a_bad_w3c_field_is_rejected_whatever_page_the_line_names(bad: tuple[str, str], page: str) -> None:
    """The same for W3C: a line with the right number of fields but a bad date, time, address or status is
    rejected with its place whatever page it names (the block scan used to check only the field count)."""
    good = [W3C_GOOD.format(ip=1 + i % 5, m=i // 60, s=i % 60, page="/about/", status=200) for i in range(8)]
    good[5] = W3C_GOOD.format(ip=3, m=0, s=5, page=page, status=200).replace(*bad, 1)
    data = (W3C_HEADER + "\n".join(good) + "\n").encode()
    rejected, _, lines = _run("w3c", data, [])
    assert lines == 10
    assert [r.split(" ")[0] for r in rejected] == ["u_ex261102.log:8"], good[5]
    assert rejected == _run("w3c", data, [], prefilter=False)[0]
