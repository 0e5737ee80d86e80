"""What a group of Sigma rules needs from the raw bytes of a log line, so parsers keep skipping the rest.

Every compiled rule offers literals (`Compiled.literals`): casefolded texts at least one of which is in
some field value whenever the rule can match. When each such field's value is a piece of the raw line
(`RAW_FAITHFUL`: the request target, the user agent, the audit event's own JSON fields ...), a line in
which none of the group's literals occurs cannot match any of its rules, and need not be decoded for Sigma.

Field values are not always the raw bytes: web parsers undo `\\"` and `\\\\` and read W3C's `+` as a
space; JSON may escape any character (`\\u0073`, `\\/`). So each literal is cut at the characters a
format may write differently, and the longest remaining run is what the raw line must hold. Sigma
compares case-insensitively with Unicode case folding, under which a few non-ASCII characters fold to
ASCII letters (`data/casefold_to_ascii.yaml`); a line holding one is always read.

`RawNeeds` is the result: an RE2 alternative that the web trigger pattern takes in, and a compiled test
for a whole line or block (audit logs). None when some rule has no such literal (then every line is read,
as before).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import re2

from cloudward import saferegex
from cloudward.datalists import shipped
from cloudward.parsers.base import EVENT
from cloudward.sigma.matchers import MIN_LITERAL, RAW, literal_parts

#: value specs whose values are pieces of the raw line, per event kind: the parsers copy these out of
#: the line (undoing only the escapes `UNSAFE` names); anything else - a site taken from a file name, an
#: enriched field, a value computed from several - may hold text the line does not, so a rule with a
#: literal on it cannot be prefiltered from raw bytes
RAW_FAITHFUL: dict[str, frozenset[str]] = {
    "HttpRequest": frozenset({"attr:path", "attr:query", "fn:http_target", "fn:http_user_agent", "attr:user_agent",
                              "attr:referer", "attr:method", "attr:username", RAW}),
    "K8sAudit": frozenset({"opt:verb", "opt:resource", "opt:subresource", "opt:namespace", "opt:name",
                           "opt:api_group", "opt:user_agent", "opt:code", "opt:user", "opt:groups",
                           "opt:source_ips", "attr:source_ips", "fn:pod_host_paths", "fn:pod_capabilities",
                           "doc:*", RAW}),
}
#: characters a format may write differently in the raw line than in the field value
UNSAFE = {
    # clf/w3c: escaped quote and backslash; W3C writes spaces in the user agent as `+`, and keeps the
    # query in a column of its own (the `?` between path and query is not on the line)
    "HttpRequest": frozenset(' "\\+?'),
    # JSON escapes quote and backslash; Go's encoder writes <, > and & as \u003c, \u003e, \u0026
    "K8sAudit": frozenset('"\\<>&'),
}
#: JSON escapes that could spell a literal's character (`\u0041`-`\u007e` but the three Go always uses,
#: and `\/`): a line holding one is read
_JSON_ESCAPES = r"\x5cu00(?:2[0-57-9a-fA-F]|3[0-9abdfABDF]|[4-7][0-9a-fA-F])|\x5c/"


@cache
def casefold_specials() -> tuple[str, ...]:
    return tuple(str(c) for c in shipped("casefold_to_ascii"))


def safe_run(text: str, unsafe: frozenset[str]) -> str:
    """The longest run of `text` made of printable ASCII the format writes as is."""
    best = cur = ""
    for ch in text:
        if " " <= ch <= "~" and ch not in unsafe:
            cur += ch
            if len(cur) > len(best):
                best = cur
        else:
            cur = ""
    return best


def _re_bytes(text: str) -> str:
    """`text` (ASCII) as an RE2 literal (patterns are str, encoded as latin-1 and read by RE2 as UTF-8)."""
    return "".join(c if c.isalnum() else f"\\x{ord(c):02x}" for c in text)


def _spec(mapping: Any, name: str) -> str:
    if name == RAW:
        return RAW
    spec = mapping.fields.get(name)
    if spec is not None:
        return str(spec)
    return "doc:*" if mapping.default == "doc" else "?"


#: `HttpRequest` value specs that hold (a part of) the request target: a web format whose request line
#: quotes the target (`"GET /a?b HTTP/1.1"`) finds their literals right after the method
TARGET_SPECS = frozenset({"attr:path", "attr:query", "fn:http_target"})


@dataclass(frozen=True)
class RawNeeds:
    """The raw-line texts one of which a line must hold (case-insensitively) to matter to a rule group."""

    #: texts that may stand anywhere on the line
    literals: tuple[str, ...]
    #: texts that stand in the request target (web); anywhere when a format cannot say where that is
    target_literals: tuple[str, ...]
    #: extra RE2 alternatives of lines always read (case-folding specials, JSON escapes)
    extra: tuple[str, ...]
    #: the value specs the literals sit on
    fields: frozenset[str]

    def alternative(self, target_prefix: str | None = None) -> str:
        """One RE2 alternative (compiled case-insensitively); with `target_prefix`
        (a pattern matching the line up to any point of the request target) target literals are anchored."""
        return _alternative(self.literals, self.target_literals, self.extra, target_prefix)

    @property
    def compiled(self) -> Any:
        return _compile(self.alternative())


@cache
def _alternative(literals: tuple[str, ...], target: tuple[str, ...], extra: tuple[str, ...],
                 target_prefix: str | None) -> str:
    anywhere = [_re_bytes(t) for t in literals] + list(extra)
    if target_prefix is None:
        anywhere += [_re_bytes(t) for t in target]
    elif target:
        anywhere.append(target_prefix + "(?:" + "|".join(_re_bytes(t) for t in target) + ")")
    return "(?:" + "|".join(anywhere) + ")"


@cache
def _compile(pattern: str) -> Any:
    return saferegex.compile(pattern.encode("latin-1"), ignore_case=True)


def raw_needs(rules: Iterable[Any], mapping: Any, kind: str) -> RawNeeds | None:
    """The raw needs of `rules` (compiled rules of one log source) read as events of `kind`; None when some
    rule can match a line holding none of its literals' raw runs."""
    faithful = RAW_FAITHFUL.get(kind)
    unsafe = UNSAFE.get(kind)
    if faithful is None or unsafe is None:
        return None
    texts: set[str] = set()
    on_target: set[str] = set()
    names: set[str] = set()
    for rule in rules:
        lits = rule.condition.literals
        if not lits:
            return None
        for entry in lits:
            name, text = literal_parts(entry)
            if _spec(mapping, name) not in faithful:
                return None
            run = safe_run(text, unsafe)
            if len(run) < MIN_LITERAL:
                return None
            (on_target if kind == "HttpRequest" and _spec(mapping, name) in TARGET_SPECS else texts).add(
                run.lower())
            names.add(name)
    # a literal inside a longer one adds nothing: any line with the longer holds the shorter
    kept = sorted(t for t in texts if not any(o != t and o in t for o in texts))
    kept_target = sorted(t for t in on_target if not any(o in t for o in texts) and not any(
        o != t and o in t for o in on_target))
    extra = _audit_extra() if kind == "K8sAudit" else _specials()
    return RawNeeds(tuple(kept), tuple(kept_target), extra, frozenset(_spec(mapping, n) for n in names))


#: the `HttpRequest` value specs `WebInterest.wants` can check from the raw target and user agent it is given
_TARGET_AND_AGENT = frozenset({"attr:path", "attr:query", "fn:http_target", "fn:http_user_agent", "attr:user_agent"})


class SigmaWebInterest:
    """The cards' web-line interest (`parsers.base.WebInterest`) widened by a Sigma rule group's raw needs.

    The trigger pattern gains one alternative, the group's literals. Two answers for a line the cards would
    skip (or summarize) when the rules may need it:

    - `wants` (the formats that hand over only target, status and agent: W3C): EVENT when all the rules'
      literals sit on the target or the user agent and one is there, exactly; otherwise EVENT for every
      line the trigger found;
    - `wants_line` (combined/common, which have the whole line at hand): EVENT exactly when the line holds
      one of the literals that may stand anywhere (or a case-folding special), or its request target holds
      one of the target literals - the same answer the C block scan gives from `scan_needles` while it
      passes over the lines, so the decoder keeps that scan with Sigma rules loaded (`scan_caches`)."""

    def __init__(self, base: Any, needs: RawNeeds) -> None:
        self.base = base
        self.needs = needs
        self.exact = needs.fields <= _TARGET_AND_AGENT
        self._search = needs.compiled.search
        self._anywhere = _compile(_alternative(needs.literals, (), needs.extra, None)).search
        self._in_target = (_compile(_alternative((), needs.target_literals, (), None)).search
                           if needs.target_literals else None)
        #: (anywhere, in_target) as the C block scan takes them: lower-cased bytes (the literals are
        #: printable ASCII; the case-folding specials as their UTF-8 bytes, matched exactly), with those of
        #: an interest this one widens (two rule groups reading web requests)
        mine = (tuple(t.lower().encode("ascii") for t in needs.literals)
                + tuple(ch.encode("utf-8") for ch in casefold_specials()),
                tuple(t.lower().encode("ascii") for t in needs.target_literals))
        inner = getattr(base, "scan_needles", None)
        self.scan_needles: tuple[tuple[bytes, ...], tuple[bytes, ...]] = (
            mine if inner is None else (inner[0] + mine[0], inner[1] + mine[1]))
        #: the widened interest's own answer for a whole line, when it has one
        self._base_line = getattr(base, "wants_line", None)
        if hasattr(base, "scan_caches"):
            self.scan_caches = base.scan_caches

    @property
    def summaries(self) -> bool:
        return bool(self.base.summaries)

    def stateless(self) -> None:
        stateless = getattr(self.base, "stateless", None)
        if stateless is not None:
            stateless()

    def site_always(self, site: str) -> bool:
        return bool(self.base.site_always(site))

    def wants(self, target: bytes, status: bytes, agent: bytes) -> int:
        need = self.base.wants(target, status, agent)
        if need == EVENT:
            return need
        if not self.exact:
            return EVENT
        search = self._search
        if search(target) is not None or (agent and search(agent) is not None):
            return EVENT
        return int(need)

    def wants_line(self, line: bytes, target: bytes, status: bytes, agent: bytes) -> int:
        """`wants` for a whole line (no newline, no trailing "\r") whose raw request target is `target`."""
        base_line = self._base_line
        need = base_line(line, target, status, agent) if base_line is not None else self.base.wants(target, status,
                                                                                                    agent)
        if need == EVENT:
            return need
        if self._anywhere(line) is not None or (self._in_target is not None and self._in_target(target) is not None):
            return EVENT
        return int(need)

    def trigger_pattern(self, *, target_prefix: str, target_start: str, target_end: str, status_4xx: str) -> str:
        pattern = self.base.trigger_pattern(target_prefix=target_prefix, target_start=target_start,
                                            target_end=target_end, status_4xx=status_4xx)
        # a format whose target is one unquoted run inside the quoted request line (`"GET /a?b HTTP/1.1"`,
        # prefix `"[A-Z]+ [^ "]*`) shows path and query after the prefix; W3C logs put the query in a
        # column of its own, so there target literals may stand anywhere
        whole_target = target_prefix.endswith('[^ "]*')
        return pattern + "|" + self.needs.alternative(target_prefix if whole_target else None)


class AuditRawTest:
    """Which raw audit lines (compact JSON, as the API server writes them) a Kubernetes rule group needs.

    A rule that pins its verbs and resources to exact values needs lines holding `"resource":"<one of
    them>"` and `"verb":"<one of them>"` (a line not in that compact form is parsed anyway: the verb filter
    passes it); any other rule needs a line holding one of its literals (`RawNeeds`). One RE2 pass over the
    block finds candidates; a literal (or an escape or case-folding special) settles its line at once, a
    pinned resource is checked against the verbs of the rules that pin it, so a `create` of an event is not
    read because one rule wants `delete` of events and another `create` of pods.
    """

    def __init__(self, pairs: list[tuple[frozenset[str], frozenset[str]]], needs: RawNeeds | None) -> None:
        verbs_of: dict[bytes, set[bytes]] = {}
        for verbs, resources in pairs:
            for r in resources:
                verbs_of.setdefault(f'"resource":"{r}"'.encode(), set()).update(
                    f'"verb":"{v}"'.encode() for v in verbs)
        self.verbs_of = {k: tuple(sorted(v)) for k, v in verbs_of.items()}
        settles = needs.alternative() if needs is not None else "(?:" + "|".join(_audit_extra()) + ")"
        alternatives = ["(" + settles + ")"]
        if verbs_of:
            alternatives.append("(?:" + "|".join(_re_bytes(r.decode()) for r in sorted(verbs_of)) + ")")
        compiled = _compile("|".join(alternatives))
        self._search = compiled.search
        program = getattr(compiled, "_regexp", None)
        anchor = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)
        # google-re2's `search` builds match objects; the program's Match gives the spans in one call
        self._match = program.Match if program is not None and hasattr(program, "Match") else None
        self._anchor = anchor

    def _spans(self, buf: bytes, pos: int, end: int) -> tuple[int, int, bool]:
        """(start, end, settled) of the next candidate in buf[pos:end]; start -1 when there is none."""
        if self._match is not None:
            spans = self._match(self._anchor, buf, pos, end)
            return spans[0][0], spans[0][1], spans[1][0] >= 0
        m = self._search(buf, pos, end)
        if m is None:
            return -1, -1, False
        return m.start(), m.end(), m.start(1) >= 0

    #: the block last scanned by `block_lines` (the reader then asks about its lines one by one)
    _memo: tuple[bytes, int, int, frozenset[int]] | None = None

    def block_lines(self, buf: bytes, start: int, end: int) -> list[tuple[int, int]]:
        """(start, end) of every line of buf[start:end] the rules need, in order; remembered, so asking
        `self(buf, a, b)` about one of the block's lines afterwards costs a set lookup, not a search."""
        out: list[tuple[int, int]] = []
        pos = start
        while pos < end:
            hit = self._first(buf, pos, end)
            if hit < 0:
                break
            line_start = buf.rfind(b"\n", start, hit) + 1 or start
            line_end = buf.find(b"\n", hit, end)
            if line_end < 0:
                line_end = end
            out.append((line_start, line_end))
            pos = line_end + 1
        self._memo = (buf, start, end, frozenset(s for s, _ in out))
        return out

    def __call__(self, buf: bytes, start: int, end: int) -> int:
        """Where the first line of buf[start:end] the rules need stands, or -1 (`Interest.audit_raw`)."""
        memo = self._memo
        if memo is not None and memo[0] is buf and memo[1] <= start and end <= memo[2]:
            nl = buf.find(b"\n", start, end)
            if nl < 0:  # one line of the block scanned: known
                return start if start in memo[3] else -1
        return self._first(buf, start, end)

    def _first(self, buf: bytes, start: int, end: int) -> int:
        pos = start
        while pos < end:
            hit, hit_end, settled = self._spans(buf, pos, end)
            if hit < 0 or settled:
                return hit
            verbs = self.verbs_of.get(buf[hit:hit_end].lower(), ())
            line_start = buf.rfind(b"\n", start, hit) + 1 or start
            line_end = buf.find(b"\n", hit, end)
            if line_end < 0:
                line_end = end
            low = buf[line_start:line_end].lower()
            if any(v in low for v in verbs):
                return hit
            pos = hit_end  # the rest of the line may still hold what another rule needs
        return -1


#: value specs whose value is always an integer (the audit event's response code, 0 when the record has
#: none or a non-integer one): a rule can match only when one of the texts it pins them to is an integer's
INTEGER_SPECS: dict[str, frozenset[str]] = {"K8sAudit": frozenset({"opt:code"})}
_INT_TEXT = re.compile(r"-?(?:0|[1-9][0-9]*)")


def never_matches(rule: Any, mapping: Any, kind: str) -> bool:
    """True when `rule` pins an integer field to texts none of which an integer is written as (SigmaHQ's
    enumeration rule asks `responseStatus.code: 'ALLOW'`): it needs no line at all."""
    integers = INTEGER_SPECS.get(kind, frozenset())
    return any(_spec(mapping, name) in integers and not any(_INT_TEXT.fullmatch(v) for v in values)
               for name, values in rule.condition.pins.items())


def code_values(rule: Any, mapping: Any) -> frozenset[str] | None:
    """The response codes (as digits) one of which an audit event must have for `rule` to match, when every
    literal of the rule is a whole response code; None otherwise."""
    lits = rule.condition.literals
    if not lits:
        return None
    out: set[str] = set()
    for entry in lits:
        name, text = literal_parts(entry)
        if "\x1f" in entry or _spec(mapping, name) != "opt:code" or not _INT_TEXT.fullmatch(text):
            return None
        out.add(text)
    return frozenset(out)


class AuditPinTest:
    """`AuditRawTest` for the C accelerator: the verb-and-resource pairs and response codes the rules pin go
    into `_speedups.audit_lines`'s own pass over the block (`c_table`), so only the literals of the other
    rules (`literal_test`, None when there are none) need a search of their own.

    Called as a raw test (`Interest.audit_raw`) it is the pure-Python `AuditRawTest` of the same rules
    (`fallback`), used where the accelerator is not (tests switch it off, the server's record path);
    `accelerated(audit_lines)` is the same test with the C pass."""

    def __init__(self, pairs: list[tuple[frozenset[str], frozenset[str]]], codes: frozenset[str],
                 literal_needs: RawNeeds | None, fallback: AuditRawTest) -> None:
        by_verb: dict[str, set[str]] = {}
        for verbs, resources in pairs:
            for v in verbs:
                by_verb.setdefault(v, set()).update(resources)
        ordered = sorted(by_verb)
        self.c_table: tuple[tuple[bytes, ...], tuple[tuple[bytes, ...], ...], tuple[bytes, ...] | None] = (
            tuple(v.encode() for v in ordered),
            tuple(tuple(sorted(r.encode() for r in by_verb[v])) for v in ordered),
            tuple(sorted(c.encode() for c in codes)) or None,
        )
        self.literal_test = AuditRawTest([], literal_needs) if literal_needs is not None else None
        self.fallback = fallback

    def __call__(self, buf: bytes, start: int, end: int) -> int:
        return self.fallback(buf, start, end)

    def accelerated(self, audit_lines: Any) -> Any:
        """The raw test with the C pass: where the first line of buf[start:end] the rules need stands, or -1."""
        verbs, resources, codes = self.c_table
        literal_test = self.literal_test

        def first(buf: bytes, start: int, end: int) -> int:
            spans, _ = audit_lines(buf, start, end, (), None, verbs, resources, codes)
            hit = spans[0][1] if spans else -1
            if literal_test is not None:
                other = literal_test(buf, start, end if hit < 0 else hit)
                if other >= 0:
                    return other
            return hit

        return first


def _audit_extra() -> tuple[str, ...]:
    return (*_specials(), _JSON_ESCAPES)


def _specials() -> tuple[str, ...]:
    """The case-folding specials as pattern text: RE2 reads the (latin-1 encoded) pattern bytes as UTF-8, so
    each character is written as its UTF-8 bytes, unescaped (an escape `\\xc5` would mean U+00C5); matched
    case-sensitively, since RE2's own case folding would have the Kelvin sign match every `k`."""
    return ("(?-i:" + "|".join(ch.encode("utf-8").decode("latin-1") for ch in casefold_specials()) + ")",)
