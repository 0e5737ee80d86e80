"""EKS audit logs from CloudWatch Logs.

Plain exports are audit events one per line, possibly behind a timestamp (S3 export); the JSON
reader and the native dialect handle those. This module reads the CloudWatch envelopes: a
subscription-filter payload (`logGroup`, `logEvents[].message`, as Lambda or Firehose deliver it)
and the output of `aws logs filter-log-events` / `get-log-events` (`events[].message`). The cluster
name comes from the log group `/aws/eks/<cluster>/cluster`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from cloudward.events import Event
from cloudward.parsers._k8s import looks_like_audit_event, make_event
from cloudward.parsers.base import JsonDialect, ParseContext, RecordRef


def cluster_from_log_group(log_group: Any) -> str:
    if isinstance(log_group, str):
        parts = log_group.strip("/").split("/")
        if len(parts) >= 3 and parts[0] == "aws" and parts[1] == "eks":
            return parts[2]
    return ""


class EksAuditDialect(JsonDialect):
    name = "eks-audit"
    description = "EKS audit events in CloudWatch Logs envelopes (subscription payloads, filter-log-events output)"
    kinds = ("K8sAudit",)
    order = 20

    def claims(self, record: dict[str, Any]) -> bool:
        if isinstance(record.get("logEvents"), list) and "messageType" in record:
            return True
        events = record.get("events")
        return isinstance(events, list) and (
            "nextForwardToken" in record or "searchedLogStreams" in record or "nextToken" in record
            or bool(events and isinstance(events[0], dict) and "message" in events[0])
        )

    def events(self, record: dict[str, Any], ref: RecordRef, ctx: ParseContext) -> Iterator[Event]:
        if record.get("messageType") == "CONTROL_MESSAGE":
            return  # CloudWatch's reachability probe: carries no log data
        cluster = cluster_from_log_group(record.get("logGroup"))
        entries = record.get("logEvents") if "logEvents" in record else record.get("events")
        for i, entry in enumerate(entries or ()):
            where = RecordRef(ref.path, ref.line, i)
            message = entry.get("message") if isinstance(entry, dict) else None
            if not isinstance(message, str):
                ctx.reject(str(where), "CloudWatch log event without a message")
                continue
            stream = entry.get("logStreamName") or record.get("logStream") or ""
            if isinstance(stream, str) and stream and "audit" not in stream:
                ctx.stats.skipped += 1  # authenticator / scheduler streams share the group
                continue
            try:
                doc = orjson.loads(message)
            except orjson.JSONDecodeError as exc:
                ctx.reject(str(where), f"malformed JSON in CloudWatch message: {exc}")
                continue
            if not isinstance(doc, dict) or not looks_like_audit_event(doc):
                ctx.reject(str(where), "CloudWatch message is not a Kubernetes audit event")
                continue
            try:
                yield make_event(doc, where, ctx, envelope="eks", cluster=cluster)
            except ValueError as exc:
                ctx.reject(str(where), f"invalid eks-audit record: {exc}")


FORMATS = [EksAuditDialect()]
