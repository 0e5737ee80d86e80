"""K8S.NODE_KubernetesDashboard: a process inside a container, other than a known cluster component,
reaching for the Kubernetes dashboard — its service names, its ports, or the API server's /proxy/ path
to the dashboard service."""

from __future__ import annotations

from typing import Any

from cloudward.alerts import Finding
from cloudward.analytics.processes import process_entities, remember
from cloudward.detections.base import Card, Detection, Sample
from cloudward.detections.node._kube_access import KubeAccess
from cloudward.detections.node._samples import audit_exec, container_id, shim, tetragon_exec
from cloudward.events import NetConnection, ProcessExec

PLAIN_ID = container_id("cw-plain")
DASHBOARD_IMAGE = "docker.io/kubernetesui/dashboard-web:1.4.0"

CARD = Card(
    id="K8S.NODE_KubernetesDashboard",
    title="Suspicious request to the Kubernetes Dashboard",
    title_ko="Kubernetes 대시보드에 대한 의심스러운 요청",
    severity="medium",
    tactics=("LateralMovement",),
    techniques=("T1021", "T1613"),
    data_source="HOST",
    looks_at="process starts in containers whose command line names the dashboard (dashboard_names followed by "
             "'.', ':' or '/', dashboard_indicators such as the API server's /proxy/ path), and connections from "
             "kube_api_clients in containers to the dashboard's ports and names or to dashboard_addresses",
    description="[[On {host}, ]]{process} in container {container}[[ ({image})]] reached for the Kubernetes dashboard "
                "({indicators}): {command_line}. Workloads have no need for the dashboard; an attacker inside a "
                "container uses it to find a token with more rights or to control the cluster.",
    description_ko="[[{host}의 ]]컨테이너 {container}[[({image})]]에서 {process}이(가) Kubernetes 대시보드에 접근했습니다"
                   "({indicators}): {command_line}. 워크로드는 대시보드가 필요하지 않으며, 컨테이너 안의 공격자는 "
                   "더 큰 권한의 토큰을 찾거나 클러스터를 제어하려고 대시보드를 이용합니다.",
    remediation=(
        "Check the dashboard's service account: it should have no cluster-wide rights (no cluster-admin binding).",
        "Restrict who can reach the dashboard service: a NetworkPolicy admitting only the ingress or admin "
        "namespaces, and login required (no skip button).",
        "Find how the command got into the container and rebuild it from a clean image.",
        "Remove the dashboard if it is not used.",
    ),
    remediation_ko=(
        "대시보드 서비스 계정에 클러스터 전체 권한(cluster-admin 바인딩)이 없는지 확인하십시오.",
        "대시보드 서비스에 접근할 수 있는 대상을 제한하십시오: 인그레스나 관리 네임스페이스만 허용하는 NetworkPolicy, "
        "로그인 필수(건너뛰기 버튼 없음).",
        "명령이 컨테이너에 들어온 경로를 찾고 깨끗한 이미지로 컨테이너를 다시 만드십시오.",
        "사용하지 않는 대시보드는 제거하십시오.",
    ),
    false_positives=(
        "The dashboard's own containers and its ingress or kong proxy (listed in known_system_components); "
        "monitoring probes checking its health: allow them by image.",
    ),
    params={"dashboard_addresses": []},
    samples=(
        Sample("wget to the dashboard service from a container (auditd, as recorded)", "auditd",
               shim(12659, 15512, PLAIN_ID)
               + audit_exec(12737, 15929, 15512, ["wget", "-q", "-T", "1", "-O", "-",
                                                  "http://kubernetes-dashboard.kubernetes-dashboard.svc.cluster.local/"],
                            exe="/bin/busybox"),
               expect=1, entities={"container_id": PLAIN_ID}),
        Sample("the API server's proxy path to the dashboard (Tetragon)", "tetragon",
               tetragon_exec("/usr/bin/curl", "-sk -H \"Authorization: Bearer x\" https://10.96.0.1/api/v1/namespaces/"
                             "kubernetes-dashboard/services/https:kubernetes-dashboard:/proxy/"),
               expect=1),
        Sample("a connection to the dashboard's address (Tetragon kprobe)", "tetragon",
               {"process_kprobe": {**tetragon_exec("/usr/bin/curl", "-sk https://10.109.7.44:8443/")["process_exec"],
                                   "function_name": "tcp_connect",
                                   "args": [{"sock_arg": {"family": "AF_INET", "daddr": "10.109.7.44", "dport": 8443,
                                                          "saddr": "10.244.1.17", "sport": 40112}}]},
                "node_name": "node-1", "time": "2026-11-02T09:15:28.001Z"},
               expect=1, params={"dashboard_addresses": ["10.109.7.44"]}),
        Sample("the dashboard's own web container", "tetragon",
               tetragon_exec("/dashboard-web", "--insecure-bind-address=0.0.0.0 --namespace=kubernetes-dashboard",
                             image=DASHBOARD_IMAGE, namespace="kubernetes-dashboard", parent="/usr/bin/containerd-shim"),
               expect=0),
        Sample("a word 'dashboard' in an app's own arguments", "tetragon",
               tetragon_exec("/usr/local/bin/python", "manage.py collectstatic --app sales-dashboard"), expect=0),
        Sample("an administrator's browser tunnel on the node is not in a container", "auditd",
               audit_exec(14060, 31060, 1, ["kubectl", "-n", "kubernetes-dashboard", "port-forward",
                                            "svc/kubernetes-dashboard", "8443:443"], exe="/usr/local/bin/kubectl",
                          uid=1000, auid=1000),
               expect=0),
    ),
)


class KubernetesDashboard(Detection):
    card = CARD
    kinds = (ProcessExec, NetConnection)
    #: process executions `evaluate` can find anything in (only container processes; see cloudward.process_dispatch)
    process_gate = {"host": "never", "container": "always"}

    def setup(self) -> None:
        self.access = KubeAccess(self.data, [], [], [str(a) for a in self.params["dashboard_addresses"]])
        self._cache: dict[tuple[str, str], tuple[str, ...]] = {}

    def process_text(self, event: ProcessExec) -> bool:
        """Whether an execution can give a finding at all: in a container, with indicators (see
        cloudward.process_dispatch; a pure function of the command line, image and container)."""
        return bool(event.container_id) and bool(self._remembered_hits(event))

    def evaluate(self, event: ProcessExec | NetConnection) -> list[Finding] | None:
        if not event.container_id:
            return None
        access = self.access
        if type(event) is NetConnection:
            if not access.dashboard_connection(event) or not access.client(event) or access.system_component(event):
                return None
            ent = process_entities(event)
            dest = event.destination_host or event.destination_ip
            ent["destination"] = f"{dest}:{event.destination_port}"
            return self._finding(event, ent, [f"connection to the dashboard at {ent['destination']}"])
        found = self._remembered_hits(event)
        if not found:
            return None
        return self._finding(event, process_entities(event), list(found))

    def _remembered_hits(self, event: ProcessExec) -> tuple[str, ...]:
        # a pure function of the command line and the image (and the card's lists)
        key = (event.command_line, event.image)
        found = self._cache.get(key)
        if found is None:
            access = self.access
            hits = access.dashboard_hits(event.command_line.lower())
            found = () if not hits or access.system_component(event) else tuple(hits)
            remember(self._cache, key, found, len(event.command_line))
        return found

    def _finding(self, event: Any, ent: dict[str, Any], hits: list[str]) -> list[Finding]:
        ent["indicators"] = hits
        return [Finding(key=f"{event.host}|{event.container_name or event.container_id}", entities=ent, event=event)]
