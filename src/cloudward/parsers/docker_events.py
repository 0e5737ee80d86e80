"""Docker engine events as `docker events --format '{{json .}}'` prints them (one JSON object a line;
the same objects the Engine API's `GET /events` streams).

Container events become `ContainerEvent`s: `create`, `start`, `die`, `destroy`..., and
`exec_create` / `exec_start` with the exec'd command (Docker puts it after the action, as in
`exec_start: sh -c id`) and the exec id. Image, network and volume events carry nothing the
detections use and are counted, not turned into events.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cloudward.events import ContainerEvent, Event
from cloudward.parsers._values import text as _s
from cloudward.parsers.base import JsonDialect, ParseContext, RecordRef
from cloudward.timeutil import parse_time


class DockerEvents(JsonDialect):
    name = "docker-events"
    description = "docker events --format '{{json .}}' lines (Engine API /events objects)"
    kinds = ("ContainerEvent",)
    order = 20

    def claims(self, record: dict[str, Any]) -> bool:
        actor = record.get("Actor")
        return isinstance(actor, dict) and isinstance(record.get("Action"), str) and "Type" in record

    def events(self, record: dict[str, Any], ref: RecordRef, ctx: ParseContext) -> Iterator[Event]:
        if record.get("Type") != "container":
            return
        actor = record["Actor"]
        attrs = actor.get("Attributes") if isinstance(actor.get("Attributes"), dict) else {}
        action_text = _s(record.get("Action"))
        action, _, command = action_text.partition(": ")
        action = action.strip()
        container_id = _s(actor.get("ID")) or _s(record.get("id"))
        when = record.get("timeNano") or record.get("time")
        labels = {k: v for k, v in attrs.items() if isinstance(k, str) and isinstance(v, str)
                  and k not in ("image", "name", "execID")}
        yield ContainerEvent(
            event_id=str(ref), time=parse_time(when), raw=record, origin=str(ref),
            host=ctx.host, runtime="docker", action=action, container_id=container_id,
            container_name=_s(attrs.get("name")), image=_s(attrs.get("image")) or _s(record.get("from")),
            command=command.split() if command else [], labels=labels, exec_id=_s(attrs.get("execID")),
        )


FORMATS = [DockerEvents()]
