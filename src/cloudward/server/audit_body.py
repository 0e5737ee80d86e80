"""The body of a `POST /k8s-audit` split into its audit events' raw bytes, and the prefilter `scan` uses
applied to them before anything is decoded.

The API server's webhook backend posts `EventList`s of hundreds of events, nearly all of them reads that no
card looks at. Decoding the whole body into dicts spent most of the service's CPU on events that were then
skipped; here only the envelope is decoded (msgspec, the items kept as raw bytes), the items are joined as
JSON lines, and the same block and line filters the JSON-lines reader uses for audit logs (the verb and
resource rules, and Sigma's raw literals when `[sigma]` is configured) pick the lines to decode. The worker
decodes the kept ones with the same typed decoder `scan` uses.

Skipped events leave no redelivery key, as before: whether an event is skipped depends only on its own bytes
and on the enabled detections, so a resent skipped event is skipped again and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import orjson

from cloudward.parsers._k8s import looks_like_audit_event, verb_block_filter, verb_line_filter
from cloudward.parsers.base import BlockFilter, Interest


class AuditBodyError(ValueError):
    """The body is not an audit EventList, Event or array of Events: the reason, for a 400 answer."""


class _Envelope(msgspec.Struct):
    """What tells an EventList from one Event; every other key is skipped unbuilt, `items` kept raw."""

    kind: Any = None
    apiVersion: Any = None
    auditID: Any = None
    verb: Any = None
    items: msgspec.Raw = msgspec.Raw()


_decode_envelope = msgspec.json.Decoder(_Envelope).decode
_decode_raw_list = msgspec.json.Decoder(list[msgspec.Raw]).decode
_DECODE_FAILED = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)
_WHITESPACE = b" \t\r\n"
NOT_AUDIT = "body is not an audit.k8s.io EventList, Event or array of Events"


@dataclass
class AuditBatch:
    """The events of one body: the kept ones as (index in the batch, the event's JSON on one line)."""

    kept: list[tuple[int, bytes]] = field(default_factory=list)
    total: int = 0
    skipped: int = 0


@dataclass
class AuditFilter:
    """The scan's raw-bytes filters for audit lines, built once for an engine's `Interest`."""

    line: Callable[[bytes, int, int], bool] | None
    block: BlockFilter | None

    @classmethod
    def for_interest(cls, interest: Interest) -> AuditFilter:
        return cls(verb_line_filter(interest), verb_block_filter(interest))


def _items(body: bytes) -> list[bytes]:
    """The raw JSON of each audit event in `body` (EventList, one Event, or an array)."""
    start = 0
    n = len(body)
    while start < n and body[start] in _WHITESPACE:
        start += 1
    try:
        if body[start:start + 1] == b"[":
            raw_items = _decode_raw_list(body)
        else:
            env = _decode_envelope(body)
            head = {"kind": env.kind, "apiVersion": env.apiVersion, "auditID": env.auditID, "verb": env.verb}
            raw_items = None
            if env.kind == "EventList" and len(env.items):
                try:
                    raw_items = _decode_raw_list(env.items)
                except _DECODE_FAILED:
                    raw_items = None  # `items` is not an array: not an EventList
            if raw_items is None:
                if not looks_like_audit_event(head):
                    raise AuditBodyError(NOT_AUDIT)
                return [body[start:].rstrip(_WHITESPACE)]
    except msgspec.ValidationError:  # valid JSON, not an object (a string, a number)
        raise AuditBodyError(NOT_AUDIT) from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise AuditBodyError(f"body is not JSON: {exc}") from None
    items = [bytes(item) for item in raw_items]
    if not all(item[:1] == b"{" for item in items):
        raise AuditBodyError("every audit event must be a JSON object")
    return items


def split_audit_body(body: bytes, flt: AuditFilter) -> AuditBatch:
    """Split `body` into its events and keep those the prefilter cannot rule out. Raises `AuditBodyError`
    for a body that is not JSON (invalid UTF-8 included, as a full decode would) or not audit events."""
    try:
        body.decode("utf-8")  # skipped items are never decoded: the body is refused whole, as before
    except UnicodeDecodeError as exc:
        raise AuditBodyError(f"body is not JSON: invalid UTF-8 at byte {exc.start}") from None
    items = _items(body)
    lines = []
    for item in items:
        if b"\n" in item or b"\r" in item:
            # a pretty-printed event: one compact line, the form the API server writes and the filters read
            try:
                item = orjson.dumps(orjson.loads(item))
            except orjson.JSONDecodeError as exc:
                raise AuditBodyError(f"body is not JSON: {exc}") from None
        lines.append(item)
    batch = AuditBatch(total=len(lines))
    if flt.line is None:
        batch.kept = list(enumerate(lines))
        return batch
    buf = b"\n".join(lines)
    line_needed = flt.line
    kept = batch.kept
    if flt.block is not None:
        spans, _ = flt.block(buf, 0, len(buf))
        for index, start, end in spans:
            if line_needed(buf, start, end):
                kept.append((index, buf[start:end]))
    else:
        pos = 0
        for index, line in enumerate(lines):
            end = pos + len(line)
            if line_needed(buf, pos, end):
                kept.append((index, line))
            pos = end + 1
    batch.skipped = batch.total - len(kept)
    return batch
