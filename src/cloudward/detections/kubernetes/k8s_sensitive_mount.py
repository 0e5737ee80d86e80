"""K8S_SensitiveMount: a hostPath volume at or under a host path that hands over the node."""

from __future__ import annotations

import posixpath
from typing import Any

from cloudward.alerts import Finding
from cloudward.detections.base import Card, Sample
from cloudward.detections.kubernetes._samples import audit, container, host_path, pod, workload
from cloudward.detections.kubernetes._workloads import PodSpecCard, PodSpecView, workload_entities
from cloudward.events import K8sAudit
from cloudward.parsers._k8s import ContentNeedles


def sensitive_match(path: str, sensitive: tuple[str, ...]) -> str | None:
    """The sensitive entry `path` falls at or under ("/" matches only itself)."""
    if not path.startswith("/"):
        return None
    norm = posixpath.normpath(path)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    best = None
    for entry in sensitive:
        if norm == entry or (entry != "/" and norm.startswith(entry + "/")):
            if best is None or len(entry) > len(best):
                best = entry
    return best


CARD = Card(
    id="K8S_SensitiveMount",
    title="Container with a sensitive volume mount detected",
    title_ko="민감한 볼륨을 마운트한 컨테이너 탐지",
    severity="medium",
    tactics=("PrivilegeEscalation",),
    techniques=("T1611", "T1610"),
    data_source="AUDIT",
    looks_at="pod specs of created or changed workloads with hostPath volumes at or under a path in the "
             "sensitive_host_paths list (/, /etc, /root, /proc, the container runtime sockets, /var/lib/kubelet, ...), "
             "naming the containers that mount them",
    description="{user} mounted sensitive host path(s) {host_paths} into {namespace}/{workload} ({mounts}). "
                "A container with these paths can read node secrets or take over the node.",
    description_ko="{user}이(가) 민감한 호스트 경로 {host_paths}을(를) {namespace}/{workload}에 마운트했습니다({mounts}). "
                   "이 경로를 가진 컨테이너는 노드의 비밀 정보를 읽거나 노드를 장악할 수 있습니다.",
    remediation=(
        "Replace the hostPath volume with a ConfigMap, Secret, emptyDir or a CSI volume.",
        "If host access is required, mount the narrowest path read-only (readOnly: true).",
        "Enforce the Pod Security 'baseline' level, which forbids hostPath volumes.",
        "If the workload is unknown, delete it and inspect the node for tampering.",
    ),
    remediation_ko=(
        "hostPath 볼륨을 ConfigMap, Secret, emptyDir 또는 CSI 볼륨으로 바꾸십시오.",
        "호스트 접근이 꼭 필요하다면 가장 좁은 경로를 읽기 전용(readOnly: true)으로 마운트하십시오.",
        "hostPath 볼륨을 금지하는 Pod Security 'baseline' 수준을 적용하십시오.",
        "알 수 없는 워크로드라면 삭제하고 노드가 변조되었는지 점검하십시오.",
    ),
    false_positives=("Log shippers and node monitors mounting /var/lib/docker or /proc read-only; allow by image.",),
    samples=(
        Sample("docker socket mounted into a pod", "k8s-audit", audit("create", "pods", pod(
            "builder", [container("build", "docker:24-cli", mounts=[("sock", "/var/run/docker.sock")])],
            volumes=[host_path("sock", "/var/run/docker.sock")])), expect=1,
            entities={"host_paths": ["/var/run/docker.sock"], "containers": ["build"]}),
        Sample("host root mounted by a CronJob", "k8s-audit", audit("create", "cronjobs", workload(
            "CronJob", "cleanup", [container("c", "alpine:3.19", mounts=[("host", "/host")])],
            volumes=[host_path("host", "/")])), expect=1),
        Sample("a path under /etc, written untidily", "k8s-audit", audit("create", "pods", pod(
            "reader", [container("r", "alpine:3.19", mounts=[("k", "/k")])],
            volumes=[host_path("k", "/etc//kubernetes/./pki/")])), expect=1),
        Sample("hostPath of an application folder", "k8s-audit", audit("create", "pods", pod(
            "cache", [container("c", "redis:7", mounts=[("data", "/data")])],
            volumes=[host_path("data", "/srv/cache")])), expect=0),
        Sample("/var/log for a log shipper is not in the list", "k8s-audit", audit("create", "daemonsets", workload(
            "DaemonSet", "fluent-bit", [container("fb", "fluent/fluent-bit:2.2", mounts=[("logs", "/var/log")])],
            volumes=[host_path("logs", "/var/log")])), expect=0),
        Sample("a similar-looking prefix is not under /etc", "k8s-audit", audit("create", "pods", pod(
            "x", [container("x", "alpine", mounts=[("v", "/v")])], volumes=[host_path("v", "/etcetera")])),
            expect=0),
    ),
)


class SensitiveMount(PodSpecCard):
    card = CARD

    def setup(self) -> None:
        super().setup()
        self.sensitive = tuple(posixpath.normpath(p) for p in self.data.strings("sensitive_host_paths"))

    def content_needles(self) -> ContentNeedles:
        return ContentNeedles(exact=frozenset({'"hostPath"'}))  # the volume key judged

    def judge(self, event: K8sAudit, view: PodSpecView) -> list[Finding] | None:
        hits: dict[str, str] = {}  # volume name -> host path
        for vol in view.volumes:
            hp = vol.get("hostPath")
            path = hp.get("path") if isinstance(hp, dict) else None
            if isinstance(path, str) and sensitive_match(path, self.sensitive):
                hits[str(vol.get("name", ""))] = path
        if not hits:
            return None
        mounting = []
        mounts: list[str] = []
        read_only: list[str] = []
        for c in view.containers:
            for m in c.spec.get("volumeMounts") or ():
                if isinstance(m, dict) and m.get("name") in hits:
                    if c not in mounting:
                        mounting.append(c)
                    mounts.append(f"{c.name}: {hits[m['name']]} -> {m.get('mountPath', '?')}")
                    if m.get("readOnly") is True:
                        read_only.append(f"{c.name}:{m.get('mountPath', '?')}")
        entities: dict[str, Any] = workload_entities(event, view, mounting)
        entities["host_paths"] = sorted(set(hits.values()))
        entities["mounts"] = mounts or [f"(not mounted by any container) {p}" for p in hits.values()]
        if read_only:
            entities["read_only"] = read_only
        return [Finding(key=view.key, entities=entities, event=event)]
