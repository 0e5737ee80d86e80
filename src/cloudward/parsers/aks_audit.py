"""AKS audit logs from Azure Monitor.

Two shapes: diagnostic-settings records (`category` `kube-audit` / `kube-audit-admin`, the audit
event in `properties.log` as a JSON string or an object; storage-account exports wrap them in
`{"records": [...]}`, which the JSON reader unwraps), and rows of the resource-specific Log Analytics
tables `AKSAudit` / `AKSAuditAdmin`, whose columns are the audit fields in PascalCase.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from cloudward.events import Event
from cloudward.parsers._k8s import make_event
from cloudward.parsers.base import JsonDialect, ParseContext, RecordRef

AUDIT_CATEGORIES = ("kube-audit", "kube-audit-admin")

#: AKSAudit table columns -> audit.k8s.io field names
_TABLE_COLUMNS = {
    "AuditId": "auditID", "Verb": "verb", "RequestUri": "requestURI", "User": "user", "ImpersonatedUser":
    "impersonatedUser", "SourceIps": "sourceIPs", "UserAgent": "userAgent", "ObjectRef": "objectRef",
    "ResponseStatus": "responseStatus", "RequestObject": "requestObject", "ResponseObject": "responseObject",
    "RequestReceivedTime": "requestReceivedTimestamp", "StageReceivedTime": "stageTimestamp",
    "Stage": "stage", "Level": "level", "Annotations": "annotations",
}


def cluster_from_resource_id(resource_id: Any) -> str:
    """`.../MANAGEDCLUSTERS/<name>` -> name (Azure upper-cases the id; names are lower-case)."""
    if not isinstance(resource_id, str):
        return ""
    parts = resource_id.rstrip("/").split("/")
    for i, part in enumerate(parts[:-1]):
        if part.lower() == "managedclusters":
            return parts[i + 1].lower()
    return ""


def _decode(value: Any) -> Any:
    """Table columns of type dynamic arrive as objects or as JSON text."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


class AksAuditDialect(JsonDialect):
    name = "aks-audit"
    description = "AKS kube-audit diagnostic records and AKSAudit table rows (Azure Monitor)"
    kinds = ("K8sAudit",)
    order = 20

    def claims(self, record: dict[str, Any]) -> bool:
        if record.get("category") in AUDIT_CATEGORIES and isinstance(record.get("properties"), dict):
            return True
        return "AuditId" in record and "Verb" in record

    def events(self, record: dict[str, Any], ref: RecordRef, ctx: ParseContext) -> Iterator[Event]:
        cluster = cluster_from_resource_id(record.get("resourceId") or record.get("_ResourceId"))
        if "AuditId" in record:
            doc = {field: _decode(record[col]) for col, field in _TABLE_COLUMNS.items() if col in record}
            doc.setdefault("kind", "Event")
            yield make_event(doc, ref, ctx, envelope="aks", cluster=cluster)
            return
        log = record["properties"].get("log")
        if isinstance(log, str):
            log = orjson.loads(log)
        if not isinstance(log, dict):
            raise ValueError("properties.log is neither an audit event object nor JSON text of one")
        yield make_event(log, ref, ctx, envelope="aks", cluster=cluster)


FORMATS = [AksAuditDialect()]
