"""Fixtures for the agent's live tests (helpers in agent_harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_harness import RunningAgent


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
