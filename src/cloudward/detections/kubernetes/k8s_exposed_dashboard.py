"""K8S_ExposedDashboard: the Kubernetes dashboard published outside the cluster through a Service."""

from __future__ import annotations

from typing import Any

from cloudward.alerts import Finding
from cloudward.detections.base import Card, Detection, Sample
from cloudward.detections.kubernetes._samples import audit
from cloudward.detections.kubernetes._workloads import actor_entities, mutation_succeeded
from cloudward.events import K8sAudit

SERVICES = frozenset({"services"})
NAME_LABELS = ("k8s-app", "app.kubernetes.io/name", "app", "app.kubernetes.io/instance")


def _service(name: str, svc_type: str, selector: dict[str, str], ports: list[int],
             namespace: str = "kubernetes-dashboard") -> dict[str, Any]:
    return {"kind": "Service", "apiVersion": "v1", "metadata": {"name": name, "namespace": namespace},
            "spec": {"type": svc_type, "selector": selector,
                     "ports": [{"port": p, "targetPort": p, "protocol": "TCP"} for p in ports]}}


CARD = Card(
    id="K8S_ExposedDashboard",
    title="Exposed Kubernetes dashboard detected",
    title_ko="노출된 Kubernetes 대시보드 탐지",
    severity="high",
    tactics=("InitialAccess",),
    techniques=("T1133", "T1190"),
    data_source="AUDIT",
    looks_at="create/update/patch of Services of type LoadBalancer (and NodePort when include_nodeport is set) "
             "whose name or selector names the Kubernetes dashboard, or that serve the dashboard ports "
             "8443/9090 with a dashboard selector",
    description="{user} exposed the Kubernetes dashboard through Service {namespace}/{service} of type "
                "{service_type} (ports {ports}). The dashboard is reachable from outside the cluster, where "
                "attackers scan for it.",
    description_ko="{user}이(가) {service_type} 유형의 Service {namespace}/{service}(포트 {ports})를 통해 Kubernetes "
                   "대시보드를 노출했습니다. 공격자가 탐색하는 클러스터 외부에서 대시보드에 접근할 수 있습니다.",
    remediation=(
        "Change the Service back to ClusterIP (kubectl -n <ns> patch svc <name> -p '{\"spec\":{\"type\":\"ClusterIP\"}}').",
        "Reach the dashboard through kubectl proxy or port-forward, or behind an authenticating proxy.",
        "Check the dashboard's service account: it must not hold cluster-admin.",
        "Review access logs of the load balancer for requests while it was exposed.",
    ),
    remediation_ko=(
        "Service를 ClusterIP로 되돌리십시오 (kubectl -n <네임스페이스> patch svc <이름> -p '{\"spec\":{\"type\":\"ClusterIP\"}}').",
        "대시보드는 kubectl proxy나 port-forward, 또는 인증 프록시 뒤에서만 접근하십시오.",
        "대시보드 서비스 계정이 cluster-admin 권한을 갖고 있지 않은지 확인하십시오.",
        "노출되어 있던 동안의 로드 밸런서 접근 로그를 검토하십시오.",
    ),
    false_positives=("A dashboard deliberately published behind an authenticating load balancer; add it to allow.",),
    params={"include_nodeport": False},
    samples=(
        Sample("dashboard service switched to LoadBalancer", "k8s-audit", audit(
            "patch", "services",
            _service("kubernetes-dashboard", "LoadBalancer", {"k8s-app": "kubernetes-dashboard"}, [443]),
            namespace="kubernetes-dashboard", name="kubernetes-dashboard"), expect=1,
            entities={"service": "kubernetes-dashboard", "service_type": "LoadBalancer",
                      "namespace": "kubernetes-dashboard"}),
        Sample("new LoadBalancer selecting the dashboard pods under another name", "k8s-audit", audit(
            "create", "services",
            _service("web-ui", "LoadBalancer", {"app.kubernetes.io/name": "kubernetes-dashboard"}, [8443]),
            namespace="kubernetes-dashboard"), expect=1),
        Sample("dashboard port 9090 with a dashboard selector", "k8s-audit", audit(
            "create", "services", _service("ui", "LoadBalancer", {"app": "my-dashboard"}, [9090]),
            namespace="tools"), expect=1),
        Sample("NodePort counts when configured", "k8s-audit", audit(
            "create", "services", _service("dash", "NodePort", {"k8s-app": "kubernetes-dashboard"}, [8443])),
            expect=1, params={"include_nodeport": True}),
        Sample("NodePort dashboard ignored by default", "k8s-audit", audit(
            "create", "services", _service("dash", "NodePort", {"k8s-app": "kubernetes-dashboard"}, [8443])),
            expect=0),
        Sample("dashboard on ClusterIP (the safe default)", "k8s-audit", audit(
            "create", "services",
            _service("kubernetes-dashboard", "ClusterIP", {"k8s-app": "kubernetes-dashboard"}, [443])), expect=0),
        Sample("an ordinary web LoadBalancer on 8443", "k8s-audit", audit(
            "create", "services", _service("shop", "LoadBalancer", {"app": "shop"}, [8443]), namespace="shop"),
            expect=0),
    ),
)


class ExposedDashboard(Detection):
    card = CARD
    kinds = (K8sAudit,)
    audit_verbs = frozenset({"create", "update", "patch"})
    audit_resources = SERVICES

    def setup(self) -> None:
        self.names = frozenset(n.lower() for n in self.data.strings("dashboard_names"))
        self.ports = frozenset(int(p) for p in self.data.get("dashboard_ports"))
        self.exposed_types = {"LoadBalancer", "NodePort"} if self.params["include_nodeport"] else {"LoadBalancer"}

    def _dashboard_reason(self, name: str, selector: dict[str, Any], ports: list[int]) -> str | None:
        if name.lower() in self.names:
            return f"named {name}"
        for label in NAME_LABELS:
            value = selector.get(label)
            if isinstance(value, str) and value.lower() in self.names:
                return f"selects {label}={value}"
        if any(p in self.ports for p in ports) and any(
            isinstance(v, str) and "dashboard" in v.lower() for v in selector.values()
        ):
            return "serves a dashboard port with a dashboard selector"
        return None

    def evaluate(self, event: K8sAudit) -> list[Finding] | None:
        if not mutation_succeeded(event, SERVICES):
            return None
        obj = event.subject_object
        spec = obj.get("spec") if obj else None
        if not isinstance(spec, dict) or spec.get("type") not in self.exposed_types:
            return None
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}  # type: ignore[union-attr]
        name = event.name or str(meta.get("name", ""))
        selector = spec.get("selector") if isinstance(spec.get("selector"), dict) else {}
        ports: list[int] = []
        for p in spec.get("ports") or ():
            if isinstance(p, dict):
                for key in ("port", "targetPort", "nodePort"):
                    if isinstance(p.get(key), int) and p[key] not in ports:
                        ports.append(p[key])
        reason = self._dashboard_reason(name, selector, ports)
        if reason is None:
            return None
        namespace = event.namespace or str(meta.get("namespace", ""))
        entities: dict[str, Any] = {
            "namespace": namespace, "service": name, "service_type": spec["type"], "ports": ports,
            "selector": [f"{k}={v}" for k, v in selector.items()], "reason": reason,
        }
        entities.update(actor_entities(event))
        return [Finding(key=f"{namespace}/{name}", entities=entities, event=event)]
