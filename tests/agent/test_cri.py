"""Pod metadata from containerd and CRI-O bundles: real-format config.json trees in a tmp dir, joined
onto a real process whose cgroup names the container."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from agent_harness import require_root

from cloudward.agent.containers import ContainerResolver
from cloudward.agent.cri import CONTAINERD_TASKS, CriMetadata
from cloudward.agent.procfs import CgroupCache
from cloudward.events import ProcessExec

CONTAINERD_ID = "cd" * 32
CRIO_ID = "c1" * 32
HIERARCHIES = ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup")


def _spec(annotations: dict[str, str]) -> bytes:
    """An OCI runtime spec shaped like the ones the runtimes write (trimmed to a few of its keys)."""
    return orjson.dumps({
        "ociVersion": "1.1.0",
        "process": {"user": {"uid": 0, "gid": 0}, "args": ["nginx", "-g", "daemon off;"], "cwd": "/"},
        "root": {"path": "rootfs"},
        "hostname": "web-7d4b9c-x2x9q",
        "annotations": annotations,
        "linux": {"cgroupsPath": f"kubepods-besteffort-pod1234.slice:cri-containerd:{CONTAINERD_ID}"},
    })


def _containerd_bundle(root: Path, container_id: str, namespace: str = "k8s.io", **notes: str) -> Path:
    bundle = root / CONTAINERD_TASKS / namespace / container_id
    bundle.mkdir(parents=True)
    (bundle / "config.json").write_bytes(_spec({
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.sandbox-id": "5a" * 32,
        "io.kubernetes.cri.sandbox-name": notes.get("pod", "web-7d4b9c-x2x9q"),
        "io.kubernetes.cri.sandbox-namespace": notes.get("namespace", "shop"),
        "io.kubernetes.cri.container-name": notes.get("name", "nginx"),
        "io.kubernetes.cri.image-name": "docker.io/library/nginx:1.27",
    }))
    return bundle


def _crio_bundle(root: Path, container_id: str) -> Path:
    userdata = root / container_id / "userdata"
    userdata.mkdir(parents=True)
    (userdata / "config.json").write_bytes(_spec({
        "io.kubernetes.pod.name": "payments-0",
        "io.kubernetes.pod.namespace": "billing",
        "io.kubernetes.container.name": "api",
        "io.kubernetes.cri-o.ContainerType": "container",
    }))
    return userdata


def test_containerd_and_crio_bundles_name_the_pod(tmp_path: Path) -> None:
    _containerd_bundle(tmp_path / "containerd", CONTAINERD_ID)
    _crio_bundle(tmp_path / "crio", CRIO_ID)
    cri = CriMetadata(str(tmp_path / "containerd"), str(tmp_path / "crio"))
    assert cri.available()
    first = cri.lookup(CONTAINERD_ID)
    assert first is not None
    assert (first.pod, first.namespace, first.container_name, first.runtime) == (
        "web-7d4b9c-x2x9q", "shop", "nginx", "containerd")
    second = cri.lookup(CRIO_ID)
    assert second is not None
    assert (second.pod, second.namespace, second.container_name, second.runtime) == (
        "payments-0", "billing", "api", "cri-o")
    assert cri.lookup("ee" * 32) is None


def test_a_docker_task_in_the_moby_namespace_names_no_pod(tmp_path: Path) -> None:
    bundle = tmp_path / CONTAINERD_TASKS / "moby" / CONTAINERD_ID
    bundle.mkdir(parents=True)
    (bundle / "config.json").write_bytes(_spec({"org.opencontainers.image.title": "app"}))
    assert CriMetadata(str(tmp_path), "").lookup(CONTAINERD_ID) is None


def test_broken_bundles_are_counted_and_never_raise(tmp_path: Path) -> None:
    bundle = tmp_path / CONTAINERD_TASKS / "k8s.io" / CONTAINERD_ID
    bundle.mkdir(parents=True)
    (bundle / "config.json").write_bytes(b'{"annotations": {"io.kubernetes.cri.sandbox-name": ')
    cri = CriMetadata(str(tmp_path), "")
    assert cri.lookup(CONTAINERD_ID) is None
    assert cri.unreadable == 1
    assert cri.lookup("../../../etc") is None
    assert cri.lookup("") is None


def test_a_bundle_written_after_the_first_lookup_is_found_on_retry(tmp_path: Path) -> None:
    cri = CriMetadata(str(tmp_path), "", retry_seconds=2.0)
    (tmp_path / CONTAINERD_TASKS).mkdir()
    assert cri.lookup(CONTAINERD_ID, now=100.0) is None
    _containerd_bundle(tmp_path, CONTAINERD_ID, pod="late-pod")
    assert cri.lookup(CONTAINERD_ID, now=101.0) is None  # not looked at again before the retry time
    found = cri.lookup(CONTAINERD_ID, now=102.5)
    assert found is not None and found.pod == "late-pod"


@pytest.fixture
def containerd_like_cgroup() -> Iterator[list[Path]]:
    """A cgroup named as containerd's systemd driver names a pod container, in each writable hierarchy."""
    require_root()
    made = []
    for base in HIERARCHIES:
        root = Path(base)
        if not (root / "cgroup.procs").exists():
            continue
        scope = f"cri-containerd-{CONTAINERD_ID}.scope"
        path = root / "cwtest-kubepods.slice" / "kubepods-besteffort-pod1234.slice" / scope
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        made.append(path)
    if not made:
        pytest.fail("no writable cgroup hierarchy to make a containerd-like cgroup in")
    yield made
    for path in made:
        for folder in (path, path.parent, path.parent.parent):
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except OSError:
                    time.sleep(0.05)


def test_a_real_process_in_a_containerd_cgroup_gets_its_pod(tmp_path: Path,
                                                            containerd_like_cgroup: list[Path]) -> None:
    _containerd_bundle(tmp_path / "containerd", CONTAINERD_ID)
    resolver = ContainerResolver(CriMetadata(str(tmp_path / "containerd"), str(tmp_path / "crio")))
    proc = subprocess.Popen(["sleep", "30"])
    try:
        for path in containerd_like_cgroup:
            (path / "cgroup.procs").write_text(str(proc.pid))
        cgroup = CgroupCache().lookup(proc.pid, os.getpid())
        assert f"cri-containerd-{CONTAINERD_ID}.scope" in cgroup
        event = ProcessExec(event_id="x", time=time.time(), pid=proc.pid, executable="/usr/bin/sleep")
        resolver.apply(event, cgroup)
        assert (event.container_id, event.pod, event.namespace, event.container_name) == (
            CONTAINERD_ID, "web-7d4b9c-x2x9q", "shop", "nginx")
        # the agent's own process is in no container: nothing is set
        own = ProcessExec(event_id="y", time=time.time(), pid=os.getpid())
        resolver.apply(own, CgroupCache().lookup(os.getpid()))
        assert (own.container_id, own.pod) == ("", "")
    finally:
        proc.kill()
        proc.wait()
