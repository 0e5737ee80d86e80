"""Matcher specs and the predicates built from them, without pySigma.

`compiler` walks a parsed rule (pySigma's objects) and writes each detection and the condition as a
*spec*: plain data (lists, strings, numbers) that says what to test, e.g.
`["str", "cs-uri-query", [0, "union select", 0], false]`. `build` turns a spec into a `Compiled`
predicate with its prefilter literals and pins. Every rule goes through `build`, whether its spec was
just made from the rule file or read back from the compiled-rule cache (`cache`), so both paths give the
same matchers; and a scan whose rules come from the cache never imports pySigma.

Spec forms (`field` is a Sigma field name, or `RAW` for keyword searches over the record):

- `["any", [spec...]]`, `["all", [spec...]]`, `["not", spec]`, `["id", name]` (a named detection)
- `["str", field, parts, cased]`: parts are texts and wildcards (`0` for `*`, `1` for `?`)
- `["bool", field, true|false]`, `["num", field, number]`, `["null", field]`, `["exists", field, bool]`
- `["re", field, pattern]` (flags already in the pattern), `["cidr", field, network]`,
  `["cmp", field, "lt"|"lte"|"gt"|"gte"|"neq", number]`, `["ref", field, other, starts_with, ends_with]`
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from cloudward import saferegex

#: literals shorter than this pick too many events to be worth a prefilter entry
MIN_LITERAL = 3
#: literal length beyond which a longer literal does not count as more selective (`literal_weight`)
LITERAL_WEIGHT_CAP = 10
#: the raw record, for keyword (field-less) searches
RAW = "\x00raw"
#: wildcards in a `str` spec's parts
MULTI, SINGLE = 0, 1


class Unsupported(Exception):
    """A rule feature Cloudward does not evaluate; the message says which."""


class Invalid(Exception):
    """A rule that breaks Sigma's own rules in a way pySigma only finds when the condition is used."""


_UNSET: Any = object()


class EventValues:
    """One event's field values, read once each and kept in the forms the matchers need."""

    __slots__ = ("_folded", "_raw", "event", "getters")

    def __init__(self, event: Any, getters: Mapping[str, Any]) -> None:
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
            return out  # type: ignore[no-any-return]
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
    #: for a string test on one field (or an `or` of them): (field, cased, whole values, prefixes, suffixes,
    #: substrings), so an `or` of such tests on one field is one predicate reading the field once (`_any`)
    leaf: tuple[str, bool, frozenset[str], tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None = None
    #: for an `and`: each term's predicate (the predicate holds when each of theirs does) and, for a term that
    #: is a pin on one field (its `by_pins`, one field), that field; so a pin index that has tested the field
    #: need not test the term again (`RuleGroup._prepare_checks`). Only these, not the terms themselves: a rule
    #: set keeps thousands of them
    parts: tuple[tuple[Pred, str | None], ...] = ()


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
    literals, pins = _union([c.literals for c in subs]), _pins_or([c.pins for c in subs])
    first = subs[0].leaf
    if first is not None and all(c.leaf is not None and c.leaf[:2] == first[:2] for c in subs):
        # string tests on one field: "some test holds for some value" is "some value passes some test"
        leaf = (first[0], first[1], frozenset().union(*(c.leaf[2] for c in subs)),  # type: ignore[index]
                *(tuple(x for c in subs for x in c.leaf[k]) for k in (3, 4, 5)))  # type: ignore[index]
        return Compiled(_strings_pred(*leaf), literals, pins, by_pins, leaf)  # type: ignore[arg-type]
    def pred(ev: EventValues) -> bool:
        for p in preds:
            if p(ev):
                return True
        return False

    return Compiled(pred, literals, pins, by_pins)


def _strings_pred(field: str, cased: bool, whole: frozenset[str], prefixes: tuple[str, ...],
                  suffixes: tuple[str, ...], inside: tuple[str, ...]) -> Pred:
    """Whether some value of `field` (case-folded unless `cased`) equals one of `whole`, starts with one of
    `prefixes`, ends with one of `suffixes` or holds one of `inside`."""
    def pred(ev: EventValues) -> bool:
        vals = ev.texts(field) if cased else ev.folded(field)
        if not vals:
            return False
        for v in vals:
            if v in whole or v.startswith(prefixes) or v.endswith(suffixes):
                return True
            for w in inside:
                if w in v:
                    return True
        return False

    return pred


def _all(subs: list[Compiled]) -> Compiled:
    if len(subs) == 1:
        return subs[0]
    preds = tuple(c.pred for c in subs)
    # an `and` of pins on distinct fields (on one field, a list's values could meet two pins separately)
    fields = [k for c in subs for k in c.pins]
    by_pins = all(c.by_pins for c in subs) and len(fields) == len(set(fields))
    def pred(ev: EventValues) -> bool:
        for p in preds:
            if not p(ev):
                return False
        return True

    return Compiled(pred, _best([c.literals for c in subs]), _pins_and([c.pins for c in subs]), by_pins,
                    parts=tuple((c.pred, next(iter(c.pins)) if c.by_pins and len(c.pins) == 1 else None)
                                for c in subs))


def _not(inner: Compiled) -> Compiled:
    pred = inner.pred
    return Compiled(lambda ev: not pred(ev), None)


# -- leaves ------------------------------------------------------------------------------------
def _string(field: str, parts: list[Any], cased: bool) -> Compiled:
    """A string value: equality, prefix, suffix, substring, or (other wildcards) an RE2 full match."""
    fold = (lambda x: x) if cased else str.casefold
    pieces = [p for p in parts if isinstance(p, str)]
    longest = max(pieces, key=len, default="").casefold()
    lits = frozenset({f"{field}\x1f{longest}"}) if len(longest) >= MIN_LITERAL else None
    specials = [p for p in parts if not isinstance(p, str)]
    values = (lambda ev: ev.texts(field)) if cased else (lambda ev: ev.folded(field))
    nothing: frozenset[str] = frozenset()
    if not specials:
        want = fold("".join(pieces))
        pins = {} if cased or field == RAW else {field: frozenset({want})}
        exact = frozenset({f"{field}\x1e{longest}"}) if lits else None
        leaf = (field, cased, frozenset({want}), (), (), ())
        return Compiled(_strings_pred(*leaf), exact, pins, bool(pins), leaf)
    inner = parts[1:-1] if len(parts) >= 2 else []
    if all(isinstance(p, str) for p in inner) and len(parts) >= 2 and parts[0] == MULTI and parts[-1] == MULTI:
        leaf = (field, cased, nothing, (), (), (fold("".join(inner)),))
        return Compiled(_strings_pred(*leaf), lits, leaf=leaf)
    if parts[-1] == MULTI and all(isinstance(p, str) for p in parts[:-1]):
        leaf = (field, cased, nothing, (fold("".join(parts[:-1])),), (), ())
        return Compiled(_strings_pred(*leaf), lits, leaf=leaf)
    if parts[0] == MULTI and all(isinstance(p, str) for p in parts[1:]):
        leaf = (field, cased, nothing, (), (fold("".join(parts[1:])),), ())
        return Compiled(_strings_pred(*leaf), lits, leaf=leaf)
    pattern = "".join(".*" if p == MULTI else "." if p == SINGLE else _re2_escape(fold(p)) for p in parts)
    rx = saferegex.compile("(?s)" + pattern)
    return Compiled(lambda ev: any(rx.fullmatch(saferegex.bounded(v)) for v in values(ev) or ()), lits)


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


def _number(field: str, n: int | float) -> Compiled:
    text = str(n)  # a value equal to the number shows these digits
    lits = frozenset({f"{field}\x1e{text}"}) if len(text) >= MIN_LITERAL and not isinstance(n, float) else None
    return Compiled(_number_equals(field, n), lits)


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


_OPS: dict[str, Callable[[float, float], bool]] = {
    "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b, "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
    "neq": lambda a, b: a != b,
}


def _compare(field: str, op: str, n: int | float) -> Pred:
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


def _fieldref(field: str, other: str, starts_with: bool, ends_with: bool) -> Pred:
    """This field compared with another field of the same event (`fieldref`; with `contains`,
    `startswith` or `endswith`, pySigma marks the reference as matching at the start and/or the end)."""
    if starts_with and ends_with:
        def test(a: str, b: str) -> bool:
            return b in a
    elif starts_with:
        def test(a: str, b: str) -> bool:
            return a.startswith(b)
    elif ends_with:
        def test(a: str, b: str) -> bool:
            return a.endswith(b)
    else:
        def test(a: str, b: str) -> bool:
            return a == b

    def pred(ev: EventValues) -> bool:
        others = ev.folded(other) or []
        return any(test(a, b) for a in ev.folded(field) or () for b in others)

    return pred


def _regex(field: str, pattern: str) -> Compiled:
    try:
        rx = saferegex.compile(pattern)
    except ValueError as exc:
        raise Unsupported(f"regular expression RE2 cannot run in linear time: {exc}") from None

    def pred(ev: EventValues) -> bool:
        return any(rx.search(saferegex.bounded(x)) for x in ev.texts(field) or ())

    return Compiled(pred, None)


def build(spec: list[Any], named: Mapping[str, Compiled] | None = None) -> Compiled:
    """The `Compiled` matcher of a spec; `["id", name]` resolves to `named[name]` itself (the same object:
    a condition that is one selection *is* that selection)."""
    kind = spec[0]
    if kind == "any":
        return _any([build(s, named) for s in spec[1]])
    if kind == "all":
        return _all([build(s, named) for s in spec[1]])
    if kind == "not":
        return _not(build(spec[1], named))
    if kind == "id":
        if named is None or spec[1] not in named:
            raise Invalid(f"condition names {spec[1]!r}, which the rule does not define")
        return named[spec[1]]
    field = spec[1]
    if kind == "str":
        return _string(field, list(spec[2]), bool(spec[3]))
    if kind == "bool":
        want = "true" if spec[2] else "false"
        return Compiled(lambda ev: any(x == want for x in ev.folded(field) or ()), None)
    if kind == "num":
        return _number(field, spec[2])
    if kind == "null":
        return Compiled(lambda ev: not ev.texts(field) or all(x == "" for x in ev.texts(field) or ()), None)
    if kind == "exists":
        want = bool(spec[2])
        return Compiled(lambda ev: (ev.raw(field) is not None) == want, None)
    if kind == "re":
        return _regex(field, spec[2])
    if kind == "cidr":
        return Compiled(_cidr(field, ipaddress.ip_network(spec[2])), None)
    if kind == "cmp":
        return Compiled(_compare(field, spec[2], spec[3]), None)
    if kind == "ref":
        return Compiled(_fieldref(field, spec[2], bool(spec[3]), bool(spec[4])), None)
    raise ValueError(f"unknown matcher spec {kind!r}")
