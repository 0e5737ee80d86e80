"""Alerts: the contract users script against (DESIGN.md §3), deduplication and suppression.

A detection yields `Finding`s. The `AlertBook` folds findings with the same (alert type, dedup key)
into one `Alert`: a repeat raises `count`, moves `last_seen`, adds evidence (capped) and merges list
entities. A finding whose event already counted for that alert (a webhook retry with the same audit
ID, the same file scanned twice) changes nothing.
"""

from __future__ import annotations

import fnmatch
import math
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cloudward.config import Config, SuppressRule, severity_rank
from cloudward.digest import sha256_hex
from cloudward.events import Event
from cloudward.timeutil import format_time, parse_time

if TYPE_CHECKING:
    from cloudward.detections.base import Card

#: list-valued entities keep at most this many distinct values
MAX_ENTITY_VALUES = 50
#: where events without a time (inspect snapshots) sort when choosing entities: after every timed event
UNKNOWN_TIME = 1e18
#: an alert remembers this many contributing event ids to ignore redeliveries
MAX_REMEMBERED_EVENTS = 10_000


@dataclass(slots=True)
class Finding:
    """What a detection saw in one event (or, for windowed analytics, in a group of them)."""

    #: events with the same key and alert type are one alert
    key: str
    entities: dict[str, Any]
    event: Event
    #: extra values for the description template beyond the entities
    params: dict[str, Any] = field(default_factory=dict)
    severity: str | None = None
    #: (type, name) of the affected resource; default derived from the event
    resource: tuple[str, str] | None = None
    #: earlier events that belong to the evidence too (e.g. the theme edit before the call)
    related: tuple[Event, ...] = ()
    #: optional, hashable: findings with equal shapes have entities with the same keys and the same values in
    #: each list or tuple (scalars may differ). A detection that makes its entities from a plan sets it, so the
    #: book checks a repeat's entities against its alert once per shape, not on every finding
    shape: Any = None


@dataclass
class Alert:
    id: str
    alert_type: str
    title: str
    title_ko: str
    severity: str
    tactics: list[str]
    techniques: list[str]
    source: str
    first_seen: float
    last_seen: float
    count: int
    resource: dict[str, str]
    entities: dict[str, Any]
    description: str
    description_ko: str
    remediation: list[str]
    remediation_ko: list[str]
    evidence: list[dict[str, Any]]
    status: str = "active"
    suppression: dict[str, Any] | None = None
    #: contributing event ids, to make redelivery a no-op (not part of the contract)
    seen_events: set[str] = field(default_factory=set, repr=False)
    #: the (time, origin, event id) that brought each entity value, so merged books agree (not in the contract)
    entity_order: dict[str, Any] = field(default_factory=dict, repr=False)
    #: the latest finding's order key and description parameters: the description is rendered from them
    last_order: tuple[float, str, str] = field(default=(0.0, "", ""), repr=False)
    last_params: dict[str, Any] = field(default_factory=dict, repr=False)

    def state(self) -> dict[str, Any]:
        """Everything, contract and bookkeeping, as plain data (for checkpoints and merges)."""
        out = self.to_dict()
        out["first_seen"], out["last_seen"] = self.first_seen, self.last_seen
        out["seen_events"] = sorted(self.seen_events)
        out["entity_order"] = self.entity_order
        out["last_order"] = list(self.last_order)
        out["last_params"] = self.last_params
        return out

    @classmethod
    def from_state(cls, body: Mapping[str, Any]) -> Alert:
        return cls(
            id=body["id"], alert_type=body["alert_type"], title=body["title"], title_ko=body.get("title_ko", ""),
            severity=body["severity"], tactics=list(body["tactics"]), techniques=list(body["techniques"]),
            source=body["source"], first_seen=float(body["first_seen"]), last_seen=float(body["last_seen"]),
            count=int(body["count"]), resource=dict(body["resource"]), entities=dict(body["entities"]),
            description=body["description"], description_ko=body.get("description_ko", ""),
            remediation=list(body["remediation"]), remediation_ko=list(body.get("remediation_ko", [])),
            evidence=list(body["evidence"]), status=body.get("status", "active"),
            suppression=body.get("suppression"), seen_events=set(body.get("seen_events", [])),
            entity_order=dict(body.get("entity_order") or {}),
            last_order=tuple(body.get("last_order") or (0.0, "", "")),  # type: ignore[arg-type]
            last_params=dict(body.get("last_params") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "alert_type": self.alert_type,
            "title": self.title,
            "severity": self.severity,
            "tactics": self.tactics,
            "techniques": self.techniques,
            "source": self.source,
            "first_seen": format_time(self.first_seen),
            "last_seen": format_time(self.last_seen),
            "count": self.count,
            "resource": self.resource,
            "entities": self.entities,
            "description": self.description,
            "remediation": self.remediation,
            "evidence": self.evidence,
            "status": self.status,
            "title_ko": self.title_ko,
            "description_ko": self.description_ko,
            "remediation_ko": self.remediation_ko,
        }
        if self.suppression:
            out["suppression"] = self.suppression
        return out


class _Blank(dict):  # type: ignore[type-arg]
    """Template values: lists read as comma-separated text, missing names as '?'."""

    def __missing__(self, key: str) -> str:
        return "?"


#: values that say nothing: a template phrase built on one is left out rather than printed ("On unknown")
_ABSENT = frozenset({"", "unknown", "?"})
_FORMATTER = string.Formatter()


def _drop_absent(template: str, values: Mapping[str, Any]) -> str:
    """Resolve optional phrases: `[[On {host}, ]]` stays (brackets removed) when every field in it has a
    value, and is left out when one is missing or empty - or replaced by its fallback, `[[{site}||a
    site]]`; text right after a phrase left out at the very start is capitalized ("[[On {host}, ]]the
    daemon" -> "The daemon")."""
    out: list[str] = []
    pos = 0
    while True:
        start = template.find("[[", pos)
        if start < 0:
            out.append(template[pos:])
            break
        end = template.find("]]", start + 2)
        if end < 0:
            out.append(template[pos:])
            break
        out.append(template[pos:start])
        phrase, _, fallback = template[start + 2:end].partition("||")
        try:
            fields = [f for _, f, _, _ in _FORMATTER.parse(phrase) if f is not None]
        except ValueError:
            fields = []
        present = all(_present(values.get(f.split(".")[0].split("[")[0])) for f in fields)
        if present:
            out.append(phrase)
        elif fallback:
            out.append(fallback)
        elif start == 0 and end + 2 < len(template) and template[end + 2].islower():
            template = template[: end + 2] + template[end + 2].upper() + template[end + 3:]
        pos = end + 2
    return "".join(out)


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, (list, tuple)):
        return any(_present(v) for v in value)
    return str(value).strip() not in _ABSENT


def render(template: str, values: Mapping[str, Any]) -> str:
    if "[[" in template:
        template = _drop_absent(template, values)
    flat = _Blank()
    for k, v in values.items():
        if isinstance(v, (list, tuple)):
            shown = [str(x) for x in v[:10]]
            if len(v) > 10:
                shown.append(f"and {len(v) - 10} more")
            v = ", ".join(shown)
        flat[k] = v
    try:
        return template.format_map(flat)
    except (ValueError, IndexError, KeyError):  # a malformed template must not stop a scan
        return template


def alert_id(alert_type: str, resource_name: str, key: str) -> str:
    digest = sha256_hex(f"{alert_type}\x1f{resource_name}\x1f{key}".encode())
    return digest[:24]


def default_resource(event: Event) -> tuple[str, str]:
    for attr, rtype in (("cluster", "cluster"), ("site", "site"), ("host", "host")):
        value = getattr(event, attr, None)
        if value is not None:
            return rtype, value or ("kubernetes" if rtype == "cluster" else "unknown")
    return "host", "unknown"


def evidence_of(event: Event) -> dict[str, Any]:
    out = {"event_id": event.event_id, "time": format_time(event.time), "summary": event.summary(),
           "origin": event.origin or event.event_id, "raw": event.raw}
    missing = getattr(event, "missing", None)
    if missing:  # fields the source could not supply (GKE has no audit stage or level, for example)
        out["missing"] = list(missing)
    return out


def entity_matches(pattern: Mapping[str, Any], entities: Mapping[str, Any]) -> bool:
    """Every key in `pattern` matches (shell-style wildcards); a list entity matches if any value does."""
    for key, want in pattern.items():
        have = entities.get(key)
        if have is None:
            return False
        values = have if isinstance(have, (list, tuple)) else [have]
        wants = want if isinstance(want, list) else [want]
        if not any(fnmatch.fnmatchcase(str(v), str(w)) for v in values for w in wants):
            return False
    return True


def _value_id(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def _merge_entities(alert: Alert, new: Mapping[str, Any], order: tuple[float, str, str]) -> None:
    """Fold a finding's entities in. A scalar is the one of the earliest finding; a list holds the values
    of the earliest findings, in that order - so the result depends on the set of findings only."""
    into = alert.entities
    keys = alert.entity_order
    for key, value in new.items():
        if isinstance(value, (list, tuple)):
            slots = keys.setdefault(key, {})
            if not isinstance(slots, dict):
                slots = keys[key] = {}
            changed = key not in into
            for i, v in enumerate(value):  # a finding's own list keeps its order (an X-Forwarded-For chain)
                vid = _value_id(v)
                have = slots.get(vid)
                at = (*order, i)
                if have is None or at < tuple(have[0]):
                    slots[vid] = [list(at), v]
                    changed = True
            if not changed:  # the same values at the same places: the list stands as it is
                continue
            if len(slots) > MAX_ENTITY_VALUES:
                kept = sorted(slots.items(), key=lambda kv: (tuple(kv[1][0]), kv[0]))[:MAX_ENTITY_VALUES]
                slots.clear()
                slots.update(kept)
            into[key] = [v for _, (_, v) in sorted(slots.items(), key=lambda kv: (tuple(kv[1][0]), kv[0]))]
        else:
            have = keys.get(key)
            if key not in into or not isinstance(have, list) or order < tuple(have):
                into[key] = value
                keys[key] = list(order)


def _evidence_key(item: Mapping[str, Any]) -> tuple[bool, str, str, str]:
    when = str(item.get("time") or "")
    return (not when, when, str(item.get("origin") or ""), str(item.get("event_id") or ""))


@dataclass(slots=True)
class _Repeat:
    """An alert `AlertBook.add` has followed since it opened it: its count after the latest finding, and the
    greatest (time, origin, id) order of its findings."""

    alert: Alert
    count: int
    top: tuple[float, str, str]
    #: the ids in the full evidence and the sort key of its last item (None while it is not full), and a
    #: time from which an event's formatted time sorts after that item's: no formatting needed
    ids: frozenset[str] = frozenset()
    cut: tuple[bool, str, str, str] | None = None
    after: float = math.inf
    #: list entities a repeat already found placed, by key (lists of plain strings only): a later finding's list
    #: equal to one of them is placed too, without testing each value again (the alert's entities change only on
    #: the full path, which makes a new `_Repeat`)
    placed: dict[str, list[str]] | None = None
    #: the `Finding.shape` of a finding whose entities were found to change nothing (None: none yet); the alert's
    #: entities change only on the full path, which makes a new `_Repeat`
    shape: Any = None


#: `_add_repeat`'s answer when the finding must take `add`'s full path
_FULL_PATH = object()
_SEQUENCES = (list, tuple)
#: `format_time` writes four-digit years up to here; past it the strings no longer sort as the times
_FOUR_DIGIT_YEARS = 253_402_300_799.0


def _repeat_of(alert: Alert, count: int, top: tuple[float, str, str], limit: int) -> _Repeat:
    evidence = alert.evidence
    if len(evidence) < limit:
        return _Repeat(alert, count, top)
    cut = _evidence_key(evidence[-1])
    # a time 2 ms past the last item's (written to the millisecond, rounded down) formats to a later
    # millisecond, so its key sorts after the cut whatever its origin and id
    written = 0.0 if cut[0] else parse_time(cut[1])
    after = written + 0.002 if written > 0 else math.inf
    return _Repeat(alert, count, top, frozenset(e["event_id"] for e in evidence), cut, after)


def _tally(alert: Alert, seen: str, event: Event, sev: str) -> None:
    """One more finding of `alert`: its count, first and last seen, the highest severity, the ids seen
    (both the full path of `AlertBook.add` and its repeat path count a finding this way)."""
    if len(alert.seen_events) < MAX_REMEMBERED_EVENTS:
        alert.seen_events.add(seen)
    alert.count += 1
    if event.time:
        alert.first_seen = min(alert.first_seen, event.time) if alert.first_seen else event.time
        alert.last_seen = max(alert.last_seen, event.time)
    if severity_rank(sev) > severity_rank(alert.severity):
        alert.severity = sev


def _entities_placed(repeat: _Repeat, entities: Mapping[str, Any]) -> bool:
    """Whether folding `entities` into the alert of `repeat` changes nothing: each scalar already has an earlier
    finding's value, each list value an earlier place."""
    alert = repeat.alert
    into, places = alert.entities, alert.entity_order
    placed = repeat.placed
    for key, value in entities.items():
        if key not in into:
            return False
        if isinstance(value, _SEQUENCES):
            if placed is not None and type(value) is list and placed.get(key) == value:
                continue  # (equal to a list of strings found placed: the same strings)
            place = places.get(key)
            if not isinstance(place, dict):
                return False
            for v in value:
                if (v if isinstance(v, str) else repr(v)) not in place:  # `_value_id`
                    return False
            if all(type(v) is str for v in value):
                if placed is None:
                    placed = repeat.placed = {}
                placed[key] = list(value)
        elif not isinstance(places.get(key), list):
            return False
    return True


class AlertBook:
    """Every alert of a run, keyed by (alert type, dedup key)."""

    def __init__(self, config: Config | None = None, loader: Callable[[str], Alert | None] | None = None) -> None:
        self.config = config or Config()
        #: finds an alert of an earlier run (the store) before a new one is opened
        self.loader = loader
        self.evidence_limit = self.config.evidence_limit
        self._alerts: dict[tuple[str, str, str], Alert] = {}
        #: alerts whose description is due: rendered once when the book is read, not once per finding (a
        #: known scanner's every probe is a finding; the text depends only on the final entities and params)
        self._unrendered: dict[str, Alert] = {}
        self.suppressed: dict[str, int] = {}
        #: alert id -> the card's description templates (English, Korean), to re-render after a merge
        self.templates: dict[str, tuple[str, str]] = {}
        #: alerts changed since the last `drain_changed`, for streaming sinks
        self._changed: dict[str, Alert] = {}
        #: input name -> identity (`InputFile.identity`): `path:line` event ids are remembered as identity:line
        self.identities: dict[str, str] = {}
        #: book key -> `_Repeat` of the alert's latest finding, for the cheap path of a repeat (`_add_repeat`)
        self._repeats: dict[tuple[str, str, str], _Repeat] = {}

    @property
    def alerts(self) -> dict[tuple[str, str, str], Alert]:
        """Every alert by (alert type, resource, dedup key), descriptions rendered."""
        self.render_pending()
        return self._alerts

    def render_pending(self) -> None:
        if self._unrendered:
            for alert in self._unrendered.values():
                self._render(alert)
            self._unrendered.clear()

    def seen_id(self, event: Event) -> str:
        """The id under which an event counts as seen: `path:line` becomes `identity:line` for known inputs."""
        event_id = event.event_id
        path, sep, line = event_id.rpartition(":")
        if sep and self.identities:
            identity = self.identities.get(path)
            if identity is not None and identity != path:
                return f"{identity}:{line}"
        return event_id

    def add(self, card: Card, finding: Finding, severity: str, source: str | None = None) -> Alert | None:
        """Fold a finding in; returns the alert if it was created or changed.

        The result is a function of the set of findings, not of their order: first/last seen are min/max,
        evidence is the `evidence_limit` earliest events, entities and the description's parameters are
        chosen by the events' (time, origin, id)."""
        event = finding.event
        resource = finding.resource
        if resource:
            rname = resource[1]
        else:  # `default_resource`'s name, its first choice (a cluster's events) inlined: this runs once per finding
            cluster = getattr(event, "cluster", None)
            rname = (cluster or "kubernetes") if cluster is not None else default_resource(event)[1]
        book_key = (card.id, rname, finding.key)
        alert = self._alerts.get(book_key)
        sev = finding.severity or severity
        repeat = self._repeats.get(book_key)
        if repeat is not None and alert is repeat.alert and not finding.related:
            done = self._add_repeat(repeat, event, finding.shape, finding.entities, finding.params, sev)
            if done is not _FULL_PATH:
                return done  # type: ignore[return-value]
        rtype, rname = resource or default_resource(event)
        created = alert is None
        if alert is None and self.loader is not None:
            alert = self.loader(alert_id(card.id, rname, finding.key))
            if alert is not None:
                self._alerts[book_key] = alert
                if self.seen_id(event) in alert.seen_events:
                    return None
        if alert is None:
            alert = Alert(
                id=alert_id(card.id, rname, finding.key),
                alert_type=card.id,
                title=card.title,
                title_ko=card.title_ko,
                severity=sev,
                tactics=list(card.tactics),
                techniques=list(card.techniques),
                source=source or event.SOURCE,
                first_seen=event.time,
                last_seen=event.time,
                count=0,
                resource={"type": rtype, "name": rname},
                entities={},
                description="",
                description_ko="",
                remediation=list(card.remediation),
                remediation_ko=list(card.remediation_ko),
                evidence=[],
            )
            self._alerts[book_key] = alert
            self.templates[alert.id] = (card.description, card.description_ko)
        elif self.seen_id(event) in alert.seen_events:
            return None
        self.templates.setdefault(alert.id, (card.description, card.description_ko))
        _tally(alert, self.seen_id(event), event, sev)
        order = (event.time or UNKNOWN_TIME, event.origin, event.event_id)
        _merge_entities(alert, finding.entities, order)
        if order >= alert.last_order or not alert.last_params:
            alert.last_order, alert.last_params = order, dict(finding.params)
        self._unrendered[alert.id] = alert
        evidence = alert.evidence
        known = {e["event_id"] for e in evidence}
        # the evidence is kept sorted and trimmed: with it full, an event sorting at or after its last item
        # would be trimmed at once (whatever else this finding adds), so it is not built at all
        cut = _evidence_key(evidence[-1]) if evidence and len(evidence) >= self.evidence_limit else None
        added = False
        for ev in (*finding.related, event):
            if ev.event_id not in known:
                known.add(ev.event_id)
                if cut is not None and _evidence_key(
                        {"time": format_time(ev.time), "origin": ev.origin or ev.event_id, "event_id": ev.event_id}
                ) >= cut:
                    continue
                evidence.append(evidence_of(ev))
                added = True
        if added:
            self._trim_evidence(alert)
        self._changed[alert.id] = alert
        # what a repeat needs to know: only for an alert this book has followed since it opened it
        if created or (repeat is not None and repeat.alert is alert and repeat.count == alert.count - 1):
            top = order if created or order > repeat.top else repeat.top  # type: ignore[union-attr]
            self._repeats[book_key] = _repeat_of(alert, alert.count, top, self.evidence_limit)
        else:
            self._repeats.pop(book_key, None)
        return alert

    def add_repeat(self, card_id: str, key: str, event: Event, shape: Any, params: dict[str, Any],
                   severity: str) -> Alert | object | None:
        """`add` of a finding not built: of the card `card_id`, dedup `key`, on `event` (resource from the event,
        no related events), with `shape`, `params` and `severity` (the finding's, or the detection's when it has
        none) - when it repeats an alert this book follows and `shape` is the one last found to change nothing
        (`Finding.shape`: its entities are not needed). `add`'s repeat path, the same result; `_FULL_PATH`, with
        nothing changed, when it does not apply: then the finding is to be built and `add`ed."""
        cluster = getattr(event, "cluster", None)  # (`add`'s resource name of a finding without a resource)
        rname = (cluster or "kubernetes") if cluster is not None else default_resource(event)[1]
        book_key = (card_id, rname, key)
        repeat = self._repeats.get(book_key)
        if repeat is None or shape is None or shape is not repeat.shape or (
                self._alerts.get(book_key) is not repeat.alert):
            return _FULL_PATH
        return self._add_repeat(repeat, event, shape, None, params, severity)

    def _add_repeat(self, repeat: _Repeat, event: Event, shape: Any, entities: Mapping[str, Any] | None,
                    params: dict[str, Any], sev: str) -> Alert | object | None:
        """Fold in a finding (its event, shape, entities and parameters) whose order comes after every finding of
        the alert so far, when merging its entities changes nothing (each scalar already has an earlier
        finding's value, each list value an earlier place) and the full evidence keeps it out: its parameters
        become the latest, and only the count, the times, the severity and the remembered ids move. The same
        result as `add`'s full path, without merging or building evidence; `_FULL_PATH` when any of that does not
        hold (`entities` None: unknown, so only a shape already found to change nothing holds)."""
        alert = repeat.alert
        order = (event.time or UNKNOWN_TIME, event.origin, event.event_id)
        cut = repeat.cut
        if alert.count != repeat.count or not order > repeat.top or cut is None:
            return _FULL_PATH
        if shape is None or (shape is not repeat.shape and shape != repeat.shape):  # (a detection's one tuple)
            if entities is None or not _entities_placed(repeat, entities):
                return _FULL_PATH
            if shape is not None:  # (the same answer for every finding of this shape, until the full path)
                repeat.shape = shape
        event_id = event.event_id
        seen = self.seen_id(event) if ":" in event_id else event_id  # (`seen_id` maps only `path:line` ids)
        if seen in alert.seen_events:
            return None
        # an id already in the evidence is not added again, whatever its order
        if event.event_id not in repeat.ids and not repeat.after <= event.time < _FOUR_DIGIT_YEARS:
            key = (not event.time, format_time(event.time), event.origin or event.event_id, event.event_id)
            if key < cut:
                return _FULL_PATH  # it would enter the evidence
        # `_tally`, inlined (this runs once per repeat): an alert followed here has a valid severity (it went
        # through `severity_rank` on the full path), so an equal one needs no ranking
        seen_events = alert.seen_events
        if len(seen_events) < MAX_REMEMBERED_EVENTS:
            seen_events.add(seen)
        alert.count += 1
        when = event.time
        if when:
            first = alert.first_seen
            if not first or when < first:  # (min(first, when) if first else when)
                alert.first_seen = when
            if when > alert.last_seen:  # (max)
                alert.last_seen = when
        if sev != alert.severity and severity_rank(sev) > severity_rank(alert.severity):
            alert.severity = sev
        alert.last_order = order
        if params != alert.last_params:  # (equal: the book's own copy stands; a rule's findings share theirs)
            alert.last_params = dict(params)
        self._unrendered[alert.id] = alert
        self._changed[alert.id] = alert
        repeat.count, repeat.top = alert.count, order
        return alert

    def _render(self, alert: Alert) -> None:
        template, template_ko = self.templates.get(alert.id, ("", ""))
        if not template:
            return
        values = {**alert.entities, **alert.last_params}
        alert.description = render(template, values)
        alert.description_ko = render(template_ko, values)

    def _trim_evidence(self, alert: Alert) -> None:
        alert.evidence.sort(key=_evidence_key)
        del alert.evidence[self.evidence_limit:]

    # -- state ---------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The book as plain data, keyed by alert id."""
        return {"alerts": {a.id: {"book_key": list(k), "alert": a.state(),
                                  "templates": list(self.templates.get(a.id, ("", "")))}
                           for k, a in self.alerts.items()}}

    def merge(self, state: Mapping[str, Any]) -> None:
        """Fold another book's `state()` in; merging is commutative and idempotent per alert."""
        self._repeats.clear()  # merged alerts hold findings this book did not follow
        for body in (state.get("alerts") or {}).values():
            key = tuple(body["book_key"])
            other = Alert.from_state(body["alert"])
            self.templates.setdefault(other.id, tuple(body.get("templates") or ("", "")))  # type: ignore[arg-type]
            mine = self._alerts.get(key)  # type: ignore[arg-type]
            if mine is None:
                self._alerts[key] = other  # type: ignore[index]
                self._changed[other.id] = other
                continue
            self._merge_alert(mine, other)
            self._changed[mine.id] = mine

    def _merge_alert(self, mine: Alert, other: Alert) -> None:
        both = mine.seen_events & other.seen_events
        union = mine.seen_events | other.seen_events
        mine.count = mine.count + other.count - len(both)
        mine.seen_events = union if len(union) <= MAX_REMEMBERED_EVENTS else set(sorted(union)[:MAX_REMEMBERED_EVENTS])
        if other.first_seen and (not mine.first_seen or other.first_seen < mine.first_seen):
            mine.first_seen = other.first_seen
        mine.last_seen = max(mine.last_seen, other.last_seen)
        if severity_rank(other.severity) > severity_rank(mine.severity):
            mine.severity = other.severity
        for key, value in other.entities.items():
            order = other.entity_order.get(key)
            if isinstance(value, list) and isinstance(order, dict):
                for vid, (when, v) in order.items():
                    _merge_entities(mine, {key: [v]}, tuple(when))  # type: ignore[arg-type]
                    del vid
            elif isinstance(order, list):
                _merge_entities(mine, {key: value}, tuple(order))  # type: ignore[arg-type]
            elif key not in mine.entities:
                mine.entities[key] = value
        if tuple(other.last_order) > tuple(mine.last_order):
            mine.last_order, mine.last_params = tuple(other.last_order), dict(other.last_params)  # type: ignore[assignment]
        known = {e["event_id"] for e in mine.evidence}
        mine.evidence.extend(e for e in other.evidence if e["event_id"] not in known)
        self._trim_evidence(mine)
        if other.status != "active" and mine.status == "active":
            mine.status, mine.suppression = other.status, other.suppression
        self._unrendered[mine.id] = mine

    def apply_suppression(self, rules: Iterable[SuppressRule] | None = None, now: float | None = None) -> None:
        """Dismiss alerts matched by active suppression rules; counts per rule for the summary."""
        rules = list(self.config.suppress if rules is None else rules)
        for alert in self.alerts.values():
            for rule in rules:
                if rule.alert_type not in ("*", alert.alert_type) or not rule.active(now):
                    continue
                if entity_matches(rule.match, alert.entities):
                    alert.status = "dismissed"
                    alert.suppression = {"rule": rule.label(), "reason": rule.reason}
                    self.suppressed[rule.label()] = self.suppressed.get(rule.label(), 0) + 1
                    break

    def drain_changed(self) -> list[Alert]:
        self.render_pending()
        changed = list(self._changed.values())
        self._changed.clear()
        return changed

    def sorted(self, min_severity: str = "informational") -> list[Alert]:
        floor = severity_rank(min_severity)
        chosen = [a for a in self.alerts.values() if severity_rank(a.severity) >= floor]
        return sorted(chosen, key=lambda a: (a.first_seen, a.alert_type, a.id))
