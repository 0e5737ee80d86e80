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


def _malformed(kind: int, cut: int, line: str, fmt: str) -> str:
    """A line as a crashed writer or a broken proxy leaves it: cut anywhere, garbage, or (W3C) a field
    missing or one too many."""
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


ROWS = st.lists(st.tuples(st.integers(0, len(PAGES) - 1), st.integers(0, 2), st.integers(0, 400),
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
