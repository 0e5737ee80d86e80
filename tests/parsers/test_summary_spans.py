"""Web summaries spanning several seconds (`HttpSummary.spans`): a scan hands them to the engine whole, and the
scanner card sees exactly what the one-second summaries gave it - the same entries in the same order between
the same requests - whatever the files' overlap, their lines' order, the reorder buffer's size and lateness."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudward.config import from_dict
from cloudward.detections.appservice.app_services_scan_sensitive_page import ScanSensitivePage
from cloudward.engine import Engine
from cloudward.events import SUMMARY_SPANS, HttpSummary, SummaryPiece, one_second
from cloudward.inputs import InputFile
from cloudward.runners import scan
from cloudward.runners.scan import ScanRunner

PAGES = ["/images/old-1.webp", "/images/old-2.webp", "/blog/missing/", "/.env", "/.git/config", "/", "/about/"]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0", "Mozilla/5.0 zgrab/0.x"]


def _line(ip: int, t: int, page: int, status: int, agent: int) -> str:
    return (f'10.0.0.{1 + ip} - - [02/Nov/2026:09:{t // 60 % 60:02d}:{t % 60:02d} +0000] '
            f'"GET {PAGES[page]} HTTP/1.1" {status} 153 "-" "{AGENTS[agent]}"\n')


def _write(folder: Path, files: list[list[tuple[int, int, int, int, int]]], ordered: list[bool]) -> list[str]:
    paths = []
    for i, rows in enumerate(files):
        if ordered[i % len(ordered)]:
            rows = sorted(rows, key=lambda r: r[1])
        path = folder / f"site{i}.example.com.access.log"
        path.write_text("".join(_line(*row) for row in rows))
        paths.append(str(path))
    return paths


def _seen(monkeypatch: pytest.MonkeyPatch, paths: list[str], config: object, spans: bool,
          merge: bool = True) -> tuple:
    """What the scanner card was given, flattened (a summary's entries, a request's id), and the scan's result:
    of `scan` (files merged in time), or with `merge` False of files fed one after another."""
    seen: list[tuple] = []
    runs = []
    real = ScanSensitivePage.evaluate

    def spy(self, event):
        if type(event) is HttpSummary:
            runs.append(event)
            seen.extend(event.entries)
        else:
            seen.append(("request", event.event_id))
        return real(self, event)

    monkeypatch.setattr(ScanSensitivePage, "evaluate", spy)
    # spans off: the option the scan sets is one no decoder reads
    monkeypatch.setattr(scan, "SUMMARY_SPANS", SUMMARY_SPANS if spans else "test:no-spans")
    if merge:
        runner = ScanRunner(config, workers=1)  # type: ignore[arg-type]
        alerts = [a.to_dict() for a in runner.run(paths)]
        engine = runner.engine
    else:
        engine = Engine(config)  # type: ignore[arg-type]
        scan.feed_paths(engine, paths, ordered=False)
        engine.advance(None)
        alerts = [a.to_dict() for a in engine.alerts()]
    monkeypatch.undo()
    return seen, alerts, engine.late, engine.spills, engine.stats.lines, engine.stats.skipped, runs


rows = st.tuples(st.integers(0, 6), st.integers(0, 900), st.integers(0, len(PAGES) - 1),
                 st.sampled_from([404, 404, 403, 200, 200, 304]), st.integers(0, 9).map(lambda a: int(a == 0)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(files=st.lists(st.lists(rows, min_size=1, max_size=60), min_size=1, max_size=4),
       ordered=st.lists(st.booleans(), min_size=1, max_size=4),
       max_held=st.integers(1, 80), release_every=st.integers(1, 80), lateness=st.sampled_from(["0s", "30s", "5m"]),
       merge=st.booleans())
def test_a_spanning_summary_runs_as_its_one_second_pieces(tmp_path_factory: pytest.TempPathFactory,
                                                          monkeypatch: pytest.MonkeyPatch, files: list,
                                                          ordered: list[bool], max_held: int, release_every: int,
                                                          lateness: str, merge: bool) -> None:
    paths = _write(tmp_path_factory.mktemp("spans"), files, ordered)
    config = from_dict({"engine": {"max_held_events": max_held, "release_every": release_every,
                                   "allowed_lateness": lateness}})
    with_spans = _seen(monkeypatch, paths, config, True, merge)
    without = _seen(monkeypatch, paths, config, False, merge)
    assert with_spans[:-1] == without[:-1]  # entries and requests in order, alerts, late, spills, lines, skipped
    assert not any(s.spans for s in without[-1])


def test_a_busy_minute_is_one_summary_when_nothing_falls_inside(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """One site, a client error every second and a probe after them: the errors reach the card as one summary."""
    rows = [(i % 5, i, i % 3, 404, 0) for i in range(60)] + [(6, 61, 3, 404, 1)]
    paths = _write(tmp_path, [rows], [True])
    config = from_dict({})
    with_spans = _seen(monkeypatch, paths, config, True)
    without = _seen(monkeypatch, paths, config, False)
    assert with_spans[:-1] == without[:-1]
    # (the stream's first line is always parsed: an event; a block of the read ends a summary on both paths)
    assert len(without[-1]) == 59 and len(with_spans[-1]) <= 3
    assert sum(1 + len(s.spans) for s in with_spans[-1]) == 59
    assert any(a["alert_type"] == "AppServices_ScanSensitivePage" for a in with_spans[1])


def test_an_event_inside_a_span_cuts_it_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A minute of client errors, then a probe dated second 20 (a line out of order), and a second site's probe
    at second 45 fed after it: the errors' summaries are cut around the two probes."""
    first = [(1, i, 0, 404, 0) for i in range(60)] + [(2, 20, 3, 404, 1)]
    second = [(3, 45, 4, 404, 1)]
    paths = _write(tmp_path, [first, second], [False])
    with_spans = _seen(monkeypatch, paths, from_dict({}), True, merge=False)
    without = _seen(monkeypatch, paths, from_dict({}), False, merge=False)
    assert with_spans[:-1] == without[:-1]
    # seconds 1-20 (the first line is an event; the probe's line comes after the second's), 21-29 (where the
    # decoder's first block ends), 30, 31-45, 46-59
    assert [len(s.entries) for s in with_spans[-1]] == [20, 9, 1, 15, 14]


def test_a_checkpoint_writes_held_pieces_as_one_second_summaries(tmp_path: Path) -> None:
    """A checkpoint taken while spanning summaries are held writes the buffer one second per entry (the shape
    of a scan without spans); restored, it gives the alerts of the uninterrupted run."""
    rows = [(i % 4, i, i % 3, 404, 0) for i in range(40)] + [(5, 41, 4, 404, 1), (1, 42, 3, 404, 0)]
    paths = _write(tmp_path, [rows], [True])

    def engine() -> Engine:
        e = Engine(from_dict({}))
        e.ctx.options[SUMMARY_SPANS] = True
        e.hold = True  # everything stays in the buffer until the end
        return e

    whole = engine()
    whole.feed(whole.decode_input(InputFile(paths[0])))
    held = [event for _, event in whole._buffer]
    assert any(type(e) is SummaryPiece for e in held)
    state = whole.checkpoint()
    assert all(not body.get("spans") for _, body in state["buffer"])
    assert [one_second(e).event_id for e in held] == [body["event_id"] for _, body in state["buffer"]]
    again = engine()
    again.restore(state)
    assert sorted(a.to_dict()["id"] for a in again.advance(None)) \
        == sorted(a.to_dict()["id"] for a in whole.advance(None))
    assert [a.to_dict() for a in again.alerts()] == [a.to_dict() for a in whole.alerts()]


def test_a_release_inside_a_span_keeps_its_later_seconds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A minute of client errors released up to second 39 (20 s lateness, a release after every batch): the
    seconds after it stay held as one summary, and a second site's probe at second 45, fed after, still runs
    between seconds 45 and 46 - also with a buffer that spills."""
    first = [(1, i, 0, 404, 0) for i in range(60)]
    second = [(3, 45, 4, 404, 1), (4, 46, 3, 404, 1)]
    paths = _write(tmp_path, [first, second], [True])
    for held in (20_000, 40):
        config = from_dict({"engine": {"allowed_lateness": "20s", "release_every": 1, "max_held_events": held}})
        with_spans = _seen(monkeypatch, paths, config, True, merge=False)
        without = _seen(monkeypatch, paths, config, False, merge=False)
        assert with_spans[:-1] == without[:-1]
        assert any(s.spans for s in with_spans[-1]), held
        assert ("request", f"{paths[1]}:1") in with_spans[0]
