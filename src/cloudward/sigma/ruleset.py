"""Loaded Sigma rules, compiled and grouped by log source, with a detection card per rule.

A `RuleGroup` holds every rule of one log source (webserver, Kubernetes audit, Linux process creation,
...). For each event it builds one lowercase haystack of the field values its rules read, runs one
Aho-Corasick automaton over it, and evaluates only the rules whose literals occur (plus the few rules
that have no necessary literal), so a hundred rules cost little more than one on ordinary traffic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import ahocorasick

from cloudward.config import Config, ConfigError, DetectionSettings
from cloudward.detections.base import Card
from cloudward.sigma.fields import Getter, LogSourceMapping
from cloudward.sigma.matchers import (
    RAW,
    Compiled,
    EventValues,
    Invalid,
    Unsupported,
    _text,
    build,
    literal_parts,
    raw_text,
)
from cloudward.sigma.rulefiles import LoadedRules, Problem, rule_path

if TYPE_CHECKING:
    from sigma.rule import SigmaRule

#: Sigma level -> Cloudward severity (Cloudward's scale tops out at high)
LEVELS = {"informational": "informational", "low": "low", "medium": "medium", "high": "high", "critical": "high"}
DATA_SOURCES = {"HttpRequest": "HTTP", "K8sAudit": "AUDIT", "ProcessExec": "PROC", "NetConnection": "HOST"}
NO_KOREAN = "이 Sigma 규칙에는 한국어 설명이 없어 영어 원문을 표시합니다."


def tactic_name(tag: str) -> str:
    """`initial-access` -> `InitialAccess` (ATT&CK tactic short names as the cards write them)."""
    return "".join(w.capitalize() for w in tag.replace("_", "-").split("-"))


def attack_tags(rule: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(tactics, techniques) of a rule's ATT&CK tags (`rule.tags`: (namespace, name) pairs)."""
    tactics: list[str] = []
    techniques: list[str] = []
    for namespace, name in rule.tags or ():
        if namespace != "attack":
            continue
        if name[:1].lower() == "t" and name[1:2].isdigit():
            t = name.upper()
            if t not in techniques:
                techniques.append(t)
        elif not (name[:1].lower() in "gs" and name[1:2].isdigit()):  # groups (g0001) and software (s0001)
            t = tactic_name(name)
            if t not in tactics:
                tactics.append(t)
    return tuple(tactics), tuple(techniques)


@dataclass(frozen=True)
class RuleInfo:
    """What Cloudward keeps of a parsed Sigma rule (or correlation) besides its detection: the card's and
    the alerts' text. Plain data, so the compiled-rule cache stores it and a warm run needs no pySigma."""

    id: str
    title: str
    description: str | None = None
    author: str | None = None
    license: str | None = None
    #: Sigma level and status, lower-cased (None when the rule gives none)
    level: str | None = None
    status: str | None = None
    references: tuple[str, ...] = ()
    falsepositives: tuple[str, ...] = ()
    #: (namespace, name) of each tag, in order
    tags: tuple[tuple[str, str], ...] = ()
    name: str | None = None
    path: str = ""

    @classmethod
    def of(cls, rule: Any) -> RuleInfo:
        """From pySigma's rule (or correlation rule) object."""
        return cls(
            id=str(rule.id), title=rule.title, description=rule.description, author=rule.author,
            license=rule.license, level=str(rule.level.name).lower() if rule.level else None,
            status=str(rule.status.name).lower() if rule.status else None,
            references=tuple(rule.references or ()), falsepositives=tuple(str(f) for f in rule.falsepositives or ()),
            tags=tuple((str(t.namespace), str(t.name)) for t in rule.tags or ()), name=rule.name or None,
            path=rule_path(rule),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleInfo:
        d = dict(data)
        for key in ("references", "falsepositives"):
            d[key] = tuple(str(x) for x in d.get(key) or ())
        d["tags"] = tuple((str(a), str(b)) for a, b in d.get("tags") or ())
        return cls(**d)


def _braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def card_for(rule: RuleInfo, mapping_name: str, data_source: str, entities: Iterable[str], license_: str) -> Card:
    tactics, techniques = attack_tags(rule)
    level = rule.level or "medium"
    desc = " ".join((rule.description or rule.title).split())
    shown = ", ".join(f"{k}={{{k}}}" for k in entities)
    refs = tuple(rule.references)
    fps = tuple(rule.falsepositives)
    author = rule.author or "unknown"
    return Card(
        id=f"SIGMA_{rule.id}",
        title=rule.title,
        title_ko=rule.title,
        severity=LEVELS.get(level, "medium"),
        tactics=tactics,
        techniques=techniques,
        data_source=data_source,
        looks_at=f"Sigma rule {rule.path} (log source {mapping_name}; author {author}; licence {license_})",
        description=_braces(desc) + f" [Sigma rule by {_braces(author)}; {shown}]",
        description_ko=f"Sigma 규칙 '{_braces(rule.title)}'이(가) 일치했습니다 ({shown}). {NO_KOREAN} " + _braces(desc),
        remediation=(
            "Review the matching event(s) in the evidence and decide whether the activity was expected.",
            *(f"Rule reference: {r}" for r in refs[:5]),
        ),
        remediation_ko=(
            "증거의 일치한 이벤트를 검토하고 예상된 활동인지 판단하십시오.",
            *(f"규칙 참고 자료: {r}" for r in refs[:5]),
        ),
        false_positives=fps,
        references=refs,
        maturity=rule.status or "experimental",
    )


#: value specs read straight off an event's typed fields (no body to decode): a pin index may use them
_CHEAP_SPECS = ("opt:", "attr:")
#: at most this many fields make a pin index's key
_PIN_INDEX_FIELDS = 2
#: distinct keys a pin index remembers before it starts over
_PIN_CACHE_MAX = 4096
#: the types of held attribute values the attribute-keyed cache takes (`_keyed_candidates`)
_KEY_TYPES = frozenset({str, int, type(None)})


@dataclass
class CompiledRule:
    rule: RuleInfo
    card: Card
    mapping: LogSourceMapping
    condition: Compiled
    named: dict[str, Compiled]
    getters: dict[str, Getter]
    settings: DetectionSettings
    #: False for a correlation's base rule that should not alert on its own (`generate: false`)
    alerts: bool = True
    license: str = ""
    #: correlations that count this rule's matches
    correlations: list[Any] = field(default_factory=list)

    @property
    def severity(self) -> str:
        return self.settings.severity or self.card.severity

    def matches(self, values: EventValues) -> bool:
        return self.condition.pred(values)

    def why(self, values: EventValues) -> list[str]:
        """The named detections (selections, filters) that hold for this event: why it matched."""
        return [name for name, c in self.named.items() if c.pred(values)]

    def why_matched(self, values: EventValues) -> list[str]:
        """`why` for an event the rule matched: a rule whose condition is its one selection needs no
        second evaluation."""
        if len(self.named) == 1:
            name, compiled = next(iter(self.named.items()))
            if compiled is self.condition:
                return [name]
        return self.why(values)


def _group_key(mapping: LogSourceMapping, logsource: Any) -> tuple[str, str | None]:
    product = (logsource.product or "").lower()
    os_name = mapping.os or (product if product in ("linux", "windows") else None)
    return mapping.name, os_name


class RuleGroup:
    """The rules of one log source (and operating system), matched together."""

    def __init__(self, mapping: LogSourceMapping, os_name: str | None) -> None:
        self.mapping = mapping
        self.os = os_name
        self.rules: list[CompiledRule] = []
        self.records = mapping.default == "record"
        self._automaton: Any = None
        self._by_literal: dict[str, list[int]] = {}
        self._always: list[int] = []
        self.getters: dict[str, Getter] = {}
        self._haystack_fields: list[str] = []
        self._haystack_getters: list[Getter] = []
        #: the pin index (`_prepare_pins`): fields, the rules pinning them, a bounded cache of lookups, and
        #: the literal filter of the other rules
        self._pin_fields: tuple[str, ...] = ()
        self._pinned: list[int] = []
        self._pin_cache: dict[tuple[tuple[str, ...], ...], list[int]] = {}
        self._loose_automaton: Any = None
        self._loose_getters: list[Getter] = []
        self._loose_by_literal: dict[str, list[int]] = {}
        self._loose_always: list[int] = []
        #: the raw-keyed candidate cache (`_prepare_raw_key`): when every field the pin index and the loose
        #: literal filter read is a typed attribute, the candidates are a function of those raw values, so
        #: an event is looked up by them before any value is folded; the fields and their getters
        self._key_fields: tuple[str, ...] = ()
        self._key_getters: tuple[Getter, ...] = ()
        self._raw_cache: dict[tuple[Any, ...], list[int]] = {}
        #: the attributes those getters read, in one call (`operator.attrgetter`), and a bounded cache of the
        #: candidates by their values as the event holds them (before a getter's `opt:` reading of "" or 0 as
        #: absent, a function of them): an event whose attributes are all str, int or None is looked up with one
        #: call and one dict lookup, its values read only when a rule is evaluated
        self._key_attrs: Any = None
        self._attr_cache: dict[tuple[Any, ...], list[int]] = {}
        #: pinned rules whose pins are their whole condition (`Compiled.by_pins`) on the index's fields:
        #: selected by the index, they match without being evaluated
        self._decided: frozenset[int] = frozenset()
        #: what is left to test of each rule once the pin index picked it (`_prepare_checks`): None for a decided
        #: rule, the other pins of a rule whose pins are its whole condition on more fields than the index's
        #: (`verb`, `objectRef.resource` and `apiGroup`: only `apiGroup`), else the condition
        self._checks: list[Callable[[EventValues], bool] | None] = []

    @property
    def name(self) -> str:
        return self.mapping.name + (f"/{self.os}" if self.os and not self.mapping.os else "")

    def add(self, rule: CompiledRule) -> None:
        self.rules.append(rule)

    def prepare(self) -> None:
        """Build the shared literal automaton once every rule is in."""
        self._by_literal.clear()
        self._always = []
        fields: set[str] = set()
        for i, r in enumerate(self.rules):
            self.getters.update(r.getters)
            if r.condition.literals:
                for entry in r.condition.literals:
                    name, lit = literal_parts(entry)
                    fields.add(name)
                    self._by_literal.setdefault(lit, []).append(i)
            else:
                self._always.append(i)
        # only the fields that carry a chosen literal go into the haystack
        self._haystack_fields = sorted(fields)
        self._haystack_getters = [self.getters[f] for f in self._haystack_fields]
        if self._by_literal:
            automaton = ahocorasick.Automaton()
            for lit in self._by_literal:
                automaton.add_word(lit, lit)
            automaton.make_automaton()
            self._automaton = automaton
        else:
            self._automaton = None
        self._prepare_pins()

    def stats(self) -> dict[str, int]:
        return {"rules": len(self.rules), "literal_prefiltered": len(self.rules) - len(self._always),
                "always_evaluated": len(self._always), "literals": len(self._by_literal)}

    def applies(self, event: Any) -> bool:
        if self.os and getattr(event, "os", self.os) != self.os:
            return False
        if self.records:
            raw = getattr(event, "raw", None)
            return isinstance(raw, dict) and isinstance(raw.get("records"), list)
        return True

    def haystack(self, subject: Any, getters: list[Getter] | None = None) -> str:
        """The literal-carrying field values of one event (or auditd record), joined and casefolded once.

        Read with the getters directly: most events stop here, so they never pay for the value cache."""
        parts: list[str] = []
        for get in self._haystack_getters if getters is None else getters:
            try:
                v = get(subject)
            except (AttributeError, TypeError, ValueError):
                continue
            if v is None:
                continue
            if type(v) is str:
                parts.append(v)
            elif isinstance(v, list | tuple):
                parts.extend(t for x in v if (t := _text(x)))
            else:
                t = _text(v)
                if t:
                    parts.append(t)
        return "\n".join(parts).casefold()

    def candidates(self, subject: Any, values: EventValues | None = None) -> list[int]:
        """Indexes of the rules worth evaluating on `subject`: with a pin index, the pinned rules whose pins the
        event's values meet and the others' literal candidates; otherwise those whose literals occur, and the
        rest."""
        if self._pin_fields:
            return self._indexed(subject, values if values is not None else EventValues(subject, self.getters))
        return self._literal_candidates(subject, self._automaton, self._haystack_getters, self._by_literal,
                                        self._always)

    def _literal_candidates(self, subject: Any, automaton: Any, getters: list[Getter],
                            by_literal: dict[str, list[int]], always: list[int]) -> list[int]:
        if automaton is None:
            return always
        text = self.haystack(subject, getters)
        if not text:
            return always
        found = {lit for _, lit in automaton.iter(text)}
        if not found:
            return always
        chosen = set(always)
        for lit in found:
            chosen.update(by_literal[lit])
        return sorted(chosen)

    def _prepare_pins(self) -> None:
        """A pin index when most rules pin the same cheap fields to exact values (Kubernetes audit rules pin
        verb and resource): an event's values of those fields select, through one dict lookup, the pinned
        rules that can match it; so an event matched by none of them reads no other field (the haystack of
        literal fields would read request bodies for `apiGroup`). The remaining rules keep the literal filter."""
        self._pin_fields = ()
        self._pin_cache.clear()
        self._key_fields, self._key_getters = (), ()
        self._key_attrs = None
        self._raw_cache.clear()
        self._attr_cache.clear()
        self._decided = frozenset()
        self._checks = []
        counts: dict[str, int] = {}
        for r in self.rules:
            for name in r.condition.pins:
                spec = self.mapping.fields.get(name, "")
                if spec.startswith(_CHEAP_SPECS):
                    counts[name] = counts.get(name, 0) + 1
        chosen = sorted((n for n, c in counts.items() if c >= 2 and 2 * c >= len(self.rules)),
                        key=lambda n: (-counts[n], n))[:_PIN_INDEX_FIELDS]
        if len(chosen) < _PIN_INDEX_FIELDS:  # one pinned field (a web method) selects too little to pay
            return
        self._pin_fields = tuple(chosen)
        from cloudward.sigma.prefilter import never_matches

        # a rule that pins an integer field to a word (`responseStatus.code: 'ALLOW'`) is never evaluated
        never = {i for i, r in enumerate(self.rules)
                 if any(never_matches(r, self.mapping, kind.__name__) for kind in self.mapping.kinds)}
        self._pinned = [i for i, r in enumerate(self.rules)
                        if i not in never and any(f in r.condition.pins for f in chosen)]
        self._decided = frozenset(i for i in self._pinned if self.rules[i].condition.by_pins
                                  and set(self.rules[i].condition.pins) <= set(chosen))
        self._prepare_checks(chosen)
        pinned = set(self._pinned) | never
        by_literal: dict[str, list[int]] = {}
        fields: set[str] = set()
        self._loose_always = []
        for i, r in enumerate(self.rules):
            if i in pinned:
                continue
            if r.condition.literals:
                for entry in r.condition.literals:
                    name, lit = literal_parts(entry)
                    fields.add(name)
                    by_literal.setdefault(lit, []).append(i)
            else:
                self._loose_always.append(i)
        self._loose_by_literal = by_literal
        self._loose_getters = [self.getters[f] for f in sorted(fields)]
        self._loose_automaton = None
        if by_literal:
            automaton = ahocorasick.Automaton()
            for lit in by_literal:
                automaton.add_word(lit, lit)
            automaton.make_automaton()
            self._loose_automaton = automaton
        self._prepare_raw_key(sorted(fields))

    def _prepare_checks(self, chosen: list[str]) -> None:
        """`_checks`: a pinned rule whose condition is nothing but its pins (`Compiled.by_pins`: exact values, one
        pin per field) matches an event the index picked it for exactly when its other fields meet their pins
        too - tested as the index tests its own fields, without evaluating the condition again."""
        checks: list[Callable[[EventValues], bool] | None] = [r.condition.pred for r in self.rules]
        for i in self._pinned:
            condition = self.rules[i].condition
            if i in self._decided:
                checks[i] = None
            elif condition.by_pins:
                checks[i] = _pins_met(tuple((f, p) for f, p in sorted(condition.pins.items()) if f not in chosen))
            elif condition.parts:
                checks[i] = _rest_of(condition, chosen)
        self._checks = checks

    def _prepare_raw_key(self, loose_fields: list[str]) -> None:
        """The raw-keyed cache when the pin fields and the loose literal fields are all typed attributes
        (Kubernetes: verb, resource and the response code): `_indexed` and `_literal_candidates` then
        depend on nothing else of the event."""
        if self.records:
            return
        names = (*self._pin_fields, *loose_fields)
        if all(self.mapping.fields.get(n, "").startswith(_CHEAP_SPECS) for n in names):
            self._key_fields = names
            self._key_getters = tuple(self.getters[n] for n in names)
            attrs = [self.mapping.fields[n].partition(":")[2] for n in names]
            if len(attrs) >= 2 and all(attrs):
                self._key_attrs = attrgetter(*attrs)

    def _keyed_candidates(self, subject: Any) -> tuple[list[int], EventValues] | None:
        """(candidates, the event's values with the key fields already read) through the raw-keyed cache;
        None when no rule can match (no values are built). A value that is not a str, an int or None (a
        list, a float: `1 == 1.0 == True` would share a key yet read differently) is not cached."""
        attrs = self._key_attrs
        held = None
        if attrs is not None:
            try:
                held = attrs(subject)
            except AttributeError:
                held = None
            if held is not None and all(map(_KEY_TYPES.__contains__, map(type, held))):
                hit = self._attr_cache.get(held)
                if hit is not None:
                    return (hit, EventValues(subject, self.getters)) if hit else None
            else:
                held = None
        raws = []
        cacheable = True
        for get in self._key_getters:
            try:
                v = get(subject)
            except (AttributeError, TypeError, ValueError):
                v = None  # as `EventValues.raw` and `haystack` read it: absent
            if v is not None and type(v) is not str and type(v) is not int:
                cacheable = False
            raws.append(v)
        key = tuple(raws)
        hit = self._raw_cache.get(key) if cacheable else None
        values = None
        if hit is None:
            values = EventValues(subject, self.getters)
            values._raw.update(zip(self._key_fields, raws, strict=True))
            hit = self._indexed(subject, values)
            if cacheable:
                if len(self._raw_cache) >= _PIN_CACHE_MAX:  # the log's values (an attacker's): bounded
                    self._raw_cache.clear()
                self._raw_cache[key] = hit
        if held is not None and cacheable:
            if len(self._attr_cache) >= _PIN_CACHE_MAX:
                self._attr_cache.clear()
            self._attr_cache[held] = hit
        if not hit:
            return None
        if values is None:
            values = EventValues(subject, self.getters)
            values._raw.update(zip(self._key_fields, raws, strict=True))
        return hit, values

    def _indexed(self, subject: Any, values: EventValues) -> list[int]:
        key = tuple(tuple(values.folded(f) or ()) for f in self._pin_fields)
        hit = self._pin_cache.get(key)
        if hit is None:
            hit = [i for i in self._pinned if all(
                not pins.isdisjoint(key[n]) for n, f in enumerate(self._pin_fields)
                if (pins := self.rules[i].condition.pins.get(f)) is not None)]
            if len(self._pin_cache) >= _PIN_CACHE_MAX:  # values are the log's (an attacker's): bounded
                self._pin_cache.clear()
            self._pin_cache[key] = hit
        loose = self._literal_candidates(subject, self._loose_automaton, self._loose_getters,
                                         self._loose_by_literal, self._loose_always)
        if not loose:
            return hit
        return sorted({*hit, *loose})

    def decided(self, event: Any) -> CompiledRule | bool:
        """What `match` would find for `event` when its pin key alone decides (its first lookup, the key's cached
        answer): the one rule it picks and needs no other test, or False - no rule; True when that does not
        decide (call `match`). The rule's values would be a fresh `EventValues` (nothing read yet)."""
        attrs = self._key_attrs
        if attrs is None or self.os or self.records:
            return True
        try:
            held = attrs(event)
        except AttributeError:
            return True
        if not _KEY_TYPES.issuperset(map(type, held)):
            return True
        hit = self._attr_cache.get(held)
        if hit is None:
            return True
        if not hit:
            return False
        if len(hit) != 1 or self._checks[hit[0]] is not None:
            return True
        return self.rules[hit[0]]

    def match(self, event: Any) -> list[tuple[CompiledRule, EventValues]]:
        """The rules that match `event`, each with the values it matched on (for auditd, the record)."""
        if (self.os or self.records) and not self.applies(event):
            return []
        attrs = self._key_attrs
        if attrs is not None:  # `_keyed_candidates`' first lookup, inlined: most events end here
            try:
                held = attrs(event)
            except AttributeError:
                held = None
            if held is not None and _KEY_TYPES.issuperset(map(type, held)):
                hit = self._attr_cache.get(held)
                if hit is not None:
                    if not hit:
                        return []
                    values = EventValues(event, self.getters)
                    rules, checks = self.rules, self._checks
                    if len(hit) == 1:  # (most keys pick one rule: without the comprehension's frame)
                        i = hit[0]
                        check = checks[i]
                        return [(rules[i], values)] if check is None or check(values) else []
                    return [(rules[i], values) for i in hit if (check := checks[i]) is None or check(values)]
        if self._key_getters:  # one subject, the event; candidates looked up by its raw key values
            keyed = self._keyed_candidates(event)
            if keyed is None:
                return []
            chosen, values = keyed
            rules, checks = self.rules, self._checks
            return [(rules[i], values) for i in chosen if (check := checks[i]) is None or check(values)]
        subjects = audit_records(event) if self.records else (event,)
        out: list[tuple[CompiledRule, EventValues]] = []
        done: set[int] = set()
        for subject in subjects:
            values = EventValues(subject, self.getters)
            chosen = self.candidates(subject, values)
            if not chosen:
                continue
            for i in chosen:
                if i in done:
                    continue
                rule = self.rules[i]
                if rule.matches(values):
                    done.add(i)
                    out.append((rule, values))
        return out


def _pins_met(fields: tuple[tuple[str, frozenset[str]], ...]) -> Callable[[EventValues], bool]:
    """A test that each of `fields` has a value among its pins, as the pin index tests its own fields (values
    folded, any value of a list)."""

    def met(values: EventValues) -> bool:
        folded = values.folded
        for name, pins in fields:
            got = folded(name)
            if not got or pins.isdisjoint(got):
                return False
        return True

    return met


def _rest_of(condition: Compiled, chosen: list[str]) -> Callable[[EventValues], bool]:
    """The terms of an `and` the pin index has not decided: a term that is a pin on one of the index's fields
    (`verb: create`) holds for every event the index picked the rule for, since the index tested the
    condition's pins of that field, which are among the term's (`_pins_and` intersects them)."""
    rest = tuple(pred for pred, pinned in condition.parts if pinned is None or pinned not in chosen)
    if len(rest) == len(condition.parts):
        return condition.pred

    def met(values: EventValues) -> bool:
        for pred in rest:
            if not pred(values):
                return False
        return True

    return met


def audit_records(event: Any) -> list[dict[str, str]]:
    """The auditd records of an event from the auditd reader, as Sigma's auditd fields (type, a0, exe...)."""
    raw = getattr(event, "raw", None)
    lines = raw.get("records") if isinstance(raw, dict) else None
    return [parse_audit_record(line) for line in lines or () if isinstance(line, str)]


def parse_audit_record(line: str) -> dict[str, str]:
    """`type=EXECVE msg=audit(..): argc=2 a0="ls" a1=2D6C` -> {"type": "EXECVE", "a0": "ls", "a1": "-l", ...}.

    Quoted values are taken as written; unquoted hex (auditd's encoding of values with spaces or
    specials) is decoded for the argument, title and name fields. The ENRICHED part after 0x1d adds
    the resolved names (UID, SYSCALL...).
    """
    out: dict[str, str] = {"\x00line": line}
    for tok in line.replace("\x1d", " ").split(" "):
        key, sep, value = tok.partition("=")
        if not sep or not key:
            continue
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        elif ((key[:1] == "a" and key[1:].isdigit()) or key in ("proctitle", "name", "cwd", "exe", "comm")) and \
                len(value) % 2 == 0 and value and all(c in "0123456789ABCDEFabcdef" for c in value):
            try:
                value = bytes.fromhex(value).decode("utf-8", "replace").replace("\x00", " ")
            except ValueError:
                pass
        if key == "msg" and value.startswith("audit("):
            continue
        out.setdefault(key, value)
    return out


@dataclass
class RuleSet:
    """Every loaded rule, compiled and grouped, with what did not load and why."""

    groups: list[RuleGroup]
    problems: list[Problem]
    loaded: LoadedRules
    correlations: list[Any] = field(default_factory=list)
    #: True when the compiled rules were read from the compiled-rule cache (`cloudward.sigma.cache`)
    cached: bool = False

    @property
    def rules(self) -> list[CompiledRule]:
        return [r for g in self.groups for r in g.rules]

    def counts(self) -> dict[str, int]:
        out = {"files": self.loaded.files, "evaluated": len(self.rules) + len(self.correlations),
               "invalid": 0, "unsupported": 0}
        for p in self.problems:
            out[p.kind] = out.get(p.kind, 0) + 1
        return out


def compile_rules(loaded: LoadedRules, mappings: list[LogSourceMapping], config: Config,
                  placeholders: Mapping[str, list[str]], license_: str = "",
                  entries: list[dict[str, Any]] | None = None) -> RuleSet:
    """Compile the parsed rules of `loaded` (pySigma's objects) into rule groups. With `entries` (a list),
    each compiled rule is also written there as plain data (`compiled_entry`) for the compiled-rule cache."""
    problems = list(loaded.problems)
    seen_ids: dict[str, str] = {}
    compiled_by_id: dict[str, CompiledRule] = {}
    ordered: list[tuple[CompiledRule, tuple[str, str | None]]] = []
    for rule in loaded.rules:
        path = rule_path(rule)
        rid = str(rule.id or "")
        if not rid:
            problems.append(Problem(path, "invalid", "rule has no id (alert types are SIGMA_<id>)", "", rule.title))
            continue
        if rid in seen_ids:
            problems.append(Problem(path, "invalid", f"duplicate rule id, first loaded from {seen_ids[rid]}",
                                    rid, rule.title))
            continue
        mapping = next((m for m in mappings if m.applies_to(vars(rule.logsource))), None)
        if mapping is None:
            ls = rule.logsource
            what = ", ".join(f"{k}: {v}" for k, v in (("category", ls.category), ("product", ls.product),
                                                      ("service", ls.service)) if v)
            problems.append(Problem(path, "unsupported", f"log source ({what}) has no Cloudward event kind",
                                    rid, rule.title))
            continue
        try:
            compiled, entry = _compile_one(rule, mapping, config, placeholders, license_)
        except Unsupported as exc:
            problems.append(Problem(path, "unsupported", str(exc), rid, rule.title))
            continue
        except Invalid as exc:
            problems.append(Problem(path, "invalid", str(exc), rid, rule.title))
            continue
        except ConfigError:
            raise
        except Exception as exc:  # pySigma raising on a construct while we walk it: report, keep the rest
            problems.append(Problem(path, "invalid", f"{type(exc).__name__}: {exc}", rid, rule.title))
            continue
        seen_ids[rid] = path
        compiled_by_id[rid] = compiled
        if rule.name:
            compiled_by_id[rule.name] = compiled
        key = _group_key(mapping, rule.logsource)
        ordered.append((compiled, key))
        if entries is not None:
            entries.append({**entry, "os": key[1]})
    correlations: list[Any] = []
    if loaded.correlations:
        from cloudward.sigma.correlation import build_correlations

        correlations = build_correlations(loaded.correlations, compiled_by_id, problems, config, license_)
    return _grouped(ordered, problems, loaded, correlations)


def _grouped(ordered: list[tuple[CompiledRule, tuple[str, str | None]]], problems: list[Problem],
             loaded: LoadedRules, correlations: list[Any]) -> RuleSet:
    """The rule set: the enabled rules grouped by log source (and OS), in load order, each group prepared."""
    groups: dict[tuple[str, str | None], RuleGroup] = {}
    for compiled, key in ordered:
        if not compiled.settings.enabled:
            continue
        group = groups.get(key)
        if group is None:
            group = groups[key] = RuleGroup(compiled.mapping, key[1])
        group.add(compiled)
    for g in groups.values():
        g.prepare()
    return RuleSet(list(groups.values()), problems, loaded, correlations)


def _compile_one(rule: SigmaRule, mapping: LogSourceMapping, config: Config,
                 placeholders: Mapping[str, list[str]], license_: str) -> tuple[CompiledRule, dict[str, Any]]:
    from cloudward.sigma.compiler import RuleCompiler

    rc = RuleCompiler(rule, mapping, placeholders)
    nodes = {name: rc.detection_node(det) for name, det in rule.detection.detections.items()}
    named = {name: compiled for name, (_, compiled) in nodes.items()}
    conditions = rule.detection.parsed_condition
    if len(conditions) != 1:
        raise Unsupported(f"{len(conditions)} conditions in one rule (write one condition with 'or')")
    tree = conditions[0].parse(postprocess=False)
    condition_spec, condition = rc.condition_node(tree, named)
    info = RuleInfo.of(rule)
    entry = {"info": info.to_dict(), "mapping": mapping.name, "named": {n: spec for n, (spec, _) in nodes.items()},
             "condition": condition_spec, "getters": list(rc.getters)}
    return _compiled_rule(info, mapping, condition, named, dict(rc.getters), config, license_), entry


def _compiled_rule(info: RuleInfo, mapping: LogSourceMapping, condition: Compiled, named: dict[str, Compiled],
                   getters: dict[str, Getter], config: Config, license_: str) -> CompiledRule:
    kind_names = [k.__name__ for k in mapping.kinds]
    data_source = DATA_SOURCES.get(kind_names[0], "HOST")
    lic = info.license or license_
    card = card_for(info, mapping.name, data_source, mapping.entities, lic or "not stated")
    return CompiledRule(rule=info, card=card, mapping=mapping, condition=condition, named=named,
                        getters=getters, settings=config.detection(card.id), license=lic)


def rules_from_entries(entries: list[dict[str, Any]], mappings: list[LogSourceMapping], config: Config,
                       license_: str, problems: list[Problem], loaded: LoadedRules) -> RuleSet:
    """The rule set of compiled-rule entries (`compile_rules(..., entries=...)`, kept by the cache): each
    rule's matchers built from its specs by `matchers.build`, as the cold path built them."""
    by_name = {m.name: m for m in mappings}
    ordered: list[tuple[CompiledRule, tuple[str, str | None]]] = []
    for entry in entries:
        mapping = by_name[entry["mapping"]]
        named = {str(n): build(spec) for n, spec in entry["named"].items()}
        condition = build(entry["condition"], named)
        getters: dict[str, Getter] = {}
        for name in entry["getters"]:
            get = raw_text if name == RAW else mapping.field_getter(name)
            if get is None:
                raise ValueError(f"field {name!r} has no getter in mapping {mapping.name}")
            getters[name] = get
        info = RuleInfo.from_dict(entry["info"])
        os_name = entry["os"]
        ordered.append((_compiled_rule(info, mapping, condition, named, getters, config, license_),
                        (mapping.name, None if os_name is None else str(os_name))))
    return _grouped(ordered, problems, loaded, [])


__all__ = ["RAW", "CompiledRule", "RuleGroup", "RuleInfo", "RuleSet", "compile_rules", "parse_audit_record",
           "rules_from_entries"]
