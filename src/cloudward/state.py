"""Plain, mergeable state: the shapes every stateful analytic, card and enricher shares.

State is keyed: each stateful thing declares its partition key (a site, a source address, a cluster,
a host...) and keeps one body per key, so an engine's state can be split by key (one worker per
partition), written to the store as one row per (analytic, key) and folded back together with
`merge`. Bodies are plain JSON values (orjson-dumpable); events kept in state (a scanner's pending
requests, the theme edit a later call is judged against) are written with `event_state` and read
back with `event_from_state`.

The `stable_key` of an event, (time, origin, event id), is the tie-break every deterministic choice
uses ("the first request", "the latest reason"), so a result never depends on arrival order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

from cloudward.events import EVENT_KINDS, Event, HttpSummary

_KINDS: dict[str, type[Event]] = {k.__name__: k for k in EVENT_KINDS}
_FIELDS: dict[type[Event], tuple[str, ...]] = {
    k: tuple(f.name for f in dataclasses.fields(k)) for k in EVENT_KINDS
}
#: fields that are tuples in the event classes (JSON turns them into lists)
_TUPLE_FIELDS = {"missing"}


class KeyedState(Protocol):
    """What every stateful analytic offers (cards expose the same through `Detection`)."""

    #: what the state is partitioned by, in words ("source IP", "site", "cluster", "host")
    partition: str

    def state(self) -> dict[str, Any]: ...

    def merge(self, state: Mapping[str, Any]) -> None: ...

    def advance(self, watermark: float) -> None: ...


def stable_key(event: Event) -> tuple[float, str, str]:
    return (event.time, event.origin or event.event_id, event.event_id)


def event_state(event: Event) -> dict[str, Any]:
    """An event as plain data (its kind and every field)."""
    kind = type(event)
    out: dict[str, Any] = {"kind": kind.__name__}
    for name in _FIELDS.get(kind, ()):
        value = getattr(event, name)
        out[name] = list(value) if isinstance(value, tuple) else value
    return out


def event_from_state(body: Mapping[str, Any]) -> Event:
    kind = _KINDS.get(str(body.get("kind")))
    if kind is None:
        raise ValueError(f"unknown event kind in state: {body.get('kind')!r}")
    names = _FIELDS[kind]
    values = {n: body[n] for n in names if n in body}
    for n in _TUPLE_FIELDS & values.keys():
        values[n] = tuple(values[n])
    if kind is HttpSummary and "entries" in values:  # a summary's entries are tuples
        values["entries"] = [tuple(e) for e in values["entries"]]
    return kind(**values)


def earlier(a: Event | None, b: Event | None) -> Event | None:
    """The event that comes first by `stable_key` (None loses)."""
    if a is None:
        return b
    if b is None:
        return a
    return a if stable_key(a) <= stable_key(b) else b
