"""The service end to end: a real uvicorn process, real HTTP, the real store."""

from __future__ import annotations

import gzip
import sqlite3
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from serving import (
    ADMIN,
    INGEST,
    READER,
    Server,
    cluster_admin_event,
    event_list,
    privileged_pod_event,
    read_event,
)

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "cloudward" / "samples"
ATTACK = [privileged_pod_event(), cluster_admin_event(), read_event(1), read_event(2)]


def types(reply: Any) -> list[str]:
    return sorted(a["alert_type"] for a in reply.json()["items"])


def test_healthz_needs_no_token(server: Server) -> None:
    reply = server.request("GET", "/healthz")
    assert reply.status == 200 and reply.json()["status"] == "ok"


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("POST", "/k8s-audit", {"ingest", "admin"}),
    ("POST", "/ingest/combined", {"ingest", "admin"}),
    ("POST", "/ingest", {"ingest", "admin"}),
    ("GET", "/api/v1/alerts", {"reader", "admin"}),
    ("GET", "/api/v1/alerts/nope", {"reader", "admin"}),
    ("GET", "/api/v1/sources", {"reader", "admin"}),
    ("POST", "/api/v1/alerts/nope/dismiss", {"admin"}),
    ("POST", "/api/v1/alerts:bulk", {"admin"}),
    ("GET", "/api/v1/suppressions", {"reader", "admin"}),
    ("POST", "/api/v1/suppressions", {"admin"}),
    ("DELETE", "/api/v1/suppressions/nope", {"admin"}),
    ("POST", "/api/v1/suppressions:simulate", {"reader", "admin"}),
])
def test_every_endpoint_checks_the_role(server: Server, method: str, path: str, allowed: set[str]) -> None:
    body = event_list([read_event(7)]) if path == "/k8s-audit" else b"" if method == "POST" else None
    assert server.request(method, path, body).status == 401
    wrong = server.request(method, path, body, token="not-a-token-at-all-0000")
    assert wrong.status == 401 and wrong.headers.get("www-authenticate") == "Bearer"
    for role, token in (("admin", ADMIN), ("ingest", INGEST), ("reader", READER)):
        status = server.request(method, path, body, token=token).status
        if role in allowed:
            assert status not in (401, 403), (role, status)
        else:
            assert status == 403, (role, status)


def test_audit_batch_alerts_and_a_resent_batch_changes_nothing(server: Server) -> None:
    first = server.request("POST", "/k8s-audit", event_list(ATTACK), token=INGEST)
    assert first.status == 200, first.body
    # the two reads concern no card: skipped by the prefilter, as in `scan`
    assert first.json()["accepted"] == 2 and first.json()["skipped"] == 2
    assert len(first.json()["alerts_changed"]) == 2
    listed = server.request("GET", "/api/v1/alerts", token=READER)
    assert types(listed) == ["K8S_ClusterAdminBinding", "K8S_PrivilegedContainer"]
    again = server.request("POST", "/k8s-audit", event_list(ATTACK), token=INGEST)
    assert again.status == 200 and again.json()["alerts_changed"] == []
    assert again.json()["duplicates_in_commit"] >= 2
    after = server.request("GET", "/api/v1/alerts", token=READER).json()["items"]
    assert [a["count"] for a in after] == [1, 1]
    one = server.request("GET", f"/api/v1/alerts/{after[0]['id']}", token=READER)
    assert one.status == 200 and one.json()["evidence"] and one.json()["id"] == after[0]["id"]
    assert server.request("GET", "/api/v1/alerts/000000000000", token=READER).status == 404


def test_a_wanted_event_among_hundreds_of_skipped_reads_alerts_once(server: Server) -> None:
    reads = [read_event(i) for i in range(10, 410)]
    items = [*reads[:250], privileged_pod_event("hidden"), *reads[250:], cluster_admin_event("last")]
    first = server.request("POST", "/k8s-audit", event_list(items), token=INGEST)
    assert first.status == 200, first.body
    assert (first.json()["accepted"], first.json()["skipped"]) == (2, 400)
    listed = server.request("GET", "/api/v1/alerts", token=READER).json()["items"]
    assert sorted(a["alert_type"] for a in listed) == ["K8S_ClusterAdminBinding", "K8S_PrivilegedContainer"]
    pod_alert = next(a for a in listed if a["alert_type"] == "K8S_PrivilegedContainer")
    evidence = server.request("GET", f"/api/v1/alerts/{pod_alert['id']}", token=READER).json()["evidence"]
    assert "[250]" in orjson.dumps(evidence).decode()  # the event's place in the batch
    again = server.request("POST", "/k8s-audit", event_list(items), token=INGEST)
    assert again.status == 200 and again.json()["alerts_changed"] == []
    assert (again.json()["duplicates_in_commit"], again.json()["skipped"]) == (2, 400)
    assert [a["count"] for a in server.request("GET", "/api/v1/alerts", token=READER).json()["items"]] == [1, 1]


def test_one_event_an_array_and_v1beta1(server: Server) -> None:
    pod = privileged_pod_event("single")
    assert server.request("POST", "/k8s-audit", pod, token=INGEST).status == 200
    beta = cluster_admin_event("beta-admin")
    beta["apiVersion"] = "audit.k8s.io/v1beta1"
    assert server.request("POST", "/k8s-audit", event_list([beta], "v1beta1"), token=INGEST).status == 200
    arrayed = [privileged_pod_event("arrayed", when="2026-11-02T10:00:00.000000Z")]
    assert server.request("POST", "/k8s-audit", arrayed, token=INGEST).status == 200
    items = server.request("GET", "/api/v1/alerts?limit=10", token=READER).json()["items"]
    names = sorted(str(a["entities"].get("pod") or a["entities"].get("binding")) for a in items)
    assert names == ["ClusterRoleBinding/beta-admin", "arrayed", "single"]


def test_malformed_bodies_are_400_with_a_reason(server: Server) -> None:
    reply = server.request("POST", "/k8s-audit", b'{"kind": "EventList", "items": [', token=INGEST)
    assert reply.status == 400 and "not JSON" in reply.json()["detail"]
    reply = server.request("POST", "/k8s-audit", {"kind": "Pod"}, token=INGEST)
    assert reply.status == 400 and "EventList" in reply.json()["detail"]
    reply = server.request("POST", "/k8s-audit", b"\x1f\x8b broken", token=INGEST,
                           headers={"Content-Encoding": "gzip"})
    assert reply.status == 400 and "gzip" in reply.json()["detail"]
    # a record without a verb is rejected and counted; the rest of the batch runs
    broken = dict(privileged_pod_event("broken", when="2026-11-02T12:00:00.000000Z"))
    del broken["verb"]
    reply = server.request("POST", "/k8s-audit", event_list([broken, privileged_pod_event()]), token=INGEST)
    assert reply.status == 200 and reply.json()["rejected"] == 1 and reply.json()["accepted"] == 1
    assert "verb" in reply.json()["rejections"][0]["reason"]
    sources = server.request("GET", "/api/v1/sources", token=READER).json()["items"]
    audit_source = next(s for s in sources if s["source"] == "k8s-audit")
    assert audit_source["rejected"] == 1 and audit_source["events"] == 1 and audit_source["last_event"]


def test_body_limits_are_413(make_server: Any) -> None:
    srv = make_server("max_body_bytes = 20000\nmax_event_bytes = 5000\n").start()
    big = event_list([read_event(i) for i in range(100)])
    assert srv.request("POST", "/k8s-audit", big, token=INGEST).status == 413
    bomb = gzip.compress(b"x" * 10_000_000)
    gz = {"Content-Encoding": "gzip"}
    assert srv.request("POST", "/ingest/combined", bomb, token=INGEST, headers=gz).status == 413
    long_line = b"a" * 6000 + b"\n"
    assert srv.request("POST", "/ingest/combined", long_line, token=INGEST).status == 413


def test_gzip_ingest_of_a_web_log_with_site(server: Server) -> None:
    log = (SAMPLES / "web" / "shop.example.com.access.log").read_bytes()
    reply = server.request("POST", "/ingest/combined?site=shop", log, token=INGEST, gzipped=True)
    assert reply.status == 200 and reply.json()["accepted"] > 0 and reply.json()["rejected"] == 0, reply.body
    sniffed = server.request("POST", "/ingest?site=blog", log, token=INGEST)
    assert sniffed.status == 200 and sniffed.json()["accepted"] == reply.json()["accepted"]
    assert server.request("POST", "/ingest/no-such-format", b"x\n", token=INGEST).status == 404
    sources = {s["source"] for s in server.request("GET", "/api/v1/sources", token=READER).json()["items"]}
    assert {"ingest/combined site=shop", "ingest/sniffed site=blog"} <= sources
    items = server.request("GET", "/api/v1/alerts?type=AppServices_PhpInUploadFolder", token=READER).json()["items"]
    assert sorted(a["resource"]["name"] for a in items) == ["blog", "shop"]
    junk = server.request("POST", "/ingest/combined", b"not a log line\n" + log[:400], token=INGEST)
    assert junk.status == 200 and junk.json()["rejected"] >= 1


def test_filters_and_cursor_paging(server: Server) -> None:
    events = [privileged_pod_event(f"pod-{i}", when=f"2026-11-02T09:{i:02d}:00.000000Z") for i in range(7)]
    events.append(cluster_admin_event())
    assert server.request("POST", "/k8s-audit", event_list(events), token=INGEST).status == 200
    seen: list[str] = []
    cursor = ""
    for _ in range(10):
        page = server.request("GET", f"/api/v1/alerts?limit=3{'&cursor=' + cursor if cursor else ''}",
                              token=READER).json()
        seen += [a["id"] for a in page["items"]]
        cursor = page["next"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 8
    q = "/api/v1/alerts?limit=100&"
    assert types(server.request("GET", q + "type=K8S_ClusterAdminBinding", token=READER)) == ["K8S_ClusterAdminBinding"]
    assert len(server.request("GET", q + "entity=pod-3", token=READER).json()["items"]) == 1
    assert len(server.request("GET", q + "source_ip=203.0.113.24", token=READER).json()["items"]) == 8
    assert server.request("GET", q + "source_ip=203.0.113.99", token=READER).json()["items"] == []
    assert len(server.request("GET", q + "q=ServiceAccount/build/ci", token=READER).json()["items"]) == 1
    assert len(server.request("GET", q + "since=2026-11-02T09:05:00Z", token=READER).json()["items"]) == 3
    assert len(server.request("GET", q + "until=2026-11-02T09:01:00Z", token=READER).json()["items"]) == 2
    assert len(server.request("GET", q + "severity=low&status=active", token=READER).json()["items"]) == 8
    assert server.request("GET", q + "severity=high", token=READER).json()["items"] == []
    assert server.request("GET", q + "resource=kubernetes", token=READER).json()["items"]
    assert server.request("GET", q + "status=weird", token=READER).status == 400
    assert server.request("GET", q + "cursor=%%%", token=READER).status == 400
    assert server.request("GET", q + "since=yesterday", token=READER).status == 400


def test_status_changes_single_and_bulk_keep_history(server: Server) -> None:
    assert server.request("POST", "/k8s-audit", event_list(ATTACK), token=INGEST).status == 200
    ids = [a["id"] for a in server.request("GET", "/api/v1/alerts", token=READER).json()["items"]]
    reply = server.request("POST", f"/api/v1/alerts/{ids[0]}/dismiss", {"reason": "test cluster"}, token=ADMIN)
    assert reply.status == 200 and reply.json()["changed"] == [ids[0]]
    bulk = server.request("POST", "/api/v1/alerts:bulk", {"ids": ids, "action": "resolve", "reason": "fixed"},
                          token=ADMIN)
    assert bulk.json()["changed"] == ids
    assert server.request("POST", f"/api/v1/alerts/{ids[0]}/reactivate", {}, token=ADMIN).status == 200
    doc = server.request("GET", f"/api/v1/alerts/{ids[0]}", token=READER).json()
    assert doc["status"] == "active"
    assert [(h["status"], h["who"], h["reason"]) for h in doc["history"]] == [
        ("dismissed", "admin", "test cluster"), ("resolved", "admin", "fixed"), ("active", "admin", "")]
    assert server.request("GET", "/api/v1/alerts?status=resolved", token=READER).json()["items"][0]["id"] == ids[1]
    assert server.request("POST", f"/api/v1/alerts/{ids[0]}/explode", {}, token=ADMIN).status == 400
    assert server.request("POST", "/api/v1/alerts/nope/dismiss", {}, token=ADMIN).status == 404
    # the same event again does not reopen a resolved alert
    server.request("POST", "/k8s-audit", event_list(ATTACK), token=INGEST)
    assert server.request("GET", f"/api/v1/alerts/{ids[1]}", token=READER).json()["status"] == "resolved"


def test_kill_9_after_the_2xx_loses_nothing_and_a_resend_duplicates_nothing(make_server: Any) -> None:
    srv = make_server().start()
    reply = srv.request("POST", "/k8s-audit", event_list(ATTACK), token=INGEST)
    assert reply.status == 200
    srv.kill9()
    srv.start()
    items = srv.request("GET", "/api/v1/alerts", token=READER).json()["items"]
    assert sorted(a["alert_type"] for a in items) == ["K8S_ClusterAdminBinding", "K8S_PrivilegedContainer"]
    again = srv.request("POST", "/k8s-audit", event_list(ATTACK), token=INGEST)
    assert again.status == 200 and again.json()["alerts_changed"] == []
    assert again.json()["duplicates_in_commit"] == 2  # the redelivery keys survived the crash
    assert [a["count"] for a in srv.request("GET", "/api/v1/alerts", token=READER).json()["items"]] == [1, 1]


def test_first_start_generates_tokens_printed_once(make_server: Any) -> None:
    srv = make_server("", tokens=False).start()
    out = srv.log()
    tokens = dict(line.strip().split(": ", 1) for line in out.splitlines() if line.startswith("  "))
    assert set(tokens) == {"admin (admin)", "ingest (ingest)"}
    admin = tokens["admin (admin)"]
    assert srv.request("GET", "/api/v1/alerts", token=admin).status == 200
    assert srv.request("GET", "/api/v1/alerts", token=tokens["ingest (ingest)"]).status == 403
    stored = sqlite3.connect(srv.db).execute("SELECT hash FROM api_tokens").fetchall()
    assert admin not in repr(stored)  # only hashes are kept
    srv.stop()
    srv.start()
    assert srv.log().count("New API tokens") == 1
    assert srv.request("GET", "/api/v1/alerts", token=admin).status == 200


def test_a_full_queue_answers_429_with_retry_after(make_server: Any) -> None:
    srv = make_server("max_queue = 1\n").start()
    # creates of pods: every one runs through the workload cards (reads would be skipped at once)
    batch = orjson.dumps(event_list([privileged_pod_event(f"p{i}", when=f"2026-11-03T{i // 3600:02d}:"
                                                          f"{i // 60 % 60:02d}:{i % 60:02d}.000000Z")
                                     for i in range(3000)]))
    statuses: list[tuple[int, str | None]] = []

    def post() -> None:
        reply = srv.request("POST", "/k8s-audit", batch, token=INGEST)
        statuses.append((reply.status, reply.headers.get("retry-after")))

    for _ in range(5):
        threads = [threading.Thread(target=post) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if any(s == 429 for s, _ in statuses):
            break
    assert {s for s, _ in statuses} <= {200, 429}
    assert any(s == 429 and ra == "1" for s, ra in statuses), statuses
