"""AKS envelopes: diagnostic records with properties.log as text or object, the records wrapper, AKSAudit rows."""

from __future__ import annotations

import json

from cloudward.detections.kubernetes._samples import audit, container, pod
from cloudward.parsers.aks_audit import cluster_from_resource_id
from cloudward.pipeline import scan_text

RID = ("/SUBSCRIPTIONS/0000/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/PROD-AKS")
EVENT = audit("create", "pods", pod("p", [container("c", "nginx", privileged=True)]))


def record(log, category="kube-audit"):
    return {"category": category, "operationName": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read",
            "resourceId": RID, "time": "2026-11-02T09:15:27.5Z",
            "properties": {"log": log, "stream": "stdout", "pod": "kube-apiserver-1"}}


def test_log_as_string_and_as_object_in_a_records_export():
    text = json.dumps({"records": [record(json.dumps(EVENT)), record(dict(EVENT, auditID="b"), "kube-audit-admin")]})
    alerts, stats = scan_text(text)
    assert stats.formats["aks-audit"] == 2
    (alert,) = alerts
    assert alert.count == 2
    assert alert.resource == {"type": "cluster", "name": "prod-aks"}


def test_one_record_per_line():
    text = json.dumps(record(json.dumps(EVENT))) + "\n"
    alerts, _ = scan_text(text)
    assert alerts[0].evidence[0]["event_id"] == EVENT["auditID"]


def test_aksaudit_table_rows():
    row = {"TimeGenerated": "2026-11-02T09:15:27Z", "AuditId": "row-1", "Verb": "create", "Level": "RequestResponse",
           "Stage": "ResponseComplete", "RequestUri": EVENT["requestURI"], "User": json.dumps(EVENT["user"]),
           "SourceIps": json.dumps(EVENT["sourceIPs"]), "ObjectRef": EVENT["objectRef"],
           "ResponseStatus": {"code": 201}, "RequestObject": json.dumps(EVENT["requestObject"]),
           "_ResourceId": RID.lower()}
    alerts, stats = scan_text(json.dumps(row) + "\n")
    assert stats.rejected == 0
    assert [a.alert_type for a in alerts] == ["K8S_PrivilegedContainer"]
    assert alerts[0].entities["user"] == "alice@example.com"


def test_broken_embedded_log_is_rejected_with_its_place():
    text = json.dumps(record('{"kind":"Event", "auditID": "x", "ver')) + "\n" + json.dumps(record(EVENT)) + "\n"
    alerts, stats = scan_text(text, display="aks.json")
    assert len(alerts) == 1
    assert stats.rejected == 1
    assert stats.rejections[0].where == "aks.json:1"


def test_cluster_name_from_resource_id():
    assert cluster_from_resource_id(RID) == "prod-aks"
    assert cluster_from_resource_id("/subscriptions/x") == ""
    assert cluster_from_resource_id(None) == ""
