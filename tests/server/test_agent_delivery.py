"""The agent's delivery (`cloudward agent --to`, `agent/poster.py`) against a real `cloudward serve`
(uvicorn, started by the test on 127.0.0.1): the service honours `Idempotency-Key`, an outage and a
`kill -9` on either side lose nothing and run nothing twice, and the agent's collectors' health shows
in the service's sources."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from serving import INGEST, READER, Server, free_port

from cloudward.agent.poster import Poster
from cloudward.agent.spool import Spool
from cloudward.detections.node._samples import audit_exec

MARKER_NET = "203.0.113"


def _feed(path: Path, count: int) -> Path:
    """A threat-intel feed with one entry per marker: each marker's exec is its own alert."""
    path.write_text("".join(f"{MARKER_NET}.{i} ; cw delivery marker {i}\n" for i in range(1, count + 1)))
    return path


def _marker_exec(i: int) -> bytes:
    # distinct serials and pids: every record set is its own event
    return audit_exec(50_000 + i, 60_000 + i, 1, ["curl", "-s", f"http://{MARKER_NET}.{i}/x"],
                      exe="/usr/bin/curl").encode() + b"\n"


def _source(srv: Server, name: str) -> dict[str, Any] | None:
    doc = srv.request("GET", "/api/v1/sources", token=READER).json()
    return next((s for s in doc["items"] if s["source"] == name), None)


def _marker_alerts(srv: Server) -> dict[str, int]:
    """marker indicator -> the occurrences its alert counts."""
    out: dict[str, int] = {}
    doc = srv.request("GET", "/api/v1/alerts?limit=500&type=K8S.NODE_ThreatIntelConnection", token=READER).json()
    for alert in doc["items"]:
        for indicator in alert["entities"].get("indicators", []):
            if indicator.startswith(MARKER_NET):
                out[indicator] = out.get(indicator, 0) + alert["count"]
    return out


def test_a_resent_batch_with_its_idempotency_key_changes_nothing(make_server: Any, tmp_path: Path) -> None:
    feed = _feed(tmp_path / "feed.txt", 3)
    srv = make_server(rest=f'[intel]\nfeeds = ["{feed}"]\n').start()
    body = b"".join(_marker_exec(i) for i in (1, 2))
    headers = {"Idempotency-Key": "0f3c2a9e5b7d4c1e8a6b9d0c2e4f6a81", "Content-Type": "application/x-ndjson"}
    first = srv.request("POST", "/ingest/auditd?host=node-a", body, token=INGEST, headers=headers)
    assert first.status == 200, first.body
    assert first.json()["accepted"] == 2 and not first.json().get("duplicate_batch")
    again = srv.request("POST", "/ingest/auditd?host=node-a", body, token=INGEST, headers=headers)
    assert again.status == 200 and again.json()["duplicate_batch"] is True and again.json()["accepted"] == 0
    assert _source(srv, "ingest/auditd host=node-a")["events"] == 2
    # the key is committed with the batch: a restarted service still knows it
    srv.kill9()
    srv.start()
    third = srv.request("POST", "/ingest/auditd?host=node-a", body, token=INGEST, headers=headers)
    assert third.json()["duplicate_batch"] is True
    assert _source(srv, "ingest/auditd host=node-a")["events"] == 2
    # another key is another batch; the same events under it are run (their alerts do not change)
    other = srv.request("POST", "/ingest/auditd?host=node-a", _marker_exec(3), token=INGEST,
                        headers={**headers, "Idempotency-Key": "another-batch-id-0001"})
    assert other.json()["accepted"] == 1
    assert _marker_alerts(srv) == {f"{MARKER_NET}.1": 1, f"{MARKER_NET}.2": 1, f"{MARKER_NET}.3": 1}


def test_poster_outage_then_serve_up_delivers_every_event_once(make_server: Any, tmp_path: Path) -> None:
    feed = _feed(tmp_path / "feed.txt", 12)
    srv = make_server(rest=f'[intel]\nfeeds = ["{feed}"]\n')
    srv.port = free_port()
    spool = Spool(tmp_path / "spool")
    poster = Poster(spool, srv.url, INGEST, timeout=2, host="node-b")
    for start in range(1, 13, 3):
        spool.append("auditd", [_marker_exec(i) for i in range(start, start + 3)])
    assert poster.drain() is False  # serve down: every batch waits in the spool
    assert spool.depth()[0] == 4
    srv.start()
    assert poster.drain() is True and spool.depth() == (0, 0)
    assert _source(srv, "ingest/auditd host=node-b")["events"] == 12
    # the agent died after the service's 2xx but before it removed the batch: the same batch id again
    batch = spool.append("auditd", [_marker_exec(1), _marker_exec(2)])
    assert poster.send(batch) == 200
    srv.kill9()  # and the service crashes right after its answer
    srv.start()
    assert poster.drain() is True and spool.depth() == (0, 0)
    assert _source(srv, "ingest/auditd host=node-b")["events"] == 14  # that batch ran once, not twice
    assert _marker_alerts(srv) == {f"{MARKER_NET}.{i}": 1 for i in range(1, 13)}


class Agent:
    """`cloudward agent --to` in a subprocess, stopped by pid."""

    def __init__(self, workdir: Path, url: str, feed: Path) -> None:
        workdir.mkdir(exist_ok=True)
        token = workdir / "token"
        token.write_text(INGEST + "\n")
        self.status_path = workdir / "status.json"
        config = workdir / "agent.toml"
        # proc_connector: the process connector takes many listeners (the audit socket has one owner); the
        # docker collector points at a socket that is not there, so it reports itself unavailable
        config.write_text(
            f'host = "cw-delivery-node"\n[agent]\ncollectors = ["proc_connector", "docker"]\n'
            f'docker_socket = "{workdir / "no-docker.sock"}"\nstatus_file = "{self.status_path}"\n'
            f'spool_dir = "{workdir / "spool"}"\nbatch_seconds = 0.2\nbatch_events = 5\npost_timeout = 2.0\n'
            f'retry_max_seconds = 0.5\n[intel]\nfeeds = ["{feed}"]\n')
        self.stderr = workdir / "agent.stderr"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cloudward", "agent", "--config", str(config), "--output", "jsonl",
             "--to", url, "--token-file", str(token)],
            stdout=subprocess.DEVNULL, stderr=self.stderr.open("wb"), cwd=workdir)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.stderr.read_text()[-2000:]
            try:
                status = json.loads(self.status_path.read_text())
            except (OSError, ValueError):
                status = {}
            if status.get("pid") == self.proc.pid and \
                    status.get("collectors", {}).get("proc_connector", {}).get("state") == "ok":
                return
            time.sleep(0.1)
        pytest.fail(f"agent not ready: {self.stderr.read_text()[-2000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def _run_markers(numbers: range) -> None:
    # a shell that lives long enough for /proc to be read names the marker address on its command line
    procs = [subprocess.Popen(["/bin/sh", "-c", f"sleep 0.4; : {MARKER_NET}.{i}"]) for i in numbers]
    for p in procs:
        p.wait(10)


def _wait(check: Any, what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_agent_to_serve_outage_agent_kill_9_and_collector_health(make_server: Any, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("the agent's process connector needs root")
    feed = _feed(tmp_path / "feed.txt", 10)
    srv = make_server(rest=f'[intel]\nfeeds = ["{feed}"]\n')
    srv.port = free_port()
    workdir = tmp_path / "agent"
    agents: list[Agent] = []
    try:
        first = Agent(workdir, srv.url, feed)
        agents.append(first)
        first.wait_ready()
        _run_markers(range(1, 6))  # serve is down: these wait in the spool
        _wait(lambda: list((workdir / "spool").glob("*.ndjson")), "the spool to fill")
        time.sleep(0.5)
        first.stop(signal.SIGKILL)  # no clean shutdown: the spool carries them
        second = Agent(workdir, srv.url, feed)
        agents.append(second)
        second.wait_ready()
        _run_markers(range(6, 11))
        srv.start()
        want = {f"{MARKER_NET}.{i}" for i in range(1, 11)}
        got = _wait(lambda: (m := _marker_alerts(srv)) and set(m) == want and m, "every marker at serve", 30)
        assert got == {m: 1 for m in want}  # nothing lost, nothing twice
        _wait(lambda: not list((workdir / "spool").glob("*.ndjson")), "the spool to empty")
        # the collector that cannot work is visible in serve's sources
        agent = _wait(lambda: next((a for a in srv.request("GET", "/api/v1/sources", token=READER).json()["agents"]
                                    if a["host"] == "cw-delivery-node"), None), "the agent's health report")
        assert agent["failed_collectors"] == ["docker"] and agent["healthy"] is False
        assert agent["collectors"]["proc_connector"]["state"] == "ok"
        assert agent["collectors"]["docker"]["detail"]
        assert _source(srv, "ingest/ecs-process host=cw-delivery-node") is not None
    finally:
        for a in agents:
            a.stop()
