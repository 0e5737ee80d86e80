"""The scan runner: files in any order, the store's state rows, two writers sharing one store."""

from __future__ import annotations

import math
from pathlib import Path

from cloudward.config import Config
from cloudward.runners.scan import ScanRunner
from cloudward.store import Store, load_state_rows

SAMPLES = Path(__file__).parents[2] / "src" / "cloudward" / "samples" / "web"
MIXED = Path(__file__).parents[1] / "data" / "web" / "mixed"


def _scan(paths, store=None):
    runner = ScanRunner(Config(), store=store)
    return [a.to_dict() for a in runner.run([str(p) for p in paths])]


def test_reverse_file_order_gives_the_same_alerts():
    for folder in (SAMPLES, MIXED):
        files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        forward = _scan(files)
        assert any(a["alert_type"] == "AppServices_ScanSensitivePage" for a in forward)
        assert _scan(files[::-1]) == forward


def test_state_rows_are_kept_per_analytic_and_key_and_two_writers_keep_both(tmp_path):
    db = tmp_path / "cw.db"
    shop = tmp_path / "shop.example.com.access.log"
    blog = tmp_path / "blog.example.com.access.log"
    line = '{ip} - - [02/Nov/2026:08:{m:02d}:00 +0000] "POST /wp-login.php HTTP/1.1" 302 0 "-" "Mozilla/5.0"\n'
    shop.write_text("".join(line.format(ip="203.0.113.50", m=m) for m in range(3)))
    blog.write_text("".join(line.format(ip="198.51.100.7", m=m) for m in range(3)))
    _scan([shop], Store(db))  # one writer learns the shop site ...
    _scan([blog], Store(db))  # ... another the blog: neither overwrites the other's rows
    rows = load_state_rows(Store(db))
    baselines = {key: body for analytic, key, body in rows if analytic == "card:AppServices_AnomalousPageAccess:sites"}
    assert baselines["shop.example.com"]["ips"] == ["203.0.113.50"]
    assert baselines["blog.example.com"]["ips"] == ["198.51.100.7"]


def test_inspect_snapshots_are_context_for_every_event_whatever_their_time():
    # docker inspect is dated by the container's start, after the exec inspect record (which has no time);
    # as context it still runs first, so the privileged exec's records join one alert named for the container
    recorded = Path(__file__).parents[1] / "data" / "host" / "recorded"
    files = sorted(recorded.iterdir())
    for order in (files, files[::-1]):
        alerts = [a for a in _scan(order) if a["alert_type"] == "K8S.NODE_PrivilegedExecutionInContainer"]
        (docker_exec,) = [a for a in alerts if a["entities"].get("container") == "cw-plain"]
        assert docker_exec["count"] == 4
        assert any(e["origin"].endswith("docker-inspect-execs.json:1[5]") for e in docker_exec["evidence"])
        assert not any(a["entities"].get("container_id", "").startswith("0762b4bf") and a is not docker_exec
                       and a["entities"].get("command_line") == "id" for a in alerts)


def test_first_time_reads_only_the_start_of_a_large_file(tmp_path, monkeypatch):
    """Ordering files by their first event decodes about one small read of each, not a megabyte: a web
    decoder hands on a whole read's events at once."""
    from cloudward.parsers import _webscan
    from cloudward.pipeline import Pipeline
    from cloudward.runners.scan import FIRST_TIME_CHUNK, first_time
    from cloudward.timeutil import parse_time

    line = ('203.0.113.{n} - - [02/Nov/2026:09:{m:02d}:{s:02d} +0000] "GET /about/ HTTP/1.1" 200 812 "-" '
            '"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 '
            'Safari/537.36 Edg/126.0.2592.87"\n')  # long lines, as browsers send: the first 20 fill more than 4 KB
    path = tmp_path / "shop.example.com.access.log"
    path.write_text("".join(line.format(n=1 + i % 200, m=i // 60 % 60, s=i % 60) for i in range(30_000)))
    taken: list[int] = []
    real = _webscan.WebDecoder.take_block

    def spy(self, buf, start, end):  # type: ignore[no-untyped-def]
        taken.append(end - start)
        return real(self, buf, start, end)

    monkeypatch.setattr(_webscan.WebDecoder, "take_block", spy)
    engine = Pipeline().engine  # with the cards' prefilter, as `scan` runs it
    assert first_time(engine, str(path)) == parse_time("2026-11-02T09:00:00Z")
    assert path.stat().st_size > 2_000_000 and sum(taken) <= 2 * FIRST_TIME_CHUNK


def _overlapping_site_logs(folder: Path, sites: int = 8, lines: int = 1500) -> list[Path]:
    """Logs of `sites` sites over the same two hours: ordinary clients, each site's own 4xx, and one scanner
    that walks sensitive pages across every site (the cross-site card keys it by address, not site)."""
    import random

    rng = random.Random(11)
    pages = ["/", "/about/", "/shop/cart", "/static/app.js", "/blog/2026/11/post", "/img/logo.png"]
    sensitive = ["/.env", "/wp-config.php.bak", "/.git/config", "/phpinfo.php", "/server-status", "/backup.sql"]
    fmt = '{ip} - - [02/Nov/2026:{h:02d}:{m:02d}:{s:02d} +0000] "GET {page} HTTP/1.1" {status} 512 "-" "{agent}"\n'
    paths = []
    for site in range(sites):
        rows = []
        for i in range(lines):
            t = i * 7200 // lines + rng.randrange(3)
            ip = f"198.51.{site}.{1 + rng.randrange(60)}"
            status = 404 if rng.random() < 0.05 else 200
            rows.append(fmt.format(ip=ip, h=9 + t // 3600, m=t // 60 % 60, s=t % 60, page=rng.choice(pages),
                                   status=status, agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0"))
            if i % 50 == site:
                rows.append(fmt.format(ip="45.33.10.7", h=9 + t // 3600, m=t // 60 % 60, s=t % 60,
                                       page=rng.choice(sensitive), status=404, agent="Mozilla/5.0 zgrab/0.x"))
        path = folder / f"site{site}.example.com.access.log"
        path.write_text("".join(rows))
        paths.append(path)
    return paths


def test_overlapping_files_are_merged_in_time_whatever_the_reorder_buffer_holds(tmp_path):
    """Eight sites' logs of the same hours, with a reorder buffer far smaller than one file: read one file
    after another, most events of the later files would run late (out of time order) and change the windowed
    alerts; merged in time, nothing runs late, and the alerts are those of a buffer that holds everything."""
    from cloudward.config import from_dict

    files = _overlapping_site_logs(tmp_path)

    def scan(paths, engine_settings):
        runner = ScanRunner(from_dict({"engine": engine_settings}))
        alerts = [a.to_dict() for a in runner.run([str(p) for p in paths])]
        return alerts, runner.engine

    roomy, roomy_engine = scan(files, {"max_held_events": 10_000_000, "release_every": 10_000_000})
    assert roomy_engine.late == 0
    assert any(a["alert_type"] == "AppServices_ScanSensitivePage" and a["count"] > 1 for a in roomy)
    for order in (files, files[::-1], files[3:] + files[:3]):
        tight, engine = scan(order, {"max_held_events": 200, "release_every": 100})
        assert engine.late == 0
        assert tight == roomy
    assert engine.stats.lines == sum(len(p.read_text().splitlines()) for p in files)


def test_merge_in_time_keeps_each_source_in_order_and_opens_sources_when_their_time_comes():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from cloudward.runners.scan import merge_in_time

    sources = st.dictionaries(st.sampled_from("abcdef"), st.lists(st.integers(0, 30), max_size=12), max_size=6)

    @settings(max_examples=300, deadline=None)
    @given(sources, st.integers(1, 7))
    def check(times, max_open):
        firsts = {name: (float(ts[0]) if ts else math.inf) for name, ts in times.items()}
        opened: list[str] = []

        def open_items(name):
            opened.append(name)
            return iter([(name, i, float(t)) for i, t in enumerate(times[name])])

        out = list(merge_in_time(firsts, open_items, lambda item: item[2], max_open))
        items = [item for item, _ in out]
        assert sorted(items) == sorted((n, i, float(t)) for n, ts in times.items() for i, t in enumerate(ts))
        for name in times:  # each source in its own order
            assert [i for n, i, _ in items if n == name] == list(range(len(times[name])))
        assert opened == sorted(times, key=lambda n: (firsts[n], n))
        for (item, horizon) in out:  # nothing given is past the first time of a source still unopened
            assert item[2] <= horizon or max_open < len(times)
        if all(ts == sorted(ts) for ts in times.values()) and max_open >= len(times):
            rank = {n: k for k, n in enumerate(opened)}
            assert items == sorted(items, key=lambda it: (it[2], rank[it[0]], it[1]))

    check()
