"""Lists that are facts (miner images, sensitive host paths, scanner agents...) live in
`cloudward/data/<name>.yaml`; users add to them under `[data]` in their configuration.

Each file is a YAML mapping with a `description` and `entries` (strings, or mappings when an
entry carries more than a value).
"""

from __future__ import annotations

import os
import sys
from functools import cache
from typing import Any

import orjson

from cloudward.config import Config, ConfigError

#: every packaged list's entries, generated from the YAML files (`python -m cloudward.datalists`; a test
#: fails when it is stale): reading one JSON file is far cheaper than importing PyYAML and
#: `importlib.resources` and parsing a YAML document per list, which every scan with a card paid at start
COMPILED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "_lists.json")


@cache
def _compiled() -> dict[str, list[Any]] | None:
    try:
        with open(COMPILED, "rb") as fh:
            found = orjson.loads(fh.read())
    except (OSError, orjson.JSONDecodeError):  # not on disk (a zipped install): the YAML files are read
        return None
    return found if isinstance(found, dict) else None


def _from_yaml(name: str) -> tuple[Any, ...]:
    from importlib import resources  # ~25 ms to import: only when the compiled lists are not at hand

    try:
        text = resources.files("cloudward.data").joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no packaged data list named {name!r}") from None
    import yaml

    # libyaml's loader when PyYAML has it: the pure-Python one costs a quarter second per run at startup
    doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    entries = doc.get("entries") if isinstance(doc, dict) else doc
    if not isinstance(entries, list):
        raise ConfigError(f"data list {name!r} has no entries")
    return tuple(entries)


def _yaml_names() -> list[str]:
    from importlib import resources

    return sorted(
        p.name[: -len(".yaml")] for p in resources.files("cloudward.data").iterdir() if p.name.endswith(".yaml")
    )


@cache
def shipped(name: str) -> tuple[Any, ...]:
    """The entries of the packaged list `name`."""
    compiled = _compiled()
    if compiled is not None and name in compiled:
        return tuple(compiled[name])
    return _from_yaml(name)


@cache
def available() -> list[str]:
    return _yaml_names()


#: YAML files in data/ that are not lists (read by their own module)
NOT_LISTS = frozenset({"sigma_field_mappings"})


def compiled_source() -> bytes:
    """`data/_lists.json` as the YAML files make it: every list's entries, by name."""
    return orjson.dumps({name: list(_from_yaml(name)) for name in _yaml_names() if name not in NOT_LISTS},
                        option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"


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


if __name__ == "__main__":  # python -m cloudward.datalists > src/cloudward/data/_lists.json
    sys.stdout.buffer.write(compiled_source())
