"""`cloudward agent` on the command line: --status without a running agent, configuration mistakes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cloudward.cli import main


def test_status_without_a_running_agent_probes_the_collectors(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text(f'[agent]\nstatus_file = "{tmp_path / "status.json"}"\ncollectors = ["audit", "docker"]\n'
                   f'docker_socket = "{tmp_path / "no.sock"}"\n')
    result = CliRunner().invoke(main, ["agent", "--config", str(cfg), "--status"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["running"] is False
    assert report["collectors"]["docker"].startswith("no Docker socket at")
    assert report["collectors"]["proc_net"] == "disabled in configuration"


def test_a_stale_status_file_is_not_a_running_agent(tmp_path: Path) -> None:
    status = tmp_path / "status.json"
    status.write_text(json.dumps({"pid": 2**22 + 7, "collectors": {"audit": {"state": "ok"}}}))
    cfg = tmp_path / "agent.toml"
    cfg.write_text(f'[agent]\nstatus_file = "{status}"\n')
    result = CliRunner().invoke(main, ["agent", "--config", str(cfg), "--status"])
    assert result.exit_code == 1
    assert json.loads(result.output)["last_run"]["pid"] == 2**22 + 7


def test_configuration_mistakes_are_usage_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text('[agent]\nbatch_events = "lots"\n')
    result = CliRunner().invoke(main, ["agent", "--config", str(cfg)])
    assert result.exit_code == 2 and "agent.batch_events: expected an integer" in result.output


def test_to_needs_a_token_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["agent", "--to", "https://127.0.0.1:9"])
    assert result.exit_code == 2 and "--token-file" in result.output
