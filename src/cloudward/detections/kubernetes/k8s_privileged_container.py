"""K8S_PrivilegedContainer: a container that runs with `securityContext.privileged: true`."""

from __future__ import annotations

from cloudward.alerts import Finding
from cloudward.detections.base import Card, Sample
from cloudward.detections.kubernetes._samples import audit, container, pod, workload
from cloudward.detections.kubernetes._workloads import PodSpecCard, PodSpecView, workload_entities
from cloudward.events import K8sAudit
from cloudward.parsers._k8s import ContentNeedles

_RS_OWNER = ("ReplicaSet", "node-agent-7d9c5b6f4")

CARD = Card(
    id="K8S_PrivilegedContainer",
    title="Privileged container detected",
    title_ko="권한 있는 컨테이너 탐지",
    severity="low",
    tactics=("PrivilegeEscalation",),
    techniques=("T1611", "T1610"),
    data_source="AUDIT",
    looks_at="pod specs of created or changed Pods, Deployments, DaemonSets, StatefulSets, ReplicaSets, "
             "ReplicationControllers, Jobs and CronJobs (containers, initContainers, ephemeralContainers) with "
             "securityContext.privileged: true",
    description="{user} ran privileged container(s) {containers} ({images}) in {namespace}/{workload}. A privileged "
                "container has every capability and the host's devices: escaping to the node is one command.",
    description_ko="{user}이(가) {namespace}/{workload}에서 권한 있는 컨테이너 {containers}({images})을(를) "
                   "실행했습니다. 권한 있는 컨테이너는 모든 capability와 호스트 장치를 가지므로 명령 하나로 노드로 탈출할 수 있습니다.",
    remediation=(
        "Remove privileged: true; grant only the capabilities the workload needs (securityContext.capabilities.add).",
        "Enforce the Pod Security 'baseline' or 'restricted' level on the namespace "
        "(label pod-security.kubernetes.io/enforce).",
        "If the workload is unknown, delete it and check the node for changes made from the container.",
    ),
    remediation_ko=(
        "privileged: true를 제거하고 워크로드에 필요한 capability만 부여하십시오 (securityContext.capabilities.add).",
        "네임스페이스에 Pod Security 'baseline' 또는 'restricted' 수준을 적용하십시오 "
        "(레이블 pod-security.kubernetes.io/enforce).",
        "알 수 없는 워크로드라면 삭제하고, 컨테이너에서 노드에 가해진 변경이 있는지 확인하십시오.",
    ),
    false_positives=("CNI, storage and monitoring DaemonSets need privileges; allow them by namespace and image.",),
    samples=(
        Sample("privileged sidecar in a Deployment, then its pods", "k8s-audit", [
            audit("create", "deployments", workload("Deployment", "node-agent", [
                container("app", "ghcr.io/acme/agent:2.1"),
                container("helper", "busybox:1.36", privileged=True)])),
            audit("create", "pods", pod("node-agent-7d9c5b6f4-x2l8q", [
                container("app", "ghcr.io/acme/agent:2.1"),
                container("helper", "busybox:1.36", privileged=True)], owner=_RS_OWNER),
                user="system:serviceaccount:kube-system:replicaset-controller", when="2026-11-02T09:15:28Z"),
            audit("create", "pods", pod("node-agent-7d9c5b6f4-q9zkw", [
                container("app", "ghcr.io/acme/agent:2.1"),
                container("helper", "busybox:1.36", privileged=True)], owner=_RS_OWNER),
                user="system:serviceaccount:kube-system:replicaset-controller", when="2026-11-02T09:15:29Z"),
        ], expect=1, note="the controller's pods join the Deployment's alert",
            entities={"workload": "Deployment/node-agent", "containers": ["helper"], "namespace": "default"}),
        Sample("privileged init container of a DaemonSet", "k8s-audit", audit(
            "create", "daemonsets", {**workload("DaemonSet", "tuner", [container("main", "alpine:3.19")]),
                                     "spec": {"template": {"spec": {
                                         "initContainers": [container("sysctl", "alpine:3.19", privileged=True)],
                                         "containers": [container("main", "alpine:3.19")]}}}}), expect=1),
        Sample("privileged ephemeral debug container", "k8s-audit", audit(
            "patch", "pods", {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "web-1", "namespace": "shop"},
                              "spec": {"containers": [container("web", "nginx:1.25")],
                                       "ephemeralContainers": [container("debugger", "busybox", privileged=True)]}},
            namespace="shop", name="web-1", subresource="ephemeralcontainers"), expect=1),
        Sample("privileged: false stated explicitly", "k8s-audit", audit("create", "pods", pod(
            "web", [container("web", "nginx:1.25", privileged=False)])), expect=0),
        Sample("kubelet reading a privileged pod (get)", "k8s-audit", audit("get", "pods", pod(
            "web", [container("web", "nginx:1.25", privileged=True)]), user="system:node:node-1"), expect=0),
        Sample("Metadata-level create cannot be inspected", "k8s-audit", audit("create", "pods", pod(
            "web", [container("web", "nginx:1.25", privileged=True)]), level="Metadata"), expect=0),
    ),
)


class PrivilegedContainer(PodSpecCard):
    card = CARD

    def judge(self, event: K8sAudit, view: PodSpecView) -> list[Finding] | None:
        privileged = [c for c in view.containers if c.privileged]
        if not privileged:
            return None
        return [Finding(key=view.key, entities=workload_entities(event, view, privileged), event=event)]

    def content_needles(self) -> ContentNeedles:
        return ContentNeedles(exact=frozenset({'"privileged"'}))  # the securityContext key judged
