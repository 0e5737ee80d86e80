"""Sigma rule groups as `Detection`s: each subscribes to the event kinds its log source reads, so Sigma
rules run wherever the cards run (scan, tail, serve, agent: the same pipeline).

One detection per log-source group evaluates all of that group's rules; each match is a
`SigmaFinding` that carries the rule's own card, so the alert is `SIGMA_<rule id>` with the rule's title,
severity, ATT&CK mapping and references, deduplicated by the rule and the entities its log source implies.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, ClassVar

from cloudward.alerts import _FULL_PATH, AlertBook, Finding, entity_matches
from cloudward.config import DetectionSettings
from cloudward.datalists import DataLists
from cloudward.detections.base import Card, Detection
from cloudward.events import Event, HttpRequest, K8sAudit
from cloudward.sigma.fields import LogSourceMapping
from cloudward.sigma.matchers import EventValues
from cloudward.sigma.prefilter import (
    AuditPinTest,
    AuditRawTest,
    SigmaWebInterest,
    code_values,
    never_matches,
    raw_needs,
)
from cloudward.sigma.ruleset import CompiledRule, RuleGroup, RuleSet

#: what every finding of a rule shares (`SigmaRules._plan`): key prefix, allow list, severity, title, the parameters
#: when they do not depend on the event, card, the rule's own entities, and the token of its findings' shapes
_Plan = tuple[str, Any, str, str, "dict[str, str] | None", Card, "dict[str, Any]", object]
#: correlation windows are closed (lt/lte/eq/neq conditions judged) every this many observations
_ADVANCE_EVERY = 1024
_SEQUENCES = (list, tuple)
#: entity specs that are an event attribute under another name (`fields.COMPUTED`: `first_source_ip` is `source_ip`)
_ENTITY_ATTRS = {"fn:first_source_ip": "source_ip"}
#: what folding a rule's match into its alert needs (`SigmaRules._fold_plan`): card id, key prefix, severity, the
#: parameters when they do not depend on the event, the shapes' plan token, and each dedup name's source (an int:
#: the index of the entity getter giving it; a str: its text, fixed by the rule); False: the rule's matches are not
#: folded (an allow list)
_Fold = tuple[str, str, str, "dict[str, str] | None", object, tuple[int | str, ...]]


@dataclass(slots=True)
class SigmaFinding(Finding):
    """A finding raised for one Sigma rule: the pipeline files it under `card`, not the group's card."""

    card: Card | None = None


def _plain_attr(spec: str) -> Any:
    """`operator.attrgetter` for an `attr:NAME` value spec with a plain name; None for any other spec."""
    kind, _, name = spec.partition(":")
    return attrgetter(name) if kind == "attr" and name.isidentifier() else None


def _group_card(group: RuleGroup | None) -> Card:
    name = group.name if group is not None else "none"
    return Card(
        id=f"SIGMA:{name}", title=f"Sigma rules ({name})", title_ko=f"Sigma 규칙 ({name})",
        severity="medium", tactics=(), techniques=(), data_source="HOST",
        looks_at=f"{len(group.rules) if group else 0} Sigma rule(s) for log source {name}",
        description="", description_ko="", remediation=(), remediation_ko=(),
    )


class SigmaRules(Detection):
    """All Sigma rules of one log source; `card` is the group's (rules' own cards are on the findings)."""

    card: ClassVar[Card]  # set per instance
    kinds: ClassVar[tuple[type[Event], ...]] = ()

    def __init__(self, group: RuleGroup | None, ruleset: RuleSet, *, data: DataLists | None = None) -> None:
        """`group` None: no rule loaded; the detection only carries the rule set's report of problems."""
        self.group = group if group is not None else RuleGroup(_NO_MAPPING, None)
        self.ruleset = ruleset
        self.card = _group_card(group)  # type: ignore[misc]
        self.kinds = group.mapping.kinds if group is not None else ()  # type: ignore[misc]
        self._observed = 0
        #: some rule of the group feeds a correlation (read when the detection is made: `build_correlations`
        #: links them before)
        self._correlated = any(r.correlations for r in self.group.rules)
        self._watermark = -math.inf
        self._entities = self.group.mapping.entity_getters()
        # for the findings: an `attr:` entity read by `attrgetter`, not the mapping's closure around getattr (an
        # absent attribute raises AttributeError, which `finding` and `entities` read as no value, as None)
        specs = self.group.mapping.entities
        self._entity_items = tuple((name, _plain_attr(specs.get(name, "")) or get)
                                   for name, get in self._entities.items())
        self._dedup = tuple(self.group.mapping.dedup)
        #: every entity getter's attribute in one call, for `evaluate_folding` (None unless each entity is an `attr:`
        #: entity or the first source address, which is the event's `source_ip`): a value as `finding` reads it,
        #: an absent attribute raising AttributeError as there
        names = []
        for name in self._entities:
            spec = specs.get(name, "")
            names.append(_ENTITY_ATTRS.get(spec) or (spec.partition(":")[2] if _plain_attr(spec) else None))
        self._entity_attrs = attrgetter(*names) if len(names) >= 2 and all(names) else None  # type: ignore[arg-type]
        #: the value a dedup entity without a value reads as ("", one per name, for `map`)
        self._dedup_blanks = ("",) * len(self._dedup)
        #: (plan token, getters present) -> the one shape tuple of those findings
        self._shapes: dict[tuple[object, int], tuple[object, int]] = {}
        #: id of a rule -> what its findings share (`_plan`)
        self._plans: dict[int, _Plan] = {}
        #: id of a rule -> the entities naming the rule (id, author, licence, references)
        self._about: dict[int, dict[str, Any]] = {}
        #: id of a rule -> what folding its matches needs (`_fold_plan`), or False
        self._folds: dict[int, _Fold | bool] = {}
        #: when a list, every match is recorded as (event, rule, matching selections) (`rules test --sigma`)
        self.trace: list[tuple[Any, CompiledRule, list[str]]] | None = None
        super().__init__(DetectionSettings(), data)
        # every parsed audit event is handed to the rules (`audit_resources` None); what the parsers must
        # parse for them is `audit_interest`: the verbs and resources pinned rules match, plus the lines
        # holding the literals of the others
        self.audit_verbs, self.audit_resources = None, None
        self.audit_interest = _audit_interest(self.group) if K8sAudit in self.kinds else None

    def widen_line_prefilter(self, flt: Any) -> Any:
        """The web-line interest `flt` (the cards'; None when no card reads web requests) widened by this
        group's raw needs, so lines none of the cards nor the rules can use stay unparsed; None when some
        rule can match a line holding none of its literals (then every line is read)."""
        if HttpRequest not in self.kinds or not self.group.rules:
            return None
        needs = raw_needs(self.group.rules, self.group.mapping, "HttpRequest")
        if needs is None:
            return None
        if flt is None:
            from cloudward.analytics.web_filter import WebLineFilter

            flt = WebLineFilter()  # wants nothing: only the rules' lines are read
        return SigmaWebInterest(flt, needs)

    def evaluate(self, event: Any) -> Iterable[Finding] | None:
        hits = self.group.match(event)
        if not hits:
            return None
        return self._found(event, hits)

    def evaluate_folding(self, event: Any, book: AlertBook) -> Iterable[Finding] | None:
        """`evaluate`, for an engine that adds every finding to `book` as it comes (`AlertBook.add`: no allow list
        of its own, not learning): a match of one rule that repeats an alert the book follows is folded into it
        here (`AlertBook.add_repeat`) without building its `Finding`; every other match comes back as findings, as
        from `evaluate`. The book ends the same: the folded finding is the one `finding` would build, taking the
        repeat path `add` would take."""
        group = self.group
        # only a single match (so no other finding of the event is added before it) of a rule with no allow list,
        # without tracing or correlations: the usual match
        if self.trace is not None or self._correlated or self.settings.allow:
            hits = group.match(event)
            return self._found(event, hits) if hits else None
        decided = group.decided(event)  # (most events: the pin key picks one rule or none, without values)
        if decided is False:
            return None
        values: EventValues | None = None
        if decided is True:
            hits = group.match(event)
            if not hits:
                return None
            if len(hits) != 1:
                return self._found(event, hits)
            rule, values = hits[0]
        else:
            rule = decided  # type: ignore[assignment]
        if not rule.alerts:
            return None
        fold = self._folds.get(id(rule))
        if fold is None:
            fold = self._fold_plan(rule)
        if fold is not False:
            card_id, prefix, severity, params, token, sources = fold  # type: ignore[misc]
            # the entity getters as `finding` reads them: which gave a value (`present`), and the values (None: no
            # value); a list or tuple (no shape: each finding's entities are checked) takes `finding`
            got: Any = None
            present = 0
            multi = self._entity_attrs
            if multi is not None:  # (the usual entities: attributes, read in one call, strings)
                try:
                    got = multi(event)
                except (AttributeError, TypeError, ValueError):
                    pass  # (some getter fails: each is read below, as `finding` reads them)
                else:
                    bit = 1
                    for v in got:
                        if type(v) is str:
                            if v:
                                present |= bit
                        elif v is not None:
                            got, present = None, 0
                            break
                        bit <<= 1
            if got is None:
                got = []
                bit = 1
                for _name, get in self._entity_items:
                    try:
                        v = get(event)
                    except (AttributeError, TypeError, ValueError):
                        v = None
                    if type(v) is str:  # (the usual value)
                        if v:
                            present |= bit
                        else:
                            v = None
                    elif v is not None:
                        if isinstance(v, _SEQUENCES):
                            got = None
                            break
                        if v in (None, "", []):  # (`finding`'s test of a value)
                            v = None
                        else:
                            present |= bit
                    got.append(v)
                    bit <<= 1
            if got is not None:
                shape = self._shapes.get((token, present))
                if shape is not None:  # (made by an earlier finding of the rule: none may repeat before)
                    # the dedup key as `finding` joins it: a getter's value when it gave one, else ""
                    key = prefix + "\x1f".join([s if type(s) is str else "" if (g := got[s]) is None else str(g)
                                                 for s in sources])  # (a getter's "" joins as "")
                    if params is None:
                        if values is None:
                            values = EventValues(event, group.getters)
                        params = {"rule_title": rule.rule.title, "matched": ", ".join(rule.why(values))}
                    done = book.add_repeat(card_id, key, event, shape, params, severity or self.severity)
                    if done is not _FULL_PATH:
                        return None
        if values is None:
            values = EventValues(event, group.getters)
        f = self.finding(rule, event, values)
        return (f,) if f is not None else None

    def _fold_plan(self, rule: CompiledRule) -> _Fold | bool:
        """What folding `rule`'s matches needs (`_Fold`), made once; False for a rule with an allow list (each
        finding's entities must be tested)."""
        plan = self._plans.get(id(rule))
        if plan is None:
            plan = self._plan(rule)
        prefix, allow, severity, _title, params, card, about, token = plan
        fold: _Fold | bool = False
        if not allow:
            getters = [name for name, _ in self._entity_items]
            # a name of the rule's own entities is theirs (`finding` updates the getters' with them)
            sources = tuple(str(about[name]) if name in about else getters.index(name) if name in getters else ""
                            for name in self._dedup)
            fold = (card.id, prefix, severity, params, token, sources)
        self._folds[id(rule)] = fold
        return fold

    def _found(self, event: Any, hits: list[tuple[CompiledRule, EventValues]]) -> Iterable[Finding] | None:
        """The findings of `hits`, the rules `event` matched."""
        if self.trace is None and not self._correlated:  # the common case: each match is one finding
            if len(hits) == 1:  # (most matches: one rule, without the comprehension's frame)
                rule, values = hits[0]
                if rule.alerts and (f := self.finding(rule, event, values)) is not None:
                    return (f,)
                return None
            found = [f for rule, values in hits if rule.alerts and (f := self.finding(rule, event, values)) is not None]
            return found or None
        out: list[Finding] = []
        for rule, values in hits:
            if self.trace is not None:
                self.trace.append((event, rule, rule.why_matched(values)))
            if rule.alerts:
                finding = self.finding(rule, event, values)
                if finding is not None:
                    out.append(finding)
            for corr, index in rule.correlations:
                f = corr.observe(index, values, event)
                if f is not None and not any(entity_matches(a, f.entities) for a in corr.settings.allow):
                    out.append(f)
        if any(rule.correlations for rule, _ in hits):
            self._watermark = max(self._watermark, event.time)
            self._observed += 1
            if self._observed % _ADVANCE_EVERY == 0:
                out.extend(self._close(self._watermark))
        return out or None

    def entities(self, rule: CompiledRule, event: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, get in self._entity_items:
            try:
                v = get(event)
            except (AttributeError, TypeError, ValueError):
                v = None
            if v not in (None, "", []):
                out[name] = v
        about = self._about.get(id(rule))
        if about is None:  # the rule's own part is the same on every match: made once
            about = self._about_rule(rule)
        out.update(about)
        if "rule_references" in out:
            out["rule_references"] = list(out["rule_references"])
        return out

    def _about_rule(self, rule: CompiledRule) -> dict[str, Any]:
        about = {"rule_id": str(rule.rule.id), "rule_author": rule.rule.author or "unknown",
                 "rule_license": rule.license or "not stated"}
        if rule.rule.references:
            about["rule_references"] = tuple(rule.rule.references[:10])
        self._about[id(rule)] = about
        return about

    def finding(self, rule: CompiledRule, event: Any, values: EventValues) -> SigmaFinding | None:
        plan = self._plans.get(id(rule))
        if plan is None:
            plan = self._plan(rule)
        prefix, allow, severity, title, params, card, about, token = plan
        # `entities(rule, event)`, inlined: this runs once per match
        entities: dict[str, Any] = {}
        present = 0  # which getters gave a value, one bit each; -1 once one gave a list or tuple
        bit = 1
        for name, get in self._entity_items:
            try:
                v = get(event)
            except (AttributeError, TypeError, ValueError):
                bit <<= 1
                continue
            # (a string, the usual value, is tested without the tuple's comparisons: "" is its one empty value)
            if type(v) is str:
                if v:
                    entities[name] = v
                    if present >= 0:
                        present |= bit
            elif v not in (None, "", []):
                entities[name] = v
                if present >= 0:
                    present = -1 if isinstance(v, _SEQUENCES) else present | bit
            bit <<= 1
        # the rule's own entities, its references the plan's one tuple (the book reads any sequence as a list)
        entities.update(about)
        if allow:
            for pattern in allow:
                if entity_matches(pattern, entities):
                    return None
        get = entities.get
        key = prefix + "\x1f".join(map(str, map(get, self._dedup, self._dedup_blanks)))
        # the parameters of a rule whose "matched" text does not depend on the event are the plan's (the book
        # copies what it keeps); the entities' keys are the plan's and those of the getters that gave a value,
        # their only sequence the rule's references: findings of one plan with the same getters present have
        # the same `shape` (one tuple per plan and presence, so the book's comparison is an identity)
        if present >= 0:
            shape = self._shapes.get((token, present))
            if shape is None:
                shape = self._shapes[(token, present)] = (token, present)
        else:
            shape = None
        # (positional: key, entities, event, params, severity, resource, related, shape, card)
        return SigmaFinding(key, entities, event, params if params is not None else {
            "rule_title": title, "matched": ", ".join(rule.why(values))}, severity, None, (), shape, card)

    def _plan(self, rule: CompiledRule) -> _Plan:
        """What every finding of `rule` shares (its card, severity, title, allow list, the rule's entities, and
        the parameters when the "matched" text does not depend on the event: a condition that is its one
        selection), made once."""
        params = None
        if len(rule.named) == 1:
            name, compiled = next(iter(rule.named.items()))
            if compiled is rule.condition:
                params = {"rule_title": rule.rule.title, "matched": name}  # (`why_matched`: ", ".join([name]))
        about = self._about.get(id(rule))
        if about is None:
            about = self._about_rule(rule)
        plan = (f"{rule.card.id}\x1f", rule.settings.allow, rule.severity, rule.rule.title, params, rule.card, about,
                object())  # the plan's own token in its findings' shapes
        self._plans[id(rule)] = plan
        return plan

    def _close(self, watermark: float) -> list[Finding]:
        out: list[Finding] = []
        seen: set[int] = set()
        for rule in self.group.rules:
            for corr, _ in rule.correlations:
                if id(corr) not in seen:
                    seen.add(id(corr))
                    out.extend(corr.close(watermark))
        return out

    def finish(self) -> Iterable[Finding]:
        return self._close(math.inf)

    def state(self) -> dict[str, Any] | None:
        corr = {c.alert_type: c.state.to_dict() for r in self.group.rules for c, _ in r.correlations}
        return {"correlations": corr} if corr else None

    def restore(self, state: dict[str, Any]) -> None:
        from cloudward.sigma.correlation import CorrelationState

        saved = state.get("correlations", {})
        for r in self.group.rules:
            for c, _ in r.correlations:
                if c.alert_type in saved:
                    c.state.merge(CorrelationState.from_dict(saved[c.alert_type]))


def _audit_interest(group: RuleGroup) -> tuple[frozenset[str] | None, frozenset[str] | None, Any]:
    """(verbs, resources, raw test) of the audit lines the group's rules need parsed (`Interest`): no verb
    or resource as such, but a raw test for the verb-and-resource pairs of the rules that pin both, the
    response codes of the rules that ask only for those, and the literals of the others (`AuditPinTest`,
    whose pairs and codes the C accelerator checks in its own pass); (None, None, None) - every line - when
    some rule can match a line that holds none of its literals. A rule that can never match (a response
    code pinned to a word) needs nothing."""
    mapping = group.mapping
    pairs: list[tuple[frozenset[str], frozenset[str]]] = []
    unpinned = []
    codes: set[str] = set()
    literal_rules = []
    for rule in group.rules:
        if never_matches(rule, mapping, "K8sAudit") and not rule.correlations:
            continue
        pins = rule.condition.pins
        v, r = pins.get("verb"), pins.get("objectRef.resource")
        if v is None or r is None:
            unpinned.append(rule)
            rule_codes = code_values(rule, mapping)
            if rule_codes is None:
                literal_rules.append(rule)
            else:
                codes |= rule_codes
        else:
            pairs.append((v, r))
    needs = literal_needs = None
    if unpinned:
        needs = raw_needs(unpinned, mapping, "K8sAudit")
        if needs is None:
            return None, None, None
    if literal_rules:
        literal_needs = raw_needs(literal_rules, mapping, "K8sAudit")
    return frozenset(), frozenset(), AuditPinTest(pairs, frozenset(codes), literal_needs, AuditRawTest(pairs, needs))


_NO_MAPPING = LogSourceMapping(name="none", match={"\x00": ""}, kinds=(), fields={})


def detections_for(ruleset: RuleSet, data: DataLists | None = None) -> list[Detection]:
    """One detection per log-source group; one without rules when nothing loaded, to carry the report."""
    out: list[Detection] = [SigmaRules(group, ruleset, data=data) for group in ruleset.groups]
    return out or [SigmaRules(None, ruleset, data=data)]


def sigma_detections(detections: list[Detection]) -> list[SigmaRules]:
    return [d for d in detections if isinstance(d, SigmaRules)]
