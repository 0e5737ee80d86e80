"""The console in a real headless Chromium (Debian's /usr/bin/chromium through Playwright) against a real
`cloudward serve` on 127.0.0.1: the whole triage scenario, hostile text, Korean, a reader, a phone.

Screenshots of the overview, the list and a detail page in English and Korean are written to docs/images/
(the README shows them)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from serving import ADMIN, INGEST, READER, Server, cluster_admin_event, event_list, privileged_pod_event

from cloudward.detections.kubernetes._samples import audit, container, pod

CHROMIUM = "/usr/bin/chromium"
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
XSS_AGENT = "<img src=x onerror=alert(1)>"
XSS_POD = '"><script>alert(1)</script>'
SCANNER_LOG = (
    '198.51.100.9 - - [02/Nov/2026:14:00:00 +0000] "GET / HTTP/1.1" 200 1800 "-" "WhatWeb/0.5.5"\n'
    '198.51.100.40 - - [02/Nov/2026:14:01:00 +0000] "GET /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php '
    'HTTP/1.1" 404 153 "-" "Mozilla/5.0 (compatible; Nuclei - Open-source project '
    '(github.com/projectdiscovery/nuclei))"\n'
)


def _browser(playwright: Any) -> Any:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (apt-get install -y chromium)")
    # Chromium's sandbox needs user namespaces that a root CI container does not give it
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    return playwright.chromium.launch(executable_path=CHROMIUM, args=args)


def _hostile_pod() -> dict[str, Any]:
    return audit("create", "pods", pod(XSS_POD, [container("shell", "alpine:3.19", privileged=True)]),
                 user_agent=XSS_AGENT, when="2026-11-02T09:20:00.000000Z",
                 audit_id="00000000-0000-4000-8000-00000000beef")


@pytest.fixture
def loaded(make_server: Any) -> Server:
    srv = make_server().start()
    batch = event_list([privileged_pod_event(), cluster_admin_event(), _hostile_pod()])
    assert srv.request("POST", "/k8s-audit", batch, token=INGEST).status == 200
    reply = srv.request("POST", "/ingest/combined?site=shop", SCANNER_LOG.encode(), token=INGEST)
    assert reply.status == 200, reply.body
    return srv


def _sign_in(page: Any, srv: Server, token: str) -> None:
    page.goto(srv.url + "/")
    assert page.url.startswith(srv.url + "/login")
    page.fill("#token", token)
    page.click("button[type=submit].primary")
    page.wait_for_url(srv.url + "/")


def test_triage_scenario_in_chromium(loaded: Server) -> None:
    from playwright.sync_api import sync_playwright

    srv = loaded
    IMAGES.mkdir(parents=True, exist_ok=True)
    dialogs: list[str] = []
    csp_errors: list[str] = []
    with sync_playwright() as p:
        browser = _browser(p)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Asia/Seoul")
        page = context.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None)

        # sign in: a session cookie, HttpOnly and SameSite=Strict
        _sign_in(page, srv, ADMIN)
        cookie = next(c for c in context.cookies() if c["name"] == "cw_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert ADMIN not in page.url

        # overview: counts by severity and family, the chart, resources, newest high alerts, sources
        assert page.inner_text(".tile-low .tile-n") == "4"   # two privileged pods, a binding, a Nuclei probe
        assert page.inner_text(".tile-medium .tile-n") == "1"   # the WhatWeb fingerprinting
        family = page.inner_text("table.compact")
        assert re.search(r"Kubernetes\s+3", family) and re.search(r"Web apps\s+2", family)
        assert page.locator("svg.chart rect.bar").count() >= 2
        assert "k8s-audit" in page.inner_text("body") and "shop" in page.inner_text("body")
        # times are in the browser's zone (Seoul, +09:00) with UTC on hover
        first_time = page.locator("time").first
        assert "(UTC+09:00)" in first_time.text_content() and first_time.get_attribute("title").startswith("UTC ")
        page.screenshot(path=str(IMAGES / "console-overview-en.png"), full_page=True)

        # the list, filtered by severity: medium and above is the scanner only
        page.click("text=Alerts >> nth=0")
        page.wait_for_url(srv.url + "/alerts")
        assert page.locator("a.alert-link").count() == 5
        page.screenshot(path=str(IMAGES / "console-alerts-en.png"), full_page=True)
        page.select_option("#f-severity", "medium")
        page.click(".filters button[type=submit]")
        assert "severity=medium" in page.url
        titles = page.locator("a.alert-link").all_inner_texts()
        assert titles == ["Web fingerprinting detected"], titles

        # the hostile pod: its name and the user agent are text, nothing runs
        page.goto(srv.url + "/alerts?type=K8S_PrivilegedContainer&sort=oldest")
        assert page.locator("a.alert-link").count() == 2
        page.locator("a.alert-link").last.click()
        body = page.inner_text("body")
        assert XSS_POD in body and XSS_AGENT in body
        assert page.locator("img").count() == 0 and page.locator("main script").count() == 0

        # detail: entity links filter the list; the raw evidence is formatted JSON shown as text
        page.goto(srv.url + "/alerts?type=K8S_PrivilegedContainer&sort=newest")
        page.click("a.alert-link >> text=Privileged container detected >> nth=1")
        detail_url = page.url
        assert page.inner_text("#alert-title") == "Privileged container detected"
        assert page.locator("a[href='https://attack.mitre.org/techniques/T1611/']").count() == 1
        assert page.locator("a[href='https://attack.mitre.org/tactics/TA0004/']").count() == 1
        assert page.locator("ol.remediation li").count() >= 1
        page.click("details.raw summary")
        raw = page.inner_text("details.raw pre.json")
        assert '"auditID"' in raw and '"privileged": true' in raw
        page.screenshot(path=str(IMAGES / "console-detail-en.png"), full_page=True)
        page.click("a.entity-link >> text=debug-shell")
        assert "entity=debug-shell" in page.url
        assert page.locator("a.alert-link").all_inner_texts() == ["Privileged container detected"]

        # dismiss with a reason: the status and its history show it
        page.goto(detail_url)
        page.fill("#reason", "lab cluster, expected")
        page.click("#do-dismiss")
        page.wait_for_url(detail_url)
        assert "Dismissed" in page.inner_text(".meta")
        history = page.inner_text("#history")
        assert "Dismissed" in history and "admin" in history and "lab cluster, expected" in history

        # suppress similar: pre-filled from the alert; the simulation is shown before saving
        page.goto(srv.url + "/alerts?type=K8S_ClusterAdminBinding")
        page.click("a.alert-link")
        page.click("#suppress-similar")
        assert page.input_value("#r-type") == "K8S_ClusterAdminBinding"
        assert "role=cluster-admin" in page.input_value("#r-match")
        page.fill("#r-match", "role=cluster-admin")
        page.fill("#r-reason", "CI binds cluster-admin by design")
        assert page.locator("#save-rule").count() == 0
        page.click("#simulate")
        assert "would dismiss: 1" in page.inner_text("#simulation")
        assert "Role binding to the cluster-admin role detected" in page.inner_text("#simulation")
        page.click("#save-rule")
        page.wait_for_url(srv.url + "/suppressions")
        rules = page.inner_text("table")
        assert "CI binds cluster-admin by design" in rules and "admin" in rules

        # Korean: UI and alert text; the switch is kept (cookie) across pages
        page.goto(srv.url + "/")
        page.click("button[name=lang][value=ko]")
        page.wait_for_url(srv.url + "/")
        assert page.locator("html").get_attribute("lang") == "ko"
        assert "개요" in page.inner_text("h1")
        page.screenshot(path=str(IMAGES / "console-overview-ko.png"), full_page=True)
        page.goto(srv.url + "/alerts")
        assert "권한 있는 컨테이너" in page.inner_text("table") or "컨테이너" in page.inner_text("table")
        page.screenshot(path=str(IMAGES / "console-alerts-ko.png"), full_page=True)
        page.goto(detail_url)
        assert page.inner_text("#alert-title") != "Privileged container detected"
        assert "조치 방법" in page.inner_text("main")
        page.screenshot(path=str(IMAGES / "console-detail-ko.png"), full_page=True)

        # a 390 px phone: nothing wider than the screen
        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        phone.add_cookies([{"name": "cw_session", "value": cookie["value"], "url": srv.url}])
        small = phone.new_page()
        for path in ("/", "/alerts", detail_url.removeprefix(srv.url)):
            small.goto(srv.url + path)
            width = small.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (path, width)
        phone.close()

        # sign out ends the session
        page.click("#sign-out")
        page.wait_for_url(re.compile(r".*/login.*"))
        page.goto(srv.url + "/alerts")
        assert "/login" in page.url
        browser.close()
    assert dialogs == [], dialogs
    assert csp_errors == [], csp_errors
    reply = srv.request("GET", "/login")
    assert "script-src 'self'" in reply.headers["content-security-policy"]


def test_reader_reads_but_cannot_dismiss(loaded: Server) -> None:
    from playwright.sync_api import sync_playwright

    srv = loaded
    with sync_playwright() as p:
        browser = _browser(p)
        context = browser.new_context()
        page = context.new_page()
        _sign_in(page, srv, READER)
        page.goto(srv.url + "/alerts")
        assert page.locator("input[name=ids]").count() == 0
        page.locator("a.alert-link").first.click()
        assert page.locator("#status-form").count() == 0
        alert_id = page.url.rsplit("/", 1)[1]
        csrf = page.get_attribute("input[name=csrf]", "value")
        # the server refuses it even when the form is forged with the reader's own CSRF token
        reply = context.request.post(f"{srv.url}/alerts/{alert_id}/status",
                                     form={"csrf": csrf, "action": "dismiss", "reason": "x"})
        assert reply.status == 403
        browser.close()
    doc = srv.request("GET", f"/api/v1/alerts/{alert_id}", token=READER).json()
    assert doc["status"] == "active" and doc["history"] == []

