"""GKE audit logs: Cloud Audit Logs entries (`protoPayload`, service `k8s.io`).

GKE does not export the audit.k8s.io Event itself, so the entry is mapped onto its fields:
`methodName` `io.k8s.<group>.<version>.<resource>[.<subresource>].<verb>` gives verb, group and
resource; `resourceName` gives namespace and name; `request` / `response` are the objects. What GKE
cannot supply is listed in the event's `missing`: the audit stage and level (an entry is one completed
request), and the exact HTTP status (`status.code` is a google.rpc code; 0 becomes 200).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from cloudward.events import Event
from cloudward.parsers._k8s import make_event
from cloudward.parsers.base import JsonDialect, ParseContext, RecordRef

_VERSION = re.compile(r"^v\d+(?:(?:alpha|beta)\d+)?$")
#: google.rpc.Code -> the HTTP status the API server would have answered
_RPC_TO_HTTP = {0: 200, 1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409,
                11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401}
MISSING_FIELDS = ("stage", "level", "responseStatus.code (mapped from google.rpc code)")


def parse_method(method: str) -> tuple[str, str, str, str]:
    """(verb, apiGroup, resource, subresource) from a GKE methodName."""
    parts = method.split(".")
    if parts[:2] == ["io", "k8s"]:
        parts = parts[2:]
    if not parts:
        return "", "", "", ""
    verb = parts[-1]
    body = parts[:-1]
    for i, part in enumerate(body):
        if _VERSION.match(part):
            group = ".".join(body[:i])
            rest = body[i + 1 :]
            resource = rest[0] if rest else ""
            sub = ".".join(rest[1:])
            return verb, "" if group == "core" else group, resource, sub
    return verb, "", "", ""  # non-resource request such as io.k8s.get on /readyz


def parse_resource_name(name: str) -> tuple[str, str]:
    """(namespace, object name) from `core/v1/namespaces/<ns>/pods/<name>[/<sub>]`."""
    parts = name.split("/")
    namespace = ""
    if "namespaces" in parts:
        i = parts.index("namespaces")
        if i + 1 < len(parts):
            namespace = parts[i + 1]
            rest = parts[i + 2 :]
            if not rest:  # the namespace object itself
                return "", namespace
            return namespace, rest[1] if len(rest) > 1 else ""
    # cluster-scoped: <group>/<version>/<resource>/<name>
    return namespace, parts[3] if len(parts) > 3 else ""


def _strip_type(obj: Any) -> dict[str, Any] | None:
    if not isinstance(obj, dict):
        return None
    return {k: v for k, v in obj.items() if k != "@type"}


class GkeAuditDialect(JsonDialect):
    name = "gke-audit"
    description = "GKE Cloud Audit Logs entries (protoPayload, serviceName k8s.io)"
    kinds = ("K8sAudit",)
    order = 20

    def claims(self, record: dict[str, Any]) -> bool:
        payload = record.get("protoPayload")
        return isinstance(payload, dict) and (
            payload.get("serviceName") == "k8s.io" or str(payload.get("methodName", "")).startswith("io.k8s.")
        )

    def events(self, record: dict[str, Any], ref: RecordRef, ctx: ParseContext) -> Iterator[Event]:
        p = record["protoPayload"]
        verb, group, resource, sub = parse_method(str(p.get("methodName", "")))
        resource_name = p.get("resourceName") if isinstance(p.get("resourceName"), str) else ""
        namespace, name = parse_resource_name(resource_name)
        if resource == "namespaces" and not name:
            name = namespace
        status = p.get("status") if isinstance(p.get("status"), dict) else {}
        rpc = status.get("code", 0) if isinstance(status.get("code", 0), int) else 2
        auth = p.get("authenticationInfo") if isinstance(p.get("authenticationInfo"), dict) else {}
        meta = p.get("requestMetadata") if isinstance(p.get("requestMetadata"), dict) else {}
        labels = record.get("resource", {}).get("labels", {}) if isinstance(record.get("resource"), dict) else {}
        operation = record.get("operation") if isinstance(record.get("operation"), dict) else {}
        request = _strip_type(p.get("request"))
        response = _strip_type(p.get("response"))
        doc: dict[str, Any] = {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "auditID": operation.get("id") or record.get("insertId") or str(ref),
            "verb": verb,
            "requestURI": "/" + resource_name,
            "user": {"username": auth.get("principalEmail", "")},
            "sourceIPs": [meta["callerIp"]] if isinstance(meta.get("callerIp"), str) else [],
            "userAgent": meta.get("callerSuppliedUserAgent", ""),
            "objectRef": {"resource": resource, "subresource": sub, "apiGroup": group, "namespace": namespace,
                          "name": name},
            "responseStatus": {"code": _RPC_TO_HTTP.get(rpc, 500)},
            "stageTimestamp": record.get("timestamp"),
            "requestObject": request,
            "responseObject": response,
            "annotations": record.get("labels") if isinstance(record.get("labels"), dict) else {},
        }
        if not verb:
            raise ValueError("protoPayload.methodName does not name a Kubernetes verb")
        yield make_event(doc, ref, ctx, envelope="gke", cluster=str(labels.get("cluster_name", "")),
                         missing=MISSING_FIELDS)


FORMATS = [GkeAuditDialect()]
