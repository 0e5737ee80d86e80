"""Kubernetes API-server audit events (audit.k8s.io v1 and v1beta1) as the log backend writes them,
and `EventList` batches as the webhook backend posts them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from cloudward.events import Event, K8sAudit
from cloudward.parsers._k8s import (
    audit_line_decoder,
    looks_like_audit_event,
    looks_like_event_list,
    make_event,
    verb_block_filter,
    verb_line_filter,
)
from cloudward.parsers.base import BlockFilter, Interest, JsonDialect, ParseContext, RecordRef


class K8sAuditDialect(JsonDialect):
    name = "k8s-audit"
    description = "Kubernetes audit.k8s.io Event / EventList (log backend lines, webhook batches)"
    kinds = ("K8sAudit",)
    order = 10

    def claims(self, record: dict[str, Any]) -> bool:
        return looks_like_audit_event(record) or looks_like_event_list(record)

    def events(self, record: dict[str, Any], ref: RecordRef, ctx: ParseContext) -> Iterator[Event]:
        if record.get("kind") == "EventList":
            for i, item in enumerate(record.get("items") or ()):
                item_ref = RecordRef(ref.path, ref.line, i)
                if not isinstance(item, dict):
                    ctx.reject(str(item_ref), "EventList item is not an object")
                    continue
                try:
                    yield make_event(item, item_ref, ctx)
                except ValueError as exc:
                    ctx.reject(str(item_ref), f"invalid k8s-audit record: {exc}")
            return
        yield make_event(record, ref, ctx)

    def line_filter(self, interest: Interest) -> Callable[[bytes, int, int], bool] | None:
        return verb_line_filter(interest)

    def block_filter(self, interest: Interest) -> BlockFilter | None:
        return verb_block_filter(interest)

    def line_decoder(self, ctx: ParseContext) -> Callable[[bytes, RecordRef], K8sAudit | None] | None:
        """Typed decoding of a JSON line straight into an event (None from it: decode the line as usual)."""
        return audit_line_decoder(ctx)


FORMATS = [K8sAuditDialect()]
