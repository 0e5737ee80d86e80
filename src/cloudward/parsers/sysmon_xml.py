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
from cloudward.inputs import InputFile
from cloudward.parsers._sysmon import sysmon_event
from cloudward.parsers.base import Format, Head, ParseContext

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

    def parse(self, src: InputFile, ctx: ParseContext) -> Iterator[Event]:
        head = src.head.decode("utf-8", "replace")
        first = next((ln for ln in head.splitlines() if _OPEN in ln), "")
        if _CLOSE in first and "<!DOCTYPE" not in head:
            yield from self._lines(src, ctx)
        else:
            yield from self._document(src, ctx)

    def _lines(self, src: InputFile, ctx: ParseContext) -> Iterator[Event]:
        for lineno, line in src.lines(ctx.stats):
            text = line.decode("utf-8", "replace")
            start = text.find(_OPEN)
            end = text.rfind(_CLOSE)
            if start < 0 or end < start:
                if text.strip():
                    ctx.stats.skipped += 1
                continue
            yield from self._one(text[start : end + len(_CLOSE)], f"{src.display}:{lineno}", ctx)

    def _document(self, src: InputFile, ctx: ParseContext) -> Iterator[Event]:
        data = src.read_all(ctx.stats, ctx.max_document_bytes)
        if data is None:
            return
        text = data.decode("utf-8", "replace")
        if "<!DOCTYPE" in text or "<!ENTITY" in text:
            line = text.count("\n", 0, max(text.find("<!DOCTYPE"), text.find("<!ENTITY"), 0)) + 1
            ctx.reject(f"{src.display}:{line}", "XML with a DTD or entity declarations refused (possible XML bomb)")
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
                ctx.reject(f"{src.display}:{line}", "truncated Sysmon XML: <Event> without </Event>")
                return
            chunk = text[start : end + len(_CLOSE)]
            yield from self._one(chunk, f"{src.display}:{line}", ctx)
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


FORMATS = [SysmonXml()]
