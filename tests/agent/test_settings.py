"""The [agent] section: defaults, types and the messages for mistakes."""

from __future__ import annotations

import pytest

from cloudward.agent.settings import SCHEMA, AgentSettings, agent_settings
from cloudward.config import ConfigError, from_dict


def test_defaults_without_a_section() -> None:
    assert agent_settings(from_dict({})) == AgentSettings()


def test_every_key_is_described() -> None:
    assert set(SCHEMA) == set(AgentSettings.__dataclass_fields__)


@pytest.mark.parametrize(("section", "message"), [
    ({"colectors": []}, "agent.colectors: unknown key"),
    ({"batch_events": "many"}, "agent.batch_events: expected an integer"),
    ({"collectors": ["audit", "ebpf"]}, "unknown collector 'ebpf'"),
    ({"audit_mode": "sometimes"}, "agent.audit_mode must be auto, multicast or owner"),
    ({"metrics_port": True}, "agent.metrics_port: expected an integer"),
])
def test_mistakes_name_the_file_and_key(section: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        agent_settings(from_dict({"agent": section}, "/etc/cloudward/agent.toml"))
    assert message in str(err.value) and "/etc/cloudward/agent.toml" in str(err.value)


def test_integers_are_taken_for_seconds() -> None:
    assert agent_settings(from_dict({"agent": {"proc_net_interval": 2}})).proc_net_interval == 2.0
