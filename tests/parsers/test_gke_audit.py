"""GKE Cloud Audit Logs entries mapped onto audit fields."""

from __future__ import annotations

import json

from cloudward.parsers.gke_audit import parse_method, parse_resource_name
from cloudward.pipeline import scan_text


def entry(method, resource_name, request, code=0):
    return {"insertId": "ins-1", "logName": "projects/p/logs/cloudaudit.googleapis.com%2Factivity",
            "operation": {"id": "op-" + method, "producer": "k8s.io", "first": True, "last": True},
            "protoPayload": {"@type": "type.googleapis.com/google.cloud.audit.AuditLog",
                             "authenticationInfo": {"principalEmail": "dev@example.com"},
                             "methodName": method, "resourceName": resource_name, "serviceName": "k8s.io",
                             "requestMetadata": {"callerIp": "198.51.100.9", "callerSuppliedUserAgent": "kubectl"},
                             "status": {"code": code}, "request": request},
            "resource": {"type": "k8s_cluster", "labels": {"cluster_name": "gke-prod", "location": "us-central1"}},
            "timestamp": "2026-11-02T09:15:27.123456789Z"}


POD = {"@type": "core.k8s.io/v1.Pod", "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
       "spec": {"containers": [{"name": "c", "image": "nginx", "securityContext": {"privileged": True}}]}}


def test_pod_create_maps_to_audit_fields():
    alerts, stats = scan_text(json.dumps(entry("io.k8s.core.v1.pods.create", "core/v1/namespaces/shop/pods/p", POD)))
    (alert,) = alerts
    assert alert.alert_type == "K8S_PrivilegedContainer"
    assert alert.entities["namespace"] == "shop"
    assert alert.entities["user"] == "dev@example.com"
    assert alert.entities["source_ip"] == "198.51.100.9"
    assert alert.resource == {"type": "cluster", "name": "gke-prod"}
    assert alert.evidence[0]["event_id"] == "op-io.k8s.core.v1.pods.create"
    assert "stage" in alert.evidence[0]["missing"]
    assert stats.formats["gke-audit"] == 1


def test_denied_request_does_not_alert():
    alerts, _ = scan_text(json.dumps(entry("io.k8s.core.v1.pods.create", "core/v1/namespaces/shop/pods/p", POD,
                                           code=7)))
    assert alerts == []


def test_healthcheck_entry_is_parsed_and_harmless():
    alerts, stats = scan_text(json.dumps(entry("io.k8s.get", "readyz", None)))
    assert alerts == [] and stats.rejected == 0 and stats.events == 1


def test_method_and_resource_name_parsing():
    assert parse_method("io.k8s.core.v1.pods.create") == ("create", "", "pods", "")
    assert parse_method("io.k8s.core.v1.pods.exec.create") == ("create", "", "pods", "exec")
    assert parse_method("io.k8s.authorization.rbac.v1.clusterrolebindings.create") == (
        "create", "authorization.rbac", "clusterrolebindings", "")
    assert parse_method("io.k8s.apps.v1beta2.deployments.update") == ("update", "apps", "deployments", "")
    assert parse_method("io.k8s.get") == ("get", "", "", "")
    assert parse_resource_name("core/v1/namespaces/shop/pods/p") == ("shop", "p")
    assert parse_resource_name("rbac.authorization.k8s.io/v1/clusterrolebindings/x") == ("", "x")
    assert parse_resource_name("core/v1/namespaces/foo") == ("", "foo")
