"""Sigma correlation rules over the event stream: `event_count`, `value_count`, `temporal` and
`temporal_ordered`, keyed by `group-by`, windowed by `timespan`, on event time.

State is plain data per partition key (the group-by values): a time-sorted list of
`[time, base rule index, value]` entries. It follows the engine's keyed-state shape: `partition_key`,
`update`, `merge` (two states of the same correlation, from two workers or a checkpoint), `advance`
(a watermark closes windows and forgets what no window can use) and `to_dict`/`from_dict`.

Conditions `gt`/`gte` (and the temporal kinds) fire as soon as the window holds enough; `lt`, `lte`,
`eq` and `neq` can only be judged once a window is over, so they fire from `advance` (the end of the
input advances to infinity). A key's entries are cleared when it fires: one finding per window.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)

from cloudward.alerts import Finding
from cloudward.config import Config, DetectionSettings
from cloudward.detections.base import Card
from cloudward.events import Event
from cloudward.sigma.loader import Problem, rule_path
from cloudward.sigma.matchers import EventValues

Op = SigmaCorrelationConditionOperator
_CHECKS = {
    Op.GT: lambda n, c: n > c, Op.GTE: lambda n, c: n >= c, Op.LT: lambda n, c: n < c,
    Op.LTE: lambda n, c: n <= c, Op.EQ: lambda n, c: n == c, Op.NEQ: lambda n, c: n != c,
}
#: conditions that more events can only make true, so they may fire before the window ends
_RISING = {Op.GT, Op.GTE}
SUPPORTED = {SigmaCorrelationType.EVENT_COUNT, SigmaCorrelationType.VALUE_COUNT, SigmaCorrelationType.TEMPORAL,
             SigmaCorrelationType.TEMPORAL_ORDERED}


class CorrelationState:
    """Per partition key: time-sorted `[time, base index, value]` entries inside the timespan."""

    def __init__(self, timespan: float) -> None:
        self.timespan = timespan
        self.entries: dict[str, list[list[Any]]] = {}

    @staticmethod
    def partition_key(group_values: list[Any]) -> str:
        return orjson.dumps(group_values).decode()

    def update(self, key: str, time: float, base: int, value: Any = None) -> list[list[Any]]:
        rows = self.entries.setdefault(key, [])
        entry = [time, base, value]
        if not rows or rows[-1][:2] <= entry[:2]:
            rows.append(entry)
        else:  # late event: keep the list in time order
            bisect.insort(rows, entry, key=lambda e: (e[0], e[1]))
        newest = rows[-1][0]
        cut = bisect.bisect_left(rows, newest - self.timespan, key=lambda e: e[0])
        if cut:
            del rows[:cut]
        return rows

    def merge(self, other: CorrelationState) -> None:
        for key, rows in other.entries.items():
            mine = self.entries.setdefault(key, [])
            seen = {(e[0], e[1], orjson.dumps(e[2])) for e in mine}
            mine.extend(e for e in rows if (e[0], e[1], orjson.dumps(e[2])) not in seen)
            mine.sort(key=lambda e: (e[0], e[1]))

    def advance(self, watermark: float) -> list[tuple[str, list[list[Any]]]]:
        """Windows that started more than a timespan before `watermark`: (key, the window's entries).

        The window's entries are removed from the state; younger entries stay.
        """
        closed = []
        for key in list(self.entries):
            rows = self.entries[key]
            while rows and rows[0][0] + self.timespan < watermark:
                end = rows[0][0] + self.timespan
                cut = bisect.bisect_right(rows, end, key=lambda e: e[0])
                closed.append((key, rows[:cut]))
                del rows[:cut]
            if not rows:
                del self.entries[key]
        return closed

    def to_dict(self) -> dict[str, Any]:
        return {"timespan": self.timespan, "entries": self.entries}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CorrelationState:
        state = cls(float(data["timespan"]))
        state.entries = {str(k): [list(e) for e in v] for k, v in dict(data.get("entries", {})).items()}
        return state


@dataclass
class Correlation:
    rule: SigmaCorrelationRule
    card: Card
    bases: list[Any]
    group_by: list[str]
    kind: SigmaCorrelationType
    op: Op
    count: float
    value_field: str | None
    settings: DetectionSettings
    state: CorrelationState
    #: recent events per key, for evidence only (not part of the serializable state)
    recent: dict[str, list[Event]] = field(default_factory=dict)

    @property
    def alert_type(self) -> str:
        return self.card.id

    def _satisfied(self, rows: list[list[Any]]) -> bool:
        if self.kind is SigmaCorrelationType.EVENT_COUNT:
            return _CHECKS[self.op](len(rows), self.count)
        if self.kind is SigmaCorrelationType.VALUE_COUNT:
            return _CHECKS[self.op](len({orjson.dumps(e[2]) for e in rows if e[2] is not None}), self.count)
        if self.kind is SigmaCorrelationType.TEMPORAL:
            return len({e[1] for e in rows}) == len(self.bases)
        # temporal_ordered: the base rules occur in their listed order inside the window
        want = 0
        for e in rows:
            if e[1] == want:
                want += 1
                if want == len(self.bases):
                    return True
        return False

    def observe(self, base_index: int, values: EventValues, event: Event) -> Finding | None:
        group_values = []
        for name in self.group_by:
            texts = values.texts(name)
            group_values.append(texts[0] if texts and len(texts) == 1 else texts)
        key = self.state.partition_key(group_values)
        value = None
        if self.value_field:
            texts = values.texts(self.value_field)
            value = texts[0] if texts and len(texts) == 1 else texts
        rows = self.state.update(key, event.time, base_index, value)
        recent = self.recent.setdefault(key, [])
        recent.append(event)
        del recent[:-10]
        rising = self.kind in (SigmaCorrelationType.TEMPORAL, SigmaCorrelationType.TEMPORAL_ORDERED) or \
            self.op in _RISING
        if rising and self._satisfied(rows):
            del self.state.entries[key]
            return self._finding(key, group_values, self.recent.pop(key, [event]))
        return None

    def close(self, watermark: float) -> list[Finding]:
        out = []
        for key, rows in self.state.advance(watermark):
            if self.op not in _RISING and self.kind in (SigmaCorrelationType.EVENT_COUNT,
                                                         SigmaCorrelationType.VALUE_COUNT) and self._satisfied(rows):
                events = self.recent.get(key) or []
                if events:
                    out.append(self._finding(key, orjson.loads(key), events))
            self.recent.pop(key, None)
        return out

    def _finding(self, key: str, group_values: list[Any], events: list[Event]) -> Finding:
        from cloudward.sigma.detection import SigmaFinding

        entities: dict[str, Any] = {name: v for name, v in zip(self.group_by, group_values, strict=True)
                                    if v not in (None, [])}
        entities["rule_id"] = str(self.rule.id)
        entities["rule_author"] = self.rule.author or "unknown"
        entities["rule_license"] = self.rule.license or ""
        return SigmaFinding(key=key, entities=entities, event=events[-1], related=tuple(events[:-1]),
                            severity=self.settings.severity or self.card.severity, card=self.card)


def build_correlations(rules: list[SigmaCorrelationRule], compiled_by_id: Mapping[str, Any],
                       problems: list[Problem], config: Config, license_: str) -> list[Correlation]:
    from cloudward.sigma.ruleset import RuleInfo, card_for

    out = []
    for rule in rules:
        path = rule_path(rule)
        rid = str(rule.id or "")

        def unsupported(reason: str, _p: str = path, _r: str = rid, _t: str = rule.title) -> None:
            problems.append(Problem(_p, "unsupported", reason, _r, _t))

        if rule.type not in SUPPORTED:
            unsupported(f"correlation type {rule.type.name.lower()} is not evaluated")
            continue
        if not isinstance(rule.condition, SigmaCorrelationCondition):
            unsupported("extended correlation conditions are not evaluated")
            continue
        if rule.aliases and rule.aliases.aliases:
            unsupported("correlation field aliases are not evaluated")
            continue
        bases = []
        for ref in rule.rules or ():
            base = compiled_by_id.get(str(ref.reference))
            if base is None:
                unsupported(f"base rule {ref.reference} is not evaluated (see its own report)")
                break
            bases.append(base)
        else:
            group_by = list(rule.group_by or ())
            value_field = rule.condition.fieldref if isinstance(rule.condition.fieldref, str) else None
            if rule.type is SigmaCorrelationType.VALUE_COUNT and value_field is None:
                unsupported("value_count needs one field")
                continue
            missing = [f for f in (*group_by, *([value_field] if value_field else []))
                       if any(b.mapping.field_getter(f) is None for b in bases)]
            if missing:
                unsupported(f"group-by/value field {missing[0]!r} is not in the base rules' log source mapping")
                continue
            for b in bases:  # the base groups must read the fields the correlation keys on
                for f in (*group_by, *([value_field] if value_field else [])):
                    b.getters.setdefault(f, b.mapping.field_getter(f))
            first = bases[0]
            card = card_for(RuleInfo.of(rule), first.mapping.name, first.card.data_source, group_by,
                            rule.license or license_ or "not stated")
            corr = Correlation(
                rule=rule, card=card, bases=bases, group_by=group_by, kind=rule.type, op=rule.condition.op,
                count=rule.condition.count, value_field=value_field, settings=config.detection(card.id),
                state=CorrelationState(float(rule.timespan.seconds)),
            )
            if not corr.settings.enabled:
                continue
            for i, b in enumerate(bases):
                b.correlations.append((corr, i))
                if not rule.generate:
                    b.alerts = False  # a base rule of a correlation alerts only through it
            out.append(corr)
    # a base rule referenced by one correlation with generate: true keeps alerting
    for corr in out:
        if corr.rule.generate:
            for b in corr.bases:
                b.alerts = True
    return out
