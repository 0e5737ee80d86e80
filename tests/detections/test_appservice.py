"""The App Service cards end to end, on realistic logs in every input format, across files and runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudward.config import from_dict
from cloudward.pipeline import Pipeline
from cloudward.store import Store

MIXED = Path(__file__).resolve().parents[1] / "data" / "web" / "mixed"
SCANNER = "45.155.205.17"


def scan(paths, *, config=None, intel=None, store=None, only=None, baseline=None, prefilter=True):
    pipe = Pipeline(from_dict(config or {}), only=only, store=store, raise_errors=True,
                    enrich_options={"intel": intel} if intel else None)
    if not prefilter:
        pipe.ctx.options.pop("prefilter:HttpRequest", None)
    if baseline:
        pipe.learn_paths(baseline)
    pipe.run_paths([str(p) for p in paths])
    return pipe.finish(), pipe


def by_type(alerts, alert_type):
    return [a for a in alerts if a.alert_type == alert_type]


def test_mixed_folder_every_format_and_the_cross_site_scanner(tmp_path):
    feed = tmp_path / "feed.txt"
    feed.write_text("198.51.100.0/24 ; test range\n")
    alerts, pipe = scan([MIXED], intel=[str(feed)])
    assert pipe.stats.rejected == 0, pipe.stats.rejections
    assert set(pipe.stats.formats) >= {"combined", "w3c-http", "appservice-http", "vsftpd"}
    cross = by_type(alerts, "AppServices_ScanSensitivePage")
    assert len(cross) == 1
    alert = cross[0].to_dict()
    assert alert["entities"]["source_ip"] == SCANNER
    assert alert["entities"]["sites"] == ["blog", "docs", "shop.example.com"]
    assert set(alert["entities"]["paths"]) >= {"/.env", "/.git/config", "/phpinfo.php", "/actuator/env",
                                               "/wp-config.php.bak"}
    assert alert["resource"] == {"type": "site", "name": "(several sites)"}
    # evidence points at file:line in each format
    origins = {e["event_id"].rsplit("/", 1)[-1] for e in alert["evidence"]}
    assert any(o.startswith("shop.example.com.access.log:") for o in origins)
    assert any(o.startswith("u_ex261102.log:") for o in origins)
    assert any(o.startswith("docs-appservice-http.json:") for o in origins)
    php = by_type(alerts, "AppServices_PhpInUploadFolder")
    assert [a.entities["source_ip"] for a in php] == ["185.220.101.4"]
    assert php[0].evidence[0]["event_id"].endswith("shop.example.com.access.log:31")
    fp = by_type(alerts, "AppServices_WebFingerprinting")
    assert [(a.entities["source_ip"], a.entities["tool"]) for a in fp] == [("91.92.93.94", "WhatWeb")]
    ti = by_type(alerts, "AppServices_IncomingTiClientIpFtp")
    assert len(ti) == 1 and ti[0].entities["files_written"] == ["/var/www/html/wp-content/themes/shop/404.php"]
    assert ti[0].entities["intel"][0]["feed"] == "feed.txt"
    assert ti[0].entities["intel"][0]["indicator"] == "198.51.100.0/24"


def test_prefilter_changes_no_alert(tmp_path):
    """The fast path (trigger scan, skipped lines) must raise exactly what a full parse raises."""
    from benchmarks_data import write_sites

    folder = tmp_path / "logs"
    write_sites(folder, lines=20_000)
    fast, fast_pipe = scan([folder])
    slow, slow_pipe = scan([folder], prefilter=False)
    assert fast_pipe.stats.skipped > 0.8 * fast_pipe.stats.lines
    assert slow_pipe.stats.skipped == 0

    def summary(alerts):
        return sorted((a.alert_type, a.resource["name"], a.entities.get("source_ip"), a.count) for a in alerts)

    assert summary(fast) == summary(slow)
    assert len(fast) >= 5


def test_anomalous_page_access_baseline_persists_in_the_store(tmp_path):
    early = tmp_path / "early" / "blog.example.com.access.log"
    late = tmp_path / "late" / "blog.example.com.access.log"
    early.parent.mkdir()
    late.parent.mkdir()
    admin = '203.0.113.50 - - [{d:02d}/Nov/2026:08:30:00 +0000] "POST /wp-login.php HTTP/1.1" 302 0 "-" "Mozilla/5.0"'
    early.write_text("\n".join(admin.format(d=d) for d in range(1, 10)) + "\n")
    late.write_text(
        admin.format(d=20) + "\n"
        + '185.220.101.4 - - [20/Nov/2026:02:14:09 +0000] "POST /wp-login.php HTTP/1.1" 302 0 "-" "Mozilla/5.0"\n')
    store = Store(tmp_path / "cw.db")
    alerts, _ = scan([early], store=store, only={"AppServices_AnomalousPageAccess"})
    assert alerts == []
    # a second run (as tail/serve after a restart) starts from the stored baseline
    alerts, _ = scan([late], store=Store(tmp_path / "cw.db"), only={"AppServices_AnomalousPageAccess"})
    assert [a.entities["source_ip"] for a in alerts] == ["185.220.101.4"]
    # without the store, the late log alone is a fresh learning period: nothing alerts
    alerts, _ = scan([late], only={"AppServices_AnomalousPageAccess"})
    assert alerts == []


def test_anomalous_page_access_baseline_from_earlier_logs(tmp_path):
    old = tmp_path / "old.log"
    new = tmp_path / "new.log"
    line = '{ip} - - [{d:02d}/Nov/2026:08:30:00 +0000] "POST /wp-login.php HTTP/1.1" 302 0 "-" "Mozilla/5.0"'
    # the earlier logs span more than the learning period, and everyone in them is learned
    old.write_text("\n".join(line.format(ip=f"203.0.113.{50 + d % 3}", d=d) for d in range(1, 20)) + "\n")
    new.write_text(line.format(ip="203.0.113.52", d=25) + "\n" + line.format(ip="185.220.101.4", d=25) + "\n")
    config = {"site": "blog.example.com"}
    alerts, _ = scan([new], config=config, baseline=[str(old)], only={"AppServices_AnomalousPageAccess"})
    assert [a.entities["source_ip"] for a in alerts] == ["185.220.101.4"]


def test_theme_file_uploaded_over_ftp_then_called_over_http(tmp_path):
    (tmp_path / "vsftpd.log").write_text(
        'Mon Nov  2 10:00:09 2026 [pid 4102] [webdeploy] OK UPLOAD: Client "198.51.100.23", '
        '"/var/www/html/wp-content/themes/astra/footer.php", 4211 bytes, 81.20Kbyte/sec\n')
    (tmp_path / "blog.example.com.access.log").write_text(
        '198.51.100.66 - - [02/Nov/2026:10:05:00 +0000] "GET /wp-content/themes/astra/footer.php HTTP/1.1" 200 88 '
        '"-" "curl/8.4.0"\n')
    alerts, _ = scan([tmp_path], only={"AppServices_WpThemeInjection"})
    assert len(alerts) == 1
    assert alerts[0].entities["editor_ip"] == "198.51.100.23"
    assert "FTP upload" in alerts[0].entities["reason"]


@pytest.mark.parametrize("fmt", ["proftpd", "pure-ftpd", "xferlog", "w3c-ftp"])
def test_threat_intel_ftp_alert_in_every_ftp_format(tmp_path, fmt):
    lines = {
        "proftpd": "2026-11-02 10:00:01,456 ftp1 proftpd[12345] ftp.example.com (203.0.113.66[203.0.113.66]): "
                   "USER bob: Login successful.\n",
        "pure-ftpd": "Nov  2 10:00:05 ftp1 pure-ftpd[333]: (bob@203.0.113.66) [NOTICE] /srv/www//x.php uploaded  "
                     "(52 bytes, 1.2KB/sec)\n",
        "xferlog": "Mon Nov  2 10:00:05 2026 1 203.0.113.66 1234 /srv/www/x.php b _ i r bob ftp 0 * c\n",
        "w3c-ftp": "#Fields: date time c-ip cs-username cs-method cs-uri-stem sc-status x-session\n"
                   "2026-11-02 10:00:02 203.0.113.66 bob PASS *** 230 s1\n",
    }
    log = tmp_path / "ftp.log"
    log.write_text(lines[fmt])
    feed = tmp_path / "feed.csv"
    feed.write_text("first_seen,ip_address,malware\n2026-10-01,203.0.113.66,Mirai\n")
    alerts, pipe = scan([log], intel=[f"{feed}#column=ip_address"], only={"AppServices_IncomingTiClientIpFtp"})
    assert pipe.stats.formats[fmt] == 1
    assert len(alerts) == 1
    entities = alerts[0].entities
    assert entities["users"] == ["bob"]
    assert entities["intel"][0]["context"] == {"first_seen": "2026-10-01", "malware": "Mirai"}


def test_scanner_state_stays_bounded_under_an_address_flood():
    from cloudward.detections import by_id

    cls = by_id("AppServices_ScanSensitivePage")
    pipe = Pipeline(from_dict({"detections": {"AppServices_ScanSensitivePage": {"max_tracked_ips": 1000}}}),
                    only={"AppServices_ScanSensitivePage"})
    lines = [f'10.{i // 65536}.{i // 256 % 256}.{i % 256} - - [02/Nov/2026:10:{i // 6000 % 60:02d}:{i // 100 % 60:02d} '
             f'+0000] "GET /missing-{i} HTTP/1.1" 404 1 "-" "-"' for i in range(20_000)]
    from cloudward.inputs import InputFile

    pipe.run_input(InputFile.from_bytes(("\n".join(lines) + "\n").encode(), "flood.log"))
    pipe.finish()  # events run, in time order, once the input is complete
    det = next(d for d in pipe.detections if isinstance(d, cls))
    assert len(det.windows) <= 1000 + 100
    assert det.windows.expired >= 19_000  # every address had a window; most were dropped again
    assert pipe.stats.lines == 20_000


def test_blind_elephant_among_visitors_with_and_without_the_prefilter(tmp_path):
    """A Blind Elephant run interleaved with a browser loading a page, a crawler and a feed reader
    (tests/data/web/annotated/blind_elephant.log): one alert, for the tool's address, whether the lines
    reach the card through the raw-bytes fast path or a full parse."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "parsers"))
    from web_annotated import check, load

    check("blind_elephant.log", "combined", site="blog.example.com")
    data, _ = load("blind_elephant.log")
    log = tmp_path / "blog.example.com.access.log"
    log.write_bytes(data)
    for prefilter in (True, False):
        alerts, pipe = scan([log], only={"AppServices_WebFingerprinting"}, prefilter=prefilter)
        assert [a.entities["source_ip"] for a in alerts] == ["198.51.100.40"], prefilter
        assert alerts[0].entities["method"] == "behaviour"
        assert len(alerts[0].entities["plugins"]) == 5
        if prefilter:
            assert pipe.stats.skipped > 0  # the browser's front page and the feeds were never parsed


def _proxied_rows(chain: bool) -> list[str]:
    sensitive = ["/.env", "/.git/config", "/wp-config.php.bak", "/phpinfo.php", "/.aws/credentials",
                 "/server-status", "/backup.sql", "/config.php.old", "/.DS_Store", "/actuator/env"]
    rows = []
    for i in range(400):
        second = f"{i // 60:02d}:{i % 60:02d}"
        if i % 40 == 0:  # a scanner (behind the balancer: its own forged header in front)
            path, who, status = sensitive[(i // 40) % len(sensitive)], "45.155.205.17", 404
            who = "1.2.3.4, " + who if chain else who
        elif i % 7 == 0:  # a reader who hit one sensitive page, then browsed (a broken favicon)
            who = "85.181.35.98"
            path, status = ("/.env", 404) if i == 7 else ("/favicon.ico", 404) if i % 28 == 0 else \
                (f"/blog/post-{i}/", 200)
        else:
            path, who, status = f"/blog/post-{i}/", f"198.51.100.{i % 50}", 200
        who = who + ", 10.0.0.1" if chain else who
        rows.append(f'{who} - - [02/Nov/2026:10:{second} +0000] "GET {path} HTTP/1.1" {status} 512 "-" "Mozilla/5.0"')
    return rows


def test_proxied_log_fast_path_counts_like_a_direct_one(tmp_path):
    """Behind a load balancer (X-Forwarded-For chains first) the fast path counts the ordinary requests
    of an address a card is judging wherever the address stands in the chain: the same alerts and the
    same counts as the same traffic logged without a proxy."""
    results = []
    for chain in (True, False):
        log = tmp_path / ("proxied" if chain else "direct") / "blog.example.com.access.log"
        log.parent.mkdir()
        log.write_text("\n".join(_proxied_rows(chain)) + "\n")
        alerts, pipe = scan([log])
        card = next(d for d in pipe.detections if d.card.id == "AppServices_ScanSensitivePage")
        reader = card.windows.windows["85.181.35.98"]
        results.append((sorted((a.alert_type, a.entities.get("source_ip"), a.count) for a in alerts),
                        reader.requests, reader.errors, pipe.stats.skipped))
        assert pipe.stats.skipped > 200
    assert results[0] == results[1]
    assert results[0][1] > 50  # the reader's ordinary requests were counted, not only its errors


# -- web path evasions, end to end through a combined log (the raw-line trigger and the cards) ---------
def _combined(paths, status=200):
    return "".join(f'198.51.100.66 - - [02/Nov/2026:09:{i // 60:02d}:{i % 60:02d} +0000] "GET {p} HTTP/1.1" '
                   f'{status} 512 "-" "Mozilla/5.0"\n' for i, p in enumerate(paths))


@pytest.mark.parametrize("path", [
    "/wp-content/uploads/2026/11/x.php.", "/wp-content/uploads/2026/11/x.php%20",
    "/wp-content/uploads/2026/11/x.php::$DATA", "/wp-content/uploads/2026/11/x.php;jsessionid=0A1B2C3D",
    "/wp-content/uploads/2026/11/x.php%00.jpg", "/wp-content/uploads/2026/%c0%ae%c0%ae/11/x.php",
    "/wp-content/./uploads/2026/11/x.php", "/wp-content//uploads/x.php", "/wp-content;a=b/uploads/x.php",
])
def test_php_in_upload_folder_evasions_alert_and_keep_the_raw_path(path):
    from cloudward.pipeline import scan_text

    filler = _combined([f"/shop/item/{i}" for i in range(200)])
    alerts, _ = scan_text(filler + _combined([path]), "combined", raise_errors=True)
    hits = [a for a in alerts if a.alert_type == "AppServices_PhpInUploadFolder"]
    assert hits, path
    assert hits[0].entities["path"] == path.split("?")[0]  # evidence keeps what was requested


@pytest.mark.parametrize("path", [
    "/wp-content/uploads/../../index.php", "/wp-content/themes/../uploads/2026/11/photo.jpg",
    "/wp-content/themes/../../wp-login.php",
])
def test_traversal_out_of_upload_and_theme_folders_raises_nothing(path):
    from cloudward.pipeline import scan_text

    alerts, _ = scan_text(_combined([path]), "combined", raise_errors=True,
                          only={"AppServices_PhpInUploadFolder", "AppServices_WpThemeInjection"})
    assert alerts == [], [a.alert_type for a in alerts]


@pytest.mark.parametrize("path", ["/wp-content/themes/../uploads/2026/11/x.php?cmd=id",
                                  "/wp-content/themes/twentytwenty/../../uploads/s.php?cmd=id"])
def test_a_theme_path_that_resolves_elsewhere_is_no_theme_injection(path):
    from cloudward.pipeline import scan_text

    alerts, _ = scan_text(_combined([path]), "combined", raise_errors=True)
    types = {a.alert_type for a in alerts}
    assert "AppServices_WpThemeInjection" not in types
    assert "AppServices_PhpInUploadFolder" in types  # where it really is


@pytest.mark.parametrize("max_keys", [40, 10_000])
def test_scanner_lone_errors_hold_what_their_windows_would(max_keys):
    """Client errors on ordinary pages from summaries (a `LoneError` per new address) against the same errors as
    requests (a `ScanWindow` each, through `evaluate`): the same windows in the same order, the same state and
    the same findings once the addresses come back with more errors and a sensitive page - also where windows
    expire and reopen, are swept or capped, or a line comes slightly out of order."""
    import random

    from cloudward.detections import by_id
    from cloudward.detections.appservice.app_services_scan_sensitive_page import LoneError
    from cloudward.events import HttpRequest, HttpSummary

    def card():
        config = {"detections": {"AppServices_ScanSensitivePage": {"max_tracked_ips": max_keys}}}
        pipe = Pipeline(from_dict(config), only={"AppServices_ScanSensitivePage"})
        det = next(d for d in pipe.detections if isinstance(d, by_id("AppServices_ScanSensitivePage")))
        det.windows.sweep_every = 25
        return det

    agents = ["Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0", "Mozilla/5.0 zgrab/0.x", ""]
    rnd = random.Random(7)
    errors, when = [], 1_000.0
    for i in range(400):  # 80 addresses in no fixed order; now and then a line 30 s early
        when += rnd.randint(0, 40)
        errors.append((rnd.randrange(80), when - (30 if rnd.random() < 0.05 else 0), f"/missing-{i % 9}"))
    lazy, eager = card(), card()
    findings = ([], [])
    for n, (ip, when, page) in enumerate(errors):
        agent = agents[n % 3]
        addr = f"198.51.100.{ip}"
        lazy_out = lazy.evaluate(HttpSummary(event_id=f"log:{n}", time=when, site="shop.example.com", entries=[
            ("error", addr, when, page, agent), ("ordinary", addr, 2)]))
        eager_out = eager.evaluate(HttpRequest(event_id=f"log:{n}", time=when, site="shop.example.com", client_ip=addr,
                                               method="GET", path=page, status=404, user_agent=agent))
        eager_out = eager.evaluate(HttpSummary(event_id=f"log:{n}", time=when, site="shop.example.com",
                                               entries=[("ordinary", addr, 2)])) or eager_out
        findings[0].append(lazy_out)
        findings[1].append(eager_out)
        if n % 10 == 9:  # a sensitive page now and then: a probe that may complete a case
            probe = HttpRequest(event_id=f"log:{n}p", time=when, site="shop.example.com", client_ip=addr,
                                method="GET", path="/.env", status=404, user_agent=agent)
            findings[0].append(lazy.evaluate(probe))
            findings[1].append(eager.evaluate(probe))
    assert any(type(w) is LoneError for w in lazy.windows.windows.values())
    assert lazy.windows.expired == eager.windows.expired > 0
    assert list(lazy.windows.windows) == list(eager.windows.windows)

    def shown(out):
        return [(f.key, f.entities, f.event.event_id) for f in out or ()]

    assert [shown(f) for f in findings[0]] == [shown(f) for f in findings[1]]
    assert any(findings[0])
    assert lazy.state() == eager.state()
