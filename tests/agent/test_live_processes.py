"""The agent on the real kernel: processes started here are seen through the audit stream and raise
the same alerts `scan` raises, within two seconds; benign look-alikes raise none."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_harness import RunningAgent, require_audit, require_tool

CONTAINER_ID = "c0ffee" + "5e" * 29  # 64 hex characters, as Docker names its cgroups
HIERARCHIES = ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup")


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAgent]:
    require_audit()
    workdir = tmp_path_factory.mktemp("live-agent")
    running = RunningAgent(workdir, agent='collectors = ["audit", "proc_connector"]', tables=textwrap.dedent("""
        [detections."K8S.NODE_KubernetesAPI"]
        api_server_addresses = ["127.0.0.1"]
        api_server_ports = [6443]
    """))
    running.wait_ready(("audit",))
    yield running
    code = running.stop()
    assert code == 0, (running.workdir / "agent.stderr").read_text()


@pytest.fixture
def docker_like_cgroup() -> Iterator[list[Path]]:
    """A cgroup named like Docker's in every writable hierarchy (v1 pids and v2, whichever exist)."""
    made = []
    for base in HIERARCHIES:
        root = Path(base)
        if not (root / "cgroup.procs").exists():
            continue
        path = root / "docker" / CONTAINER_ID
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        made.append(path)
        if base.endswith("unified") or base == "/sys/fs/cgroup":
            pass
    if not made:
        pytest.fail("no writable cgroup hierarchy to make a Docker-like cgroup in")
    yield made
    for path in made:
        for _ in range(50):
            try:
                path.rmdir()
                break
            except OSError:
                time.sleep(0.05)


def _in_container(cgroups: list[Path], script: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    """Run `script` in a namespace "container": new pid, mount and network namespaces, a Docker cgroup."""
    require_tool("unshare")
    join = " ; ".join(f"echo $$ > {p}/cgroup.procs" for p in cgroups)
    return subprocess.run(
        ["sh", "-c", f'{join} ; exec unshare --fork --pid --mount-proc --net sh -c "$0"', script],
        capture_output=True, text=True, timeout=timeout,
    )


def test_www_data_child_of_php_runs_a_binary_from_tmp(agent: RunningAgent, tmp_path: Path) -> None:
    php = require_tool("php")
    binary = Path("/tmp") / f"cw-agent-test-{os.getpid()}"
    shutil.copy("/bin/true", binary)
    binary.chmod(0o755)
    try:
        since = time.monotonic()
        subprocess.run(["runuser", "-u", "www-data", "--", php, "-r", f'system("{binary}");'], check=True,
                       timeout=20)
        took, alert = agent.wait_for("AppServices_TmpFolderExecution", since,
                                     where=lambda a: a["entities"].get("executable") == str(binary))
    finally:
        binary.unlink()
    assert took <= 2.0
    assert alert["severity"] == "high"  # in the web app's context: a child of php, as www-data
    assert alert["entities"]["user"] == "www-data"
    assert alert["entities"]["host"] == "cw-test-node"


def test_php_r_system_id(agent: RunningAgent) -> None:
    php = require_tool("php")
    since = time.monotonic()
    out = subprocess.run([php, "-r", 'system("id");'], capture_output=True, text=True, timeout=20)
    assert "uid=0" in out.stdout
    took, alert = agent.wait_for("AppServices_SuspectPhp", since)
    assert took <= 2.0
    assert 'system("id")' in alert["entities"]["command_line"]


def test_sshd_in_a_namespace_container(agent: RunningAgent, docker_like_cgroup: list[Path], tmp_path: Path) -> None:
    sshd = tmp_path / "usr" / "sbin" / "sshd"
    sshd.parent.mkdir(parents=True)
    shutil.copy("/bin/sleep", sshd)
    since = time.monotonic()
    done = _in_container(docker_like_cgroup, f"{sshd} 0.2")
    assert done.returncode == 0, done.stderr
    took, alert = agent.wait_for("K8S.NODE_ContainerSSH", since)
    assert took <= 2.0
    assert alert["entities"]["container_id"] == CONTAINER_ID
    assert alert["entities"]["process"] == "sshd"


def test_container_connects_to_the_api_server_address(agent: RunningAgent, docker_like_cgroup: list[Path]) -> None:
    require_tool("curl")
    require_tool("ip")
    # the server runs in the container's own network namespace: its loopback is the API-server address
    script = ("ip link set lo up; python3 -m http.server 6443 --bind 127.0.0.1 >/dev/null 2>&1 & "
              "for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:6443/api && break; sleep 0.1; done; "
              "kill $!")
    since = time.monotonic()
    done = _in_container(docker_like_cgroup, script)
    assert done.returncode == 0, done.stderr

    def curl_connected(alert: dict) -> bool:
        return alert["entities"].get("container_id") == CONTAINER_ID and any(
            "curl -> 127.0.0.1:6443" in e["summary"] for e in alert["evidence"])

    _took, alert = agent.wait_for("K8S.NODE_KubernetesAPI", since, timeout=3.0, where=curl_connected)
    assert alert["source"] in ("network", "process")


def test_benign_look_alikes_raise_nothing(agent: RunningAgent, tmp_path: Path) -> None:
    php = require_tool("php")
    sudo = require_tool("sudo")
    since = time.monotonic()
    # an administrator's own sudo at a login shell
    subprocess.run(["su", "-l", "root", "-c", f"{sudo} -n true"], check=True, timeout=20)
    subprocess.run([php, "-v"], check=True, capture_output=True, timeout=20)
    _install_package(tmp_path)
    # a marker exec the agent must see, so "nothing" means nothing rather than "not yet"
    marker = tmp_path / "marker"
    shutil.copy("/bin/true", marker)
    marked = time.monotonic()
    subprocess.run([str(marker)], check=True)
    agent.wait_for("AppServices_TmpFolderExecution", marked, timeout=3.0,
                   where=lambda a: a["entities"].get("executable") == str(marker))
    # other work on this machine is seen too: judge the alerts that name what this test ran
    ours = ("sudo", "php -v", "dpkg", "cw-agent-test", "postinst", "ldconfig", "su -l")
    with agent.lock:
        raised = [a for t, a in agent.alerts if t >= since and a["alert_type"] != "AppServices_TmpFolderExecution"
                  and any(word in e["summary"] for e in a["evidence"] for word in ours)]
    assert raised == []


def _install_package(tmp_path: Path) -> None:
    """dpkg installs (and removes) a tiny package whose maintainer script runs a few commands."""
    require_tool("dpkg-deb")
    root = tmp_path / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr" / "share" / "cw-agent-test").mkdir(parents=True)
    (root / "usr" / "share" / "cw-agent-test" / "README").write_text("test package\n")
    (root / "DEBIAN" / "control").write_text(
        "Package: cw-agent-test\nVersion: 1.0\nArchitecture: all\nMaintainer: test <t@example.com>\n"
        "Description: test package for the agent's benign cases\n")
    post = root / "DEBIAN" / "postinst"
    post.write_text("#!/bin/sh\nset -e\nid -u >/dev/null\nuname -m >/dev/null\nldconfig\n")
    post.chmod(0o755)
    deb = tmp_path / "cw-agent-test.deb"
    subprocess.run(["dpkg-deb", "--build", str(root), str(deb)], check=True, capture_output=True, timeout=60)
    subprocess.run(["dpkg", "-i", str(deb)], check=True, capture_output=True, timeout=120)
    subprocess.run(["dpkg", "-r", "cw-agent-test"], check=True, capture_output=True, timeout=120)
