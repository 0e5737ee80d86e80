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


class _EventList(msgspec.Struct):
    """An EventList in one pass: each item's raw bytes (a body whose `items` is no array fails to decode)."""

    kind: Any = None
    items: list[msgspec.Raw] | None = None


_decode_envelope = msgspec.json.Decoder(_Envelope).decode
_decode_event_list = msgspec.json.Decoder(_EventList).decode
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


def _items(body: bytes) -> list[msgspec.Raw] | list[bytes]:
    """The raw JSON of each audit event in `body` (EventList, one Event, or an array)."""
    start = 0
    n = len(body)
    while start < n and body[start] in _WHITESPACE:
        start += 1
    try:
        if body[start:start + 1] == b"[":
            return _decode_raw_list(body)
        try:
            listed = _decode_event_list(body)
        except msgspec.ValidationError:
            listed = None  # not an object, or `items` is not an array: see below
        if listed is not None and listed.kind == "EventList" and listed.items is not None:
            return listed.items
        env = _decode_envelope(body)
        head = {"kind": env.kind, "apiVersion": env.apiVersion, "auditID": env.auditID, "verb": env.verb}
        if not looks_like_audit_event(head):
            raise AuditBodyError(NOT_AUDIT)
        return [body[start:].rstrip(_WHITESPACE)]
    except msgspec.ValidationError:  # valid JSON, not an object (a string, a number)
        raise AuditBodyError(NOT_AUDIT) from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise AuditBodyError(f"body is not JSON: {exc}") from None


def _lines(body: bytes, items: list[msgspec.Raw] | list[bytes]) -> bytes:
    """The events as JSON lines: the joined buffer. JSON strings cannot hold a raw newline, so a body without
    one (the API server writes compact JSON) has items without one; a pretty-printed item is written
    compact first, the form the filters read."""
    if body.find(b"\n") < 0 and body.find(b"\r") < 0:
        for raw in items:
            if memoryview(raw)[0] != 0x7B:  # `{`
                raise AuditBodyError("every audit event must be a JSON object")
        return b"\n".join(items)
    lines = []
    for raw in items:
        item = bytes(raw)
        if item[:1] != b"{":
            raise AuditBodyError("every audit event must be a JSON object")
        if b"\n" in item or b"\r" in item:
            try:
                item = orjson.dumps(orjson.loads(item))
            except orjson.JSONDecodeError as exc:
                raise AuditBodyError(f"body is not JSON: {exc}") from None
        lines.append(item)
    return b"\n".join(lines)


def split_audit_body(body: bytes, flt: AuditFilter) -> AuditBatch:
    """Split `body` into its events and keep those the prefilter cannot rule out. Raises `AuditBodyError`
    for a body that is not JSON (invalid UTF-8 included, as a full decode would) or not audit events."""
    try:
        body.decode("utf-8")  # skipped items are never decoded: the body is refused whole, as before
    except UnicodeDecodeError as exc:
        raise AuditBodyError(f"body is not JSON: invalid UTF-8 at byte {exc.start}") from None
    items = _items(body)
    batch = AuditBatch(total=len(items))
    if not items:
        return batch
    buf = _lines(body, items)
    line_needed = flt.line
    kept = batch.kept
    if line_needed is None:
        pos = 0
        for index in range(batch.total):
            end = buf.find(b"\n", pos)
            end = len(buf) if end < 0 else end
            kept.append((index, buf[pos:end]))
            pos = end + 1
        return batch
    if flt.block is not None:
        spans, _ = flt.block(buf, 0, len(buf))
        retest = not getattr(flt.block, "settled", False)  # (a settled pass decided each line: `_k8s._settled`)
        for index, start, end in spans:
            if not retest or line_needed(buf, start, end):
                kept.append((index, buf[start:end]))
    else:
        pos = 0
        for index in range(batch.total):
            end = buf.find(b"\n", pos)
            end = len(buf) if end < 0 else end
            if line_needed(buf, pos, end):
                kept.append((index, buf[pos:end]))
            pos = end + 1
    batch.skipped = batch.total - len(kept)
    return batch
