"""Sigma rules as Cloudward detections.

```toml
[sigma]
paths = ["/etc/cloudward/sigma/", "extra-rule.yml"]   # files, multi-document collections, folders
license = "DRL 1.1"                                   # shown on alerts of rules that do not state one
cache = true                                          # keep compiled rules (sigma.cache); false: parse every run
[sigma.placeholders]                                  # values for the `expand` modifier's %names%
admin_users = ["root", "admin*"]
[sigma.field_mappings.webserver.fields]               # override or add field mappings per log source
cs-host = "attr:site"
```

`cloudward scan --sigma PATH` (repeatable) adds paths for one run. Rules are parsed with pySigma
(`loader`), compiled into in-process matchers (`compiler`), grouped by log source (`ruleset`) and run
as detections (`detection`); correlation rules keep keyed, windowed state (`correlation`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudward.config import Config, ConfigError
from cloudward.datalists import DataLists

if TYPE_CHECKING:
    from cloudward.sigma.rulefiles import LoadedRules, Problem
    from cloudward.sigma.ruleset import RuleSet

# pySigma (and pyparsing under it) loads only when rules are: a scan without [sigma] paths starts faster
_LAZY = {"LoadedRules": "cloudward.sigma.rulefiles", "Problem": "cloudward.sigma.rulefiles",
         "RuleSet": "cloudward.sigma.ruleset"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)

#: the `[sigma]` section: key -> what it must be (for the configuration schema check)
SECTION_SCHEMA: dict[str, str] = {
    "paths": "list of strings: rule files or folders",
    "license": "string: licence shown on alerts of rules that state none",
    "placeholders": "table of name -> list of strings (values of %name% for the expand modifier)",
    "field_mappings": "table of log source -> table (see cloudward.sigma.fields.MAPPING_SCHEMA)",
    "cache": "boolean: keep the compiled rules in the user cache folder (default true; see cloudward.sigma.cache)",
}
#: where `--sigma` paths of one run are kept in the configuration (not a key users write)
RUN_PATHS = "_run_paths"

__all__ = ["SECTION_SCHEMA", "LoadedRules", "Problem", "RuleSet", "add_run_paths", "build", "detections",
           "settings"]


def settings(config: Config) -> dict[str, Any]:
    """The `[sigma]` section, checked: paths, license, placeholders, field_mappings and cache."""
    section = config.section("sigma")
    where = f"{config.source}: [sigma]"
    unknown = set(section) - set(SECTION_SCHEMA) - {RUN_PATHS}
    if unknown:
        raise ConfigError(f"{where} unknown keys {', '.join(sorted(unknown))}; expected {', '.join(SECTION_SCHEMA)}")
    paths = section.get("paths", [])
    if isinstance(paths, str) or not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise ConfigError(f"{where} paths must be a list of strings, not {paths!r}")
    lic = section.get("license", "")
    if not isinstance(lic, str):
        raise ConfigError(f"{where} license must be a string")
    placeholders = section.get("placeholders", {})
    if not isinstance(placeholders, dict):
        raise ConfigError(f"{where} placeholders must be a table of name -> list of strings")
    for name, values in placeholders.items():
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ConfigError(f"{where} placeholders.{name} must be a list of strings")
        placeholders[name] = values
    cache = section.get("cache", True)
    if not isinstance(cache, bool):
        raise ConfigError(f"{where} cache must be true or false, not {cache!r}")
    base = Path(config.source).parent if config.source not in ("(defaults)", "(dict)") and Path(
        config.source).exists() else None
    resolved = [str(base / p) if base is not None and not Path(p).is_absolute() else p for p in paths]
    return {"paths": resolved + list(section.get(RUN_PATHS, [])), "license": lic, "placeholders": placeholders,
            "field_mappings": section.get("field_mappings", {}), "cache": cache}


def add_run_paths(config: Config, paths: Iterable[str]) -> None:
    """Rules given on the command line (`--sigma PATH`) for this run."""
    paths = list(paths)
    if paths:
        section = config.raw.setdefault("sigma", {})
        section.setdefault(RUN_PATHS, []).extend(paths)


def build(config: Config, paths: Iterable[str] | None = None) -> RuleSet:
    """Load, compile and group the rules of `paths` (default: the configuration's and the run's); through the
    compiled-rule cache (`cloudward.sigma.cache`) unless `[sigma] cache = false`."""
    from cloudward.sigma.fields import load_mappings

    s = settings(config)
    mappings = load_mappings(s["field_mappings"], config.source, cache=s["cache"])
    rule_paths = list(paths) if paths is not None else s["paths"]
    if s["cache"]:
        from cloudward.sigma.cache import compile_cached

        return compile_cached(rule_paths, mappings, config, s["placeholders"], s["license"])
    from cloudward.sigma.loader import load_paths
    from cloudward.sigma.ruleset import compile_rules

    return compile_rules(load_paths(rule_paths), mappings, config, s["placeholders"], s["license"])


def ruleset_for(config: Config) -> RuleSet | None:
    """A fresh rule set (own correlation state) for this configuration; None when no paths are set."""
    return build(config) if settings(config)["paths"] else None


def detections(config: Config, data: DataLists | None = None, only: set[str] | None = None) -> list[Any]:
    """The Sigma detections for `detections.build`: one per log-source group of the configured rules."""
    ruleset = ruleset_for(config)
    if ruleset is None:
        return []
    from cloudward.sigma.detection import detections_for

    if only is not None:
        for group in ruleset.groups:
            group.rules = [r for r in group.rules if any(fnmatch.fnmatchcase(r.card.id, o) for o in only)]
            group.prepare()
        ruleset.groups = [g for g in ruleset.groups if g.rules]
    return detections_for(ruleset, data)
