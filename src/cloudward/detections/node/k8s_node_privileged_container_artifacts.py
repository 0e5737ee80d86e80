"""K8S.NODE_PrivilegedContainerArtifacts: a container created or started privileged, seen on the host —
in inspect data, on a `docker|podman|nerdctl run|create --privileged` command line, or in a container
process holding the full capability set (Tetragon, Falco, inspect-enriched audit records)."""

from __future__ import annotations

from typing import Any

from cloudward.alerts import Finding
from cloudward.analytics.processes import container_event_entities, process_entities, runtime_command
from cloudward.detections.base import Card, Detection, Sample
from cloudward.detections.node._node import FirstSeen
from cloudward.detections.node._samples import (
    ALL_CAPS,
    DEFAULT_CAPS,
    audit_exec,
    container_id,
    docker_event,
    inspect_container,
    tetragon_exec,
)
from cloudward.events import ContainerEvent, ProcessExec

PRIV_ID = container_id("cw-privileged")
PLAIN_ID = container_id("cw-plain")
_ACTIONS = frozenset({"create", "start", "inspect", "restart", "unpause"})
_HOW_KO = {"its processes hold the full capability set": "프로세스가 모든 capability를 보유",
           "inspect data": "inspect 데이터"}

CARD = Card(
    id="K8S.NODE_PrivilegedContainerArtifacts",
    title="Privileged container detected (host)",
    title_ko="권한 있는 컨테이너 탐지(호스트)",
    severity="low",
    tactics=("PrivilegeEscalation",),
    techniques=("T1611", "T1610"),
    data_source="HOST",
    looks_at="docker/CRI inspect data and docker events (HostConfig.Privileged), runtime command lines with "
             "--privileged (docker, podman, nerdctl, ctr), and container processes with the full capability set",
    description="[[On {host}, ]]container {container}[[ ({image})]] runs privileged ({how}). A privileged container "
                "can reach every device and kernel interface of the node: whoever controls it controls the host.",
    description_ko="[[{host}에서 ]]컨테이너 {container}[[({image})]]이(가) 권한 모드로 실행됩니다({how_ko}). 권한 있는 "
                   "컨테이너는 노드의 모든 장치와 커널 인터페이스에 접근할 수 있어, 이를 장악한 사람은 호스트를 장악합니다.",
    remediation=(
        "Find who started it and why (the command line or the workload spec); most workloads need a few "
        "capabilities, not --privileged.",
        "Replace --privileged with the specific capabilities and devices needed (--cap-add, --device), "
        "or securityContext.capabilities in Kubernetes.",
        "If it was not expected, stop the container and check the host for changes made from it (mounts, "
        "kernel modules, new files under /etc, /root, /var/lib/kubelet).",
        "Enforce a policy that rejects privileged containers (Pod Security 'restricted' or 'baseline').",
    ),
    remediation_ko=(
        "누가 왜 시작했는지(명령줄 또는 워크로드 명세) 확인하십시오. 대부분의 워크로드는 --privileged가 아니라 몇 가지 "
        "기능(capability)만 필요합니다.",
        "--privileged 대신 필요한 기능과 장치만 지정하십시오(--cap-add, --device, Kubernetes의 "
        "securityContext.capabilities).",
        "예상하지 못한 컨테이너라면 중지하고 그 컨테이너에서 호스트에 가한 변경(마운트, 커널 모듈, /etc·/root·"
        "/var/lib/kubelet 아래 새 파일)을 확인하십시오.",
        "권한 있는 컨테이너를 거부하는 정책(Pod Security 'restricted' 또는 'baseline')을 적용하십시오.",
    ),
    false_positives=(
        "CNI, CSI and monitoring agents (Cilium, Calico, node-exporter with host access) run privileged by design; "
        "allow them by image, e.g. { image = \"*cilium*\" }.",
    ),
    samples=(
        Sample("docker run --privileged (auditd, as recorded)", "auditd",
               audit_exec(12637, 15302, 14935, ["docker", "run", "-d", "--name", "cw-privileged", "--privileged",
                                                "--network", "none", "cloudward-test/base:1", "sleep", "600"],
                          exe="/usr/bin/docker"),
               expect=1, entities={"container": "cw-privileged", "image": "cloudward-test/base:1",
                                   "process": "docker"}),
        Sample("create event enriched by inspect data (docker events + inspect)", "json",
               [inspect_container(PRIV_ID, "cw-privileged", "cloudward-test/base:1", privileged=True, status="created"),
                docker_event("create", PRIV_ID, "cw-privileged", "cloudward-test/base:1")],
               expect=1, entities={"container_id": PRIV_ID, "container": "cw-privileged"}),
        Sample("privileged pod's entrypoint with every capability (Tetragon)", "tetragon",
               tetragon_exec("/docker-entrypoint.sh", "/docker-entrypoint.sh nginx -g \"daemon off;\"",
                             parent="/usr/bin/containerd-shim", parent_arguments="-namespace moby -workdir /var/lib",
                             pod="privileged-pod", namespace="default", container="privileged-pod",
                             image="nginx:latest", caps=ALL_CAPS),
               expect=1, entities={"pod": "privileged-pod", "image": "nginx:latest"}),
        Sample("podman run --privileged=true", "auditd",
               audit_exec(14001, 31000, 1, ["podman", "run", "--rm", "--privileged=true", "-v", "/:/host",
                                            "quay.io/centos/centos:stream9", "chroot", "/host"], exe="/usr/bin/podman"),
               expect=1),
        Sample("crictl inspect of a privileged pod container (CRI)", "docker-inspect",
               {"status": {"id": "containerd://" + container_id("cilium-agent"),
                           "metadata": {"name": "cilium-agent", "attempt": 0}, "state": "CONTAINER_RUNNING",
                           "image": {"image": "quay.io/cilium/cilium:v1.16.1"},
                           "labels": {"io.kubernetes.pod.name": "cilium-x7k2p",
                                      "io.kubernetes.pod.namespace": "kube-system"}},
                "info": {"pid": 2211, "config": {"linux": {"security_context": {"privileged": True}}},
                         "runtimeSpec": {"process": {"args": ["cilium-agent", "--config-dir=/tmp/cilium/config-map"]}}}},
               expect=1, entities={"container": "cilium-agent", "image": "quay.io/cilium/cilium:v1.16.1"}),
        Sample("a plain container's inspect data", "docker-inspect",
               inspect_container(PLAIN_ID, "cw-plain", "cloudward-test/base:1"), expect=0),
        Sample("--privileged after the image is the container's own argument", "auditd",
               audit_exec(14002, 31001, 1, ["docker", "run", "--rm", "alpine:3.20", "echo", "--privileged"],
                          exe="/usr/bin/docker"), expect=0),
        Sample("docker run --privileged=false", "auditd",
               audit_exec(14003, 31002, 1, ["docker", "run", "--privileged=false", "alpine:3.20", "true"],
                          exe="/usr/bin/docker"), expect=0),
        Sample("an ordinary pod process with the default capabilities (Tetragon)", "tetragon",
               tetragon_exec("/usr/sbin/nginx", "-g \"daemon off;\"", parent="/usr/bin/containerd-shim",
                             caps=DEFAULT_CAPS), expect=0),
    ),
)


class PrivilegedContainerArtifacts(Detection):
    card = CARD
    kinds = (ContainerEvent, ProcessExec)
    #: process executions `evaluate` can find anything in (a host `... run|create --privileged`, or a privileged container's process; see cloudward.process_dispatch)
    process_gate = {"host": "privileged_flag", "container": "privileged"}

    partition = "host and container (the containers already reported, once per way they were seen)"

    def setup(self) -> None:
        self.seen = FirstSeen()

    def state(self) -> dict[str, Any] | None:
        return {"seen": dict.fromkeys(self.seen.keys, 1)} if self.seen.keys else None

    def merge(self, state: dict[str, Any]) -> None:
        for key in sorted(state.get("seen") or {}):
            self.seen.first(key)

    def evaluate(self, event: ContainerEvent | ProcessExec) -> list[Finding] | None:
        if type(event) is ContainerEvent:
            if not event.privileged or event.action not in _ACTIONS or not event.container_id:
                return None
            ent = container_event_entities(event)
            how = "HostConfig.Privileged" if event.action == "inspect" else f"docker {event.action} event"
            return self._once(event.host, event.container_id, ent, event, how)
        if event.container_id:
            if event.privileged:
                ent = process_entities(event)
                how = "its processes hold the full capability set" if event.capabilities else "inspect data"
                return self._once(event.host, event.container_id, ent, event, how)
            return None
        argv = event.argv
        if len(argv) < 3 or "--privileged" not in event.command_line:
            return None
        cmd = runtime_command(argv, event.executable)
        if cmd is None or not cmd.privileged or cmd.verb not in ("run", "create"):
            return None
        ent = process_entities(event)
        ent["container"] = cmd.name or "(unnamed)"
        ent["image"] = cmd.target
        ent["runtime"] = cmd.tool
        key = cmd.name or event.command_line
        return [Finding(key=f"{event.host}|{key}", entities=ent, event=event,
                        params={"how": f"{cmd.tool} {cmd.verb} --privileged",
                                "how_ko": f"{cmd.tool} {cmd.verb} --privileged", "image": cmd.target or "?"})]

    def _once(self, host: str, cid: str, ent: dict[str, Any], event: Any, how: str) -> list[Finding] | None:
        key = f"{host}|{ent.get('container') or cid}"
        if not self.seen.first(f"{key}|{how}"):
            return None
        return [Finding(key=key, entities=ent, event=event,
                        params={"how": how, "how_ko": _HOW_KO.get(how, how)})]
