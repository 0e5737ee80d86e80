"""HTTP access records in Elastic Common Schema (Filebeat/Elastic Agent nginx and Apache modules,
Logstash pipelines, anything that writes ECS): `source.ip` (or `client.ip`), `http.request.method`,
`url.path` / `url.query` / `url.original`, `http.response.status_code`, `user_agent.original`,
`http.request.referrer`, `@timestamp`. Fields may be nested objects or dotted keys; both are read.

The site is `url.domain` (the Host the request named), else `host.name`, else `--site`, else the path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cloudward.events import Event, HttpRequest
from cloudward.parsers._web import client_ip, default_site, split_target
from cloudward.parsers.base import JsonDialect, ParseContext, RecordRef
from cloudward.timeutil import parse_time


def field(record: dict[str, Any], dotted: str) -> Any:
    """`a.b.c` from nested objects, from a flat dotted key, or from a mix of the two."""
    if dotted in record:
        return record[dotted]
    node: Any = record
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, dict):
            return None
        if part in node:
            node = node[part]
            continue
        rest = ".".join(parts[i:])
        return node.get(rest)
    return node


def _s(v: Any) -> str:
    if isinstance(v, list) and v:
        v = v[0]
    return v if isinstance(v, str) else (str(v) if isinstance(v, int) and not isinstance(v, bool) else "")


class EcsHttp(JsonDialect):
    name = "ecs-http"
    description = "ECS JSON lines with http/url/source fields (Filebeat, Elastic Agent, Logstash)"
    kinds = ("HttpRequest",)
    order = 40

    def claims(self, record: dict[str, Any]) -> bool:
        has_http = isinstance(record.get("http"), dict) or any(k.startswith("http.") for k in record)
        if not has_http:
            return False
        return field(record, "source.ip") is not None or field(record, "client.ip") is not None

    def events(self, record: dict[str, Any], ref: RecordRef, ctx: ParseContext) -> Iterator[Event]:
        raw_ip = _s(field(record, "source.ip")) or _s(field(record, "client.ip"))
        ip = client_ip(raw_ip)
        if not ip:
            raise ValueError(f"source.ip is not an IP address: {raw_ip[:60]!r}")
        when = parse_time(record.get("@timestamp") or field(record, "event.created"))
        if not when:
            raise ValueError("no readable @timestamp")
        path = _s(field(record, "url.path"))
        query = _s(field(record, "url.query"))
        if not path:
            path, query = split_target(_s(field(record, "url.original")))
        status = field(record, "http.response.status_code")
        size = field(record, "http.response.body.bytes")
        site = (_s(field(record, "url.domain")) or _s(field(record, "host.name"))).lower() \
            or default_site(ctx, ref.path)
        yield HttpRequest(
            event_id=str(ref), time=when, raw=record, site=site, client_ip=ip,
            method=_s(field(record, "http.request.method")).upper(), path=path, query=query,
            status=status if isinstance(status, int) and not isinstance(status, bool) else
            int(status) if isinstance(status, str) and status.isdigit() else 0,
            user_agent=_s(field(record, "user_agent.original")),
            referer=_s(field(record, "http.request.referrer")),
            bytes_sent=size if isinstance(size, int) and not isinstance(size, bool) else 0,
            username=_s(field(record, "user.name")),
        )


FORMATS = [EcsHttp()]
