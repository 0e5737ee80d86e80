"""The compiled-rule cache (`cloudward.sigma.cache`): a rule set read back is the rule set compiled, alerts
are the same cold, warm and without the cache, anything that changes compilation makes a new entry, and a
damaged or unwritable cache only means compiling again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from sigma_helpers import EMERGING, RULES, SNAPSHOT, write_rule
from test_prefilter import WEB_ATTACKS, _corpus, _generated_audit, _ordinary_web

from cloudward.config import from_dict
from cloudward.pipeline import scan_text
from cloudward.sigma import build
from cloudward.sigma.cache import PREFIX, cache_dir

WEB_RULES = [RULES / "web", EMERGING]
K8S_RULES = [RULES / "application" / "kubernetes"]
RULE = """title: Shell in a URL
id: 3c0a0000-0000-4000-8000-000000000001
status: test
logsource: {category: webserver}
detection:
  sel: {cs-uri-query|contains: '/bin/sh'}
  condition: sel
level: high
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty cache folder for one test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "cloudward"


def _config(paths: list[Any], **sigma: Any):
    return from_dict({"sigma": {"paths": [str(p) for p in paths], **sigma}}, "test")


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob(PREFIX + "*.json")) if folder.is_dir() else []


def _compiled(c: Any) -> tuple:
    return (c.literals, sorted((k, sorted(v)) for k, v in c.pins.items()), c.by_pins)


def _fingerprint(ruleset: Any) -> Any:
    """Everything of a rule set but the predicates themselves (the scans compare those)."""
    groups = []
    for g in ruleset.groups:
        rules = [(r.card, r.license, r.rule, r.alerts, r.settings, sorted(r.getters), _compiled(r.condition),
                  [(n, _compiled(c), c is r.condition) for n, c in r.named.items()]) for r in g.rules]
        groups.append((g.name, g.stats(), g._pin_fields, sorted(g._decided), g._key_fields, rules))
    return groups, ruleset.problems, ruleset.loaded.problems, ruleset.counts()


def _alerts(text: str, fmt: str, paths: list[Any], **sigma: Any) -> list[bytes]:
    alerts, stats = scan_text(text, fmt, config=_config(paths, **sigma))
    assert stats.rejected == 0
    return sorted(orjson.dumps(a.to_dict(), option=orjson.OPT_SORT_KEYS) for a in alerts)


def test_every_snapshot_rule_reads_back_as_it_was_compiled(home: Path) -> None:
    paths = [str(SNAPSHOT / "rules"), str(EMERGING)]
    plain = build(_config(paths, cache=False), paths)
    assert not _files(home)
    cold = build(_config(paths), paths)
    assert len(_files(home)) == 1
    warm = build(_config(paths), paths)
    assert (plain.cached, cold.cached, warm.cached) == (False, False, True)
    assert len(warm.rules) > 300 and warm.counts()["unsupported"] > 0
    assert _fingerprint(warm) == _fingerprint(cold) == _fingerprint(plain)


@pytest.mark.parametrize("part", ["web", "k8s"])
def test_alerts_are_the_same_cold_warm_and_without_the_cache(home: Path, part: str) -> None:
    if part == "web":
        text, fmt, paths = _ordinary_web(300) + "".join(WEB_ATTACKS) + _ordinary_web(100), "combined", WEB_RULES
    else:
        text, fmt, paths = _generated_audit(5, 800) + _corpus(), "k8s-audit", K8S_RULES
    plain = _alerts(text, fmt, paths, cache=False)
    cold = _alerts(text, fmt, paths)
    assert len(_files(home)) == 1
    warm = _alerts(text, fmt, paths)
    assert len(_files(home)) == 1  # the warm run used the entry the cold run wrote
    assert sum(b'"SIGMA_' in a for a in plain) >= 3
    assert cold == plain and warm == plain


def test_a_changed_rule_file_mapping_or_placeholder_is_compiled_again(home: Path, tmp_path: Path) -> None:
    rule = write_rule(tmp_path, RULE)
    assert not build(_config([rule])).cached
    assert build(_config([rule])).cached
    rule.write_text(RULE.replace("Shell in a URL", "A shell in a URL"))
    changed = build(_config([rule]))
    assert not changed.cached and changed.rules[0].card.title == "A shell in a URL"
    assert build(_config([rule])).cached
    # a field mapped elsewhere compiles differently: a new entry
    mapped = _config([rule], field_mappings={"webserver": {"fields": {"cs-uri-query": "attr:path"}}})
    first = build(mapped)
    assert not first.cached and build(mapped).cached
    assert first.rules[0].mapping.fields["cs-uri-query"] == "attr:path"
    assert build(_config([rule], placeholders={"x": ["y"]})).cached is False
    # a rule file added to a folder is a new rule set
    folder = tmp_path / "rules"
    folder.mkdir()
    write_rule(folder, RULE)
    assert not build(_config([folder])).cached and build(_config([folder])).cached
    write_rule(folder, RULE.replace("000000000001", "000000000002"), "second.yml")
    again = build(_config([folder]))
    assert not again.cached and len(again.rules) == 2


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "other key", "bad spec", "bad mapping",
                                    "not a list"])
def test_a_damaged_cache_file_is_ignored_and_written_again(home: Path, damage: str) -> None:
    paths = [str(p) for p in WEB_RULES]
    want = _fingerprint(build(_config(paths, cache=False)))
    build(_config(paths))
    (file,) = _files(home)
    blob = file.read_bytes()
    data = orjson.loads(blob)
    if damage == "garbage":
        bad = b"\x00\xff not json"
    elif damage == "truncated":
        bad = blob[: len(blob) // 2]
    elif damage == "empty":
        bad = b""
    elif damage == "other key":
        bad = orjson.dumps({**data, "key": "0" * len(data["key"])})
    elif damage == "bad spec":
        data["rules"][3]["condition"] = ["nonsense", "cs-uri-query"]
        bad = orjson.dumps(data)
    elif damage == "bad mapping":
        data["rules"][0]["mapping"] = "no such log source"
        bad = orjson.dumps(data)
    else:
        data["rules"] = {"a": 1}
        bad = orjson.dumps(data)
    file.write_bytes(bad)
    again = build(_config(paths))
    assert not again.cached and _fingerprint(again) == want
    assert file.read_bytes() != bad and orjson.loads(file.read_bytes())["key"] == data["key"]
    warm = build(_config(paths))
    assert warm.cached and _fingerprint(warm) == want


def test_an_unwritable_cache_folder_still_scans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker / "below"))  # no folder can be made under a file
    text = _ordinary_web(50) + "".join(WEB_ATTACKS)
    want = _alerts(text, "combined", WEB_RULES, cache=False)
    assert _alerts(text, "combined", WEB_RULES) == want
    assert not build(_config(WEB_RULES)).cached
    assert blocker.read_text() == "not a folder"


def test_a_relative_cache_home_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "cloudward"


def test_cache_false_writes_nothing_and_a_wrong_value_is_refused(home: Path, tmp_path: Path) -> None:
    rule = write_rule(tmp_path, RULE)
    assert not build(_config([rule], cache=False)).cached
    assert not build(_config([rule], cache=False)).cached
    assert not home.exists()  # nothing at all: no compiled rules, no mapping data
    from cloudward.config import ConfigError

    with pytest.raises(ConfigError, match="cache"):
        build(_config([rule], cache="yes"))


def test_a_rule_set_with_correlations_is_not_cached(home: Path, tmp_path: Path) -> None:
    rule = write_rule(tmp_path, RULE.replace("title: Shell", "name: shell\ntitle: Shell") + """---
title: Many shells
id: 3c0a0000-0000-4000-8000-000000000009
level: high
correlation:
  type: event_count
  rules: [shell]
  group-by: [c-ip]
  timespan: 1m
  condition: {gte: 3}
""")
    first = build(_config([rule]))
    assert len(first.correlations) == 1 and not first.cached
    assert not build(_config([rule])).cached and not _files(home)


def test_a_warm_run_does_not_import_pysigma(home: Path) -> None:
    code = (
        "import sys\n"
        "from cloudward.config import from_dict\n"
        "from cloudward import sigma\n"
        f"config = from_dict({{'sigma': {{'paths': {[str(p) for p in WEB_RULES + K8S_RULES]!r}}}}}, 'test')\n"
        "dets = sigma.detections(config)\n"
        "print(len(dets), dets[0].ruleset.cached, sorted(m for m in sys.modules if m in ('sigma', 'yaml') or "
        "m.startswith(('sigma.', 'pyparsing', 'yaml.'))) [:3])\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(home.parent)}
    cold = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    warm = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert cold.stdout.split(" ", 2)[1] == "False" and "'pyparsing" in cold.stdout
    assert warm.stdout.strip().split(" ", 1)[1] == "True []"


@pytest.mark.parametrize("damage", [b"", b"{not json", b'{"key": "x", "digest": "y", "data": {}}', "other data"])
def test_a_damaged_mapping_data_file_is_parsed_again(home: Path, tmp_path: Path, damage: Any) -> None:
    from cloudward.sigma.fields import load_mappings

    want = load_mappings()
    rule = write_rule(tmp_path, RULE)
    build(_config([rule]))
    (file,) = home.glob("sigma-data-field-mappings-*.json")
    if damage == "other data":  # the right key, but data that is not what was kept (its digest says so)
        held = orjson.loads(file.read_bytes())
        held["data"] = {"webserver": {"match": {"category": "webserver"}, "event": "HttpRequest"}}
        damage = orjson.dumps(held)
    file.write_bytes(damage)
    assert load_mappings(cache=True) == want
    assert orjson.loads(file.read_bytes())["data"] == orjson.loads(orjson.dumps(_parse()))
    assert load_mappings(cache=True) == want


def _parse() -> Any:
    from importlib import resources

    from cloudward.sigma.fields import _parse_yaml

    return _parse_yaml(resources.files("cloudward.data").joinpath("sigma_field_mappings.yaml").read_text("utf-8"))
