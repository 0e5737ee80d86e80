"""Miner indicators are found in whole values, however much padding an attacker puts around them."""

from __future__ import annotations

import json

import pytest

from cloudward.config import Config
from cloudward.datalists import DataLists
from cloudward.detections.common.miners import MinerIndicators
from cloudward.detections.kubernetes._samples import audit, container, workload
from cloudward.pipeline import scan_text

PAD = "A" * 70_000
WALLET = "4" + "8" * 94  # Monero-shaped: 95 base58 characters starting with 4


def miners() -> MinerIndicators:
    return MinerIndicators(DataLists(Config()))


def _k8s_alerts(args: list[str] | None = None, env: dict[str, str] | None = None):
    obj = workload("Deployment", "batch-worker", [container("w", "docker.io/library/alpine:3.20", args=args, env=env)])
    alerts, _ = scan_text(json.dumps(audit("create", "deployments", obj)) + "\n", only={"K8S_MaliciousContainerImage"})
    return alerts


@pytest.mark.parametrize("args", [
    [PAD, "-o", "stratum+tcp://pool.example.net:3333", "--donate-level", "1"],
    [PAD + " -o stratum+tcp://pool.example.net:3333"],
    ["sh", "-c", PAD + " ./run --donate-level=1"],
    ["-o", "pool.example.net:3333", PAD, "--coin", "monero"],
])
def test_indicators_behind_64_kib_of_padding_alert(args):
    alerts = _k8s_alerts(args)
    assert [a.alert_type for a in alerts] == ["K8S_MaliciousContainerImage"], args[-1][-40:]


def test_indicator_in_an_env_value_behind_padding_alerts():
    assert _k8s_alerts(env={"POOL_URL": PAD + "stratum+ssl://pool.example.net:443"})


def test_padding_alone_and_ordinary_arguments_do_not_alert():
    assert not _k8s_alerts([PAD, "--port", "8080", "-o", "json"])
    assert not _k8s_alerts(["--config", "/etc/app.yaml"], env={"BIG": PAD})


def test_values_are_searched_whole_and_flags_with_the_next_value():
    m = miners()
    assert m.values([PAD, "--coin", "monero"]) == ["miner option '--coin monero'"]
    assert any(h.startswith("Monero wallet") for h in m.values([PAD + " " + WALLET]))
    assert m.values(["--port", "8080"]) == []
