"""EKS: CloudWatch subscription payloads, filter-log-events output, S3 export lines."""

from __future__ import annotations

import gzip
import json

from cloudward.detections.kubernetes._samples import audit, container, pod
from cloudward.inputs import InputFile
from cloudward.pipeline import Pipeline, scan_text

EVENT = audit("create", "pods", pod("p", [container("c", "nginx", privileged=True)]))


def payload(messages, stream="kube-apiserver-audit-0a1b2c3d4e5f"):
    return {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/eks/prod-eks/cluster",
            "logStream": stream, "subscriptionFilters": ["to-firehose"],
            "logEvents": [{"id": str(i), "timestamp": 1793611527000, "message": m} for i, m in enumerate(messages)]}


def test_subscription_payload_gzipped_as_firehose_delivers():
    body = json.dumps(payload([json.dumps(EVENT), json.dumps(dict(EVENT, auditID="2"))])) + json.dumps(
        payload([json.dumps(dict(EVENT, auditID="3"))]))  # Firehose runs records together
    pipe = Pipeline(raise_errors=True)
    pipe.run_input(InputFile.from_bytes(gzip.compress(body.encode()), "firehose.gz"))
    (alert,) = pipe.finish()
    assert alert.count == 3
    assert alert.resource["name"] == "prod-eks"


def test_other_streams_skipped_and_control_messages_ignored():
    auth = payload(["time=2026 level=info msg=access granted"], stream="authenticator-0a1b")
    control = {"messageType": "CONTROL_MESSAGE", "logGroup": "", "logStream": "", "logEvents": [
        {"id": "", "timestamp": 1, "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}
    alerts, stats = scan_text(json.dumps(auth) + "\n" + json.dumps(control) + "\n")
    assert alerts == []
    assert stats.rejected == 0
    assert stats.skipped == 1


def test_filter_log_events_output():
    doc = {"events": [{"logStreamName": "kube-apiserver-audit-1", "timestamp": 1793611527000,
                       "message": json.dumps(EVENT), "ingestionTime": 1793611528000, "eventId": "1"},
                      {"logStreamName": "kube-apiserver-audit-1", "timestamp": 1793611527000,
                       "message": "not json", "eventId": "2"}],
           "searchedLogStreams": []}
    alerts, stats = scan_text(json.dumps(doc, indent=2), display="events.json")
    assert len(alerts) == 1
    assert stats.rejected == 1
    assert stats.rejections[0].where == "events.json:1[1]"


def test_s3_export_lines_with_timestamps():
    text = "2026-11-02T09:15:27.401Z " + json.dumps(EVENT) + "\n"
    alerts, _ = scan_text(text)
    assert [a.alert_type for a in alerts] == ["K8S_PrivilegedContainer"]
