"""The spool and the batch poster against a real HTTPS receiver on 127.0.0.1: an outage, an agent
restart and a `kill -9` lose nothing and deliver nothing twice."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_harness import RunningAgent, require_audit, require_tool

from cloudward.agent.poster import Poster
from cloudward.agent.spool import Spool

RECEIVER = Path(__file__).with_name("ingest_receiver.py")
TOKEN = "cw-test-token-4f2a"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    def __init__(self, workdir: Path, port: int, cert: Path, key: Path) -> None:
        self.out = workdir / "received"
        self.out.mkdir(exist_ok=True)
        self.port, self.cert, self.key = port, cert, key
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        (self.out / "ready").unlink(missing_ok=True)
        self.proc = subprocess.Popen([sys.executable, str(RECEIVER), str(self.port), TOKEN, str(self.out),
                                      str(self.cert), str(self.key)])
        deadline = time.monotonic() + 10
        while not (self.out / "ready").exists():
            assert self.proc.poll() is None and time.monotonic() < deadline, "receiver did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None

    def lines(self) -> list[bytes]:
        out = []
        for path in sorted(self.out.glob("batch-*.ndjson")):
            out.extend(path.read_bytes().splitlines())
        return out

    def requests(self) -> list[dict[str, object]]:
        path = self.out / "requests.jsonl"
        return [json.loads(ln) for ln in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    require_tool("openssl")
    base = tmp_path_factory.mktemp("tls")
    cert, key = base / "cert.pem", base / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture
def receiver(tmp_path: Path, certificate: tuple[Path, Path]) -> Iterator[Receiver]:
    r = Receiver(tmp_path, _free_port(), *certificate)
    yield r
    r.stop()


def test_spool_is_durable_ordered_and_bounded(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", max_bytes=10_000)
    first = spool.append("auditd", [b"type=EOE msg=audit(1.0:1): "])
    (tmp_path / "s" / "000000000099-x.auditd.ndjson.tmp").write_bytes(b"half a batch")  # a crash mid-write
    again = Spool(tmp_path / "s", max_bytes=10_000)
    assert [b.batch_id for b in again.pending()] == [first.batch_id]
    assert not list((tmp_path / "s").glob("*.tmp"))
    second = again.append("docker-events", [b'{"Type":"container"}'])
    assert second.seq == first.seq + 1
    for i in range(30):
        again.append("auditd", [b"x" * 1000 + str(i).encode()])
    _batches, size = again.depth()
    assert size <= 10_000 and again.dropped_batches > 0
    assert again.pending()[-1].body().endswith(b"29\n")  # the newest are kept


def test_outage_then_recovery_delivers_every_batch_once(receiver: Receiver, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    poster = Poster(spool, f"https://127.0.0.1:{receiver.port}", TOKEN, ca_file=str(receiver.cert), timeout=2)
    sent = [f"record-{i}".encode() for i in range(12)]
    for i in range(0, 12, 3):
        spool.append("ecs-process", sent[i : i + 3])
    assert poster.drain() is False  # server down: nothing acknowledged, nothing lost
    assert spool.depth()[0] == 4 and poster.stats.last_error
    receiver.start()
    assert poster.drain() is True
    assert sorted(receiver.lines()) == sorted(sent)
    assert spool.depth() == (0, 0)
    # a batch re-sent with the same id (acknowledged but not yet removed when the agent died) is kept once
    batch = spool.append("ecs-process", [b"record-again"])
    assert poster.send(batch) == 202
    assert poster.drain() is True
    assert receiver.lines().count(b"record-again") == 1
    assert [r["duplicate"] for r in receiver.requests()].count(True) == 1


def test_wrong_token_is_set_aside_not_retried_forever(receiver: Receiver, tmp_path: Path) -> None:
    receiver.start()
    spool = Spool(tmp_path / "spool")
    poster = Poster(spool, f"https://127.0.0.1:{receiver.port}", "wrong", ca_file=str(receiver.cert), timeout=2)
    spool.append("auditd", [b"x"])
    assert poster.drain() is True
    assert poster.stats.rejected_batches == 1 and list((tmp_path / "spool" / "rejected").iterdir())


def _markers(lines: list[bytes]) -> list[str]:
    out = []
    for line in lines:
        if line.startswith(b"type=EXECVE ") and b'a1="cw-spool-marker-' in line:
            out.append(line.split(b'a1="', 1)[1].split(b'"', 1)[0].decode())
    return out


def _run_markers(start: int, count: int) -> list[str]:
    names = [f"cw-spool-marker-{os.getpid()}-{i}" for i in range(start, start + count)]
    for name in names:
        subprocess.run(["/bin/echo", name], check=True, capture_output=True)
    return names


def test_agent_spools_through_an_outage_and_a_kill_9(receiver: Receiver, tmp_path: Path) -> None:
    require_audit()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    workdir = tmp_path / "agent"
    workdir.mkdir()
    agent_keys = (f'collectors = ["audit"]\nca_file = "{receiver.cert}"\n'
                  'post_timeout = 2.0\nretry_max_seconds = 0.5')
    args = ["--to", f"https://127.0.0.1:{receiver.port}", "--token-file", str(token_file)]
    first = RunningAgent(workdir, agent=agent_keys, extra_args=args)
    first.wait_ready(("audit",))
    expected = _run_markers(0, 5)  # server down: these wait in the spool
    deadline = time.monotonic() + 5
    while len(_markers([ln for p in (workdir / "spool").glob("*.auditd.ndjson")
                        for ln in p.read_bytes().splitlines()])) < 5:
        assert time.monotonic() < deadline, "events did not reach the spool"
        time.sleep(0.05)
    first.stop(signal.SIGKILL)  # no clean shutdown: the spool must carry them
    # the kernel still holds the agent's audit rules; the restarted agent adopts and later removes them
    second = RunningAgent(workdir, agent=agent_keys, extra_args=args)
    second.wait_ready(("audit",))
    expected += _run_markers(5, 5)
    receiver.start()
    deadline = time.monotonic() + 15
    while sorted(_markers(receiver.lines())) != sorted(expected):
        assert time.monotonic() < deadline, f"delivered {sorted(_markers(receiver.lines()))}"
        time.sleep(0.1)
    assert second.stop() == 0
    got = _markers(receiver.lines())
    assert sorted(got) == sorted(expected)  # nothing lost, nothing twice
    assert not list((workdir / "spool").glob("*.ndjson"))
    from cloudward.agent.audit_netlink import list_rule_keys

    assert not [k for k in list_rule_keys() if k.startswith("cloudward_agent")]
