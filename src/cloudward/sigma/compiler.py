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

Each matcher is written as a spec too (plain data, `matchers`), built into its predicate by
`matchers.build`; the compiled-rule cache keeps the specs, so a warm run needs no pySigma at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

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

from cloudward.sigma.fields import Getter, LogSourceMapping
from cloudward.sigma.matchers import (  # noqa: F401 (re-exported: the names this module always offered)
    LITERAL_WEIGHT_CAP,
    MIN_LITERAL,
    MULTI,
    RAW,
    SINGLE,
    Compiled,
    EventValues,
    Invalid,
    Pred,
    Unsupported,
    _all,
    _any,
    _not,
    _text,
    build,
    literal_parts,
    literal_weight,
    raw_text,
)

#: a matcher spec (`matchers.build` reads it) and the matcher built from it
Node = tuple[list[Any], Compiled]

_OP_NAMES = {CompareOperators.LT: "lt", CompareOperators.LTE: "lte", CompareOperators.GT: "gt",
             CompareOperators.GTE: "gte", CompareOperators.NEQ: "neq"}


def _leaf(spec: list[Any]) -> Node:
    return spec, build(spec)


def _or(nodes: list[Node]) -> Node:
    return ["any", [s for s, _ in nodes]], _any([c for _, c in nodes])


def _and(nodes: list[Node]) -> Node:
    return ["all", [s for s, _ in nodes]], _all([c for _, c in nodes])


def _negate(node: Node) -> Node:
    return ["not", node[0]], _not(node[1])


def _part(p: Any) -> Any:
    if isinstance(p, str):
        return p
    if p == SpecialChars.WILDCARD_MULTI:
        return MULTI
    if p == SpecialChars.WILDCARD_SINGLE:
        return SINGLE
    raise TypeError(f"string part {p!r}")


# -- values ------------------------------------------------------------------------------------
class ValueCompiler:
    """Turns one detection item's values into matchers over a field (each a spec and its `Compiled`)."""

    def __init__(self, rule_title: str, placeholders: Mapping[str, list[str]], field_known: Callable[[str], bool]):
        self.rule_title = rule_title
        self.placeholders = placeholders
        self.field_known = field_known

    def string(self, field: str, s: SigmaString, *, keyword: bool = False) -> Node:
        if s.contains_placeholder():
            return self._expanded(field, s, keyword=keyword)
        parts = list(s.s)
        if keyword:  # a keyword is found anywhere in the record
            if not parts or parts[0] != SpecialChars.WILDCARD_MULTI:
                parts.insert(0, SpecialChars.WILDCARD_MULTI)
            if parts[-1] != SpecialChars.WILDCARD_MULTI:
                parts.append(SpecialChars.WILDCARD_MULTI)
        return _leaf(["str", field, [_part(p) for p in parts], isinstance(s, SigmaCasedString)])

    def _expanded(self, field: str, s: SigmaString, *, keyword: bool) -> Node:
        names = [p.name for p in s.s if isinstance(p, Placeholder)]
        missing = [n for n in names if n not in self.placeholders]
        if missing:
            raise Unsupported(f"placeholder %{missing[0]}% has no values; set [sigma.placeholders] {missing[0]}")
        expanded = s.replace_placeholders(
            lambda p: [SigmaString(v) for v in self.placeholders[p.name]]  # type: ignore[misc]
        )
        return _or([self.string(field, x, keyword=keyword) for x in expanded])

    def value(self, field: str | None, v: Any) -> Node:
        if field is None:
            if isinstance(v, SigmaString):
                return self.string(RAW, v, keyword=True)
            if isinstance(v, SigmaNumber):
                return self.string(RAW, SigmaString(str(v.number)), keyword=True)
            raise Unsupported(f"keyword value of type {type(v).__name__}")
        if isinstance(v, SigmaExpansion):
            return _or([self.value(field, x) for x in v.values])
        if isinstance(v, SigmaString):
            return self.string(field, v)
        if isinstance(v, SigmaBool):
            return _leaf(["bool", field, bool(v.boolean)])
        if isinstance(v, SigmaTimestampPart):
            raise Unsupported(f"timestamp-part modifier on {field} (minute, hour, day ...) is not evaluated")
        if isinstance(v, SigmaNumber):
            return _leaf(["num", field, v.number])
        if isinstance(v, SigmaNull):
            return _leaf(["null", field])
        if isinstance(v, SigmaExists):
            return _leaf(["exists", field, bool(v.exists)])
        if isinstance(v, SigmaRegularExpression):
            return self._regex(field, v)
        if isinstance(v, SigmaCIDRExpression):
            return _leaf(["cidr", field, str(v.network)])
        if isinstance(v, SigmaCompareExpression):
            return _leaf(["cmp", field, _OP_NAMES[v.op], v.number.number])
        if isinstance(v, SigmaFieldReference):
            if not self.field_known(v.field):
                raise Unsupported(f"fieldref to {v.field!r}, a field this log source's events do not carry")
            return _leaf(["ref", field, v.field, bool(v.starts_with), bool(v.ends_with)])
        raise Unsupported(f"value type {type(v).__name__} (field {field})")

    def _regex(self, field: str, v: SigmaRegularExpression) -> Node:
        flags = ""
        if SigmaRegularExpressionFlag.IGNORECASE in v.flags:
            flags += "i"
        if SigmaRegularExpressionFlag.MULTILINE in v.flags:
            flags += "m"
        if SigmaRegularExpressionFlag.DOTALL in v.flags:
            flags += "s"
        return _leaf(["re", field, (f"(?{flags})" if flags else "") + str(v.regexp)])


# -- detections ----------------------------------------------------------------------------------
class RuleCompiler:
    """Compiles one rule's named detections and its condition against one log-source mapping.

    The `*_node` methods give each matcher with its spec (`matchers`), which the compiled-rule cache keeps;
    `item`, `detection` and `condition` give the matcher alone."""

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

    def item_node(self, item: SigmaDetectionItem) -> Node:
        field = item.field
        if field is not None and not self._known(field):
            raise Unsupported(f"field {field!r} is not in the {self.mapping.name} mapping (Cloudward's "
                              f"{'/'.join(k.__name__ for k in self.mapping.kinds)} events do not carry it)")
        if field is None:
            self.getters[RAW] = raw_text  # keyword searches read the record itself
        if not item.value:
            raise Unsupported(f"empty value list for {field or 'keywords'}")
        subs = [self.values.value(field, v) for v in item.value]
        node = _and(subs) if item.value_linking is ConditionAND else _or(subs)
        if getattr(item, "negated", False):
            return _negate(node)
        return node

    def detection_node(self, det: SigmaDetection) -> Node:
        subs = [self.detection_node(x) if isinstance(x, SigmaDetection) else self.item_node(x)
                for x in det.detection_items]
        if not subs:
            raise Unsupported("empty detection")
        return _or(subs) if det.item_linking is ConditionOR else _and(subs)

    def condition_node(self, node: Any, named: Mapping[str, Compiled]) -> Node:
        if isinstance(node, ConditionIdentifier):
            if node.identifier not in named:
                raise Invalid(f"condition names {node.identifier!r}, which the rule does not define")
            return ["id", node.identifier], named[node.identifier]
        if isinstance(node, ConditionSelector):
            ids = node.resolve_referenced_detections(self.rule.detection)
            if not ids:
                raise Invalid(f"'{node.args[0]} of {node.pattern}' matches no detection")
            subs: list[Node] = [(["id", i.identifier], named[i.identifier]) for i in ids]
            return _and(subs) if node.cond_class is ConditionAND else _or(subs)
        if isinstance(node, ConditionNOT):
            return _negate(self.condition_node(node.args[0], named))
        if isinstance(node, ConditionAND | ConditionOR):
            subs = [self.condition_node(a, named) for a in node.args]
            return _and(subs) if isinstance(node, ConditionAND) else _or(subs)
        if isinstance(node, ConditionItem):
            raise Unsupported(f"condition element {type(node).__name__}")
        raise Unsupported(f"condition element {node!r}")

    def item(self, item: SigmaDetectionItem) -> Compiled:
        return self.item_node(item)[1]

    def detection(self, det: SigmaDetection) -> Compiled:
        return self.detection_node(det)[1]

    def condition(self, node: Any, named: Mapping[str, Compiled]) -> Compiled:
        return self.condition_node(node, named)[1]
