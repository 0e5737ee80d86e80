"""The configuration file's schema: every key, its type, default and meaning, in one place.

`validate(raw, source)` checks a whole parsed TOML document and returns every problem as one line that
names the file, the key path and what was expected. Unknown keys are errors (with the closest known key
suggested), so a typo never leaves a setting silently unapplied. Detection ids, their parameters, entity
names in `allow` / `match`, and data-list names are checked against the cards and data files themselves.

Sections owned by other modules (`engine`, `sigma`, `agent`, `server`, `sinks`, `spark`) are accepted;
their keys are checked once the owning module calls `register_section(name, schema)`.
`reference_markdown()` renders `docs/configuration.md` from this schema (a test keeps them equal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

SEVERITIES = ("informational", "low", "medium", "high")


@dataclass(frozen=True)
class Key:
    """One configuration key. `kind`: string, integer, number, boolean, duration, severity, date, path,
    list (of `items`), table (fixed `keys`), map (any names, each a `values`), any."""

    kind: str
    doc: str
    default: Any = None
    minimum: float | None = None
    items: Key | None = None
    keys: dict[str, Key] = field(default_factory=dict)
    values: Key | None = None
    #: alternatives accepted besides `kind` (a feed is a path or a table)
    alternatives: tuple[Key, ...] = ()

    def describe(self) -> str:
        if self.alternatives:
            return " or ".join([_KIND_WORDS.get(self.kind, self.kind)] + [a.describe() for a in self.alternatives])
        if self.kind == "list" and self.items is not None:
            return f"a list of {_plural(self.items.describe())}"
        word = _KIND_WORDS.get(self.kind, self.kind)
        if self.minimum is not None:
            word += f" ≥ {self.minimum:g}"
        return word


_KIND_WORDS = {
    "string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
    "duration": 'a duration string such as "30s", "15m", "12h", "7d"', "severity": f"one of {', '.join(SEVERITIES)}",
    "date": "a date such as 2027-03-31", "path": "a file path (string)", "table": "a table", "map": "a table",
    "any": "any value", "list": "a list",
}


def _plural(text: str) -> str:
    for article in ("a ", "an "):
        if text.startswith(article):
            return text[len(article):] + ("s" if not text.endswith("s") else "")
    return text


#: sections other modules own; validated only when they register a schema
OWNED_SECTIONS = ("engine", "sigma", "agent", "server", "sinks", "spark")
_REGISTERED: dict[str, dict[str, Key]] = {}


#: alert types of Sigma rules (`cloudward.sigma`): known only once the rules load, so not checked by name
SIGMA_PREFIX = "SIGMA_"


class _SigmaRuleCard:
    params: dict[str, Any] = {}


_SIGMA_RULE = _SigmaRuleCard()

#: the module that registers each owned section's schema when imported (imported only when the section is used)
SECTION_OWNERS = {"agent": "cloudward.agent.settings", "sigma": "cloudward.sigma.schema",
                  "engine": "cloudward.engine", "server": "cloudward.server.settings",
                  "spark": "cloudward.spark.settings"}


def register_section(name: str, schema: dict[str, Key]) -> None:
    """Let a module validate its own `[name]` section (call at import time of that module)."""
    _REGISTERED[name] = schema


def _owned_schema(name: str) -> dict[str, Key] | None:
    if name not in _REGISTERED and name in SECTION_OWNERS:
        import importlib

        try:
            importlib.import_module(SECTION_OWNERS[name])
        except ImportError:  # an optional part that is not installed validates nothing
            return None
    return _REGISTERED.get(name)


_FEED = Key("table", "A feed with options (see docs/web-and-ftp.md).", keys={})
TOP: dict[str, Key] = {
    "cluster": Key("string", "Cluster name for Kubernetes audit logs that do not carry one.", ""),
    "site": Key("string", "Site name for web and FTP logs that do not carry one.", ""),
    "host": Key("string", "Host name for host telemetry that does not carry one.", ""),
    "scan": Key("table", "How inputs are read.", keys={
        "max_line_bytes": Key("integer", "Longest line kept; longer lines are rejected with their file:line.",
                              4 * 1024 * 1024, minimum=1),
        "max_decompressed_bytes": Key("integer", "A gzip member decompressing past this many bytes is ended "
                                      "with a rejection (0 = no cap).", 32 * 1024**3, minimum=0),
        "max_compression_ratio": Key("number", "A gzip member decompressing to more than this many times its "
                                     "compressed size (after 8 MiB) is ended with a rejection (0 = no cap).",
                                     200, minimum=0),
    }),
    "output": Key("table", "What alerts carry.", keys={
        "evidence_limit": Key("integer", "Evidence events kept per alert.", 10, minimum=1),
    }),
    "store": Key("table", "The SQLite alert store.", keys={
        "path": Key("path", "Store file used when --store is not given.", ""),
    }),
    "intel": Key("table", "Threat-intelligence feeds (see docs/web-and-ftp.md).", keys={
        "feeds": Key("list", "Feed files: a path, or a table with the feed's options.", [],
                     items=Key("path", "", alternatives=(Key("map", "", values=Key("any", "")),))),
        "taxii": Key("any", "TAXII 2.1 collections to pull: a table or a list of tables.", []),
    }),
    "web": Key("table", "Web and FTP log reading.", keys={
        "trusted_proxies": Key("list", "Proxies whose X-Forwarded-For entries are skipped when picking the client "
                               "(addresses or CIDR networks); default: private, loopback and link-local ranges.",
                               None, items=Key("string", "")),
    }),
    "containers": Key("table", "Container context for host telemetry.", keys={
        "docker_inspect": Key("list", "`docker inspect` output files loaded before any input.", [],
                              items=Key("path", "")),
    }),
    "data": Key("map", "Entries added to the shipped data lists, by list name (see src/cloudward/data/).",
                values=Key("list", "", items=Key("any", ""))),
    "detections": Key("map", "Per-detection settings, by alert type: the common keys below and the card's own "
                      "parameters (`cloudward rules show TYPE` lists them).", values=Key("table", "", keys={
                          "enabled": Key("boolean", "Run this detection.", True),
                          "severity": Key("severity", "Override the card's severity.", None),
                          "allow": Key("list", "Findings whose entities match one of these tables "
                                       "(shell-style wildcards) are not raised.", [],
                                       items=Key("map", "", values=Key("any", ""))),
                      })),
    "suppress": Key("list", "Rules that dismiss matching alerts (listed in the summary).", [], items=Key(
        "table", "", keys={
            "alert_type": Key("string", "The alert type, or \"*\" for every type.", "*"),
            "match": Key("map", "Entity values to match (shell-style wildcards).", {}, values=Key("any", "")),
            "reason": Key("string", "Why; shown in the summary and on the alert.", ""),
            "expires": Key("date", "Date after which the rule stops applying.", None),
        })),
}
DETECTION_COMMON = ("enabled", "severity", "allow")


def _type_ok(key: Key, value: Any) -> bool:
    kind = key.kind
    if kind in ("string", "path"):
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "severity":
        return value in SEVERITIES
    if kind == "date":
        if isinstance(value, (date, datetime)):
            return True
        if isinstance(value, str):
            try:
                datetime.fromisoformat(value)
            except ValueError:
                return False
            return True
        return False
    if kind == "duration":
        from cloudward.timeutil import parse_duration

        if not isinstance(value, str):
            return False
        try:
            parse_duration(value)
        except ValueError:
            return False
        return True
    if kind == "list":
        return isinstance(value, list)
    if kind in ("table", "map"):
        return isinstance(value, dict)
    return True


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[str] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{self.source}: {path}: {message}")

    def unknown(self, path: str, name: str, known: list[str], what: str = "key") -> None:
        import difflib  # only to suggest a fix for a misspelt key

        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else (
            f"; known: {', '.join(sorted(known))}" if len(known) <= 12 else "")
        self.error(path, f"unknown {what}{hint}")

    def value(self, path: str, key: Key, value: Any) -> None:
        if not _type_ok(key, value):
            for alt in key.alternatives:
                if _type_ok(alt, value):
                    self.value(path, alt, value)
                    return
            self.error(path, f"expected {key.describe()}, got {_shown(value)}")
            return
        if key.minimum is not None and value < key.minimum:
            self.error(path, f"expected {key.describe()}, got {_shown(value)}")
            return
        if key.kind == "list" and key.items is not None:
            for i, item in enumerate(value):
                self.value(f"{path}[{i}]", key.items, item)
        elif key.kind == "table" and key.keys:
            self.table(path, key.keys, value)
        elif key.kind == "map" and key.values is not None:
            for name, item in value.items():
                self.value(f"{path}.{name}", key.values, item)

    def table(self, path: str, keys: dict[str, Key], value: dict[str, Any]) -> None:
        for name, item in value.items():
            where = f"{path}.{name}" if path else name
            if name not in keys:
                self.unknown(where, name, list(keys))
            else:
                self.value(where, keys[name], item)


def param_key(default: Any) -> Key:
    """The type a card parameter's default implies (a duration when the default is one)."""
    from cloudward.timeutil import parse_duration

    if isinstance(default, bool):
        return Key("boolean", "")
    if isinstance(default, int):
        return Key("integer", "")
    if isinstance(default, float):
        return Key("number", "")
    if isinstance(default, list):
        return Key("list", "", items=param_key(default[0]) if default else Key("any", ""))
    if isinstance(default, str):
        if default in SEVERITIES:
            return Key("severity", "")
        try:
            parse_duration(default)
        except ValueError:
            return Key("string", "")
        return Key("duration", "")
    return Key("any", "")


def entity_names() -> frozenset[str]:
    from cloudward.datalists import shipped

    return frozenset(str(e) for e in shipped("entity_names"))


def validate(raw: dict[str, Any], source: str) -> list[str]:
    """Every problem in the parsed configuration `raw`, one line each (empty when it is valid)."""
    from cloudward import detections as registry
    from cloudward.datalists import available

    check = _Checker(source)
    known_top = [*TOP, *OWNED_SECTIONS]
    for name, value in raw.items():
        if name in OWNED_SECTIONS or name in _REGISTERED:
            schema = _owned_schema(name)
            if schema is not None:
                if isinstance(value, dict):
                    check.table(name, schema, value)
                else:
                    check.error(name, f"expected a table, got {_shown(value)}")
            continue
        if name not in TOP:
            check.unknown(name, name, known_top)
            continue
        key = TOP[name]
        if name in ("detections", "data", "suppress"):
            if not _type_ok(key, value):
                check.error(name, f"expected {key.describe()}, got {_shown(value)}")
            continue
        check.value(name, key, value)

    # the cards (every card module) and the entity names list load only for a configuration that names them
    wants_cards = bool(raw.get("detections")) or bool(raw.get("suppress"))
    cards = {c.card.id: c.card for c in registry.all_classes()} if wants_cards else {}
    entities = entity_names() if wants_cards else frozenset()

    def entity_table(path: str, table: Any) -> None:
        if not isinstance(table, dict):
            check.error(path, f"expected a table of entity names and values, got {_shown(table)}")
            return
        for ent, want in table.items():
            if ent not in entities:
                check.unknown(f"{path}.{ent}", ent, sorted(entities), "entity name")
            elif not isinstance(want, (str, list)) or (isinstance(want, list) and not all(
                    isinstance(w, str) for w in want)):
                check.error(f"{path}.{ent}", f"expected a string or a list of strings, got {_shown(want)}")

    detections = raw.get("detections")
    if isinstance(detections, dict):
        common = TOP["detections"].values.keys  # type: ignore[union-attr]
        for alert_type, table in detections.items():
            path = f"detections.{alert_type}"
            card = cards.get(alert_type)
            if card is None and str(alert_type).startswith(SIGMA_PREFIX):
                card = _SIGMA_RULE  # a Sigma rule's alert type: the common keys only
            if card is None:
                check.unknown(path, alert_type, list(cards), "alert type")
                continue
            if not isinstance(table, dict):
                check.error(path, f"expected a table, got {_shown(table)}")
                continue
            for name, value in table.items():
                where = f"{path}.{name}"
                if name == "allow":
                    if not isinstance(value, list):
                        check.error(where, f"expected {common['allow'].describe()}, got {_shown(value)}")
                        continue
                    for i, pattern in enumerate(value):
                        entity_table(f"{where}[{i}]", pattern)
                elif name in common:
                    check.value(where, common[name], value)
                elif name in card.params:
                    check.value(where, param_key(card.params[name]), value)
                else:
                    check.unknown(where, name, [*DETECTION_COMMON, *card.params], "key")
    data = raw.get("data")
    if isinstance(data, dict):
        names = available()
        for name, values in data.items():
            if name not in names:
                check.unknown(f"data.{name}", name, names, "data list")
            elif not isinstance(values, list):
                check.error(f"data.{name}", f"expected a list, got {_shown(values)}")
    suppress = raw.get("suppress")
    if isinstance(suppress, list):
        rule_keys = TOP["suppress"].items.keys  # type: ignore[union-attr]
        for i, rule in enumerate(suppress):
            path = f"suppress[{i}]"
            if not isinstance(rule, dict):
                check.error(path, f"expected a table, got {_shown(rule)}")
                continue
            for name, value in rule.items():
                where = f"{path}.{name}"
                if name not in rule_keys:
                    check.unknown(where, name, list(rule_keys))
                elif name == "alert_type":
                    if value != "*" and value not in cards and not str(value).startswith(SIGMA_PREFIX):
                        check.unknown(where, str(value), list(cards), "alert type")
                elif name == "match":
                    entity_table(where, value)
                else:
                    check.value(where, rule_keys[name], value)
            if "alert_type" not in rule:
                check.error(path, 'needs alert_type (an alert type, or "*" for every type)')
    return check.errors


# -- the generated reference -----------------------------------------------------------------------
def _default(key: Key) -> str:
    if key.default is None or key.default == "" or key.default == [] or key.default == {}:
        return ""
    value = key.default
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return f"{value:,}".replace(",", "_") if isinstance(value, int) else str(value)


def reference_markdown() -> str:
    """docs/configuration.md, generated from the schema and the cards (`cloudward config reference`)."""
    for owned in SECTION_OWNERS:  # every installed owner's section, whatever was imported before
        _owned_schema(owned)
    from cloudward import detections as registry
    from cloudward.datalists import available

    out = [
        "# Configuration reference",
        "",
        "<!-- generated by `cloudward config reference` from src/cloudward/config_schema.py; do not edit -->",
        "",
        "One TOML file (`--config FILE` or `CLOUDWARD_CONFIG`); every key has a default, so no file is needed.",
        "`cloudward config check FILE` validates a file: unknown keys and wrong types are errors that name the",
        "file, the key path and what was expected (exit status 2).",
        "",
    ]

    def rows(prefix: str, keys: dict[str, Key]) -> None:
        out.append("| key | type | default | meaning |")
        out.append("|---|---|---|---|")
        for name, key in keys.items():
            default = _default(key)
            out.append(f"| `{prefix}{name}` | {key.describe()} | {f'`{default}`' if default else ''} | {key.doc} |")
        out.append("")

    out += ["## Top level", ""]
    rows("", {k: v for k, v in TOP.items() if v.kind not in ("table", "map", "list")})
    for name, key in TOP.items():
        if key.kind == "table":
            out += [f"## `[{name}]`", "", key.doc, ""]
            rows("", key.keys)
    out += ["## `[data]`", "", TOP["data"].doc, "", "Lists: " + ", ".join(f"`{n}`" for n in available()), ""]
    out += ["## `[detections.ALERT_TYPE]`", "", TOP["detections"].doc, ""]
    rows("", TOP["detections"].values.keys)  # type: ignore[union-attr]
    out += ["`allow` tables use entity names: " + ", ".join(f"`{n}`" for n in sorted(entity_names())) + ".", ""]
    out += ["Card parameters:", "", "| alert type | parameter | type | default |", "|---|---|---|---|"]
    for cls in registry.all_classes():
        for pname, default in cls.card.params.items():
            shown = f"`{default!r}`" if not isinstance(default, str) else f'`"{default}"`'
            out.append(f"| `{cls.card.id}` | `{pname}` | {param_key(default).describe()} | {shown} |")
    out += ["", "## `[[suppress]]`", "", TOP["suppress"].doc, ""]
    rows("", TOP["suppress"].items.keys)  # type: ignore[union-attr]
    out += ["## Sections owned by other modules", "",
            "These sections are accepted; each is validated by the module that reads it once it registers "
            "its schema: " + ", ".join(f"`[{n}]`" for n in OWNED_SECTIONS) + ".", ""]
    for name in sorted(_REGISTERED):
        out += [f"### `[{name}]`", ""]
        rows("", _REGISTERED[name])
        for sub, key in _REGISTERED[name].items():  # its sub-tables ([server.syslog], [[server.tokens]])
            if key.kind == "table" and key.keys:
                out += [f"#### `[{name}.{sub}]`", "", key.doc, ""]
                rows("", key.keys)
            elif key.kind == "list" and key.items is not None and key.items.kind == "table" and key.items.keys:
                out += [f"#### `[[{name}.{sub}]]`", "", key.doc, ""]
                rows("", key.items.keys)
    return "\n".join(out).rstrip() + "\n"
