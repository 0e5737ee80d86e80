"""Container context: cgroup paths, runtime lineage, inspect data (loaded ahead of the inputs)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cloudward.analytics.process_tree import ProcessTree
from cloudward.config import from_dict
from cloudward.enrich.container_context import ContainerContext, build
from cloudward.events import ContainerEvent, ProcessExec
from cloudward.parsers._container_ids import child_container, from_cgroup, strip_runtime_prefix
from cloudward.pipeline import Pipeline

RECORDED = Path(__file__).parents[1] / "data" / "host" / "recorded"
SYSADMIN = "4e8db7bec41dc786308ba2fc2e813e94bcb599495f3e21b5de9e23cd482606a3"
H = "a" * 64


@pytest.mark.parametrize(("path", "expected"), [
    (f"/docker/{H}", ("docker", H)),
    (f"0::/system.slice/docker-{H}.scope", ("docker", H)),
    (f"/kubepods/burstable/pod0f3c7c3e-1111-2222-3333-444455556666/{H}", ("kubernetes", H)),
    (f"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-{H}.scope",
     ("containerd", H)),
    (f"/kubepods.slice/kubepods-pod2.slice/crio-{H}.scope", ("cri-o", H)),
    (f"/machine.slice/libpod-{H}.scope/container", ("podman", H)),
    (f"12:pids:/docker/{H}\n11:memory:/docker/{H}", ("docker", H)),
    ("0::/user.slice/user-1000.slice/session-3.scope", None),
    ("", None),
])
def test_from_cgroup(path, expected):
    assert from_cgroup(path) == expected


def test_runtime_ids():
    assert strip_runtime_prefix("containerd://abc") == ("containerd", "abc")
    assert child_container("/usr/bin/containerd-shim-runc-v2", ["shim", "-namespace", "moby", "-id", H]) == H
    assert child_container("/usr/sbin/runc", ["runc", "--root", "/x", "exec", "--process", "/p.json", H]) == H
    assert child_container("/usr/sbin/runc", ["runc", "--root", "/x", "create", "--bundle", "/b", H]) == ""
    assert child_container("/usr/bin/conmon", ["conmon", "--api-version", "1", "-c", H]) == H
    assert child_container("/bin/bash", ["bash", "-id", H]) == ""


def test_process_tree_is_bounded_and_resolves_parents():
    tree = ProcessTree(max_entries=3)
    for pid in range(1, 6):
        ev = ProcessExec(event_id=str(pid), pid=pid, ppid=pid - 1, executable=f"/bin/p{pid}", argv=[f"p{pid}"],
                         command_line=f"p{pid}")
        tree.record(ev)
    assert len(tree) == 3
    assert ev.parent_executable == "/bin/p4" and ev.ancestors == ["/bin/p4", "/bin/p3", "/bin/p2", "/bin/p1"]
    restored = ProcessTree()
    restored.restore(tree.state())
    assert restored.container_of("", 5) == "" and len(restored) == 3


def test_cgroup_and_inspect_facts_fill_process_records():
    ctx = ContainerContext()
    ctx.enrich(ContainerEvent(event_id="i", action="inspect", container_id=H, container_name="web", image="nginx:1",
                              privileged=True, capabilities=["CAP_SYS_ADMIN"], pid=900))
    by_cgroup = ProcessExec(event_id="1", pid=5, cgroup=f"/docker/{H}")
    ctx.enrich(by_cgroup)
    assert (by_cgroup.container_id, by_cgroup.container_name, by_cgroup.image, by_cgroup.privileged) == (
        H, "web", "nginx:1", True)
    child = ProcessExec(event_id="2", pid=901, ppid=900)
    grandchild = ProcessExec(event_id="3", pid=902, ppid=901)
    ctx.enrich(child)
    ctx.enrich(grandchild)
    assert child.container_id == H and grandchild.container_id == H
    short = ProcessExec(event_id="4", pid=1000, container_id=H[:31])  # Tetragon's truncated docker id
    ctx.enrich(short)
    assert short.container_id == H and short.capabilities == ["CAP_SYS_ADMIN"]


def test_inspect_read_after_the_audit_log_still_enriches_it(tmp_path):
    # inspect files sort after the audit log here; prepare() loads them first
    shutil.copy(RECORDED / "audit-enriched.log", tmp_path / "a-audit.log")
    shutil.copy(RECORDED / "docker-inspect-containers.json", tmp_path / "z-inspect.json")
    pipe = Pipeline(only={"K8S.NODE_PrivilegedExecutionInContainer"})
    pipe.run_paths([str(tmp_path)])
    alerts = pipe.finish()
    mounts = [a for a in alerts if a.entities.get("command_line") == "mount -t tmpfs tmpfs /mnt"]
    assert len(mounts) == 1
    ent = mounts[0].entities
    assert ent["container_id"] == SYSADMIN and ent["container"] == "cw-sysadmin"
    assert ent["image"] == "cloudward-test/base:1"


def test_inspect_paths_from_configuration():
    cfg = from_dict({"containers": {"docker_inspect": [str(RECORDED / "docker-inspect-containers.json")]}})
    enricher = build(cfg)
    assert enricher.facts(SYSADMIN).capabilities == ["CAP_SYS_ADMIN"]
    assert enricher.facts(SYSADMIN[:12]).name == "cw-sysadmin"


DOCKER_INFO = (
    '{"ID":"7f0c9a3e-5b1d-4c2a-9e8f-1a2b3c4d5e6f","Containers":4,"ContainersRunning":2,"ContainersPaused":0,'
    '"ContainersStopped":2,"Images":5,"Driver":"overlay2","LoggingDriver":"json-file","CgroupDriver":"systemd",'
    '"CgroupVersion":"2","KernelVersion":"6.1.0-27-amd64","OperatingSystem":"Debian GNU/Linux 12 (bookworm)",'
    '"OSType":"linux","Architecture":"x86_64","NCPU":2,"MemTotal":4109926400,"Name":"build-node-7",'
    '"ServerVersion":"26.1.5","DockerRootDir":"/var/lib/docker"}\n'
)


def test_docker_info_names_the_host_of_docker_records_in_its_folder(tmp_path):
    """docker events and inspect output carry no host name; `docker info` in the same folder gives it,
    so the description says where instead of leaving the phrase out."""
    node = tmp_path / "build-node-7"
    node.mkdir()
    shutil.copy(RECORDED / "docker-events.jsonl", node / "a-events.jsonl")
    shutil.copy(RECORDED / "docker-inspect-containers.json", node / "b-inspect.json")
    (node / "z-info.json").write_text(DOCKER_INFO)
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(RECORDED / "docker-events.jsonl", other / "events.jsonl")
    pipe = Pipeline(only={"K8S.NODE_PrivilegedContainerArtifacts"})
    pipe.run_paths([str(tmp_path)])
    alerts = pipe.finish()
    named = [a for a in alerts if a.entities.get("host") == "build-node-7"]
    assert named and all(a.description.startswith("On build-node-7, container ") for a in named)
    assert all(a.description_ko.startswith("build-node-7에서 ") for a in named)
    unnamed = [a for a in alerts if a.entities.get("host") != "build-node-7"]
    assert unnamed and all(a.description.startswith("Container ") for a in unnamed)
    assert pipe.stats.rejected == 0


def test_a_privileged_docker_exec_makes_its_process_privileged():
    """`docker exec --privileged` (exec_inspect data) marks the process of that pid privileged, and no other."""
    ctx = ContainerContext()
    plain = ProcessExec(event_id="0", host="n1", pid=4242, executable="/bin/sh", argv=["sh"])
    ctx.enrich(plain)
    assert plain.privileged is None  # nothing known yet
    ctx.enrich(ContainerEvent(event_id="x", action="exec_inspect", host="n1", container_id=H, pid=4242,
                              exec_id="e1", privileged=True))
    shell = ProcessExec(event_id="1", host="n1", pid=4242, executable="/bin/sh", argv=["sh"])
    other = ProcessExec(event_id="2", host="n1", pid=4243, executable="/bin/sh", argv=["sh"])
    ctx.enrich(shell)
    ctx.enrich(other)
    assert shell.privileged is True and shell.container_id == H
    assert other.privileged is not True
