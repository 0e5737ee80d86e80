"""Sigma's taxonomy -> Cloudward's events: which event kind a log source reads, and where each field's
value comes from. The mapping is data (`data/sigma_field_mappings.yaml`), overridable per log source in
the configuration (`[sigma.field_mappings.<name>]`); this module only turns value specs into getters.

A getter takes an event and returns a value: a string, a number, a list (any element may match) or None
(the field is absent: only `null` and `exists: false` match it).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from cloudward import events as event_module
from cloudward.config import ConfigError
from cloudward.events import Event, HttpRequest, K8sAudit, NetConnection, undecoded_bodies

Getter = Callable[[Any], Any]


def _http_target(ev: HttpRequest) -> str:
    return ev.path + "?" + ev.query if ev.query else ev.path


def _http_user_agent(ev: HttpRequest) -> str:
    # access logs write "-" for a request without the header: Sigma's `null` must match it
    return "" if ev.user_agent == "-" else ev.user_agent


def _pod_specs(ev: K8sAudit) -> list[dict[str, Any]]:
    """Pod specs in the object a create or update carries (a Pod, a workload template, a CronJob's job)."""
    obj = ev.subject_object
    if not isinstance(obj, dict):
        return []
    spec = obj.get("spec")
    out = []
    for _ in range(3):  # Pod -> spec; workload -> spec.template.spec; CronJob -> spec.jobTemplate.spec.template.spec
        if not isinstance(spec, dict):
            break
        if "containers" in spec or "volumes" in spec:
            out.append(spec)
            break
        nxt = spec.get("template") or spec.get("jobTemplate")
        spec = nxt.get("spec") if isinstance(nxt, dict) else None
    return out


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key in ("containers", "initContainers", "ephemeralContainers"):
        items = spec.get(key)
        if isinstance(items, list):
            out.extend(c for c in items if isinstance(c, dict))
    return out


def _bodies_lack(ev: K8sAudit, key: bytes) -> bool:
    """True when neither body of `ev` can hold the JSON key `key` (plain ASCII letters): both are still the
    undecoded bytes the parser kept (or absent) and neither holds `key`'s bytes nor a `\\u` escape (the only
    way JSON could spell a letter of it otherwise). Then no object decoded from them has that key anywhere,
    so a getter that reads only values under it finds nothing, without decoding the bodies."""
    bodies = undecoded_bodies(ev)
    if bodies is None:
        return False
    for data in bodies:
        if data is not None:
            raw = bytes(data)
            if key in raw or b"\\u" in raw:
                return False
    return True


def _pod_host_paths(ev: K8sAudit) -> list[str] | None:
    if _bodies_lack(ev, b"hostPath"):
        return None  # (what the walk below finds in bodies without the key)
    paths = []
    for spec in _pod_specs(ev):
        for vol in spec.get("volumes") or []:
            host = vol.get("hostPath") if isinstance(vol, dict) else None
            if isinstance(host, dict) and isinstance(host.get("path"), str):
                paths.append(host["path"])
    return paths or None


def _pod_capabilities(ev: K8sAudit) -> list[str] | None:
    if _bodies_lack(ev, b"capabilities"):
        return None
    caps = []
    for spec in _pod_specs(ev):
        for c in _containers(spec):
            sc = c.get("securityContext")
            added = sc.get("capabilities", {}).get("add") if isinstance(sc, dict) and isinstance(
                sc.get("capabilities"), dict) else None
            if isinstance(added, list):
                caps.extend(str(x) for x in added)
    return caps or None


def _first_source_ip(ev: K8sAudit) -> str:
    return ev.source_ip


def _initiated(ev: NetConnection) -> str:
    return "true"


#: computed values a mapping may name as `fn:NAME`
COMPUTED: dict[str, Getter] = {
    "http_target": _http_target,
    "http_user_agent": _http_user_agent,
    "pod_host_paths": _pod_host_paths,
    "pod_capabilities": _pod_capabilities,
    "first_source_ip": _first_source_ip,
    "initiated": _initiated,
}


def _doc_getter(path: str) -> Getter:
    parts = path.split(".")

    def get(ev: Any) -> Any:
        cur: Any = getattr(ev, "doc", None)
        for p in parts:
            if isinstance(cur, dict):
                cur = cur.get(p)
            else:
                return None
        return cur

    return get


def _raw_getter(name: str) -> Getter:
    def get(ev: Any) -> Any:
        raw = ev.raw
        if not isinstance(raw, dict):
            return None
        if name in raw:
            return raw[name]
        for outer, inner in (("EventData", None), ("winlog", "event_data"), ("event_data", None)):
            sub = raw.get(outer)
            if inner and isinstance(sub, dict):
                sub = sub.get(inner)
            if isinstance(sub, dict) and name in sub:
                return sub[name]
        return None

    return get


def getter(spec: str, where: str) -> Getter:
    """The getter for one value spec (`attr:NAME`, `opt:NAME`, `doc:a.b`, `raw:NAME`, `fn:NAME`)."""
    kind, _, name = spec.partition(":")
    if kind == "attr" and name:
        def get_attr(ev: Any, _n: str = name) -> Any:
            return getattr(ev, _n, None)
        return get_attr
    if kind == "opt" and name:
        def get_opt(ev: Any, _n: str = name) -> Any:
            v = getattr(ev, _n, None)
            return v if v not in ("", 0, [], None) or v is False else None
        return get_opt
    if kind == "doc" and name:
        return _doc_getter(name)
    if kind == "raw" and name:
        return _raw_getter(name)
    if kind == "fn" and name in COMPUTED:
        return COMPUTED[name]
    raise ConfigError(f"{where}: {spec!r} is not a value spec (attr:NAME, opt:NAME, doc:a.b, raw:NAME or fn:"
                      f"{'|'.join(sorted(COMPUTED))})")


@dataclass
class LogSourceMapping:
    """One log source: the event kinds it reads and its field getters."""

    name: str
    match: dict[str, str]
    kinds: tuple[type[Event], ...]
    fields: dict[str, str]
    #: for fields not listed: None (unknown field: the rule is unsupported), "doc" or "record"
    default: str | None = None
    os: str | None = None
    entities: dict[str, str] = field(default_factory=dict)
    dedup: tuple[str, ...] = ()

    def applies_to(self, logsource: Mapping[str, str | None]) -> bool:
        return all((logsource.get(k) or "").lower() == v.lower() for k, v in self.match.items())

    def field_getter(self, name: str) -> Getter | None:
        spec = self.fields.get(name)
        if spec is not None:
            return getter(spec, f"sigma field mapping {self.name}.{name}")
        if self.default == "doc":
            return _doc_getter(name)
        if self.default == "record":
            def get_record(rec: Any, _n: str = name) -> Any:
                return rec.get(_n) if isinstance(rec, dict) else None
            return get_record
        return None

    def entity_getters(self) -> dict[str, Getter]:
        return {k: getter(v, f"sigma field mapping {self.name} entity {k}") for k, v in self.entities.items()}


#: keys of one log source in the YAML file or in `[sigma.field_mappings.<name>]`, and their types
MAPPING_SCHEMA: dict[str, str] = {
    "match": "table of logsource key -> value (category, product, service)",
    "event": "event kind name or list of them (HttpRequest, K8sAudit, ProcessExec, NetConnection...)",
    "fields": "table of Sigma field -> value spec",
    "default": "'doc' or 'record' (how fields not listed are read), optional",
    "os": "'linux' or 'windows', optional",
    "entities": "table of entity name -> value spec",
    "dedup": "list of entity names",
}


def _kinds(value: Any, where: str) -> tuple[type[Event], ...]:
    names = value if isinstance(value, list) else [value]
    out = []
    for n in names:
        cls = getattr(event_module, str(n), None)
        if not (isinstance(cls, type) and issubclass(cls, Event)):
            raise ConfigError(f"{where}.event: {n!r} is not an event kind")
        out.append(cls)
    return tuple(out)


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in override.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = {**out[k], **v}
        else:
            out[k] = v
    return out


def _parse_yaml(text: str) -> Any:
    import yaml

    # libyaml's loader when PyYAML has it (the same data, ~6x faster than the pure-Python one: start-up)
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _shipped(text: str) -> Any:
    """The shipped mapping file's data, through the compiled-rule cache's folder (no PyYAML on a warm run)."""
    from cloudward.sigma.cache import cached_yaml

    data = cached_yaml("field-mappings", text, _parse_yaml)
    return data if isinstance(data, dict) else _parse_yaml(text)


def load_mappings(overrides: Mapping[str, Any] | None = None, source: str = "(config)", *,
                  cache: bool = False) -> list[LogSourceMapping]:
    """The shipped mappings with `overrides` (the `[sigma] field_mappings` table) merged in; with `cache`, the
    shipped file's data is kept in the compiled-rule cache's folder (`cloudward.sigma.cache.cached_yaml`)."""
    text = resources.files("cloudward.data").joinpath("sigma_field_mappings.yaml").read_text(encoding="utf-8")
    shipped: dict[str, Any] = _shipped(text) if cache else _parse_yaml(text)
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ConfigError(f"{source}: [sigma] field_mappings must be a table of log sources")
    for name, table in (overrides or {}).items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"{source}: [sigma.field_mappings.{name}] must be a table")
        unknown = set(table) - set(MAPPING_SCHEMA)
        if unknown:
            raise ConfigError(f"{source}: [sigma.field_mappings.{name}] unknown keys {', '.join(sorted(unknown))}; "
                              f"expected {', '.join(MAPPING_SCHEMA)}")
        shipped[name] = _merge(shipped.get(name, {}), table)
    out = []
    for name, t in shipped.items():
        where = f"{source}: [sigma.field_mappings.{name}]"
        if not isinstance(t.get("match"), Mapping) or "event" not in t:
            raise ConfigError(f"{where} needs match (a table) and event")
        fields = t.get("fields") or {}
        if not isinstance(fields, Mapping) or not all(isinstance(v, str) for v in fields.values()):
            raise ConfigError(f"{where}.fields must map Sigma field names to value specs (strings)")
        default = t.get("default")
        if default not in (None, "doc", "record"):
            raise ConfigError(f"{where}.default must be 'doc' or 'record', not {default!r}")
        m = LogSourceMapping(
            name=name, match={str(k): str(v) for k, v in t["match"].items()}, kinds=_kinds(t["event"], where),
            fields=dict(fields), default=default, os=t.get("os"), entities=dict(t.get("entities") or {}),
            dedup=tuple(t.get("dedup") or ()),
        )
        for spec_name, spec in m.fields.items():
            getter(spec, f"{where}.fields.{spec_name}")
        m.entity_getters()
        out.append(m)
    return out
