"""K8S.NODE_KubernetesAPI: a process inside a container, other than a known cluster component, talking to
the Kubernetes API — kubectl, curl/wget or a script aimed at kubernetes.default, $KUBERNETES_SERVICE_HOST,
:6443/api or the service-account token, or a tool connecting to the API server's address."""

from __future__ import annotations

from typing import Any

from cloudward.alerts import Finding
from cloudward.analytics.processes import basename, process_entities, remember
from cloudward.detections.base import Card, Detection, Sample
from cloudward.detections.node._kube_access import DEFAULT_API_ADDRESSES, KubeAccess
from cloudward.detections.node._samples import (
    audit_exec,
    container_id,
    ecs_exec,
    shim,
    tetragon_connect,
    tetragon_exec,
)
from cloudward.events import NetConnection, ProcessExec

PLAIN_ID = container_id("cw-plain")
TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"

CARD = Card(
    id="K8S.NODE_KubernetesAPI",
    title="Suspicious request to Kubernetes API",
    title_ko="Kubernetes API에 대한 의심스러운 요청",
    severity="medium",
    tactics=("LateralMovement",),
    techniques=("T1552.007", "T1613", "T1609"),
    data_source="HOST",
    looks_at="process starts in containers whose command line holds kube_api_indicators (or that run kubectl), "
             "and connections from kube_api_clients in containers to api_server_addresses / api_server_ports; "
             "containers from known_system_components and kube_system_images are left out",
    description="[[On {host}, ]]{process} in container {container}[[ ({image})]] reached for the Kubernetes API "
                "({indicators}): {command_line}. Applications use client libraries; a shell tool in a container "
                "calling the API with its service-account token is how attackers explore and spread in a cluster.",
    description_ko="[[{host}의 ]]컨테이너 {container}[[({image})]]에서 {process}이(가) Kubernetes API에 접근했습니다"
                   "({indicators}): {command_line}. 애플리케이션은 클라이언트 라이브러리를 사용하며, 컨테이너 안의 셸 도구가 "
                   "서비스 계정 토큰으로 API를 호출하는 것은 공격자가 클러스터를 탐색하고 확산하는 방식입니다.",
    remediation=(
        "Check what the pod's service account may do (kubectl auth can-i --list --as=system:serviceaccount:<ns>:<sa>) "
        "and what it did (the API server's audit log for that account).",
        "Set automountServiceAccountToken: false for workloads that do not call the API, and bind only the roles "
        "they need.",
        "Find how the command got into the container (exec session, web shell, compromised image) and rebuild it.",
        "Restrict egress from application namespaces to the API server with a NetworkPolicy.",
    ),
    remediation_ko=(
        "파드의 서비스 계정 권한(kubectl auth can-i --list --as=system:serviceaccount:<ns>:<sa>)과 실제로 한 일"
        "(해당 계정에 대한 API 서버 감사 로그)을 확인하십시오.",
        "API를 호출하지 않는 워크로드에는 automountServiceAccountToken: false를 설정하고 필요한 역할만 바인딩하십시오.",
        "명령이 컨테이너에 들어온 경로(exec 세션, 웹 셸, 침해된 이미지)를 찾고 컨테이너를 다시 만드십시오.",
        "NetworkPolicy로 애플리케이션 네임스페이스에서 API 서버로 가는 송신을 제한하십시오.",
    ),
    false_positives=(
        "Operators and CI jobs that run kubectl in a pod; allow them by image, e.g. { image = \"*bitnami/kubectl*\" }, "
        "or add the image to [data] known_system_components.",
    ),
    params={"api_server_addresses": DEFAULT_API_ADDRESSES, "api_server_ports": [6443]},
    samples=(
        Sample("wget to kubernetes.default.svc with the token, in a container (auditd, as recorded)", "auditd",
               shim(12659, 15512, PLAIN_ID)
               + audit_exec(12729, 15905, 15512, ["sh", "-c", f'wget -q -T 1 -O - --header "Authorization: Bearer '
                                                  f'$(cat {TOKEN})" https://kubernetes.default.svc/api/v1/namespaces/'
                                                  "kube-system/secrets"], exe="/bin/busybox")
               + audit_exec(12730, 15911, 15905, ["cat", TOKEN], exe="/bin/busybox"),
               expect=1, entities={"container_id": PLAIN_ID, "process": "busybox"}),
        Sample("kubectl get secrets in a pod (Tetragon)", "tetragon",
               tetragon_exec("/usr/local/bin/kubectl", "get secrets -A -o yaml", parent="/bin/bash"),
               expect=1, entities={"namespace": "shop", "process": "kubectl"}),
        Sample("curl to $KUBERNETES_SERVICE_HOST from a web pod (Tetragon)", "tetragon",
               tetragon_exec("/bin/sh", "-c \"curl -sk https://$KUBERNETES_SERVICE_HOST/api/v1/pods\"",
                             parent="/usr/sbin/nginx"),
               expect=1),
        Sample("curl connecting to the API server's service IP (Tetragon kprobe)", "tetragon",
               tetragon_connect("/usr/bin/curl", "-sk https://10.96.0.1/version", "10.96.0.1", 443),
               expect=1, entities={"destination": "10.96.0.1:443"}),
        Sample("wget with the service-account token, from Elastic Defend (ECS)", "ecs-process",
               ecs_exec("/usr/bin/wget", ["wget", "--header", f"Authorization: Bearer $(cat {TOKEN})",
                                          "https://kubernetes.default.svc/api/v1/secrets"],
                        container={"id": PLAIN_ID, "name": "web", "image": {"name": "acme/shop-web:3.1"}}),
               expect=1, entities={"container": "web"}),
        Sample("the same command on the node itself is an administrator's", "auditd",
               audit_exec(14050, 31050, 1, ["kubectl", "get", "pods", "-A"], exe="/usr/local/bin/kubectl", uid=1000,
                          auid=1000), expect=0),
        Sample("a known component (metrics-server) talking to the API (Tetragon)", "tetragon",
               tetragon_connect("/metrics-server", "--kubelet-insecure-tls", "10.96.0.1", 443,
                                image="registry.k8s.io/metrics-server/metrics-server:v0.7.1", namespace="kube-system"),
               expect=0),
        Sample("an application connecting to its database (Tetragon)", "tetragon",
               tetragon_connect("/usr/bin/curl", "http://orders-db:5432", "10.244.2.31", 5432), expect=0),
        Sample("a dashboard request is the dashboard card's", "tetragon",
               tetragon_exec("/usr/bin/curl", "-sk https://kubernetes-dashboard.kubernetes-dashboard.svc/"), expect=0),
    ),
)


class KubernetesAPI(Detection):
    card = CARD
    kinds = (ProcessExec, NetConnection)
    #: process executions `evaluate` can find anything in (only container processes; see cloudward.process_dispatch)
    process_gate = {"host": "never", "container": "always"}

    def setup(self) -> None:
        self.access = KubeAccess(self.data, list(self.params["api_server_addresses"]),
                                 [int(p) for p in self.params["api_server_ports"]], [])
        self._cache: dict[tuple[str, str, str], tuple[str, ...]] = {}

    def process_text(self, event: ProcessExec) -> bool:
        """Whether an execution can give a finding at all: in a container, with indicators (see
        cloudward.process_dispatch; a pure function of the command line, executable, image and container)."""
        return bool(event.container_id) and bool(self._remembered_hits(event))

    def evaluate(self, event: ProcessExec | NetConnection) -> list[Finding] | None:
        if not event.container_id:
            return None
        access = self.access
        if type(event) is NetConnection:
            if not access.api_connection(event) or not access.client(event) or access.system_component(event):
                return None
            ent = process_entities(event)
            ent["destination"] = f"{event.destination_ip}:{event.destination_port}"
            return self._finding(event, ent, [f"connection to the API server {ent['destination']}"])
        found = self._remembered_hits(event)
        if not found:
            return None
        return self._finding(event, process_entities(event), list(found))

    def _remembered_hits(self, event: ProcessExec) -> tuple[str, ...]:
        # a pure function of the command line, the executable and the image (and the card's lists)
        key = (event.command_line, event.executable, event.image)
        found = self._cache.get(key)
        if found is None:
            found = self._hits(event)
            remember(self._cache, key, found, len(event.command_line))
        return found

    def _hits(self, event: ProcessExec) -> tuple[str, ...]:
        """The indicators of an execution in a container (empty: no finding)."""
        access = self.access
        low = event.command_line.lower()
        hits = access.api_hits(low)
        if basename(event.executable) == "kubectl":
            hits.insert(0, "kubectl")
        if not hits or access.dashboard_hits(low) or access.system_component(event):
            return ()
        return tuple(hits)

    def _finding(self, event: Any, ent: dict[str, Any], hits: list[str]) -> list[Finding]:
        ent["indicators"] = hits
        return [Finding(key=f"{event.host}|{event.container_name or event.container_id}", entities=ent, event=event)]
