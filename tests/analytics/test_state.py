"""Per-address windows, per-site baselines and cross-site profiles: bounded, expiring, serializable."""

from __future__ import annotations

import orjson

from cloudward.analytics.cross_site import CrossSiteProfiles
from cloudward.analytics.ip_windows import KeyedWindows
from cloudward.analytics.site_baselines import SiteBaselines
from cloudward.detections.appservice.app_services_scan_sensitive_page import ScanWindow


def test_window_covers_its_length_then_reopens():
    w = KeyedWindows(600, ScanWindow)
    first = w.open("203.0.113.9", 1000.0)
    first.requests = 5
    assert w.open("203.0.113.9", 1500.0) is first
    fresh = w.open("203.0.113.9", 1700.0)
    assert fresh is not first and fresh.requests == 0 and fresh.start == 1700.0


def test_stale_windows_are_swept_and_the_cap_holds():
    w = KeyedWindows(600, ScanWindow, max_keys=1000, sweep_every=500)
    for i in range(5000):
        w.open(f"ip{i}", float(i * 10))  # ten seconds apart: most windows end long before the stream does
    assert len(w) <= 200
    w2 = KeyedWindows(10**9, ScanWindow, max_keys=1000, sweep_every=10**9)
    for i in range(5000):
        w2.open(f"ip{i}", 1.0)
    assert len(w2) <= 1000


def test_windows_of_a_later_period_survive_an_earlier_file():
    # a multi-site scan reads site A's day, then site B's same day: A's windows must not be dropped
    # just because B starts at the beginning of the day again
    w = KeyedWindows(600, ScanWindow, sweep_every=1)
    w.open("scanner", 50_000.0)
    for i in range(100):
        w.open(f"b{i}", 1000.0 + i)
    assert w.get("scanner") is not None


def test_window_state_round_trip():
    w = KeyedWindows(600, ScanWindow)
    win = w.open("203.0.113.9", 1000.0)
    win.requests, win.errors, win.tool = 12, 9, "Nuclei"
    win.error_paths.update({"/a", "/b"})
    data = orjson.loads(orjson.dumps(w.state()))
    again = KeyedWindows(600, ScanWindow)
    again.restore(data, ScanWindow.from_state)
    back = again.get("203.0.113.9")
    assert (back.requests, back.errors, back.tool, back.error_paths) == (12, 9, "Nuclei", {"/a", "/b"})


def test_site_baselines_learning_period_and_state():
    b = SiteBaselines(learning_period=7 * 86400, max_ips_per_site=2)
    site = b.site("blog", 1000.0)
    assert b.learning(site, 1000.0 + 6 * 86400)
    assert not b.learning(site, 1000.0 + 8 * 86400)
    b.site("blog", 500.0)  # an earlier event moves the start back
    assert site.first_seen == 500.0
    for ip in ("a", "b", "c"):
        b.learn(site, ip)
    assert site.ips == {"a", "b"} and site.full
    again = SiteBaselines(7 * 86400)
    again.restore(orjson.loads(orjson.dumps(b.state())))
    assert again.sites["blog"].ips == {"a", "b"} and again.sites["blog"].first_seen == 500.0


def test_cross_site_needs_n_sites_within_the_window():
    p = CrossSiteProfiles(window=3600, min_sites=3)
    assert p.record("s", "a", "/.env", 0.0) is None
    assert p.record("s", "b", "/.env", 100.0) is None
    assert p.record("s", "c", "/.env", 9000.0) is None  # too late for a and b
    hits = p.record("s", "d", "/.git/config", 9500.0)
    assert hits is None
    hits = p.record("s", "e", "/.env", 9600.0)
    assert sorted({h[1] for h in hits}) == ["c", "d", "e"]


def test_cross_site_in_any_file_order_and_bounded():
    p = CrossSiteProfiles(window=3600, min_sites=3, max_ips=100)
    assert p.record("s", "late", "/x", 5000.0) is None
    assert p.record("s", "early", "/x", 4000.0) is None  # an earlier file read later
    hits = p.record("s", "mid", "/x", 4500.0)
    assert {h[1] for h in hits} == {"late", "early", "mid"}
    for i in range(1000):
        p.record(f"ip{i}", "a", "/x", float(i))
    assert len(p.profiles) <= 100
    again = CrossSiteProfiles(3600, 3)
    again.restore(orjson.loads(orjson.dumps(p.state())))
    assert set(again.profiles) == set(p.profiles)
