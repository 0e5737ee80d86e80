"""The compiled-rule cache: a run whose rules, mappings and settings are those of an earlier run reads the
compiled rules back instead of parsing the rule files with pySigma (about 0.4 s for the 118 SigmaHQ web rule
files, most of it importing pySigma and pyparsing, which a warm run does not do at all).

What is kept, per set of inputs, in one JSON file under `$XDG_CACHE_HOME/cloudward/` (`~/.cache/cloudward/`):
every compiled rule as plain data (its `RuleInfo` and the matcher specs of its detections and condition,
`matchers`), the problems loading reported and the file count. Matchers are built from the specs by
`matchers.build` on both paths, so a rule read from the cache is the same rule.

The file is named by, and holds, a key hashed over everything the result depends on: the rule files (their
paths in load order and every byte of each), the field mappings as loaded (shipped and configured), the
placeholders and default licence, the versions of Cloudward, pySigma and PyYAML (and which YAML loader
runs), the source of this package, and the cache format. A file whose key differs, that does not parse, or
whose content does not rebuild is ignored and written again. A rule set with correlation rules is not
cached (its state objects are pySigma's). Nothing here is required: an unwritable or missing cache folder,
a read-only home or an unreadable rule file only means the rules are compiled as before.

The shipped field-mapping file's parsed data is kept there too (`cached_yaml`, keyed by the file's text), so a
warm run does not import PyYAML. `[sigma] cache = false` turns both off.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from cloudward.config import Config
from cloudward.sigma.fields import LogSourceMapping
from cloudward.sigma.rulefiles import LoadedRules, Problem, rule_files
from cloudward.sigma.ruleset import RuleSet, compile_rules, rules_from_entries

#: the layout of a cache file; any change to it, or to what a spec means, changes this
FORMAT = 1
#: cache files kept (the newest); older ones are removed when a new one is written
KEEP = 16
PREFIX = "sigma-rules-"


def cache_dir() -> Path | None:
    """`$XDG_CACHE_HOME/cloudward` (an absolute XDG_CACHE_HOME only, as the spec says), else `~/.cache/cloudward`;
    None when there is no home to put it in."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not base or not os.path.isabs(base):
        try:
            base = str(Path.home() / ".cache")
        except (RuntimeError, KeyError):
            return None
    return Path(base) / "cloudward"


def _dist_version(package: str, dist: str) -> str:
    """The installed version of distribution `dist` (whose top-level package is `package`), read from the name of
    its `.dist-info` folder next to the package without importing it (importlib.metadata costs ~30 ms of start-up);
    when there is none (a source checkout), the package's `__init__.py` size and time stand for it."""
    from importlib.util import find_spec

    try:
        spec = find_spec(package)
    except (ImportError, ValueError):
        return "?"
    locations = list(spec.submodule_search_locations or ()) if spec is not None else []
    if not locations:
        return "?"
    folder = Path(locations[0])
    try:
        names = os.listdir(folder.parent)
    except OSError:
        names = []
    prefix = dist.replace("-", "_").lower() + "-"
    found = sorted(n for n in names if n.lower().startswith(prefix) and n.endswith(".dist-info"))
    if found:
        return ",".join(found)
    try:
        st = (folder / "__init__.py").stat()
    except OSError:
        return "?"
    return f"{folder}:{st.st_size}:{st.st_mtime_ns}"


def _yaml_loader() -> str:
    """Which YAML loader `loader` and `fields` run (libyaml's when PyYAML was built with it), seen without importing
    PyYAML (~20 ms of start-up a warm run does without)."""
    from importlib.util import find_spec

    try:
        spec = find_spec("yaml")
    except (ImportError, ValueError):
        return "?"
    folder = list(spec.submodule_search_locations or ()) if spec is not None else []
    if not folder:
        return "?"
    try:
        names = os.listdir(folder[0])
    except OSError:
        return "?"
    return "CSafeLoader" if any(n.startswith("_yaml.") and not n.endswith(".pyi") for n in names) else "SafeLoader"


def _versions() -> list[str]:
    import cloudward

    return [str(FORMAT), cloudward.__version__, _dist_version("sigma", "pysigma"), _dist_version("yaml", "pyyaml"),
            _yaml_loader()]


def _sources() -> bytes:
    """The source of this package (the compiler, the matchers, the loader, the mappings' readers): a changed
    Cloudward compiles differently even before its version says so."""
    h = hashlib.blake2b(digest_size=20)
    here = Path(__file__).resolve().parent
    for f in sorted(here.glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.digest()


def _mapping_data(m: LogSourceMapping) -> list[Any]:
    return [m.name, m.match, [k.__name__ for k in m.kinds], m.fields, m.default, m.os, m.entities, list(m.dedup)]


def cache_key(paths: list[str], mappings: list[LogSourceMapping], placeholders: Mapping[str, list[str]],
              license_: str) -> str | None:
    """The key of this rule set, or None when a rule file cannot be read (then nothing is cached)."""
    h = hashlib.blake2b(digest_size=24)

    def feed(obj: Any) -> None:
        blob = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
        h.update(len(blob).to_bytes(8, "little") + blob)

    feed(_versions())
    h.update(_sources())
    feed([_mapping_data(m) for m in mappings])
    feed({"placeholders": placeholders, "license": license_, "paths": [str(p) for p in paths]})
    files, problems = rule_files(paths)
    feed([[p.path, p.kind, p.reason] for p in problems])
    for f in files:
        try:
            data = f.read_bytes()
        except OSError:
            return None
        feed(str(f))
        h.update(hashlib.blake2b(data, digest_size=24).digest())
    return h.hexdigest()


def _plain(obj: Any) -> bool:
    """True when `obj` survives JSON unchanged (str keys, finite floats, 64-bit integers)."""
    if obj is None or isinstance(obj, str | bool):
        return True
    if isinstance(obj, int):
        return -(2**63) <= obj < 2**63
    if isinstance(obj, float):
        return math.isfinite(obj)
    if isinstance(obj, list | tuple):
        return all(_plain(x) for x in obj)
    if isinstance(obj, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in obj.items())
    return False


def _problem(p: Any) -> Problem:
    path, kind, reason, rule_id, title = p
    return Problem(str(path), str(kind), str(reason), str(rule_id), str(title))


def _problems(ps: list[Problem]) -> list[list[str]]:
    return [[p.path, p.kind, p.reason, p.rule_id, p.title] for p in ps]


def read(file: Path, key: str, mappings: list[LogSourceMapping], config: Config, license_: str) -> RuleSet | None:
    """The rule set kept in `file` for `key`; None when there is none, it is another key's, or it does not
    parse or rebuild (a corrupt or truncated file is ignored, never trusted)."""
    try:
        data = orjson.loads(file.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    try:
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("key") != key:
            return None
        loaded = LoadedRules(problems=[_problem(p) for p in data["loaded_problems"]], files=int(data["files"]))
        problems = [_problem(p) for p in data["problems"]]
        return rules_from_entries(list(data["rules"]), mappings, config, license_, problems, loaded)
    except Exception:  # any damage: compile again (and write a good file)
        return None


def write(file: Path, key: str, ruleset: RuleSet, entries: list[dict[str, Any]]) -> bool:
    """Keep `entries` (of `ruleset`) under `key`, atomically; False when it cannot be (unwritable, or a value
    JSON would not keep as it is)."""
    data = {"format": FORMAT, "key": key, "files": ruleset.loaded.files,
            "loaded_problems": _problems(ruleset.loaded.problems), "problems": _problems(ruleset.problems),
            "rules": entries}
    if not _plain(data):
        return False
    try:
        _write_atomic(file, orjson.dumps(data), "." + PREFIX)
    except (OSError, TypeError, ValueError):
        return False
    _prune(file.parent)
    return True


def _write_atomic(file: Path, blob: bytes, prefix: str) -> None:
    """Write `blob` to `file` through a temporary file in its folder and a rename: a reader sees the old file
    or the whole new one, never a part. OSError when it cannot be written (the temporary file is removed)."""
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, file)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _prune(folder: Path) -> None:
    try:
        files = sorted(folder.glob(PREFIX + "*.json"), key=lambda f: f.stat().st_mtime, reverse=True)
        for old in files[KEEP:]:
            old.unlink()
    except OSError:
        pass


def compile_cached(paths: list[str], mappings: list[LogSourceMapping], config: Config,
                   placeholders: Mapping[str, list[str]], license_: str) -> RuleSet:
    """The rule set of `paths`, from the cache when it holds this key, else compiled (and then kept)."""
    folder = cache_dir()
    key = cache_key(paths, mappings, placeholders, license_) if folder is not None else None
    file = folder / f"{PREFIX}{key}.json" if folder is not None and key is not None else None
    if file is not None and key is not None:
        ruleset = read(file, key, mappings, config, license_)
        if ruleset is not None:
            ruleset.cached = True
            return ruleset
    from cloudward.sigma.loader import load_paths

    loaded = load_paths(paths)
    entries: list[dict[str, Any]] = []
    ruleset = compile_rules(loaded, mappings, config, placeholders, license_, entries)
    if file is not None and key is not None and not loaded.correlations:
        write(file, key, ruleset, entries)
    return ruleset


def cached_yaml(name: str, text: str, parse: Any) -> Any:
    """`parse(text)` (plain YAML data: tables, lists, strings, numbers), kept under `name` and the text's hash so a
    warm run neither imports PyYAML nor parses the file again; computed (and kept) when the entry is missing,
    another text's, damaged or not plain JSON data."""
    folder = cache_dir()
    h = hashlib.blake2b(digest_size=24)
    h.update(orjson.dumps([FORMAT, _dist_version("yaml", "pyyaml"), _yaml_loader(), name]))
    h.update(text.encode("utf-8", "surrogatepass"))
    key = h.hexdigest()
    file = folder / f"sigma-data-{name}-{key}.json" if folder is not None else None
    if file is not None:
        try:
            held = orjson.loads(file.read_bytes())
            if isinstance(held, dict) and held.get("key") == key and held.get("digest") == _digest(held.get("data")):
                return held["data"]
        except (OSError, orjson.JSONDecodeError, TypeError):
            pass
    data = parse(text)
    if file is not None and _plain(data) and orjson.loads(orjson.dumps(data)) == data:
        blob = orjson.dumps({"key": key, "digest": _digest(data), "data": data})
        try:
            _write_atomic(file, blob, ".sigma-data-")
        except OSError:
            pass
    return data


def _digest(data: Any) -> str:
    return hashlib.blake2b(orjson.dumps(data, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()
