"""Web logs detected in the workers with a shuffle by key (`runners.shuffle`): taken for web and FTP logs
whose files come in time order, and then exactly the alerts and counts of a one-process scan - also when
one process spills its reorder buffer; every reason to fall back falls back (and the result stays)."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudward.config import Config, from_dict
from cloudward.engine import Engine
from cloudward.events import HttpSummary
from cloudward.inputs import InputFile
from cloudward.runners import shuffle
from cloudward.runners.scan import ScanRunner

DATA = Path(__file__).parents[1] / "data"
WEB = sorted(p for p in (DATA / "web").iterdir() if p.is_dir())
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0"


@pytest.fixture
def used(monkeypatch):
    """Whether each scan took this way (True) or went another (False)."""
    taken: list[bool] = []
    real = shuffle.feed_shuffled

    def spy(*args, **kw):
        done = real(*args, **kw)
        taken.append(done)
        return done

    monkeypatch.setattr(shuffle, "feed_shuffled", spy)
    return taken


def _scan(paths, workers, config: Config | None = None, **kw):
    kw.setdefault("min_pool_bytes", 0)
    runner = ScanRunner(config or Config(), workers=workers, **kw)
    # with the book's own record of which events it counted (what a store keeps and a merge dedups on)
    alerts = [dict(a.to_dict(), seen=sorted(a.seen_events)) for a in runner.run([str(p) for p in paths])]
    s = runner.engine.stats
    e = runner.engine
    counts = (s.files, s.lines, s.events, s.skipped, s.ignored, s.bytes_read, s.rejected, dict(s.formats),
              s.uninspectable, s.duplicates, [(r.where, r.reason) for r in s.rejections], e.allowed,
              sorted((d.card.id, d.held_back, d.held_until) for d in e.detections_set_up() if d.held_back),
              e.late, e.spills, e.detection_errors)
    return alerts, counts


def _assert_same(paths, workers=2, config: Config | None = None):
    one, one_counts = _scan(paths, 1, config)
    many, many_counts = _scan(paths, workers, config)
    assert [a["id"] for a in many] == [a["id"] for a in one]
    for a, b in zip(one, many, strict=True):
        assert b == a, a["alert_type"]
    assert many_counts == one_counts
    return one, one_counts


def _clf(ip: str, t: int, path: str, status: int, agent: str = FIREFOX) -> str:
    day, rest = divmod(t, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return (f'{ip} - - [{2 + day:02d}/Nov/2026:{h:02d}:{m:02d}:{s:02d} +0000] "GET {path} HTTP/1.1" {status} 153 '
            f'"-" "{agent}"\n')


PAGES = ["/", "/products/1", "/blog/2026/11/post-2/", "/static/site.css", "/images/p3.webp"]
PROBES = ["/.env", "/.git/config", "/phpinfo.php", "/wp-config.php.bak", "/actuator/env", "/backup.sql",
          "/admin.bak", "/db.sql", "/config.php.bak", "/.aws/credentials"]
MISSING = ["/images/old-1.webp", "/favicon.ico", "/apple-touch-icon.png", "/products/9/reviews"]


def _sites(folder: Path, sites: int = 12, lines: int = 300, seed: int = 3, rotated: bool = False) -> list[Path]:
    """Sites' logs (one file each, or a site's day in two rotated files) sharing one pool of client
    addresses, with one-second timestamps (many lines of one second, in several files): scanners probe
    sensitive pages across sites (cross-site alerts), others fail on many ordinary pages of several sites
    before one sensitive page (the error-ratio reason, counted from summaries of every site), a
    fingerprinting tool and WordPress theme edits."""
    rng = random.Random(seed)
    clients = [f"10.{rng.randrange(4)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(150)]
    scanners = ["203.0.113.77", "198.51.100.23", "192.0.2.201", "192.0.2.202"]
    noisy = ["198.51.100.80", "198.51.100.81"]
    paths = []
    for i in range(sites):
        out: list[tuple[int, str]] = []
        for _ in range(lines):
            t = rng.randrange(0, 2 * 3600)
            status = rng.choice((200, 200, 200, 304, 404))
            page = rng.choice(MISSING) if status == 404 else rng.choice(PAGES)
            out.append((t, _clf(rng.choice(clients), t, page, status)))
        for k, scanner in enumerate(scanners[: 1 + i % 4]):
            base = rng.randrange(600, 5000)
            for j, probe in enumerate(rng.sample(PROBES, 3)):
                t = base + j * 5 + k
                agent = "Mozilla/5.0 zgrab/0.x" if k == 3 else FIREFOX
                out.append((t, _clf(scanner, t, probe, 404, agent)))
        for ip in noisy:
            base = 1800 + i * 20
            for j in range(4):
                out.append((base + j, _clf(ip, base + j, rng.choice(MISSING), 404)))
            if i % 3 == 2:
                out.append((base + 5, _clf(ip, base + 5, "/.env", 404)))
        if i == 1:
            out.append((100, _clf("66.249.90.7", 100, "/", 200, "WhatWeb/0.5.5")))
        for k, admin in enumerate(("192.0.2.50", "192.0.2.51", clients[i])):  # sign-ins: site baselines
            t = 60 + k * 3000 + i
            out.append((t, _clf(admin, t, "/wp-admin/", 200)))
        out.sort(key=lambda x: x[0])
        text = [line for _, line in out]
        name = f"site{i:02d}.example.com.access.log"
        if rotated and i % 2 == 0:
            cut = len(text) // 2
            (folder / f"{name}.1").write_text("".join(text[:cut]))  # the older half: a rotated file
            (folder / name).write_text("".join(text[cut:]))
            paths += [folder / f"{name}.1", folder / name]
        else:
            (folder / name).write_text("".join(text))
            paths.append(folder / name)
    return paths


@pytest.mark.parametrize("corpus", WEB, ids=lambda p: str(p.relative_to(DATA)))
def test_every_web_corpus_gives_the_same_alerts(corpus, used):
    _assert_same([corpus])


def test_the_mixed_web_corpus_with_its_ftp_log_is_detected_in_the_workers(used):
    alerts, _ = _assert_same([DATA / "web" / "mixed"])
    assert used == [True]
    assert alerts


def test_both_web_corpora_together(used):
    _assert_same(WEB, workers=3)


def test_scanners_spread_over_many_sites_files(tmp_path, used):
    alerts, counts = _assert_same(_sites(tmp_path))
    assert used == [True]
    types = {a["alert_type"] for a in alerts}
    assert {"AppServices_ScanSensitivePage", "AppServices_WebFingerprinting"} <= types
    assert counts[-4]  # findings held back by the site baselines' learning period
    cross = [a for a in alerts if a["resource"]["name"] == "(several sites)"]
    assert len(cross) >= 3 and all(len(a["entities"]["sites"]) >= 3 for a in cross)
    assert all(shuffle.LAST_RUN["buckets"])  # (events in every bucket)


def test_rotated_logs_of_one_site_in_several_files(tmp_path, used):
    _assert_same(_sites(tmp_path, rotated=True), workers=3)
    assert used == [True]


def test_one_process_spilling_its_buffer_is_replayed_exactly(tmp_path, used):
    # a small reorder buffer: one process runs the older half of what it holds early (the sites' files are
    # merged in time, so nothing comes late after it) - the workers give that result too, spills included
    config = from_dict({"engine": {"max_held_events": 150, "release_every": 100}})
    _, counts = _assert_same(_sites(tmp_path), config=config)
    assert used == [True]
    assert counts[-3] == 0 and counts[-2] > 0  # late, spills
    assert shuffle.LAST_RUN["replayed"] is False  # (nothing late: the buckets sort by time and path)


def _write(folder: Path, files: list[list[tuple[int, int]]]) -> list[Path]:
    paths = []
    for i, rows in enumerate(files):
        text = []
        for t, kind in sorted(rows, key=lambda r: r[0]):
            ip = f"10.0.0.{1 + kind % 7}"
            text.append(_clf(ip, t, PROBES[kind % len(PROBES)], 404) if kind % 2 else
                        _clf(ip, t, MISSING[kind % len(MISSING)], 404))
        path = folder / f"f{i}.log"
        path.write_text("".join(text))
        paths.append(path)
    return paths


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(st.lists(st.tuples(st.integers(0, 900), st.integers(0, 40)), min_size=1, max_size=40),
                      min_size=1, max_size=5),
       max_held=st.integers(1, 60), release_every=st.integers(1, 60), lateness=st.sampled_from(["0s", "30s", "5m"]))
def test_the_replayed_order_is_the_order_one_process_runs(tmp_path_factory, monkeypatch, files, max_held,
                                                          release_every, lateness):
    folder = tmp_path_factory.mktemp("order")
    paths = _write(folder, files)
    config = from_dict({"engine": {"max_held_events": max_held, "release_every": release_every,
                                   "allowed_lateness": lateness}})
    ran: list[str] = []
    real = Engine._run

    def spy(self, event):
        # (a web summary spanning seconds runs its one-second pieces at once: the replay orders those)
        ran.extend(e.event_id for e in (event.pieces() if type(event) is HttpSummary else (event,)))
        return real(self, event)

    monkeypatch.setattr(Engine, "_run", spy)
    runner = ScanRunner(config, workers=1)
    runner.run([str(p) for p in paths])
    monkeypatch.setattr(Engine, "_run", real)
    decoded = []
    for p in paths:
        engine = Engine(config)
        events = list(engine.decode_input(InputFile(str(p))))
        decoded.append((str(p), [e.event_id for e in events], [e.time for e in events]))
    s = runner.engine.settings
    ranks, late, spills = shuffle.one_process_order([(p, times) for p, _, times in decoded], s.allowed_lateness,
                                                    s.release_every, s.max_held_events)
    replayed = sorted((rank, ids[seq]) for (_, ids, _), mine in zip(decoded, ranks, strict=True)
                      for seq, rank in enumerate(mine))
    assert [i for _, i in replayed] == ran
    assert (late, spills) == (runner.engine.late, runner.engine.spills)


@settings(max_examples=200, deadline=None)
@given(files=st.lists(st.lists(st.integers(0, 30), max_size=30), min_size=1, max_size=6),
       names=st.lists(st.sampled_from(["a.log", "b.log", "c.log"]), min_size=6, max_size=6),
       ordered=st.booleans())
def test_the_replay_merges_files_as_the_scan_merges_them(files, names, ordered):
    # the sort the replay takes for files in time order is `merge_in_time` itself: every event's place and
    # horizon (ties in time, files of one first time, empty files, several files of one path); files out
    # of order take the generic merge
    from cloudward.runners.scan import merge_in_time

    listed = [(names[i], [float(t) for t in (sorted(times) if ordered else times)]) for i, times in enumerate(files)]
    firsts = {(path, i): (times[0] if times else math.inf) for i, (path, times) in enumerate(listed)}
    generic = list(merge_in_time(firsts, lambda source: ((source[1], seq) for seq in range(len(listed[source[1]][1]))),
                                 lambda item: listed[item[0]][1][item[1]]))
    assert list(shuffle._merged(listed)) == generic


def test_a_file_out_of_time_order_falls_back(tmp_path, used):
    paths = _sites(tmp_path, sites=4)
    lines = paths[0].read_text().splitlines(keepends=True)
    lines.insert(len(lines) // 2, _clf("203.0.113.9", 5, "/.env", 404))  # far older than its neighbours
    paths[0].write_text("".join(lines))
    _assert_same(paths)
    assert used == [False]
    assert shuffle.LAST_RUN["why"] == "out of order, or state that is not checked"


def test_a_bound_one_process_would_reach_falls_back(tmp_path, used, monkeypatch):
    from cloudward.detections.appservice import app_services_scan_sensitive_page as ssp

    monkeypatch.setattr(ssp, "MAX_HIT_EVENTS", 5)  # (one process forgets hits past it: keys share state)
    _assert_same(_sites(tmp_path, sites=6))
    assert used == [False]
    assert "cross-site hit events" in shuffle.LAST_RUN["why"]


@pytest.mark.parametrize("sweep_every", ["every bucket", "the buckets together"])
def test_windows_opened_past_one_sweep_fall_back_when_events_run_out_of_order(tmp_path, used, monkeypatch,
                                                                              sweep_every):
    # a spilling run (events out of time order): one process's window sweep could drop a window a late event
    # meets, so the buckets' windows opened, summed, must stay below one sweep - counted whether a bucket swept
    # (it reached the bound alone) or not (each below it, together at it)
    from cloudward.analytics import ip_windows

    config = from_dict({"engine": {"max_held_events": 150, "release_every": 100}})
    paths = _sites(tmp_path)
    _assert_same(paths, config=config)
    opened = shuffle.LAST_RUN["bounds"]["scanner windows opened"][0]
    assert used == [True] and opened > 8
    bound = 2 if sweep_every == "every bucket" else opened
    real = ip_windows.KeyedWindows.__init__

    def small(self, *args, **kw):
        real(self, *args, **kw)
        self.sweep_every = bound

    monkeypatch.setattr(ip_windows.KeyedWindows, "__init__", small)
    _scan(paths, 2, config)  # (the decode pool it falls back to counts spills its own way)
    assert used[1:] == [False]
    assert "scanner windows opened" in shuffle.LAST_RUN["why"]


def test_the_workers_memo_of_buckets_cleared_when_full_gives_the_same_buckets(tmp_path, used, monkeypatch):
    monkeypatch.setattr(shuffle, "BUCKET_MEMO", 3)  # (cleared again and again: every key's bucket recomputed)
    _assert_same(_sites(tmp_path, sites=6))
    assert used == [True]


def test_a_card_that_fails_on_an_event_falls_back(tmp_path, used, monkeypatch):
    from cloudward.detections.appservice.app_services_scan_sensitive_page import ScanSensitivePage

    real = ScanSensitivePage.evaluate

    def failing(self, event):
        if getattr(event, "path", "") == "/.git/config":
            raise RuntimeError("boom")
        return real(self, event)

    monkeypatch.setattr(ScanSensitivePage, "evaluate", failing)
    _, counts = _assert_same(_sites(tmp_path, sites=6))
    assert used == [False] and counts[-1] > 0


def test_other_kinds_of_input_do_not_start_this_pool(tmp_path, used):
    paths = [tmp_path / f"site{i}.access.log" for i in range(3)]
    for i, path in enumerate(paths):
        path.write_text(_clf("203.0.113.7", 60 + i, "/.env", 404) + _clf("10.0.0.1", 61 + i, "/", 200))
    audit = DATA / "k8s" / "falco-trace-files" / "attach_cluster_admin_role.json"
    assert audit.stat().st_size > max(p.stat().st_size for p in paths)
    _assert_same([*paths, audit])
    assert used == [False]
    assert shuffle.LAST_RUN == {}  # (the biggest input is not a web log: decided before any pool started)


def test_web_logs_with_a_smaller_input_of_another_kind_fall_back_before_any_pass(tmp_path, used):
    # (the biggest input is a web log: the pool forks while the parent looks at the others, then stops)
    paths = _sites(tmp_path, sites=3)
    audit = DATA / "k8s" / "falco-trace-files" / "attach_cluster_admin_role.json"
    assert audit.stat().st_size < max(p.stat().st_size for p in paths)
    _assert_same([*paths, audit])
    assert used == [False]
    assert shuffle.LAST_RUN == {"why": "an input that is not a web log"}


def test_a_summary_of_several_addresses_is_cut_by_bucket_in_entry_order():
    from cloudward.events import HttpSummary

    place = shuffle._Numbered([])
    out = [shuffle._Bucket() for _ in range(4)]
    record = shuffle._recorder("AppServices_ScanSensitivePage", shuffle.KEYS["AppServices_ScanSensitivePage"], 4,
                               place, out)
    entries = [("error", f"10.0.0.{i}", 5.0, "/x", "") for i in range(12)] + [("ordinary", "10.0.0.3", 2)]
    summary = HttpSummary(event_id="a.log:7", origin="a.log:7", time=5.0, site="s", entries=entries)
    place.place[id(summary)] = 3
    record(summary)
    decoded = [shuffle._decode(b.encode()) for b in out]
    pieces = {b: events[3] for b, (events, _) in enumerate(decoded) if 3 in events}
    assert sorted((e for p in pieces.values() for e in p.entries), key=entries.index) == entries
    for b, p in pieces.items():
        assert p.entries == [e for e in entries if e in p.entries]  # each address's entries in their order
        assert {shuffle.bucket_of(e[1], 4) for e in p.entries} == {b}
        assert (p.event_id, p.origin, p.time, p.site) == ("a.log:7", "a.log:7", 5.0, "s")
        assert decoded[b][1] == [(3, 0)]
    events, offers = decoded[shuffle.bucket_of("10.0.0.3", 4)]
    assert offers == [(3, 0)] and ("ordinary", "10.0.0.3", 2) in events[3].entries


def test_an_event_offered_to_several_keyed_cards_is_in_its_bucket_once_as_it_was_when_offered():
    from cloudward.events import HttpRequest

    place = shuffle._Numbered([])
    out = [shuffle._Bucket() for _ in range(4)]
    records = [shuffle._recorder(cid, shuffle.KEYS[cid], 4, place, out) for cid in shuffle._CARD_CODES]
    event = HttpRequest(event_id="a.log:9", origin="a.log:9", time=7.0, site="s", client_ip="10.0.0.5",
                        path="/wp-admin/", status=200)
    place.place[id(event)] = 9
    for record in records:
        record(event)
    event.status = 500  # (after the cards were offered it)
    for b, bucket in enumerate(out):
        events, offers = shuffle._decode(bucket.encode())
        if b == shuffle.bucket_of("10.0.0.5", 4):
            assert offers[0] == (9, 0)
        assert list(events) == ([9] if offers else []) and all(e.status == 200 for e in events.values())
    assert sorted(code for bucket in out for _, code in shuffle._decode(bucket.encode())[1]) == [0, 1, 2, 3]


def test_a_json_file_whose_head_is_web_records_and_later_audit_events_falls_back(tmp_path, used):
    # the head look sees web records only; an audit event further down is state this way does not check
    web = next(line for line in (DATA / "web" / "annotated" / "ecs_http.jsonl").read_text().splitlines()
               if line.startswith("{"))
    lines = [web.replace("09:15:27", f"09:15:{10 + i:02d}") for i in range(12)]
    audit = (DATA / "k8s" / "falco-trace-files" / "attach_cluster_admin_role.json").read_text().strip()
    lines.append(audit.replace("2018-10-26T14:26:34", "2026-11-02T09:16:00"))
    (tmp_path / "a.jsonl").write_text("\n".join(lines) + "\n")
    paths = [tmp_path / "a.jsonl", *_sites(tmp_path, sites=2)]
    alerts, _ = _assert_same(paths)
    assert used == [False] and shuffle.LAST_RUN["why"] == "out of order, or state that is not checked"
    assert any(a["alert_type"].startswith("K8S_") for a in alerts)  # (the audit event was scanned)


def test_allow_lists_card_parameters_and_only_are_the_same(tmp_path, used):
    paths = _sites(tmp_path)
    config = from_dict({"detections": {"AppServices_ScanSensitivePage": {
        "cross_site_min_sites": 2, "allow": [{"source_ip": "192.0.2.201"}]}}})
    _, counts = _assert_same(paths, config=config)
    assert counts[11] > 0  # allowed findings
    one, _ = _scan(paths, 1, config, only={"AppServices_ScanSensitivePage"})
    many, _ = _scan(paths, 2, config, only={"AppServices_ScanSensitivePage"})
    assert many == one and {a["alert_type"] for a in one} == {"AppServices_ScanSensitivePage"}
    assert used == [True, True]


def test_cli_output_of_web_logs_is_the_same_for_any_number_of_workers(tmp_path, used, monkeypatch):
    monkeypatch.setenv("CLOUDWARD_MIN_POOL_BYTES", "0")
    from click.testing import CliRunner

    from cloudward.cli import main

    _sites(tmp_path, rotated=True)
    outputs = []
    for workers in ("1", "2", "auto"):
        result = CliRunner().invoke(main, ["scan", str(tmp_path), "-o", "jsonl", "-q", "--workers", workers])
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout)
    assert outputs[0].count("\n") > 10 and outputs[1] == outputs[0] and outputs[2] == outputs[0]
    assert used[0] is True


@given(st.lists(st.integers(0, 10_000), max_size=40), st.integers(1, 12))
def test_pass_one_groups_hold_every_file_once_biggest_first_shrinking(sizes, workers):
    found = shuffle.groups_of(sizes, workers)
    assert [i for group in found for i in group] == sorted(range(len(sizes)), key=lambda i: (-sizes[i], i))
    assert all(found)
    left = sum(sizes)
    for group in found:  # each up to its share of what is left, or one file
        weight = sum(sizes[i] for i in group)
        assert len(group) == 1 or weight <= left / (shuffle.GUIDED_SHARE * workers)
        left -= weight
    if len(set(sizes)) == 1 and len(sizes) > 4 * workers:  # (equal files: fewer tasks than files)
        assert len(found) < len(sizes)


@pytest.mark.parametrize("share", [0.01, 1, 100])
def test_files_decoded_in_groups_of_any_size_give_the_same_alerts(tmp_path, used, monkeypatch, share):
    monkeypatch.setattr(shuffle, "GUIDED_SHARE", share)
    _assert_same(_sites(tmp_path, rotated=True))
    assert used == [True]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(st.lists(st.integers(0, 30), max_size=30), min_size=2, max_size=6),
       names=st.lists(st.sampled_from(["a.log", "b.log", "c.log"]), min_size=6, max_size=6),
       max_held=st.integers(1, 40), release_every=st.integers(1, 40), lateness=st.sampled_from([0.0, 1.0, 5.0]),
       batch=st.integers(1, 9))
def test_a_replay_with_nothing_late_runs_events_by_time_path_and_place(monkeypatch, files, names, max_held,
                                                                        release_every, lateness, batch):
    # what pass 2 sorts by when it does not wait for the replay: (time, path, place in the file, file); the
    # replay gives that order whenever it counts nothing late (spilled or not), which the parent checks
    monkeypatch.setattr(shuffle, "MERGE_BATCH", batch)  # (the same patch for every example)
    listed = [(names[i], [float(t) for t in sorted(times)]) for i, times in enumerate(files)]
    ranks, late, _ = shuffle.one_process_order(listed, lateness, release_every, max_held)
    replayed = sorted((rank, i, seq) for i, mine in enumerate(ranks) for seq, rank in enumerate(mine))
    by_time = sorted((times[seq], path, seq, i) for i, (path, times) in enumerate(listed) for seq in range(len(times)))
    if not late:
        assert [(i, seq) for _, i, seq in replayed] == [(i, seq) for _, _, seq, i in by_time]


def test_events_one_process_counts_late_are_run_in_its_replayed_order(tmp_path, used, monkeypatch):
    # no lateness allowed and a feed of a few events at a time: an event of the same second as the newest
    # after a feed comes late; pass 2 then runs again in the replayed order (its events' places)
    from cloudward.runners import scan

    monkeypatch.setattr(scan, "MERGE_BATCH", 37)
    monkeypatch.setattr(shuffle, "MERGE_BATCH", 37)
    config = from_dict({"engine": {"allowed_lateness": "0s", "release_every": 1}})
    _, counts = _assert_same(_sites(tmp_path), config=config)
    assert used == [True] and counts[-3] > 0  # late
    assert shuffle.LAST_RUN["replayed"]


def test_events_in_time_order_are_sorted_in_the_buckets_without_the_replay(tmp_path, used):
    _assert_same(_sites(tmp_path))
    assert used == [True] and shuffle.LAST_RUN["replayed"] is False


def test_windows_opened_past_one_sweep_do_not_fall_back_when_every_event_runs_in_time_order(tmp_path, used,
                                                                                            monkeypatch):
    # (a sweep drops only windows no later event can meet: the count matters only for events out of order)
    from cloudward.analytics import ip_windows

    real = ip_windows.KeyedWindows.__init__

    def small(self, *args, **kw):
        real(self, *args, **kw)
        self.sweep_every = 2

    monkeypatch.setattr(ip_windows.KeyedWindows, "__init__", small)
    _assert_same(_sites(tmp_path))
    assert used == [True]
    opened, bound = shuffle.LAST_RUN["bounds"]["scanner windows opened"]
    assert opened >= bound


def test_records_and_books_beyond_marshal_go_by_pickle(tmp_path, used, monkeypatch):
    # (a value marshal cannot write, e.g. an enricher's object: the spool's records and pass 2's books
    # fall back to pickle, with the same result)
    import marshal
    import types

    def refuse(value):
        raise ValueError("unmarshallable object")

    monkeypatch.setattr(shuffle, "marshal", types.SimpleNamespace(dumps=refuse, loads=marshal.loads))
    _assert_same(_sites(tmp_path, sites=6))
    assert used == [True]
