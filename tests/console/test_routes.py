"""The console without a browser (the real serve application through FastAPI's TestClient): sign-in and
its cookie, CSRF on every POST, roles checked on the server, security headers, escaping, redirects."""

from __future__ import annotations

import re
from typing import Any

import pytest
from serving import ADMIN, INGEST, READER, cluster_admin_event, event_list, privileged_pod_event

from cloudward.console.routes import CSP, safe_next, technique_url
from cloudward.detections.kubernetes._samples import audit, container, pod

AUTH_INGEST = {"Authorization": f"Bearer {INGEST}"}
AUTH_READER = {"Authorization": f"Bearer {READER}"}
HOSTILE_POD = '"><script>alert(1)</script>'
HOSTILE_AGENT = "<img src=x onerror=alert(1)>"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: Any, token: str) -> str:
    """Signs in; returns the session's CSRF token."""
    page = client.get("/login")
    reply = client.post("/login", data={"csrf": csrf_of(page.text), "token": token, "next": "/alerts"},
                        follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/alerts"
    return csrf_of(client.get("/alerts").text)


def ingest(client: Any, events: list[dict[str, Any]]) -> list[str]:
    reply = client.post("/k8s-audit", json=event_list(events), headers=AUTH_INGEST)
    assert reply.status_code == 200, reply.text
    return reply.json()["alerts_changed"]


def hostile_pod() -> dict[str, Any]:
    return audit("create", "pods", pod(HOSTILE_POD, [container("c", "alpine:3.19", privileged=True)]),
                 user_agent=HOSTILE_AGENT, when="2026-11-02T09:20:00.000000Z")


def test_pages_need_a_session_and_keep_where_you_were_going(console: Any) -> None:
    reply = console.get("/alerts?severity=high", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/login?next=%2Falerts%3Fseverity%3Dhigh"
    for path in ("/", "/alerts", "/suppressions", "/detections", "/sources", "/alerts/abc"):
        assert console.get(path, follow_redirects=False).status_code == 303, path


def test_sign_in_sets_a_strict_httponly_cookie_and_wrong_tokens_fail(console: Any) -> None:
    page = console.get("/login")
    csrf = csrf_of(page.text)
    bad = console.post("/login", data={"csrf": csrf, "token": "nope", "next": "/"})
    assert bad.status_code == 401 and "not a reader or admin token" in bad.text
    # an ingest token posts events; it does not open the console
    assert console.post("/login", data={"csrf": csrf, "token": INGEST, "next": "/"}).status_code == 401
    # no CSRF token: refused, no session
    assert console.post("/login", data={"token": ADMIN, "next": "/"}, follow_redirects=False).status_code == 403
    good = console.post("/login", data={"csrf": csrf, "token": ADMIN, "next": "//evil.example/x"},
                        follow_redirects=False)
    assert good.status_code == 303 and good.headers["location"] == "/"   # no open redirect
    cookie = good.headers["set-cookie"]
    assert "cw_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Secure" not in cookie   # plain HTTP here; see the TLS test below
    assert ADMIN not in good.headers["location"] and ADMIN not in cookie


def test_cookie_is_secure_under_tls(console: Any) -> None:
    console.base_url = "https://127.0.0.1"
    page = console.get("/login")
    reply = console.post("/login", data={"csrf": csrf_of(page.text), "token": READER, "next": "/"},
                         follow_redirects=False)
    assert "Secure" in reply.headers["set-cookie"]


def test_security_headers_on_every_console_response(console: Any) -> None:
    sign_in(console, READER)
    for path in ("/login", "/", "/alerts", "/suppressions", "/detections", "/sources", "/static/console.css",
                 "/alerts/missing"):
        reply = console.get(path)
        headers = reply.headers
        assert headers["content-security-policy"] == CSP, path
        assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
    assert "'unsafe-inline'" not in CSP and "'unsafe-eval'" not in CSP and "frame-ancestors 'none'" in CSP
    assert console.get("/static/../routes.py").status_code == 404


def test_no_inline_script_or_style_in_any_page(console: Any) -> None:
    ingest(console, [privileged_pod_event(), cluster_admin_event()])
    sign_in(console, ADMIN)
    alert_id = re.search(r'href="/alerts/([0-9a-f]+)"', console.get("/alerts").text).group(1)
    for path in ("/login", "/", "/alerts", f"/alerts/{alert_id}", "/suppressions", "/detections", "/sources"):
        html = console.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert not re.search(r"\sstyle=|<style|\son[a-z]+=", html), path


def test_hostile_text_is_escaped_everywhere(console: Any) -> None:
    [alert_id] = ingest(console, [hostile_pod()])
    sign_in(console, ADMIN)
    for path in ("/alerts", f"/alerts/{alert_id}", f"/alerts?entity={HOSTILE_POD}",
                 f"/suppressions?similar={alert_id}"):
        html = console.get(path).text
        assert "<script>alert(1)" not in html and "<img src=x" not in html, path
    detail = console.get(f"/alerts/{alert_id}").text
    assert "&lt;img src=x onerror=alert(1)&gt;" in detail and "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in detail
    # a hostile filter value goes back into the form as text too
    listed = console.get("/alerts", params={"q": '"><b>x</b>'}).text
    assert "<b>x</b>" not in listed and "&#34;&gt;&lt;b&gt;x&lt;/b&gt;" in listed


def test_every_post_needs_the_session_csrf_token(console: Any) -> None:
    [alert_id, _] = ingest(console, [privileged_pod_event(), cluster_admin_event()])
    csrf = sign_in(console, ADMIN)
    posts = [(f"/alerts/{alert_id}/status", {"action": "dismiss", "reason": "r"}),
             ("/alerts/bulk", {"ids": alert_id, "action": "resolve"}),
             ("/suppressions", {"alert_type": "*", "match": "namespace=default", "step": "save"}),
             ("/lang", {"lang": "ko", "next": "/"}), ("/logout", {})]
    for path, form in posts:
        for sent in ({}, {"csrf": "forged"}):
            reply = console.post(path, data={**form, **sent}, follow_redirects=False)
            assert reply.status_code == 403, (path, sent)
    status = console.get(f"/api/v1/alerts/{alert_id}", headers=AUTH_READER).json()
    assert status["status"] == "active" and status["history"] == []
    assert console.get("/api/v1/suppressions", headers=AUTH_READER).json()["items"] == []
    # with it: the change is made and recorded under the signed-in name
    reply = console.post(f"/alerts/{alert_id}/status", data={"csrf": csrf, "action": "dismiss", "reason": "lab"},
                         follow_redirects=False)
    assert reply.status_code == 303
    doc = console.get(f"/api/v1/alerts/{alert_id}", headers=AUTH_READER).json()
    assert doc["status"] == "dismissed" and doc["history"][0]["who"] == "admin" and doc["history"][0]["reason"] == "lab"


def test_reader_gets_403_on_every_action(console: Any) -> None:
    [alert_id, _] = ingest(console, [privileged_pod_event(), cluster_admin_event()])
    csrf = sign_in(console, READER)
    for path, form in [(f"/alerts/{alert_id}/status", {"action": "dismiss"}),
                       ("/alerts/bulk", {"ids": alert_id, "action": "dismiss"}),
                       ("/suppressions", {"alert_type": "*", "match": "namespace=default", "step": "save"}),
                       ("/suppressions/x/delete", {}), ("/suppressions/x/expire", {})]:
        reply = console.post(path, data={"csrf": csrf, **form}, follow_redirects=False)
        assert reply.status_code == 403, path
        assert "Only an administrator" in reply.text
    # reading and simulating are a reader's
    sim = console.post("/suppressions", data={"csrf": csrf, "alert_type": "*", "match": "namespace=default",
                                              "step": "simulate"})
    assert sim.status_code == 200 and "would dismiss: 1" in sim.text
    assert 'id="save-rule"' not in sim.text
    assert console.get(f"/api/v1/alerts/{alert_id}", headers=AUTH_READER).json()["status"] == "active"


def test_bulk_resolve_with_reason(console: Any) -> None:
    ids = ingest(console, [privileged_pod_event(), cluster_admin_event()])
    csrf = sign_in(console, ADMIN)
    reply = console.post("/alerts/bulk", data={"csrf": csrf, "ids": ids, "action": "resolve", "reason": "fixed",
                                               "next": "/alerts?status=active"}, follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/alerts?status=active"
    for alert_id in ids:
        doc = console.get(f"/api/v1/alerts/{alert_id}", headers=AUTH_READER).json()
        assert doc["status"] == "resolved" and doc["history"][-1]["reason"] == "fixed"
    assert "Alerts: 0" in console.get("/alerts?status=active").text


def test_suppression_rule_simulate_save_expire_delete(console: Any) -> None:
    ingest(console, [privileged_pod_event(), cluster_admin_event()])
    csrf = sign_in(console, ADMIN)
    draft = {"csrf": csrf, "alert_type": "K8S_PrivilegedContainer", "match": "namespace=default\npod=debug-*",
             "reason": "lab pods", "expires": ""}
    sim = console.post("/suppressions", data={**draft, "step": "simulate"})
    assert "would dismiss: 1" in sim.text and "Privileged container detected</a>" in sim.text
    bad = console.post("/suppressions", data={**draft, "match": "no equals sign", "step": "simulate"})
    assert bad.status_code == 400 and "key=value" in bad.text
    assert console.post("/suppressions", data={**draft, "step": "save"}, follow_redirects=False).status_code == 303
    [rule] = console.get("/api/v1/suppressions", headers=AUTH_READER).json()["items"]
    assert rule["match"] == {"namespace": "default", "pod": "debug-*"} and rule["who"] == "admin"
    assert console.post(f"/suppressions/{rule['id']}/expire", data={"csrf": csrf},
                        follow_redirects=False).status_code == 303
    [expired] = console.get("/api/v1/suppressions", headers=AUTH_READER).json()["items"]
    assert expired["expires"]
    assert "(expired)" in console.get("/suppressions").text
    assert console.post(f"/suppressions/{rule['id']}/delete", data={"csrf": csrf},
                        follow_redirects=False).status_code == 303
    assert console.get("/api/v1/suppressions", headers=AUTH_READER).json()["items"] == []
    assert console.post(f"/suppressions/{rule['id']}/delete", data={"csrf": csrf}).status_code == 404


def test_filters_sort_and_paging_stay_in_the_url(console: Any) -> None:
    events = [privileged_pod_event(f"p{i}", when=f"2026-11-02T10:{i:02d}:00.000000Z") for i in range(55)]
    ingest(console, events)
    sign_in(console, READER)
    first = console.get("/alerts?type=K8S_PrivilegedContainer&sort=oldest").text
    assert "Alerts: 55" in first and "Page 1 of 2" in first
    assert "/alerts?type=K8S_PrivilegedContainer&amp;sort=oldest&amp;page=2" in first
    second = console.get("/alerts?type=K8S_PrivilegedContainer&sort=oldest&page=2").text
    assert "Page 2 of 2" in second
    assert "Alerts: 1" in console.get("/alerts?entity=p7").text
    bad = console.get("/alerts?since=yesterday")
    assert bad.status_code == 200 and "This filter is not valid" in bad.text


@pytest.mark.parametrize(("value", "expected"), [
    ("/alerts?x=1", "/alerts?x=1"), ("//evil.example", "/"), ("https://evil.example", "/"),
    ("/\\evil", "/"), ("", "/"), ("alerts", "/")])
def test_safe_next(value: str, expected: str) -> None:
    assert safe_next(value) == expected


def test_technique_urls() -> None:
    assert technique_url("T1611") == "https://attack.mitre.org/techniques/T1611/"
    assert technique_url("T1059.004") == "https://attack.mitre.org/techniques/T1059/004/"
    assert technique_url("javascript:alert(1)") is None
