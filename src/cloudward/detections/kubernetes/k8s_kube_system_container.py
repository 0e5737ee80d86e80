"""K8S_KubeSystemContainer: a container in kube-system that is no known system component.

kube-system holds the cluster's own machinery, so attackers hide persistence there. An image counts
as known when it matches the shipped `kube_system_images` list (upstream, AKS, EKS, GKE, common
CNIs) or the cluster's learned baseline: images seen in kube-system during `learning_period` from the
first kube-system workload of that cluster. The baseline is card state, kept in the store.
"""

from __future__ import annotations

from typing import Any

from cloudward.alerts import Finding
from cloudward.detections.base import Card, Sample
from cloudward.detections.common.images import ImagePatterns, parse_image
from cloudward.detections.kubernetes._samples import audit, container, pod, workload
from cloudward.detections.kubernetes._workloads import PodSpecCard, PodSpecView, workload_entities
from cloudward.events import K8sAudit
from cloudward.parsers._k8s import ContentNeedles

#: images kept per cluster in the learned baseline
MAX_BASELINE_IMAGES = 5000
_RSC = "system:serviceaccount:kube-system:replicaset-controller"

CARD = Card(
    id="K8S_KubeSystemContainer",
    title="New container in the kube-system namespace detected",
    title_ko="kube-system 네임스페이스에서 새 컨테이너 탐지",
    severity="low",
    tactics=("Persistence", "DefenseEvasion"),
    techniques=("T1610", "T1036.005"),
    data_source="AUDIT",
    looks_at="pods and workloads created or changed in the watched namespaces (kube-system, kube-public) whose "
             "images match neither the kube_system_images list nor the cluster's learned baseline",
    description="{user} started container(s) {containers} with image(s) {unknown_images} in {namespace}/{workload}; "
                "they are not known system components of this cluster.",
    description_ko="{user}이(가) {namespace}/{workload}에서 이미지 {unknown_images}(으)로 컨테이너 {containers}을(를) "
                   "시작했습니다. 이 클러스터의 알려진 시스템 구성 요소가 아닙니다.",
    remediation=(
        "Identify the owner of the workload; platform add-ons should be documented.",
        "If it is legitimate, add its image to [data] kube_system_images in the configuration.",
        "If not, delete it, and find how its creator obtained rights in kube-system.",
    ),
    remediation_ko=(
        "워크로드의 소유자를 확인하십시오. 플랫폼 추가 기능은 문서화되어 있어야 합니다.",
        "정상적인 것이라면 구성의 [data] kube_system_images에 이미지를 추가하십시오.",
        "그렇지 않다면 삭제하고, 생성자가 kube-system 권한을 얻은 경로를 찾으십시오.",
    ),
    false_positives=("New add-ons installed by the platform team; learn them (learning_period) or list them.",),
    params={"namespaces": ["kube-system", "kube-public"], "learning_period": "0s"},
    samples=(
        Sample("unknown image in kube-system", "k8s-audit", audit("create", "daemonsets", workload(
            "DaemonSet", "kube-proxy-helper", [container("helper", "docker.io/attacker/netshoot:latest")],
            namespace="kube-system"), namespace="kube-system"), expect=1,
            entities={"namespace": "kube-system", "unknown_images": ["docker.io/attacker/netshoot:latest"]}),
        Sample("kube-proxy from the upstream registry", "k8s-audit", audit("create", "pods", pod(
            "kube-proxy-7xk2p", [container("kube-proxy", "registry.k8s.io/kube-proxy:v1.29.2")],
            namespace="kube-system", owner=("DaemonSet", "kube-proxy")), namespace="kube-system",
            user="system:serviceaccount:kube-system:daemon-set-controller"), expect=0),
        Sample("EKS and AKS add-ons", "k8s-audit", [
            audit("create", "pods", pod("aws-node-8kq2n", [
                container("aws-node", "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.16.0")],
                namespace="kube-system", owner=("DaemonSet", "aws-node")), namespace="kube-system"),
            audit("create", "pods", pod("coredns-5d78c9869d-abcde", [
                container("coredns", "mcr.microsoft.com/oss/kubernetes/coredns:v1.9.4")],
                namespace="kube-system", owner=("ReplicaSet", "coredns-5d78c9869d")), namespace="kube-system",
                user=_RSC, when="2026-11-02T09:16:00Z"),
        ], expect=0),
        Sample("image learned during the learning period, then an unknown one", "k8s-audit", [
            audit("create", "deployments", workload("Deployment", "custom-dns", [
                container("dns", "registry.acme.io/platform/dns:3.2")], namespace="kube-system"),
                namespace="kube-system", when="2026-11-01T08:00:00Z"),
            audit("create", "deployments", workload("Deployment", "custom-dns-2", [
                container("dns", "registry.acme.io/platform/dns:3.3")], namespace="kube-system"),
                namespace="kube-system", when="2026-11-03T08:00:00Z"),
            audit("create", "deployments", workload("Deployment", "backdoor", [
                container("b", "registry.acme.io/tools/shell:1")], namespace="kube-system"),
                namespace="kube-system", when="2026-11-03T09:00:00Z"),
        ], expect=1, params={"learning_period": "1d"}, entities={"workload": "Deployment/backdoor"}),
        Sample("same image in the default namespace", "k8s-audit", audit("create", "pods", pod(
            "netshoot", [container("n", "docker.io/attacker/netshoot:latest")])), expect=0),
    ),
)


class KubeSystemContainer(PodSpecCard):
    card = CARD
    partition = "cluster"

    def setup(self) -> None:
        super().setup()
        self.known = ImagePatterns(self.data.strings("kube_system_images"))
        self.namespaces = frozenset(self.params["namespaces"])
        self.learning_period = self.duration("learning_period")
        #: cluster -> {"since": first kube-system time, "images": [image names]}
        self.baselines: dict[str, dict[str, Any]] = {}

    def _baseline(self, cluster: str, when: float) -> dict[str, Any]:
        b = self.baselines.get(cluster)
        if b is None:
            b = self.baselines[cluster] = {"since": when, "images": set()}
        return b

    def content_needles(self) -> ContentNeedles | None:
        # only events whose objectRef namespace is one of these are looked at: that namespace as a JSON string
        if "" in self.namespaces:
            return None
        return ContentNeedles(exact=frozenset(f'"{ns}"' for ns in self.namespaces))

    def evaluate(self, event: K8sAudit) -> list[Finding] | None:
        if event.namespace not in self.namespaces:
            return None  # before the spec is looked at: most events are elsewhere
        return super().evaluate(event)

    def judge(self, event: K8sAudit, view: PodSpecView) -> list[Finding] | None:
        baseline = self._baseline(event.cluster, event.time)
        learning = self.learning_period > 0 and event.time - baseline["since"] < self.learning_period
        unknown = []
        for c in view.containers:
            if not c.image or self.known.match(c.image):
                continue
            name = parse_image(c.image).name
            if learning:
                if name not in baseline["images"]:
                    self.hold_back(baseline["since"] + self.learning_period)
                if len(baseline["images"]) < MAX_BASELINE_IMAGES:
                    baseline["images"].add(name)
            elif name not in baseline["images"]:
                unknown.append(c)
        if not unknown:
            return None
        entities = workload_entities(event, view, unknown)
        entities["unknown_images"] = sorted({c.image for c in unknown})
        return [Finding(key=view.key, entities=entities, event=event)]

    def state(self) -> dict[str, Any] | None:
        if not self.baselines:
            return None
        return {"clusters": {c: {"since": b["since"], "images": sorted(b["images"])}
                             for c, b in self.baselines.items()}}

    def merge(self, state: dict[str, Any]) -> None:
        """Per cluster: the earlier start and the union of learned images."""
        clusters = state.get("clusters") if isinstance(state.get("clusters"), dict) else state  # earlier shape
        for cluster, body in clusters.items():
            b = self.baselines.get(cluster)
            if b is None:
                b = self.baselines[cluster] = {"since": float(body["since"]), "images": set()}
            b["since"] = min(b["since"], float(body["since"]))
            for image in body.get("images", []):
                if len(b["images"]) < MAX_BASELINE_IMAGES:
                    b["images"].add(image)
