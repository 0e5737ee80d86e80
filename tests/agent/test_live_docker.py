"""The agent against a real Docker daemon the test starts on a private socket and data root: container
events and inspect data through the Engine API raise the container-host alerts; a dockerd exposed on
TCP is caught from its command line; a dockerd restart is survived."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_harness import RunningAgent, require_audit, require_tool


class Dockerd:
    """One dockerd on its own unix socket, data root and exec root; stopped by pid."""

    def __init__(self, base: Path, extra_hosts: tuple[str, ...] = ()) -> None:
        self.base = base
        self.socket = base / "docker.sock"
        self.extra_hosts = extra_hosts
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        dockerd = require_tool("dockerd")
        hosts = [f"unix://{self.socket}", *self.extra_hosts]
        args = [dockerd, *(a for h in hosts for a in ("-H", h)), "--data-root", str(self.base / "root"),
                "--exec-root", str(self.base / "exec"), "--pidfile", str(self.base / "docker.pid"),
                "--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs",
                "--shutdown-timeout=1"]
        log = (self.base / "dockerd.log").open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"dockerd exited: {(self.base / 'dockerd.log').read_text()[-2000:]}")
            if self.socket.exists() and self.cli("version", check=False).returncode == 0:
                return
            time.sleep(0.1)
        pytest.fail(f"dockerd did not come up: {(self.base / 'dockerd.log').read_text()[-2000:]}")

    def cli(self, *args: str, check: bool = True, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([require_tool("docker"), "-H", f"unix://{self.socket}", *args], input=stdin,
                              capture_output=True, check=check, timeout=60)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def _rootfs_tar(base: Path) -> bytes:
    """A tiny root file system: sleep and ls with the libraries they load."""
    root = base / "rootfs"
    for prog in ("sleep", "ls", "true"):
        path = shutil.which(prog)
        assert path
        libs = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
        for lib in [path, *(w for w in libs.split() if w.startswith("/"))]:
            real = os.path.realpath(lib)
            target = root / lib.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                shutil.copy(real, target)
    (root / "bin").mkdir(exist_ok=True)
    for prog in ("sleep", "ls", "true"):
        if not (root / "bin" / prog).exists():
            shutil.copy(shutil.which(prog) or "", root / "bin" / prog)
    return subprocess.run(["tar", "-C", str(root), "-c", "."], capture_output=True, check=True).stdout


@pytest.fixture(scope="module")
def docker_env() -> Iterator[tuple[Dockerd, RunningAgent]]:
    require_audit()
    base = Path(tempfile.mkdtemp(prefix="cwd", dir="/tmp"))  # short: unix socket paths are limited
    daemon = Dockerd(base / "d1")
    daemon.base.mkdir()
    daemon.start()
    tar = _rootfs_tar(base)
    for tag in ("xmrig/xmrig:latest", "cloudward-test/base:1"):
        daemon.cli("import", "-", tag, stdin=tar)
    agent = RunningAgent(base / "agent", agent=f'docker_socket = "{daemon.socket}"\nhost_config_interval = 0.5',
                         tables='[detections."VM_ExposedDocker"]\nignore_loopback = false\n') \
        if (base / "agent").mkdir() is None else None
    assert agent is not None
    agent.wait_ready(("audit", "docker"))
    try:
        yield daemon, agent
    finally:
        agent.stop()
        for cid in daemon.cli("ps", "-aq", check=False).stdout.split():
            daemon.cli("rm", "-f", cid.decode(), check=False)
        daemon.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_miner_image_started(docker_env: tuple[Dockerd, RunningAgent]) -> None:
    daemon, agent = docker_env
    since = time.monotonic()
    cid = daemon.cli("run", "-d", "--name", "cw-miner", "xmrig/xmrig:latest", "/bin/sleep", "30").stdout.decode()
    cid = cid.strip()
    _, alert = agent.wait_for("VM_MinerInContainerImage", since, timeout=3.0,
                              where=lambda a: a["entities"].get("container_id") == cid)
    assert alert["entities"]["image"] == "xmrig/xmrig:latest"
    assert alert["entities"]["container"] == "cw-miner"


def test_privileged_container_created(docker_env: tuple[Dockerd, RunningAgent]) -> None:
    daemon, agent = docker_env
    since = time.monotonic()
    cid = daemon.cli("create", "--privileged", "--name", "cw-priv", "cloudward-test/base:1",
                     "/bin/sleep", "30").stdout.decode().strip()
    daemon.cli("start", "cw-priv", check=False)  # may fail here (runc cannot apply all capabilities)
    _, alert = agent.wait_for("K8S.NODE_PrivilegedContainerArtifacts", since, timeout=3.0,
                              where=lambda a: a["entities"].get("container_id") == cid)
    assert alert["entities"]["container"] == "cw-priv"


def test_docker_exec_ls_is_benign(docker_env: tuple[Dockerd, RunningAgent]) -> None:
    daemon, agent = docker_env
    daemon.cli("run", "-d", "--name", "cw-plain", "cloudward-test/base:1", "/bin/sleep", "30")
    since = time.monotonic()
    out = daemon.cli("exec", "cw-plain", "/bin/ls", "/")
    assert b"bin" in out.stdout
    # the exec's own process is seen, in the container (a marker that the agent caught up)
    time.sleep(1.5)
    with agent.lock:
        raised = [a for t, a in agent.alerts if t >= since and a["entities"].get("container") == "cw-plain"]
    assert raised == []
    status = agent.wait_status(lambda s: s["collectors"]["docker"]["events"] > 0)["collectors"]["docker"]
    assert status["state"] == "ok", status


def test_dockerd_on_tcp_is_exposed(docker_env: tuple[Dockerd, RunningAgent]) -> None:
    _, agent = docker_env
    base = Path(tempfile.mkdtemp(prefix="cwe", dir="/tmp"))
    exposed = Dockerd(base, extra_hosts=("tcp://127.0.0.1:2375",))
    since = time.monotonic()
    try:
        exposed.start()
        _, alert = agent.wait_for("VM_ExposedDocker", since, timeout=3.0)
    finally:
        exposed.stop()
        shutil.rmtree(base, ignore_errors=True)
    assert "tcp://127.0.0.1:2375" in json.dumps(alert["entities"])


def test_reconnects_when_dockerd_restarts(docker_env: tuple[Dockerd, RunningAgent]) -> None:
    daemon, agent = docker_env
    before = agent.status()["collectors"]["docker"].get("reconnects", 0)
    running = daemon.cli("ps", "-aq").stdout.decode().split()
    if running:  # a daemon stopping with running containers waits for them
        daemon.cli("rm", "-f", *running)
    daemon.stop()
    daemon.start()
    deadline = time.monotonic() + 10
    while agent.status()["collectors"]["docker"].get("reconnects", 0) <= before:
        assert time.monotonic() < deadline, agent.status()["collectors"]["docker"]
        time.sleep(0.2)
    since = time.monotonic()
    cid = daemon.cli("create", "--name", "cw-miner-2", "xmrig/xmrig:latest", "/bin/true").stdout.decode().strip()
    agent.wait_for("VM_MinerInContainerImage", since, timeout=3.0,
                   where=lambda a: a["entities"].get("container_id") == cid)


def test_socket_activated_dockerd_listening_on_tcp_is_exposed(docker_env: tuple[Dockerd, RunningAgent]) -> None:
    """`dockerd -H fd://` given a TCP socket the way systemd socket activation does: the command line
    names no address, the listening socket is what exposes the daemon."""
    import socket as socketlib

    _, agent = docker_env
    base = Path(tempfile.mkdtemp(prefix="cwf", dir="/tmp"))
    listener = socketlib.socket()
    listener.setsockopt(socketlib.SOL_SOCKET, socketlib.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    dockerd = require_tool("dockerd")
    args = [dockerd, "-H", "fd://", "-H", f"unix://{base}/docker.sock", "--data-root", str(base / "root"),
            "--exec-root", str(base / "exec"), "--pidfile", str(base / "docker.pid"), "--iptables=false",
            "--ip6tables=false", "--bridge=none", "--storage-driver=vfs"]
    log = (base / "dockerd.log").open("ab")
    since = time.monotonic()
    # systemd's protocol: the socket is fd 3, LISTEN_FDS=1, LISTEN_PID = the daemon's own pid (sh execs it)
    proc = subprocess.Popen(["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"', "sh", *args],
                            pass_fds=(listener.fileno(),), stdout=log, stderr=log,
                            preexec_fn=lambda: os.dup2(listener.fileno(), 3))
    try:
        _, alert = agent.wait_for("VM_ExposedDocker", since, timeout=8.0,
                                  where=lambda a: f"127.0.0.1:{port}" in json.dumps(a["entities"]))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        listener.close()
        shutil.rmtree(base, ignore_errors=True)
    assert alert["entities"]["bind"] == [f"tcp://127.0.0.1:{port}"]
