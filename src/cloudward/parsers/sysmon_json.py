"""Sysmon events as JSON: winlogbeat / Elastic Agent (`winlog.event_data`, ECS `host.name`) and
flat shippers such as NXLog (`EventID`, `SourceName`, the EventData fields at the top level).

Event 1 (ProcessCreate) -> `ProcessExec`, event 3 (NetworkConnect) -> `NetConnection`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cloudward.events import Event
from cloudward.parsers._sysmon import sysmon_event
from cloudward.parsers.base import JsonDialect, ParseContext, RecordRef


def _d(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _is_sysmon(name: Any) -> bool:
    return isinstance(name, str) and "sysmon" in name.lower()


class SysmonJson(JsonDialect):
    name = "sysmon-json"
    description = "Sysmon events as JSON (winlogbeat/Elastic Agent winlog.*, NXLog flat records)"
    kinds = ("ProcessExec", "NetConnection")
    order = 15

    def claims(self, record: dict[str, Any]) -> bool:
        winlog = record.get("winlog")
        if isinstance(winlog, dict):
            return _is_sysmon(winlog.get("provider_name")) or _is_sysmon(winlog.get("channel"))
        return ("EventID" in record and (_is_sysmon(record.get("SourceName")) or _is_sysmon(record.get("Channel"))
                                          or _is_sysmon(record.get("ProviderName"))))

    def events(self, record: dict[str, Any], ref: RecordRef, ctx: ParseContext) -> Iterator[Event]:
        winlog = record.get("winlog")
        if isinstance(winlog, dict):
            event_id = winlog.get("event_id")
            data = _d(winlog.get("event_data"))
            computer = winlog.get("computer_name") or _d(record.get("host")).get("name") or ""
            provider = winlog.get("provider_name") or winlog.get("channel") or ""
            when = record.get("@timestamp")
        else:
            event_id = record.get("EventID")
            data = record
            computer = record.get("Hostname") or record.get("Computer") or ""
            provider = record.get("SourceName") or record.get("ProviderName") or record.get("Channel") or ""
            when = record.get("EventTime") or record.get("TimeCreated")
        if isinstance(event_id, str) and event_id.isdigit():
            event_id = int(event_id)
        if not isinstance(event_id, int):
            raise ValueError("Sysmon record without a numeric event id")
        event = sysmon_event(event_id, data, computer=str(computer), provider=str(provider), when=when,
                             ref=str(ref), raw=record, host_override=ctx.host)
        if event is None:
            ctx.stats.skipped += 1
            return
        yield event


FORMATS = [SysmonJson()]
