"""Sysmon events as rendered XML: Windows Sysmon (`wevtutil qe Microsoft-Windows-Sysmon/Operational
/f:xml`, Event Viewer's "Save as XML") and Sysmon for Linux (one `<Event>` per syslog line).

Two layouts are read: one `<Event>...</Event>` per line, with anything before it (a syslog prefix)
ignored, and a document of events (optionally wrapped in `<Events>`), pretty-printed or not.

XML parsing goes through defusedxml with DTDs forbidden: no entity is ever expanded, so an XML bomb
costs nothing; an input carrying a DTD or entity declarations is reported and its events that need
them are rejected, never parsed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from cloudward.events import Event
from cloudward.inputs import DEFAULT_MAX_LINE_BYTES
from cloudward.parsers._sysmon import sysmon_event
from cloudward.parsers.base import Decoder, Format, Head, HeadFirst, LineDecoder, ParseContext

_OPEN = "<Event"
_CLOSE = "</Event>"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_event_xml(text: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(event id, EventData name -> value, System facts) of one `<Event>` element."""
    root: Element = fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    system: dict[str, str] = {}
    data: dict[str, Any] = {}
    event_id = 0
    for child in root:
        name = _local(child.tag)
        if name == "System":
            for item in child:
                tag = _local(item.tag)
                if tag == "Provider":
                    system["provider"] = item.get("Name", "")
                elif tag == "EventID":
                    text_id = (item.text or "").strip()
                    event_id = int(text_id) if text_id.isdigit() else 0
                elif tag == "TimeCreated":
                    system["time"] = item.get("SystemTime", "")
                elif tag == "Computer":
                    system["computer"] = (item.text or "").strip()
                elif tag == "EventRecordID":
                    system["record_id"] = (item.text or "").strip()
        elif name == "EventData":
            for item in child:
                if _local(item.tag) == "Data" and item.get("Name"):
                    data[item.get("Name", "")] = item.text or ""
    return event_id, data, system


class SysmonXml(Format):
    name = "sysmon-xml"
    description = "Sysmon rendered XML events (Windows Sysmon, Sysmon for Linux syslog lines)"
    kinds = ("ProcessExec", "NetConnection")

    def sniff(self, head: Head) -> int:
        data = head.data
        if b"<Event" in data and (b"Sysmon" in data or b"schemas.microsoft.com/win/2004/08/events" in data):
            return 85
        return 0

    def decoder(self, ctx: ParseContext, display: str, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                head: Head | None = None) -> Decoder:
        if head is None:  # one event per line or a document: told by the first lines
            return HeadFirst(ctx, display, max_line_bytes,
                             lambda first: self.decoder(ctx, display, max_line_bytes=max_line_bytes, head=first))
        text = head.data.decode("utf-8", "replace")
        first = next((ln for ln in text.splitlines() if _OPEN in ln), "")
        document = not (_CLOSE in first and "<!DOCTYPE" not in text)
        return _SysmonDecoder(self, ctx, display, max_line_bytes, document)

    def _line(self, line: bytes, where: str, ctx: ParseContext) -> Iterator[Event]:
        text = line.decode("utf-8", "replace")
        start = text.find(_OPEN)
        end = text.rfind(_CLOSE)
        if start < 0 or end < start:
            if text.strip():
                ctx.stats.skipped += 1
            return
        yield from self._one(text[start : end + len(_CLOSE)], where, ctx)

    def _document(self, data: bytes, display: str, ctx: ParseContext) -> Iterator[Event]:
        text = data.decode("utf-8", "replace")
        if "<!DOCTYPE" in text or "<!ENTITY" in text:
            line = text.count("\n", 0, max(text.find("<!DOCTYPE"), text.find("<!ENTITY"), 0)) + 1
            ctx.reject(f"{display}:{line}", "XML with a DTD or entity declarations refused (possible XML bomb)")
        pos, line = 0, 1
        while True:
            start = text.find(_OPEN, pos)
            # "<Events>" is the wrapper, not an event
            while start >= 0 and text.startswith("<Events", start):
                start = text.find(_OPEN, start + 7)
            if start < 0:
                return
            line += text.count("\n", pos, start)
            end = text.find(_CLOSE, start)
            if end < 0:
                ctx.reject(f"{display}:{line}", "truncated Sysmon XML: <Event> without </Event>")
                return
            chunk = text[start : end + len(_CLOSE)]
            yield from self._one(chunk, f"{display}:{line}", ctx)
            line += chunk.count("\n")
            pos = end + len(_CLOSE)

    def _one(self, chunk: str, where: str, ctx: ParseContext) -> Iterator[Event]:
        try:
            event_id, data, system = parse_event_xml(chunk)
        except DefusedXmlException as exc:
            ctx.reject(where, f"XML refused: {type(exc).__name__} (entities and DTDs are never expanded)")
            return
        except (ParseError, ValueError) as exc:
            ctx.reject(where, f"malformed Sysmon XML: {exc}")
            return
        event = sysmon_event(event_id, data, computer=system.get("computer", ""),
                             provider=system.get("provider", ""), when=system.get("time"), ref=where,
                             raw={"System": system, "EventID": event_id, "EventData": data},
                             host_override=ctx.host)
        if event is None:
            ctx.stats.skipped += 1
            return
        yield event


class _SysmonDecoder(LineDecoder):
    """One stream of Sysmon XML: an `<Event>` per line, or a document held until the end of the stream."""

    def __init__(self, fmt: SysmonXml, ctx: ParseContext, display: str, max_line_bytes: int, document: bool) -> None:
        super().__init__(ctx, display, max_line_bytes)
        self.fmt = fmt
        self.document = document
        self._doc: list[bytes] = []
        self._size = 0
        self._last = b""  # the last byte of the document so far (does it end its last line?)

    def line(self, line: bytes, lineno: int) -> list[Event]:
        return list(self.fmt._line(line, f"{self.display}:{lineno}", self.ctx))

    def is_raw(self) -> bool:
        return self.document

    def take_block(self, buf: bytes, start: int, end: int) -> list[Event]:
        if self.document:
            return self.take_raw(buf[start:end])
        return super().take_block(buf, start, end)

    def take_raw(self, data: bytes) -> list[Event]:
        limit = self.ctx.max_document_bytes
        if self._size <= limit:
            self._size += len(data)
            if self._size <= limit:
                self._doc.append(data)
            else:
                self._doc = []
        self.lineno += data.count(b"\n")
        self._last = data[-1:] or self._last
        return []

    def end(self) -> list[Event]:
        if not self.document:
            return []
        ctx = self.ctx
        ctx.stats.lines += self.lineno + (1 if self._last not in (b"", b"\n") else 0)
        if self._size > ctx.max_document_bytes:
            ctx.reject(f"{self.display}:1", f"document too large: over {ctx.max_document_bytes} bytes")
            return []
        data = b"".join(self._doc)
        self._doc = []
        return list(self.fmt._document(data, self.display, ctx))


FORMATS = [SysmonXml()]
