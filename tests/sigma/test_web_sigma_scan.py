"""SigmaHQ's webserver rules on the C block scan (`_webscan.clf_next` with the rule group's needles): a
combined/common stream read with the rules loaded gives the same events, summaries, rejections, line and
skip counts - hence the same alerts - as the pure-Python (RE2) path with the same rules, on every web
corpus and on generated hostile lines built around the rules' own literals (split at escapes, upper-cased,
percent-encoded, spelled with case-folding specials); and the rules match every line they would match with
no prefilter at all."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sigma_helpers import EMERGING, RULES, combined

from cloudward.config import from_dict
from cloudward.engine import Engine
from cloudward.inputs import ScanStats
from cloudward.parsers import _webscan
from cloudward.parsers.clf import CLF_LINE, CombinedLog
from cloudward.pipeline import scan_text
from cloudward.sigma.prefilter import SigmaWebInterest

webscan_c = pytest.importorskip("cloudward._webscan")

WEB_RULES = [RULES / "web", EMERGING]
DATA = Path(__file__).resolve().parents[1] / "data"
NAME = "shop.example.com.access.log"

_ENGINE: list[Engine] = []


def _engine() -> Engine:
    """One engine with the cards and the snapshot's webserver rules (its filter caches fill as tests go)."""
    if not _ENGINE:
        _ENGINE.append(Engine(from_dict({"sigma": {"paths": [str(p) for p in WEB_RULES]}}), raise_errors=True))
    return _ENGINE[0]


def _interest() -> SigmaWebInterest:
    flt = _engine().ctx.options.get("prefilter:HttpRequest")
    assert isinstance(flt, SigmaWebInterest)
    return flt


def _needles() -> list[str]:
    needs = _interest().needs
    return sorted(needs.literals + needs.target_literals)


# -- hostile lines around the rules' literals -------------------------------------------------------------
_SPECIALS = {"k": "\u212a", "s": "\u017f", "st": "\ufb06", "ss": "\u00df"}


@st.composite
def _mangled(draw: st.DrawFn) -> str:
    """One of the rules' literals as an attacker or an odd client may write it."""
    text = draw(st.sampled_from(_needles()))
    how = draw(st.integers(0, 7))
    if how == 1:  # upper-cased, wholly or in part
        cut = draw(st.integers(0, len(text)))
        text = text[:cut].upper() + text[cut:]
    elif how == 2 and len(text) > 1:  # split by an escape the parser undoes, or by an escaped quote
        cut = draw(st.integers(1, len(text) - 1))
        text = text[:cut] + draw(st.sampled_from(["\\\\", '\\"', "%", "+", " "])) + text[cut:]
    elif how == 3:  # one character percent-encoded
        k = draw(st.integers(0, len(text) - 1))
        text = text[:k] + f"%{ord(text[k]):02X}" + text[k + 1:]
    elif how == 4:  # a letter as a case-folding special
        for plain, special in _SPECIALS.items():
            if plain in text.lower():
                at = text.lower().index(plain)
                text = text[:at] + special + text[at + len(plain):]
                break
    elif how == 5 and len(text) > 2:  # cut short by one character
        text = text[:-1] if draw(st.booleans()) else text[1:]
    return text


_ORDINARY = ["/", "/products/7", "/static/app.js", "/index.html", "/search?q=shoes", "/cart", "/images/old-1.webp"]
_AGENTS = ["Mozilla/5.0 (X11; Linux x86_64)", "curl/8.4.0", "sqlmap/1.7.2#stable (https://sqlmap.org)", "-", ""]


@st.composite
def _line(draw: st.DrawFn, i: int) -> str:
    ip = f"198.51.{i % 5}.{10 + draw(st.integers(0, 12))}"
    target = draw(st.sampled_from(_ORDINARY))
    agent = draw(st.sampled_from(_AGENTS))
    referer = draw(st.sampled_from(["-", "https://shop.example.com/", ""]))
    user = "-"
    for _ in range(draw(st.integers(0, 2))):
        where = draw(st.sampled_from(["target", "query", "agent", "referer", "user", "method"]))
        text = draw(_mangled())
        if where == "target":
            target = "/" + text.lstrip("/").replace(" ", "%20")
        elif where == "query":
            target += ("&" if "?" in target else "?") + "x=" + text.replace(" ", "+")
        elif where == "agent":
            agent += " " + text
        elif where == "referer":
            referer = "https://x.example/" + text
        elif where == "user":
            user = text.replace(" ", "") or "-"
        else:
            return (f'{ip} - - [02/Nov/2026:09:{i // 60 % 60:02d}:{i % 60:02d} +0000] "{text.upper()} / HTTP/1.1" '
                    f'200 12 "-" "-"')
    status = draw(st.sampled_from([200, 200, 304, 404, 403, 500]))
    return (f'{ip} - {user} [02/Nov/2026:09:{i // 60 % 60:02d}:{i % 60:02d} +0000] "GET {target} HTTP/1.1" '
            f'{status} 153 "{referer}" "{agent}"')


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    out = ['203.0.113.1 - - [02/Nov/2026:09:00:00 +0000] "GET / HTTP/1.1" 200 812 "-" "Mozilla/5.0"']
    out += [draw(_line(i)) for i in range(draw(st.integers(1, 40)))]
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    return (ending.join(out) + ending).encode("utf-8", errors="surrogateescape")


def _decode(data: bytes, cuts: list[int], accelerated: bool, monkeypatch: pytest.MonkeyPatch) -> tuple:
    monkeypatch.setattr(_webscan, "ACCELERATED", accelerated)
    ctx = dataclasses.replace(_engine().ctx, stats=ScanStats())
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
@given(data=streams(), cuts=st.lists(st.integers(0, 6000), max_size=3))
def test_the_c_scan_with_sigma_hands_on_what_the_re2_path_does(data: bytes, cuts: list[int],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = webscan_c.clf_next
    monkeypatch.setattr(_webscan, "_clf_next", lambda *a: calls.append(1) or real(*a))
    fast = _decode(data, cuts, True, monkeypatch)
    assert calls  # the C scan was used, with the rules loaded
    assert fast == _decode(data, cuts, False, monkeypatch)


@settings(max_examples=300, deadline=None)
@given(line=_line(7))
def test_the_c_needle_test_is_the_interest_s_answer(line: str) -> None:
    """`holds_needle` (what the C scan tests while passing over lines) says yes exactly when `wants_line`'s
    RE2 searches find a literal on the line or a target literal in its request target."""
    raw = line.encode("utf-8", errors="surrogateescape")
    m = CLF_LINE.match(raw)
    if m is None:
        return
    flt = _interest()
    target = m.group(5)
    want = flt._anywhere(raw) is not None or (flt._in_target is not None and flt._in_target(target) is not None)
    assert webscan_c.holds_needle(raw, m.start(5), m.end(5), flt.scan_needles) == want, line


def test_needles_are_cut_and_lower_cased_as_the_scan_needs() -> None:
    anywhere, in_target = _interest().scan_needles
    assert anywhere and in_target
    assert all(n == n.lower() and len(n) >= 2 for n in anywhere + in_target)
    assert "\u212a".encode() in anywhere  # the Kelvin sign, which Sigma's case folding reads as "k"
    needles = (anywhere, in_target)
    assert webscan_c.holds_needle(b'1.2.3.4 - - [x] "GET /a HTTP/1.1" 200 1 "-" "${JNDI:ldap://x}"', 0, 0, needles)
    line = b'1.2.3.4 - - [x] "GET /x HTTP/1.1" 200 1 "https://a/../../../etc/passwd" "-"'
    target_only = next(n for n in in_target if n.startswith(b"../../../etc"))
    assert not webscan_c.holds_needle(line, 21, 23, ((), (target_only,)))  # a target literal outside the target
    assert webscan_c.holds_needle(line, 0, len(line), ((), (target_only,)))
    with pytest.raises(ValueError):
        webscan_c.holds_needle(b"abc", 0, 1, ((b"x",), ()))
    with pytest.raises(TypeError):
        webscan_c.holds_needle(b"abc", 0, 1, (b"x",))


@pytest.mark.parametrize("line", [
    b'203.0.113.9 - alice [02/Nov/2026:09:15:27 +0000] "GET /a/b.php?x=1 HTTP/1.1" 404 512 "https://r/" "Mo/5 (X)"',
    b'10.0.0.1 - - [31/Dec/2026:23:59:59 -0530] "PROPFIND / HTTP/2" 200 - "-" "-" "1.2.3.4, 5.6.7.8"',
    b'1.2.3.4 x - [01/Jan/2026:00:00:00 +0000] "GET /%2e%2e/ HTTP/1.0" 301 0',
])
def test_the_field_by_field_needle_test_finds_any_piece_of_any_field(line: bytes) -> None:
    """Every piece of a valid line that holds no space or quote is found, whichever field it stands in (the
    address, the date, the zone, the protocol and status...), as an `anywhere` needle, upper- or lower-case,
    and a piece of the target as a target needle; pieces of other fields are not target needles."""
    m = CLF_LINE.match(line)
    assert m is not None
    ts, te = m.start(5), m.end(5)
    for size in (2, 3, 5):
        for at in range(len(line) - size + 1):
            piece = line[at:at + size]
            if b" " in piece or b'"' in piece:
                continue
            needles = ((piece.lower(),), ())
            assert webscan_c.holds_needle(line, ts, te, needles), piece
            assert webscan_c.holds_needle(line.upper(), ts, te, needles) or not piece.isascii(), piece
            in_target = ts <= at and at + size <= te
            found = webscan_c.holds_needle(line, ts, te, ((), (piece.lower(),)))
            assert found == (in_target or piece.lower() in line[ts:te].lower()), piece
    assert not webscan_c.holds_needle(line, ts, te, ((b"zz~",), (b"qq~",)))


# -- whole scans: every web corpus and generated traffic ----------------------------------------------------
def _corpora() -> dict[str, bytes]:
    """The combined/common files of tests/data/web (annotated ones without their `## expect` lines)."""
    from cloudward.parsers.base import Head

    out = {}
    for path in sorted((DATA / "web").rglob("*")):
        if path.is_file():
            lines = [ln for ln in path.read_bytes().splitlines(keepends=True) if not ln.startswith(b"## ")]
            if CombinedLog().sniff(Head.from_lines(str(path), lines[:40])) >= 80:
                out[path.name] = b"".join(lines)
    return out


def _generated(seed: int, n: int) -> str:
    rnd = random.Random(seed)
    needles = _needles()
    rows = []
    for i in range(n):
        page = rnd.choice(_ORDINARY)
        status = rnd.choice([200, 200, 200, 304, 404, 403])
        agent = rnd.choice(_AGENTS)
        ip = f"192.0.2.{rnd.randint(1, 40)}"
        if rnd.random() < 0.08:
            text = rnd.choice(needles)
            text = text.upper() if rnd.random() < 0.3 else text
            where = rnd.random()
            if where < 0.4:
                page = "/" + text.lstrip("/").replace(" ", "%20")
            elif where < 0.7:
                agent = f"Mozilla/5.0 {text}"
            else:
                rows.append(combined(page, ip=ip, status=status, agent=agent, second=i % 60,
                                     referer=f"https://x/{text}"))
                continue
        rows.append(combined(page, ip=ip, status=status, agent=agent, second=i % 60))
    return "".join(rows)


def _alerts(alerts: list) -> list:
    return sorted((a.alert_type, a.id, a.count, a.first_seen, a.last_seen, repr(sorted(a.entities.items())),
                   [(e["event_id"], e.get("raw")) for e in a.evidence]) for a in alerts)


def _scan(text: bytes, accelerated: bool, monkeypatch: pytest.MonkeyPatch, *, sigma: bool = True,
          only: set[str] | None = None) -> tuple[list, int, int]:
    monkeypatch.setattr(_webscan, "ACCELERATED", accelerated)
    config = from_dict({"sigma": {"paths": [str(p) for p in WEB_RULES]}} if sigma else {})
    alerts, stats = scan_text(text, "combined", config=config, only=only, display=NAME)
    return _alerts(alerts), stats.skipped, stats.lines


def test_the_c_scan_with_sigma_gives_the_re2_path_s_alerts_on_every_corpus(monkeypatch) -> None:
    corpora = _corpora()
    assert set(corpora) >= {"combined.log", "combined_forwarded.log", "shop.example.com.access.log"}
    texts = [*corpora.values(), _generated(1, 1500).encode()]
    for text in texts:
        fast = _scan(text, True, monkeypatch)
        assert fast == _scan(text, False, monkeypatch)
        # the cards' alerts are those of a scan without the rules
        plain = _scan(text, True, monkeypatch, sigma=False)
        assert [a for a in fast[0] if not a[0].startswith("SIGMA_")] == plain[0]


def test_the_rules_match_on_the_c_scan_what_they_match_with_no_prefilter(monkeypatch) -> None:
    from test_prefilter import every_event_matches

    text = _generated(2, 2000)
    want = every_event_matches(text, "combined", WEB_RULES)
    assert len(want) >= 10
    monkeypatch.setattr(_webscan, "ACCELERATED", True)
    config = from_dict({"sigma": {"paths": [str(p) for p in WEB_RULES]}})
    alerts, stats = scan_text(text, "combined", config=config, only={"SIGMA_*"}, display=NAME)
    got: Counter[str] = Counter()
    for a in alerts:
        got[a.alert_type] += a.count
    assert got == want
    assert stats.skipped > 1000  # ordinary lines (not sqlmap, not /index.html: literals of rules) are passed over


def test_two_rule_groups_widening_one_interest_keep_both_groups_lines(monkeypatch) -> None:
    """Two Sigma groups reading web requests widen the cards' interest one after the other: the C scan takes
    the needles of both, and a line either group needs is an event on both paths."""
    from cloudward.parsers.base import ParseContext
    from cloudward.sigma.compiler import RAW
    from cloudward.sigma.prefilter import RawNeeds, _specials

    cards = _interest().base
    inner = SigmaWebInterest(cards, RawNeeds(("qqzx",), (), _specials(), frozenset({RAW})))
    outer = SigmaWebInterest(inner, RawNeeds(("vvwy",), ("kkjq",), _specials(), frozenset({RAW, "attr:path"})))
    assert outer.scan_needles[0][:1] == (b"qqzx",) and b"vvwy" in outer.scan_needles[0]
    assert outer.scan_needles[1] == (b"kkjq",)
    rows = [combined("/", ip="203.0.113.1")]
    rows += [combined(f"/products/{i}", ip=f"192.0.2.{i % 30 + 1}", second=i % 60) for i in range(200)]
    rows[50] = combined("/products/1", agent="Mozilla/5.0 QQZX", ip="192.0.2.200")
    rows[90] = combined("/products/1", referer="https://x/VVwy", ip="192.0.2.201")
    rows[120] = combined("/kkjq/x", ip="192.0.2.202")
    rows[150] = combined("/products/1", referer="https://x/kkjq", ip="192.0.2.203")  # target literal elsewhere
    data = "".join(rows).encode()

    def decode(accelerated: bool) -> list:
        monkeypatch.setattr(_webscan, "ACCELERATED", accelerated)
        ctx = ParseContext(options={"prefilter:HttpRequest": outer})
        decoder = CombinedLog().decoder(ctx, NAME)
        return decoder.feed(data) + decoder.close()

    fast = decode(True)
    assert fast == decode(False)
    ips = {e.client_ip for e in fast if type(e).__name__ == "HttpRequest"}
    assert {"192.0.2.200", "192.0.2.201", "192.0.2.202"} <= ips and "192.0.2.203" not in ips
