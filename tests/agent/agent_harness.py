"""Helpers for the agent's live tests: they run the real agent as root against the real kernel.

A test that needs root, the audit netlink socket or a tool fails with a clear message instead of
passing silently.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLOUDWARD = [sys.executable, "-m", "cloudward"]


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("the agent's live tests need root (the kernel audit socket, cgroups, namespaces)")


def require_audit() -> None:
    require_root()
    from cloudward.agent.audit_netlink import get_status

    try:
        status = get_status()
    except OSError as exc:
        pytest.fail(f"kernel audit netlink unavailable here: {exc}")
    if status.pid:
        try:
            os.kill(status.pid, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        if alive and not Path(f"/proc/{status.pid}/comm").read_text().startswith("auditd"):
            pytest.fail(f"another process (pid {status.pid}) owns the audit socket; stop it first")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (.ci/run installs it with apt-get)")
    return path


class RunningAgent:
    """`cloudward agent --output jsonl` in a subprocess; its alerts collected as they are written."""

    def __init__(self, workdir: Path, agent: str = "", tables: str = "", extra_args: list[str] | None = None) -> None:
        self.workdir = workdir
        self.config_path = workdir / "agent.toml"
        self.status_path = workdir / "status.json"
        self.config_path.write_text(f'host = "cw-test-node"\n[agent]\nstatus_file = "{self.status_path}"\n'
                                    f'spool_dir = "{workdir / "spool"}"\n{agent}\n{tables}\n')
        self.stderr_path = workdir / "agent.stderr"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [*CLOUDWARD, "agent", "--config", str(self.config_path), "--output", "jsonl", *(extra_args or [])],
            stdout=subprocess.PIPE, stderr=self.stderr_path.open("wb"), env=env, cwd=workdir,
        )
        self.alerts: list[tuple[float, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.lock:
                self.alerts.append((time.monotonic(), json.loads(line)))

    def wait_ready(self, collectors: tuple[str, ...] = ("audit",), timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"agent exited with {self.proc.returncode}: {self.stderr_path.read_text()[-2000:]}")
            try:
                status = json.loads(self.status_path.read_text())
            except (OSError, ValueError):
                status = {}
            states = {n: c.get("state") for n, c in status.get("collectors", {}).items()}
            if status.get("pid") == self.proc.pid and all(states.get(n) == "ok" for n in collectors):
                return status
            time.sleep(0.1)
        pytest.fail(f"agent collectors {collectors} not ready: {status}; stderr: {self.stderr_path.read_text()}")

    def status(self) -> dict[str, Any]:
        return json.loads(self.status_path.read_text())

    def wait_status(self, check: Any, timeout: float = 5.0) -> dict[str, Any]:
        """The status file once `check(status)` holds (it is rewritten every second)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                status = self.status()
            except (OSError, ValueError):
                status = {}
            if status and check(status):
                return status
            if time.monotonic() > deadline:
                pytest.fail(f"agent status never satisfied the check: {status}")
            time.sleep(0.1)

    def wait_for(self, alert_type: str, since: float, timeout: float = 2.0,
                 where: Any = None) -> tuple[float, dict[str, Any]]:
        """The first alert of `alert_type` written after `since` (monotonic, the action's start), waiting up to
        `timeout` seconds from now (the action is over); the time returned is counted from `since`."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                for t, alert in self.alerts:
                    if t >= since and alert["alert_type"] == alert_type and (where is None or where(alert)):
                        return t - since, alert
            if time.monotonic() > deadline:
                with self.lock:
                    seen = [a["alert_type"] for _, a in self.alerts]
                pytest.fail(f"no {alert_type} within {timeout}s; alerts so far: {seen}")
            time.sleep(0.02)

    def types_since(self, since: float) -> list[str]:
        with self.lock:
            return [a["alert_type"] for t, a in self.alerts if t >= since]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)
        return self.proc.returncode
