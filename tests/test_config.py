"""Configuration loading and validation."""

from __future__ import annotations

import pytest

from cloudward.config import ConfigError, from_dict, load
from cloudward.pipeline import Pipeline
from cloudward.timeutil import parse_duration


def test_defaults_need_no_file():
    cfg = load(None)
    assert cfg.detections == {} and cfg.evidence_limit == 10


def test_toml_file(tmp_path):
    p = tmp_path / "cloudward.toml"
    p.write_text('cluster = "prod"\n[detections.K8S_KubeSystemContainer]\nlearning_period = "14d"\n'
                 'severity = "medium"\n[data]\nsensitive_host_paths = ["/srv/secrets"]\n')
    cfg = load(p)
    pipe = Pipeline(cfg)
    card = next(d for d in pipe.detections if d.card.id == "K8S_KubeSystemContainer")
    assert card.learning_period == 14 * 86400 and card.severity == "medium"
    assert "/srv/secrets" in pipe.data.strings("sensitive_host_paths")


@pytest.mark.parametrize("raw, message", [
    ({"detections": {"K8S_Nope": {}}}, "my.toml: detections.K8S_Nope: unknown alert type"),
    ({"detections": {"K8S_PrivilegedContainer": {"learning_perod": "1d"}}},
     "my.toml: detections.K8S_PrivilegedContainer.learning_perod: unknown key"),
    ({"detections": {"K8S_PrivilegedContainer": {"severity": "urgent"}}},
     "severity: expected one of informational, low, medium, high, got 'urgent'"),
    ({"detections": {"K8S_KubeSystemContainer": {"learning_period": "soon"}}},
     "learning_period: expected a duration string"),
    ({"data": {"no_such_list": ["x"]}}, "my.toml: data.no_such_list: unknown data list"),
    ({"suppress": [{"alert_type": "*", "match": {}, "expires": "someday"}]},
     r"suppress\[0\]\.expires: expected a date"),
    # the examples: each is an error naming the file, the key path and what was expected
    ({"clustr": "prod"}, "my.toml: clustr: unknown key; did you mean 'cluster'\\?"),
    ({"detections": {"K8S_PrivilegedContainer": {"allow": [{"nmspace": "monitoring"}]}}},
     r"detections\.K8S_PrivilegedContainer\.allow\[0\]\.nmspace: unknown entity name; did you mean 'namespace'"),
    ({"suppress": [{"alert_type": "K8S_PrivilegedContainr", "match": {"namespace": "x"}}]},
     r"suppress\[0\]\.alert_type: unknown alert type; did you mean 'K8S_PrivilegedContainer'"),
    ({"suppress": [{"alert_type": "*", "match": {"imgae": "x"}}]}, r"suppress\[0\]\.match\.imgae: unknown entity"),
    ({"detections": {"K8S_PrivilegedContainer": {"enabled": "no"}}},
     "detections.K8S_PrivilegedContainer.enabled: expected true or false, got 'no'"),
    ({"detections": {"K8S_KubeSystemContainer": {"learning_period": 7}}},
     "detections.K8S_KubeSystemContainer.learning_period: expected a duration string .*, got 7"),
    ({"scan": {"max_line_bytes": -1}}, "my.toml: scan.max_line_bytes: expected an integer ≥ 1, got -1"),
    ({"scan": {"max_compression_ratio": "high"}}, "scan.max_compression_ratio: expected a number"),
    ({"output": {"evidence_limt": 3}}, "output.evidence_limt: unknown key; did you mean 'evidence_limit'"),
    ({"store": "x.db"}, "my.toml: store: expected a table, got 'x.db'"),
])
def test_mistakes_are_errors_that_say_where(raw, message):
    with pytest.raises(ConfigError, match=message):
        Pipeline(from_dict(raw, "my.toml"))


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        from_dict({"clustr": "x", "scan": {"max_line_bytes": 0}, "detections": {"K8S_PrivilegedContainer": {
            "enabled": "no"}}}, "my.toml")
    assert len(str(info.value).splitlines()) == 3


def test_module_owned_sections_are_accepted_and_validated_once_registered():
    from cloudward import config_schema
    from cloudward.config_schema import Key

    from_dict({"sinks": {"anything": 1}}, "my.toml")  # an owned section whose owner registered nothing
    config_schema.register_section("spark", {"master": Key("string", "Spark master URL.")})
    try:
        from_dict({"spark": {"master": "local[2]"}}, "my.toml")
        with pytest.raises(ConfigError, match=r"spark\.mastr: unknown key; did you mean 'master'"):
            from_dict({"spark": {"mastr": "local[2]"}}, "my.toml")
        with pytest.raises(ConfigError, match=r"spark\.master: expected a string, got 2"):
            from_dict({"spark": {"master": 2}}, "my.toml")
    finally:
        config_schema._REGISTERED.pop("spark")


def test_shipped_example_configuration_is_valid():
    from pathlib import Path

    for example in (Path(__file__).parents[1] / "examples").glob("*.toml"):
        load(example)


def test_every_entity_a_card_raises_is_a_known_entity_name():
    from cloudward import detections as registry
    from cloudward.config_schema import entity_names
    from cloudward.detections.testing import run_sample

    known = entity_names()
    for cls in registry.all_classes():
        for sample in cls.card.samples:
            if sample.expect:
                for alert in run_sample(cls, sample).alerts:
                    assert set(alert.entities) <= known, (cls.card.id, set(alert.entities) - known)


def test_configuration_reference_is_generated_from_the_schema():
    from pathlib import Path

    from cloudward.config_schema import reference_markdown

    doc = Path(__file__).parents[1] / "docs" / "configuration.md"
    assert doc.read_text(encoding="utf-8") == reference_markdown(), (
        "docs/configuration.md is stale: run `cloudward config reference > docs/configuration.md`")


def test_broken_toml(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("cluster = \n")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load(p)


def test_durations():
    assert parse_duration("30s") == 30
    assert parse_duration("15m") == 900
    assert parse_duration("7d") == 604800
    with pytest.raises(ValueError):
        parse_duration("7 days")


def test_time_parsing_fast_path_agrees_with_datetime():
    from datetime import datetime

    from cloudward.timeutil import format_time, parse_time

    for text in ["2026-11-02T09:15:27.401327Z", "2018-10-25T14:09:12Z", "2026-11-02T09:15:27.123456789Z",
                 "2024-02-29T23:59:59.999Z", "2026-11-02T09:15:27+02:00", "2026-11-02 09:15:27"]:
        expected = datetime.fromisoformat(text.replace("Z", "+00:00")) if "Z" in text else datetime.fromisoformat(text)
        if expected.tzinfo is None:
            from datetime import UTC

            expected = expected.replace(tzinfo=UTC)
        assert abs(parse_time(text) - expected.timestamp()) < 1e-6, text
    assert parse_time("2026-11-02T09:15:xx.0Z") == 0.0
    assert parse_time("garbage") == 0.0
    assert parse_time(1793611527000) == 1793611527.0
    assert format_time(parse_time("2026-11-02T09:15:27.401Z")) == "2026-11-02T09:15:27.401Z"


def test_config_check_command(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    cloudward = str(Path(sys.executable).parent / "cloudward")
    bad = tmp_path / "bad.toml"
    bad.write_text('clustr = "x"\n[scan]\nmax_line_bytes = -1\n[detections.K8S_PrivilegedContainer]\n'
                   'enabled = "no"\nallow = [{nmspace = "a"}]\n')
    r = subprocess.run([cloudward, "config", "check", str(bad)], capture_output=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.decode().splitlines() == [
        f"{bad}: clustr: unknown key; did you mean 'cluster'?",
        f"{bad}: scan.max_line_bytes: expected an integer ≥ 1, got -1",
        f"{bad}: detections.K8S_PrivilegedContainer.enabled: expected true or false, got 'no'",
        f"{bad}: detections.K8S_PrivilegedContainer.allow[0].nmspace: unknown entity name; did you mean 'namespace'?",
    ]
    example = Path(__file__).parents[1] / "examples" / "cloudward.toml"
    r = subprocess.run([cloudward, "config", "check", str(example)], capture_output=True, timeout=60)
    assert r.returncode == 0 and b"valid" in r.stdout
    r = subprocess.run([cloudward, "scan", "-c", str(bad), str(example)], capture_output=True, timeout=60)
    assert r.returncode == 2 and b"clustr: unknown key" in r.stderr
