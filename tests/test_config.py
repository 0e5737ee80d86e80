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
    ({"detections": {"K8S_Nope": {}}}, "unknown detections"),
    ({"detections": {"K8S_PrivilegedContainer": {"learning_perod": "1d"}}}, "unknown keys"),
    ({"detections": {"K8S_PrivilegedContainer": {"severity": "urgent"}}}, "unknown severity"),
    ({"detections": {"K8S_KubeSystemContainer": {"learning_period": "soon"}}}, "not a duration"),
    ({"data": {"no_such_list": ["x"]}}, "unknown lists"),
    ({"suppress": [{"alert_type": "*", "match": {}, "expires": "someday"}]}, "expires"),
])
def test_mistakes_are_errors_that_say_where(raw, message):
    with pytest.raises(ConfigError, match=message):
        Pipeline(from_dict(raw, "my.toml"))


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
