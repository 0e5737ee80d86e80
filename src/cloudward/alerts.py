"""Alerts: the contract users script against (DESIGN.md §3), deduplication and suppression.

A detection yields `Finding`s. The `AlertBook` folds findings with the same (alert type, dedup key)
into one `Alert`: a repeat raises `count`, moves `last_seen`, adds evidence (capped) and merges list
entities. A finding whose event already counted for that alert (a webhook retry with the same audit
ID, the same file scanned twice) changes nothing.
"""

from __future__ import annotations

import fnmatch
import hashlib
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cloudward.config import Config, SuppressRule, severity_rank
from cloudward.events import Event
from cloudward.timeutil import format_time

if TYPE_CHECKING:
    from cloudward.detections.base import Card

#: list-valued entities keep at most this many distinct values
MAX_ENTITY_VALUES = 50
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
    digest = hashlib.sha256(f"{alert_type}\x1f{resource_name}\x1f{key}".encode()).hexdigest()
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


def _merge_entities(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    for key, value in new.items():
        old = into.get(key)
        if old is None:
            into[key] = list(value) if isinstance(value, (list, tuple)) else value
        elif isinstance(old, list):
            for v in value if isinstance(value, (list, tuple)) else [value]:
                if v not in old and len(old) < MAX_ENTITY_VALUES:
                    old.append(v)


class AlertBook:
    """Every alert of a run, keyed by (alert type, dedup key)."""

    def __init__(self, config: Config | None = None, loader: Callable[[str], Alert | None] | None = None) -> None:
        self.config = config or Config()
        #: finds an alert of an earlier run (the store) before a new one is opened
        self.loader = loader
        self.evidence_limit = self.config.evidence_limit
        self.alerts: dict[tuple[str, str, str], Alert] = {}
        self.suppressed: dict[str, int] = {}
        #: alerts changed since the last `drain_changed`, for streaming sinks
        self._changed: dict[str, Alert] = {}
        #: input name -> identity (`InputFile.identity`): `path:line` event ids are remembered as identity:line
        self.identities: dict[str, str] = {}

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
        """Fold a finding in; returns the alert if it was created or changed."""
        event = finding.event
        rtype, rname = finding.resource or default_resource(event)
        book_key = (card.id, rname, finding.key)
        alert = self.alerts.get(book_key)
        sev = finding.severity or severity
        if alert is None and self.loader is not None:
            alert = self.loader(alert_id(card.id, rname, finding.key))
            if alert is not None:
                self.alerts[book_key] = alert
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
            self.alerts[book_key] = alert
        elif self.seen_id(event) in alert.seen_events:
            return None
        if len(alert.seen_events) < MAX_REMEMBERED_EVENTS:
            alert.seen_events.add(self.seen_id(event))
        alert.count += 1
        if event.time:
            alert.first_seen = min(alert.first_seen, event.time) if alert.first_seen else event.time
            alert.last_seen = max(alert.last_seen, event.time)
        if severity_rank(sev) > severity_rank(alert.severity):
            alert.severity = sev
        _merge_entities(alert.entities, finding.entities)
        values = {**alert.entities, **finding.params}
        alert.description = render(card.description, values)
        alert.description_ko = render(card.description_ko, values)
        for ev in (*finding.related, event):
            if len(alert.evidence) >= self.evidence_limit:
                break
            if not any(e["event_id"] == ev.event_id for e in alert.evidence):
                alert.evidence.append(evidence_of(ev))
        self._changed[alert.id] = alert
        return alert

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
        changed = list(self._changed.values())
        self._changed.clear()
        return changed

    def sorted(self, min_severity: str = "informational") -> list[Alert]:
        floor = severity_rank(min_severity)
        chosen = [a for a in self.alerts.values() if severity_rank(a.severity) >= floor]
        return sorted(chosen, key=lambda a: (a.first_seen, a.alert_type, a.id))
