"""Suppression rules, /metrics (checked by promtool), the OpenAPI document and sources."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from serving import ADMIN, INGEST, READER, Server, cluster_admin_event, event_list, privileged_pod_event, read_event


def test_suppression_rules_create_simulate_apply_delete(server: Server) -> None:
    assert server.request("POST", "/k8s-audit", event_list([privileged_pod_event()]), token=INGEST).status == 200
    rule = {"alert_type": "K8S_PrivilegedContainer", "match": {"namespace": "default"}, "reason": "lab cluster",
            "expires": "2099-01-01"}
    sim = server.request("POST", "/api/v1/suppressions:simulate", rule, token=READER)
    assert sim.status == 200 and sim.json()["count"] == 1
    assert server.request("POST", "/api/v1/suppressions:simulate", {"match": {"namespace": "prod"}},
                          token=READER).json()["count"] == 0
    assert server.request("POST", "/api/v1/suppressions", rule, token=READER).status == 403
    bad = server.request("POST", "/api/v1/suppressions", {"alert_type": "X", "match": {}}, token=ADMIN)
    assert bad.status == 400 and "match" in bad.json()["detail"]
    created = server.request("POST", "/api/v1/suppressions", rule, token=ADMIN)
    assert created.status == 201 and created.json()["who"] == "admin"
    rule_id = created.json()["id"]
    listed = server.request("GET", "/api/v1/suppressions", token=READER).json()["items"]
    assert [r["id"] for r in listed] == [rule_id] and listed[0]["expires"].startswith("2099-01-01")
    # a new privileged pod in the namespace is dismissed by the rule, with the rule named
    later = privileged_pod_event("other", when="2026-11-02T11:00:00.000000Z")
    server.request("POST", "/k8s-audit", event_list([later]), token=INGEST)
    items = server.request("GET", "/api/v1/alerts?entity=other", token=READER).json()["items"]
    assert items[0]["status"] == "dismissed" and items[0]["suppression"]["reason"] == "lab cluster"
    assert server.request("DELETE", f"/api/v1/suppressions/{rule_id}", token=ADMIN).status == 200
    assert server.request("DELETE", f"/api/v1/suppressions/{rule_id}", token=ADMIN).status == 404
    assert server.request("GET", "/api/v1/suppressions", token=READER).json()["items"] == []


def test_metrics_pass_promtool(server: Server) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed (apt-get install -y prometheus)")
    server.request("POST", "/k8s-audit", event_list([privileged_pod_event(), cluster_admin_event(), read_event(1)]),
                   token=INGEST)
    server.request("POST", "/k8s-audit", b"not json", token=INGEST)
    reply = server.request("GET", "/metrics")
    assert reply.status == 200
    text = reply.body.decode()
    assert 'cloudward_events_in_total{format="k8s-audit",source="k8s-audit"} 2.0' in text
    assert 'cloudward_alerts_changed_total{alert_type="K8S_PrivilegedContainer",severity="low"} 1.0' in text
    assert "cloudward_batch_seconds_bucket" in text and "cloudward_queue_depth" in text
    check = subprocess.run([promtool, "check", "metrics"], input=reply.body, capture_output=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr


def test_openapi_lists_every_endpoint(server: Server) -> None:
    doc = server.request("GET", "/api/v1/openapi.json").json()
    paths = set(doc["paths"])
    assert {"/k8s-audit", "/ingest", "/ingest/{fmt}", "/healthz", "/metrics", "/api/v1/alerts",
            "/api/v1/alerts/{alert_id}", "/api/v1/alerts/{alert_id}/{action}", "/api/v1/alerts:bulk",
            "/api/v1/sources", "/api/v1/suppressions", "/api/v1/suppressions/{rule_id}",
            "/api/v1/suppressions:simulate"} <= paths
    assert "limit" in {p["name"] for p in doc["paths"]["/api/v1/alerts"]["get"]["parameters"]}
