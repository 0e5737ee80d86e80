"""Fixtures for the agent's live tests (helpers in agent_harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_harness import RunningAgent


@pytest.fixture(scope="session", autouse=True)
def audit_status_restored() -> Iterator[None]:
    """An agent killed with -9 cannot restore the audit status it changed; put it back after the tests."""
    import os

    from cloudward.agent.audit_netlink import get_status, set_status

    try:
        before = get_status() if os.geteuid() == 0 else None
    except OSError:
        before = None
    yield
    if before is None:
        return
    try:
        now = get_status()
        if now.pid == 0 and (now.enabled, now.backlog_limit) != (before.enabled, before.backlog_limit):
            set_status(enabled=before.enabled, backlog_limit=before.backlog_limit)
    except OSError:
        pass


@pytest.fixture
def agent_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[RunningAgent] = []

    def start(agent: str = "", tables: str = "", extra_args: list[str] | None = None,
              workdir: Path | None = None) -> RunningAgent:
        if workdir is None:
            workdir = tmp_path / f"agent{len(started)}"
        workdir.mkdir(exist_ok=True)
        running = RunningAgent(workdir, agent, tables, extra_args)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
