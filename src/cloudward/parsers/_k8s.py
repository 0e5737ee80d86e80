"""Building a `K8sAudit` from an audit.k8s.io Event document, whatever envelope carried it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cloudward.events import K8sAudit
from cloudward.parsers.base import Interest, ParseContext, RecordRef
from cloudward.timeutil import parse_time

AUDIT_API_VERSIONS = ("audit.k8s.io/v1", "audit.k8s.io/v1beta1", "audit.k8s.io/v1alpha1")


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _obj(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _strs(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, str)]


def looks_like_audit_event(record: dict[str, Any]) -> bool:
    kind = record.get("kind")
    api = record.get("apiVersion")
    if isinstance(api, str) and api.startswith("audit.k8s.io/"):
        return kind in ("Event", None)
    return (kind == "Event" and isinstance(record.get("auditID"), str)) or (
        kind is None and isinstance(record.get("auditID"), str) and isinstance(record.get("verb"), str)
    )


def looks_like_event_list(record: dict[str, Any]) -> bool:
    return record.get("kind") == "EventList" and isinstance(record.get("items"), list)


def make_event(doc: dict[str, Any], ref: RecordRef, ctx: ParseContext, *, envelope: str = "native",
               cluster: str = "", missing: tuple[str, ...] = ()) -> K8sAudit:
    """Normalize one audit.k8s.io Event. Raises ValueError when it is not a usable audit event."""
    verb = doc.get("verb")
    if not isinstance(verb, str) or not verb:
        raise ValueError("audit event without a verb")
    audit_id = doc.get("auditID")
    if not isinstance(audit_id, str) or not audit_id:
        raise ValueError("audit event without an auditID")
    ref_obj = _obj(doc.get("objectRef")) or {}
    user = _obj(doc.get("user")) or {}
    status = _obj(doc.get("responseStatus")) or {}
    code = status.get("code")
    when = (
        doc.get("stageTimestamp")
        or doc.get("requestReceivedTimestamp")
        or doc.get("timestamp")
        or (_obj(doc.get("metadata")) or {}).get("creationTimestamp")
    )
    return K8sAudit(
        event_id=audit_id,
        time=parse_time(when),
        raw=doc,
        origin=str(ref),
        doc=doc,
        cluster=ctx.cluster or cluster,
        verb=verb,
        resource=_s(ref_obj.get("resource")),
        subresource=_s(ref_obj.get("subresource")),
        api_group=_s(ref_obj.get("apiGroup")),
        namespace=_s(ref_obj.get("namespace")),
        name=_s(ref_obj.get("name")),
        user=_s(user.get("username")),
        groups=_strs(user.get("groups")),
        source_ips=_strs(doc.get("sourceIPs")),
        user_agent=_s(doc.get("userAgent")),
        stage=_s(doc.get("stage")),
        level=_s(doc.get("level")),
        code=code if isinstance(code, int) and not isinstance(code, bool) else 0,
        request_object=_obj(doc.get("requestObject")),
        response_object=_obj(doc.get("responseObject")),
        envelope=envelope,
        missing=missing,
    )


def verb_line_filter(interest: Interest) -> Callable[[bytes], bool] | None:
    """A raw-bytes test for compact audit JSON lines: False only when the event's verb is provably unwanted.

    The API server writes compact JSON with a single top-level `"verb":"..."`. A line is skipped only
    when `"verb"` occurs exactly once, in that compact form, with a verb no detection asked for, and
    no \\u escape of a lowercase letter appears (which could hide another `verb` key). Anything else
    is parsed, so the filter can cost speed but never a detection.
    """
    wanted = interest.audit_verbs
    if wanted is None:
        return None
    wanted_bytes = frozenset(v.encode() for v in wanted)
    needle = b'"verb"'
    compact = b'"verb":"'

    def wants(line: bytes) -> bool:
        i = line.find(needle)
        if i < 0 or line.startswith(compact, i) is False:
            return True
        if line.find(needle, i + 6) >= 0:
            return True
        j = line.find(b'"', i + 8)
        if j < 0 or line[i + 8 : j] in wanted_bytes:
            return True
        return b"\\u006" in line or b"\\u007" in line

    return wants
