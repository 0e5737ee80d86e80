"""Compiling a parsed Sigma rule (pySigma's objects) into plain Python predicates over one event.

pySigma has already applied the value modifiers when it parsed the rule (`contains` became wildcards,
`base64offset` and `windash` became expansions, `re` a regular-expression value ...); what is left is a
small set of value types, each compiled here into a matcher:

- strings: Sigma compares case-insensitively (`cased` excepted); a string without wildcards is an
  equality, `x*`/`*x`/`*x*` are prefix/suffix/substring tests, anything else a linear-time RE2 pattern
- numbers, booleans, `null`, `exists`, `gt`/`gte`/`lt`/`lte`, `cidr`, `fieldref`, `re` (RE2, flags i/m/s)

Everything attacker-written (URLs, agents, command lines) is only ever compared with str methods or RE2,
and cut at `saferegex.MAX_SUBJECT` before a pattern sees it, so no input can make a rule slow.

A feature that cannot be evaluated faithfully (a field the log source's events do not carry, a
placeholder with no values in the configuration, a regular expression RE2 refuses) raises
`Unsupported`: the rule is reported, never half-applied.

Each compiled rule also offers `literals`: lowercase substrings at least one of which appears in the
event's field values whenever the rule can match (or None when no such set exists). The rule group
runs one Aho-Corasick automaton over all rules' literals and evaluates only the rules it points at.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from sigma.conditions import (
    ConditionAND,
    ConditionIdentifier,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionSelector,
)
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
)

from cloudward import saferegex
from cloudward.sigma.fields import Getter, LogSourceMapping

#: literals shorter than this pick too many events to be worth a prefilter entry
MIN_LITERAL = 3
#: literal length beyond which a longer literal does not count as more selective (`literal_weight`)
LITERAL_WEIGHT_CAP = 10
#: the raw record, for keyword (field-less) searches
RAW = "\x00raw"


class Unsupported(Exception):
    """A rule feature Cloudward does not evaluate; the message says which."""


class Invalid(Exception):
    """A rule that breaks Sigma's own rules in a way pySigma only finds when the condition is used."""


_UNSET: Any = object()


class EventValues:
    """One event's field values, read once each and kept in the forms the matchers need."""

    __slots__ = ("_folded", "_raw", "event", "getters")

    def __init__(self, event: Any, getters: Mapping[str, Getter]) -> None:
        self.event = event
        self.getters = getters
        self._raw: dict[str, Any] = {}
        self._folded: dict[str, list[str] | None] = {}

    def raw(self, name: str) -> Any:
        value = self._raw.get(name, _UNSET)
        if value is not _UNSET:
            return value
        if name == RAW:
            value = raw_text(self.event)
        else:
            get = self.getters.get(name)
            try:
                value = get(self.event) if get is not None else None
            except (AttributeError, TypeError, ValueError):
                value = None
        self._raw[name] = value
        return value

    def texts(self, name: str) -> list[str] | None:
        """The value(s) as strings (lists give one string per element), or None when absent."""
        v = self.raw(name)
        if v is None:
            return None
        if isinstance(v, list | tuple):
            return [t for x in v if (t := _text(x)) is not None]
        t = _text(v)
        return None if t is None else [t]

    def folded(self, name: str) -> list[str] | None:
        out = self._folded.get(name, _UNSET)
        if out is not _UNSET:
            return out  # type: ignore[return-value]
        texts = self.texts(name)
        out = None if texts is None else [t.casefold() for t in texts]
        self._folded[name] = out
        return out


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    if isinstance(v, dict | list):
        return orjson.dumps(v).decode()
    return str(v)


def raw_text(event: Any) -> str:
    """The record as text, for keyword searches: the log line itself, or the JSON record."""
    raw = event.get("\x00line", "") if isinstance(event, dict) else getattr(event, "raw", None)
    if isinstance(raw, str):
        return raw
    if raw is None:
        return ""
    try:
        return orjson.dumps(raw, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return str(raw)


Pred = Callable[[EventValues], bool]


@dataclass
class Compiled:
    """A predicate and the literals that prefilter it (None: no literal set is necessary).

    A literal is written `field US text` (0x1f between; RS, 0x1e, for the whole value of an exact match):
    the field whose value must contain the text."""

    pred: Pred
    literals: frozenset[str] | None
    #: field -> the only (casefolded) values it can have when the predicate holds (exact matches)
    pins: dict[str, frozenset[str]] = field(default_factory=dict)
    #: True when the pins are the whole predicate: it holds exactly when each pinned field has one of its
    #: pinned values (exact, case-insensitive matches joined by `and` over distinct fields and by `or` over
    #: one field), so a pin index that selects the rule has decided its match
    by_pins: bool = False


def _pins_and(options: list[dict[str, frozenset[str]]]) -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for o in options:
        for k, v in o.items():
            out[k] = out[k] & v if k in out else v
    return out


def _pins_or(options: list[dict[str, frozenset[str]]]) -> dict[str, frozenset[str]]:
    if not options:
        return {}
    common = set(options[0]).intersection(*options[1:])
    return {k: frozenset().union(*(o[k] for o in options)) for k in common}


def _best(options: list[frozenset[str] | None]) -> frozenset[str] | None:
    """For an AND: the most selective necessary set (longest shortest literal, then fewest)."""
    known = [o for o in options if o]
    if not known:
        return None
    return max(known, key=lambda s: (min(map(literal_weight, s)), -len(s)))


def literal_parts(entry: str) -> tuple[str, str]:
    """`field US text` (a substring literal) or `field RS text` (the whole value of an exact match)."""
    for sep in ("\x1f", "\x1e"):
        field, found, text = entry.partition(sep)
        if found:
            return field, text
    raise ValueError(entry)


def literal_weight(entry: str) -> int:
    """How selective a literal is likely to be: its length, less for whole values of exact matches
    (`GET`, `create`, `200`: a few such values make up most of the traffic)."""
    _, text = literal_parts(entry)
    # past a dozen characters more length says little (a crawler's full user agent is long and common)
    return min(len(text), LITERAL_WEIGHT_CAP) - (3 if "\x1e" in entry else 0)


def _union(options: list[frozenset[str] | None]) -> frozenset[str] | None:
    """For an OR: every branch must offer literals, and any of them will do."""
    if not options or any(not o for o in options):
        return None
    out: set[str] = set()
    for o in options:
        out |= o  # type: ignore[operator]
    return frozenset(out)


def _any(subs: list[Compiled]) -> Compiled:
    if len(subs) == 1:
        return subs[0]
    preds = tuple(c.pred for c in subs)
    # an `or` of pins on one and the same field is a pin on that field (any of the values)
    by_pins = all(c.by_pins and len(c.pins) == 1 and c.pins.keys() == subs[0].pins.keys() for c in subs)
    return Compiled(lambda ev: any(p(ev) for p in preds), _union([c.literals for c in subs]),
                    _pins_or([c.pins for c in subs]), by_pins)


def _all(subs: list[Compiled]) -> Compiled:
    if len(subs) == 1:
        return subs[0]
    preds = tuple(c.pred for c in subs)
    # an `and` of pins on distinct fields (on one field, a list's values could meet two pins separately)
    fields = [k for c in subs for k in c.pins]
    by_pins = all(c.by_pins for c in subs) and len(fields) == len(set(fields))
    return Compiled(lambda ev: all(p(ev) for p in preds), _best([c.literals for c in subs]),
                    _pins_and([c.pins for c in subs]), by_pins)


# -- values ------------------------------------------------------------------------------------
class ValueCompiler:
    """Turns one detection item's values into predicates over a field."""

    def __init__(self, rule_title: str, placeholders: Mapping[str, list[str]], field_known: Callable[[str], bool]):
        self.rule_title = rule_title
        self.placeholders = placeholders
        self.field_known = field_known

    def string(self, field: str, s: SigmaString, *, keyword: bool = False) -> Compiled:
        if s.contains_placeholder():
            return self._expanded(field, s, keyword=keyword)
        parts = list(s.s)
        if keyword:  # a keyword is found anywhere in the record
            if not parts or parts[0] != SpecialChars.WILDCARD_MULTI:
                parts.insert(0, SpecialChars.WILDCARD_MULTI)
            if parts[-1] != SpecialChars.WILDCARD_MULTI:
                parts.append(SpecialChars.WILDCARD_MULTI)
        cased = isinstance(s, SigmaCasedString)
        fold = (lambda x: x) if cased else str.casefold
        pieces = [p for p in parts if isinstance(p, str)]
        longest = max(pieces, key=len, default="").casefold()
        lits = frozenset({f"{field}\x1f{longest}"}) if len(longest) >= MIN_LITERAL else None
        specials = [p for p in parts if not isinstance(p, str)]
        values = (lambda ev: ev.texts(field)) if cased else (lambda ev: ev.folded(field))
        multi = SpecialChars.WILDCARD_MULTI
        if not specials:
            want = fold("".join(pieces))
            pins = {} if cased or field == RAW else {field: frozenset({want})}
            exact = frozenset({f"{field}\x1e{longest}"}) if lits else None
            return Compiled(lambda ev: any(v == want for v in values(ev) or ()), exact, pins, bool(pins))
        inner = parts[1:-1] if len(parts) >= 2 else []
        if all(isinstance(p, str) for p in inner) and len(parts) >= 2 and parts[0] == multi and parts[-1] == multi:
            want = fold("".join(inner))  # type: ignore[arg-type]
            return Compiled(lambda ev: any(want in v for v in values(ev) or ()), lits)
        if parts[-1] == multi and all(isinstance(p, str) for p in parts[:-1]):
            want = fold("".join(parts[:-1]))  # type: ignore[arg-type]
            return Compiled(lambda ev: any(v.startswith(want) for v in values(ev) or ()), lits)
        if parts[0] == multi and all(isinstance(p, str) for p in parts[1:]):
            want = fold("".join(parts[1:]))  # type: ignore[arg-type]
            return Compiled(lambda ev: any(v.endswith(want) for v in values(ev) or ()), lits)
        pattern = "".join(
            ".*" if p == multi else "." if p == SpecialChars.WILDCARD_SINGLE else _re2_escape(fold(p))  # type: ignore[arg-type]
            for p in parts
        )
        rx = saferegex.compile("(?s)" + pattern)
        return Compiled(lambda ev: any(rx.fullmatch(saferegex.bounded(v)) for v in values(ev) or ()), lits)

    def _expanded(self, field: str, s: SigmaString, *, keyword: bool) -> Compiled:
        names = [p.name for p in s.s if isinstance(p, Placeholder)]
        missing = [n for n in names if n not in self.placeholders]
        if missing:
            raise Unsupported(f"placeholder %{missing[0]}% has no values; set [sigma.placeholders] {missing[0]}")
        expanded = s.replace_placeholders(
            lambda p: [SigmaString(v) for v in self.placeholders[p.name]]  # type: ignore[misc]
        )
        subs = [self.string(field, x, keyword=keyword) for x in expanded]
        return _any(subs)

    def value(self, field: str | None, v: Any) -> Compiled:
        if field is None:
            if isinstance(v, SigmaString):
                return self.string(RAW, v, keyword=True)
            if isinstance(v, SigmaNumber):
                return self.string(RAW, SigmaString(str(v.number)), keyword=True)
            raise Unsupported(f"keyword value of type {type(v).__name__}")
        if isinstance(v, SigmaExpansion):
            return _any([self.value(field, x) for x in v.values])
        if isinstance(v, SigmaString):
            return self.string(field, v)
        if isinstance(v, SigmaBool):
            want = "true" if v.boolean else "false"
            return Compiled(lambda ev: any(x == want for x in ev.folded(field) or ()), None)
        if isinstance(v, SigmaTimestampPart):
            raise Unsupported(f"timestamp-part modifier on {field} (minute, hour, day ...) is not evaluated")
        if isinstance(v, SigmaNumber):
            text = str(v.number)  # a value equal to the number shows these digits
            lits = frozenset({f"{field}\x1e{text}"}) if len(text) >= MIN_LITERAL and not isinstance(
                v.number, float) else None
            return Compiled(_number_equals(field, v.number), lits)
        if isinstance(v, SigmaNull):
            return Compiled(lambda ev: not ev.texts(field) or all(x == "" for x in ev.texts(field) or ()), None)
        if isinstance(v, SigmaExists):
            want = bool(v.exists)
            return Compiled(lambda ev: (ev.raw(field) is not None) == want, None)
        if isinstance(v, SigmaRegularExpression):
            return self._regex(field, v)
        if isinstance(v, SigmaCIDRExpression):
            return Compiled(_cidr(field, v.network), None)
        if isinstance(v, SigmaCompareExpression):
            return Compiled(_compare(field, v.op, v.number.number), None)
        if isinstance(v, SigmaFieldReference):
            if not self.field_known(v.field):
                raise Unsupported(f"fieldref to {v.field!r}, a field this log source's events do not carry")
            return Compiled(_fieldref(field, v), None)
        raise Unsupported(f"value type {type(v).__name__} (field {field})")

    def _regex(self, field: str, v: SigmaRegularExpression) -> Compiled:
        flags = ""
        if SigmaRegularExpressionFlag.IGNORECASE in v.flags:
            flags += "i"
        if SigmaRegularExpressionFlag.MULTILINE in v.flags:
            flags += "m"
        if SigmaRegularExpressionFlag.DOTALL in v.flags:
            flags += "s"
        text = str(v.regexp)
        try:
            rx = saferegex.compile((f"(?{flags})" if flags else "") + text)
        except ValueError as exc:
            raise Unsupported(f"regular expression RE2 cannot run in linear time: {exc}") from None

        def pred(ev: EventValues) -> bool:
            return any(rx.search(saferegex.bounded(x)) for x in ev.texts(field) or ())

        return Compiled(pred, None)


def _re2_escape(s: str) -> str:
    return "".join("\\" + c if not (c.isalnum() or c == "_" or ord(c) > 127) else c for c in s)


def _as_number(x: Any) -> float | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, int | float):
        return float(x)
    if isinstance(x, str):
        try:
            return float(x.strip())
        except ValueError:
            return None
    return None


def _number_equals(field: str, n: int | float) -> Pred:
    want_text = str(n)
    want = float(n)

    def pred(ev: EventValues) -> bool:
        v = ev.raw(field)
        if type(v) is int:  # the common case: a status code
            return v == want
        for x in v if isinstance(v, list | tuple) else (v,):
            if x is None:
                continue
            num = _as_number(x)
            if num is not None and num == want:
                return True
            if isinstance(x, str) and x.strip().casefold() == want_text:
                return True
        return False

    return pred


_OPS: dict[CompareOperators, Callable[[float, float], bool]] = {
    CompareOperators.LT: lambda a, b: a < b, CompareOperators.LTE: lambda a, b: a <= b,
    CompareOperators.GT: lambda a, b: a > b, CompareOperators.GTE: lambda a, b: a >= b,
    CompareOperators.NEQ: lambda a, b: a != b,
}


def _compare(field: str, op: CompareOperators, n: int | float) -> Pred:
    fn = _OPS[op]
    bound = float(n)

    def pred(ev: EventValues) -> bool:
        v = ev.raw(field)
        for x in v if isinstance(v, list | tuple) else (v,):
            num = _as_number(x)
            if num is not None and fn(num, bound):
                return True
        return False

    return pred


def _cidr(field: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Pred:
    def pred(ev: EventValues) -> bool:
        for x in ev.texts(field) or ():
            try:
                addr = ipaddress.ip_address(x.strip().strip("[]"))
            except ValueError:
                continue
            if addr.version == network.version and addr in network:
                return True
        return False

    return pred


def _fieldref(field: str, ref: SigmaFieldReference) -> Pred:
    """This field compared with another field of the same event (`fieldref`; with `contains`,
    `startswith` or `endswith`, pySigma marks the reference as matching at the start and/or the end)."""
    if ref.starts_with and ref.ends_with:
        def test(a: str, b: str) -> bool:
            return b in a
    elif ref.starts_with:
        def test(a: str, b: str) -> bool:
            return a.startswith(b)
    elif ref.ends_with:
        def test(a: str, b: str) -> bool:
            return a.endswith(b)
    else:
        def test(a: str, b: str) -> bool:
            return a == b

    def pred(ev: EventValues) -> bool:
        others = ev.folded(ref.field) or []
        return any(test(a, b) for a in ev.folded(field) or () for b in others)

    return pred


# -- detections --------------------------------------------------------------------------------
class RuleCompiler:
    """Compiles one rule's named detections and its condition against one log-source mapping."""

    def __init__(self, rule: SigmaRule, mapping: LogSourceMapping, placeholders: Mapping[str, list[str]]):
        self.rule = rule
        self.mapping = mapping
        self.getters: dict[str, Getter] = {}
        self.values = ValueCompiler(rule.title, placeholders, self._known)

    def _known(self, name: str) -> bool:
        if name in self.getters:
            return True
        get = self.mapping.field_getter(name)
        if get is None:
            return False
        self.getters[name] = get
        return True

    def item(self, item: SigmaDetectionItem) -> Compiled:
        field = item.field
        if field is not None and not self._known(field):
            raise Unsupported(f"field {field!r} is not in the {self.mapping.name} mapping (Cloudward's "
                              f"{'/'.join(k.__name__ for k in self.mapping.kinds)} events do not carry it)")
        if field is None:
            self.getters[RAW] = raw_text  # keyword searches read the record itself
        if not item.value:
            raise Unsupported(f"empty value list for {field or 'keywords'}")
        subs = [self.values.value(field, v) for v in item.value]
        compiled = _all(subs) if item.value_linking is ConditionAND else _any(subs)
        if getattr(item, "negated", False):
            inner = compiled.pred
            return Compiled(lambda ev: not inner(ev), None)
        return compiled

    def detection(self, det: SigmaDetection) -> Compiled:
        subs = [self.detection(x) if isinstance(x, SigmaDetection) else self.item(x) for x in det.detection_items]
        if not subs:
            raise Unsupported("empty detection")
        return _any(subs) if det.item_linking is ConditionOR else _all(subs)

    def condition(self, node: Any, named: Mapping[str, Compiled]) -> Compiled:
        if isinstance(node, ConditionIdentifier):
            if node.identifier not in named:
                raise Invalid(f"condition names {node.identifier!r}, which the rule does not define")
            return named[node.identifier]
        if isinstance(node, ConditionSelector):
            ids = node.resolve_referenced_detections(self.rule.detection)
            if not ids:
                raise Invalid(f"'{node.args[0]} of {node.pattern}' matches no detection")
            subs = [named[i.identifier] for i in ids]
            return _all(subs) if node.cond_class is ConditionAND else _any(subs)
        if isinstance(node, ConditionNOT):
            inner = self.condition(node.args[0], named).pred
            return Compiled(lambda ev: not inner(ev), None)
        if isinstance(node, ConditionAND | ConditionOR):
            subs = [self.condition(a, named) for a in node.args]
            return _all(subs) if isinstance(node, ConditionAND) else _any(subs)
        if isinstance(node, ConditionItem):
            raise Unsupported(f"condition element {type(node).__name__}")
        raise Unsupported(f"condition element {node!r}")
