"""`alertmanager`: Prometheus Alertmanager's `POST /api/v2/alerts`, labels from alert type, severity and
resource (Alertmanager groups, routes and deduplicates on them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from cloudward.sinks._delivery import DELIVERY_KEYS, DeliverySink, header_table, json_body
from cloudward.textsafe import terminal_safe


def alertmanager_alert(doc: Mapping[str, Any], key: str, extra: Mapping[str, Any]) -> dict[str, Any]:
    resource = doc.get("resource") or {}
    labels = {"alertname": str(doc.get("alert_type", "")), "severity": str(doc.get("severity", "")),
              "resource_type": str(resource.get("type", "")), "resource": str(resource.get("name", "")),
              "cloudward_id": str(doc.get("id", ""))}
    for k, v in extra.items():
        labels.setdefault(str(k), str(v))
    return {"labels": {k: terminal_safe(v, 200) for k, v in labels.items()},
            "annotations": {"title": terminal_safe(str(doc.get("title", "")), 300),
                            "description": terminal_safe(str(doc.get("description", "")), 2000),
                            "idempotency_key": key, "status": str(doc.get("status", ""))},
            "startsAt": doc.get("first_seen") or None}


class AlertmanagerSink(DeliverySink):
    type = "alertmanager"
    options: ClassVar[dict[str, str]] = {**DELIVERY_KEYS, "url": "Alertmanager base URL (http://am:9093)",
                                         "headers": "a table of extra headers"}

    def setup(self) -> None:
        self.url = self.required("url").rstrip("/") + "/api/v2/alerts"
        self.headers = header_table(self.settings.get("headers"), f"sink {self.type}")

    def deliver(self, doc: Mapping[str, Any], key: str) -> None:
        alert = alertmanager_alert(doc, key, self.extra)
        if not alert["startsAt"]:
            del alert["startsAt"]
        self.post(self.url, json_body([alert]), {**self.headers, "Idempotency-Key": key})


SINKS = {"alertmanager": AlertmanagerSink}
