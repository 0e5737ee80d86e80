"""Azure Monitor `AppServiceHTTPLogs` records, in both shapes they are exported in:

* Log Analytics rows (query results, `az monitor log-analytics query`, workspace exports): flat
  columns `TimeGenerated`, `CIp`, `CsHost`, `CsMethod`, `CsUriStem`, `CsUriQuery`, `ScStatus`,
  `UserAgent`, `Referer`, `CsUsername`, `ScBytes`, `_ResourceId`, `Type`;
* diagnostic-settings records (storage account blobs, Event Hubs), usually inside `{"records": [...]}`:
  `time`, `resourceId`, `category: "AppServiceHTTPLogs"` and the same columns under `properties`
  (an object, or a JSON string in some pipelines).

The site is the app's name from the resource id (`.../sites/<app>`, `/slots/<slot>` appended as
`<app>-<slot>`), else the Host header (`CsHost`), else `--site`, else the path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from cloudward.events import Event, HttpRequest
from cloudward.parsers._values import number as _int
from cloudward.parsers._values import text_or_number as _s
from cloudward.parsers._web import client_ip, default_site
from cloudward.parsers.base import JsonDialect, ParseContext, RecordRef
from cloudward.timeutil import parse_time

CATEGORY = "AppServiceHTTPLogs"


def site_from_resource_id(resource_id: str) -> str:
    parts = resource_id.strip("/").split("/")
    lower = [p.lower() for p in parts]
    if "sites" not in lower:
        return ""
    i = lower.index("sites")
    if i + 1 >= len(parts):
        return ""
    site = lower[i + 1]
    if i + 3 < len(parts) and lower[i + 2] == "slots":
        site += "-" + lower[i + 3]
    return site


class AppServiceHttpLogs(JsonDialect):
    name = "appservice-http"
    description = "Azure Monitor AppServiceHTTPLogs (Log Analytics rows and diagnostic-settings records)"
    kinds = ("HttpRequest",)
    order = 30

    def claims(self, record: dict[str, Any]) -> bool:
        if record.get("category") == CATEGORY or record.get("Type") == CATEGORY:
            return True
        return "CIp" in record and "CsUriStem" in record

    def events(self, record: dict[str, Any], ref: RecordRef, ctx: ParseContext) -> Iterator[Event]:
        props: Any = record
        if record.get("category") == CATEGORY:
            props = record.get("properties")
            if isinstance(props, str):
                props = orjson.loads(props)
            if not isinstance(props, dict):
                raise ValueError("diagnostic record without a properties object")
        raw_ip = _s(props.get("CIp"))
        ip = client_ip(raw_ip)
        if not ip:
            raise ValueError(f"CIp is not an IP address: {raw_ip[:60]!r}")
        when = parse_time(record.get("TimeGenerated") or record.get("time") or props.get("TimeGenerated"))
        if not when:
            raise ValueError("no readable TimeGenerated/time")
        resource = _s(record.get("_ResourceId") or record.get("resourceId"))
        host = _s(props.get("CsHost")).lower()
        site = site_from_resource_id(resource) or host or default_site(ctx, ref.path)
        yield HttpRequest(
            event_id=str(ref), time=when, raw=record, site=site, client_ip=ip,
            method=_s(props.get("CsMethod")), path=_s(props.get("CsUriStem")),
            query="" if (q := _s(props.get("CsUriQuery"))) == "-" else q, status=_int(props.get("ScStatus")),
            user_agent="" if (ua := _s(props.get("UserAgent"))) == "-" else ua,
            referer="" if (rf := _s(props.get("Referer"))) == "-" else rf, bytes_sent=_int(props.get("ScBytes")),
            username="" if (u := _s(props.get("CsUsername"))) == "-" else u,
        )


FORMATS = [AppServiceHttpLogs()]
