"""Reading Sigma rules with pySigma: single files, multi-document collections (`action: global`,
correlation documents next to their base rules) and folders.

Every problem is reported with the file and the reason, and the rest loads:
- *invalid*: YAML or Sigma errors (pySigma's own checks: unknown modifiers, bad conditions, ...)
- *unsupported*: a valid rule that uses something Cloudward does not evaluate (a log source without a
  Cloudward event kind, a field its events do not carry, a placeholder without values, ...).
Nothing is dropped silently, and no rule is half-applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import sigma.modifiers as sigma_modifiers
import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from cloudward.sigma.rulefiles import RULE_SUFFIXES, LoadedRules, Problem, rule_files, rule_path

__all__ = ["RULE_SUFFIXES", "LoadedRules", "Problem", "load_file", "load_paths", "load_text", "resolve_correlations",
           "rule_files", "rule_path", "summary"]

# The Sigma specification lists `utf16le` as another name of `wide`; pySigma knows only `wide`.
sigma_modifiers.modifier_mapping.setdefault("utf16le", sigma_modifiers.SigmaWideModifier)

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _where(err: SigmaError, default: str) -> str:
    src = getattr(err, "source", None)
    path = getattr(src, "path", None)
    return str(path) if path else default


def load_paths(paths: Iterable[str | Path]) -> LoadedRules:
    files, problems = rule_files(paths)
    out = LoadedRules(problems=problems)
    for f in files:
        load_file(f, out)
    resolve_correlations(out)
    return out


def load_text(text: str, display: str, out: LoadedRules | None = None) -> LoadedRules:
    """Rules from YAML text (one document or a multi-document collection)."""
    out = out if out is not None else LoadedRules()
    out.files += 1
    try:
        # the same as SigmaCollection.from_yaml, with libyaml's loader when PyYAML has it: the pure-Python
        # loader took most of the time of loading a rule set (about 3 s for the 118 SigmaHQ web rules)
        docs = list(yaml.load_all(text, Loader=_YAML_LOADER))
        collection = SigmaCollection.from_dicts(docs, collect_errors=True)
    except Exception as exc:  # YAML syntax and anything pySigma does not collect
        out.problems.append(Problem(display, "invalid", _reason(exc)))
        return out
    per_rule = {id(e) for rule in collection.rules for e in rule.errors} | {
        str(e) for rule in collection.rules for e in rule.errors}
    for err in collection.errors:  # errors of a rule that did parse are reported with that rule below
        if id(err) not in per_rule and str(err) not in per_rule:
            out.problems.append(Problem(_where(err, display), "invalid", _reason(err)))
    for rule in collection.rules:
        _set_source(rule, display)
        if rule.errors:
            out.problems.append(Problem(display, "invalid", "; ".join(_reason(e) for e in rule.errors),
                                        str(rule.id or ""), rule.title))
        elif isinstance(rule, SigmaCorrelationRule):
            out.correlations.append(rule)
        elif isinstance(rule, SigmaRule):
            out.rules.append(rule)
        else:
            out.problems.append(Problem(display, "unsupported", f"{type(rule).__name__} documents are not evaluated",
                                        str(getattr(rule, "id", "") or ""), getattr(rule, "title", "")))
    return out


def load_file(path: Path, out: LoadedRules) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        out.files += 1
        out.problems.append(Problem(str(path), "invalid", f"cannot read: {exc}"))
        return
    load_text(text, str(path), out)


def _set_source(rule: Any, display: str) -> None:
    rule.custom_attributes.setdefault("_cloudward_path", display)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]


def resolve_correlations(out: LoadedRules) -> None:
    """Link each correlation to its base rules by id or name; one that names an unknown rule is invalid."""
    by_ref: dict[str, SigmaRule] = {}
    for r in out.rules:
        if r.id:
            by_ref[str(r.id)] = r
        if r.name:
            by_ref[r.name] = r
    for c in out.correlations:
        by_ref[str(c.id)] = c  # type: ignore[assignment]
        if c.name:
            by_ref[c.name] = c  # type: ignore[assignment]
    kept = []
    for c in out.correlations:
        missing = []
        for ref in c.rules:
            target = by_ref.get(str(ref.reference))
            if target is None:
                missing.append(str(ref.reference))
            else:
                ref.rule = target  # type: ignore[assignment]
        if missing:
            out.problems.append(Problem(rule_path(c), "invalid", f"correlation refers to unknown rule(s) "
                                        f"{', '.join(missing)}", str(c.id or ""), c.title))
        else:
            kept.append(c)
    out.correlations = kept


def summary(loaded: LoadedRules, evaluated: int) -> Mapping[str, int]:
    kinds = {"invalid": 0, "unsupported": 0}
    for p in loaded.problems:
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    return {"files": loaded.files, "evaluated": evaluated, **kinds}
