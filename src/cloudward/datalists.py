"""Lists that are facts (miner images, sensitive host paths, scanner agents...) live in
`cloudward/data/<name>.yaml`; users add to them under `[data]` in their configuration.

Each file is a YAML mapping with a `description` and `entries` (strings, or mappings when an
entry carries more than a value).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from cloudward.config import Config, ConfigError


@cache
def shipped(name: str) -> tuple[Any, ...]:
    """The entries of the packaged list `name`."""
    from importlib import resources  # ~25 ms to import: only when a list is read

    try:
        text = resources.files("cloudward.data").joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no packaged data list named {name!r}") from None
    import yaml  # only when a card reads a list: an empty scan or a web-only run need not load PyYAML

    # libyaml's loader when PyYAML has it: the pure-Python one costs a quarter second per run at startup
    doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    entries = doc.get("entries") if isinstance(doc, dict) else doc
    if not isinstance(entries, list):
        raise ConfigError(f"data list {name!r} has no entries")
    return tuple(entries)


@cache
def available() -> list[str]:
    from importlib import resources

    return sorted(
        p.name[: -len(".yaml")] for p in resources.files("cloudward.data").iterdir() if p.name.endswith(".yaml")
    )


class DataLists:
    """Shipped lists plus what the configuration adds, cached per run."""

    def __init__(self, config: Config | None = None) -> None:
        self._extra = dict(config.data) if config else {}
        self._cache: dict[str, tuple[Any, ...]] = {}
        unknown = sorted(set(self._extra) - set(available())) if self._extra else []
        if unknown:
            raise ConfigError(f"[data] names unknown lists: {', '.join(unknown)}; known: {', '.join(available())}")

    def get(self, name: str) -> tuple[Any, ...]:
        if name not in self._cache:
            self._cache[name] = shipped(name) + tuple(self._extra.get(name, ()))
        return self._cache[name]

    def strings(self, name: str, key: str = "value") -> tuple[str, ...]:
        """Entries as strings; mapping entries give their `key` field."""
        out = []
        for e in self.get(name):
            if isinstance(e, dict):
                e = e.get(key)
            if isinstance(e, str) and e:
                out.append(e)
        return tuple(out)
