"""K8S_ClusterAdminBinding: a (Cluster)RoleBinding to the cluster-admin ClusterRole."""

from __future__ import annotations

from typing import Any

from cloudward.alerts import Finding
from cloudward.detections.base import Card, Detection, Sample
from cloudward.detections.kubernetes._samples import audit
from cloudward.detections.kubernetes._workloads import actor_entities, mutation_succeeded
from cloudward.events import K8sAudit

BINDINGS = frozenset({"clusterrolebindings", "rolebindings"})


def _binding(name: str, subjects: list[dict[str, str]], role: str = "cluster-admin",
             kind: str = "ClusterRoleBinding", namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"kind": kind, "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": subjects}


def _subject(s: dict[str, Any]) -> str:
    ns = s.get("namespace")
    return f"{s.get('kind', '?')}/{ns + '/' if ns else ''}{s.get('name', '?')}"


CARD = Card(
    id="K8S_ClusterAdminBinding",
    title="Role binding to the cluster-admin role detected",
    title_ko="cluster-admin 역할에 대한 역할 바인딩 탐지",
    severity="low",
    tactics=("Persistence", "PrivilegeEscalation"),
    techniques=("T1098", "T1078.004"),
    data_source="AUDIT",
    looks_at="create/update/patch of clusterrolebindings and rolebindings whose roleRef is the ClusterRole "
             "cluster-admin (or another role in the admin_roles list)",
    description="{user} bound {subjects} to the {role} role with {binding} (from {source_ip}). Anyone holding "
                "that identity now has full control of the cluster.",
    description_ko="{user}이(가) {binding}(으)로 {subjects}을(를) {role} 역할에 바인딩했습니다(출발지 {source_ip}). "
                   "이 ID를 가진 누구나 클러스터 전체를 제어할 수 있습니다.",
    remediation=(
        "Confirm with the binding's creator that cluster-wide administrator rights are needed.",
        "If not, delete the binding: kubectl delete clusterrolebinding <name> (or rolebinding -n <ns>).",
        "Grant a narrower Role instead; keep cluster-admin for break-glass accounts only.",
        "Review what the bound subjects did since the binding was created (audit log, by user).",
    ),
    remediation_ko=(
        "바인딩 생성자에게 클러스터 전체 관리자 권한이 정말 필요한지 확인하십시오.",
        "필요하지 않다면 바인딩을 삭제하십시오: kubectl delete clusterrolebinding <이름> (또는 rolebinding -n <네임스페이스>).",
        "대신 범위가 좁은 Role을 부여하고, cluster-admin은 비상용 계정에만 남겨 두십시오.",
        "바인딩 이후 해당 주체가 수행한 작업을 감사 로그에서 사용자별로 검토하십시오.",
    ),
    false_positives=(
        "Cluster bootstrap and managed-cluster operators binding their own administrators; add them to "
        "allow (for example { user = \"system:serviceaccount:kube-system:my-installer\" }).",
    ),
    samples=(
        Sample("user binds a service account to cluster-admin", "k8s-audit", audit(
            "create", "clusterrolebindings",
            _binding("ci-admin", [{"kind": "ServiceAccount", "name": "ci", "namespace": "build"}])), expect=1,
            entities={"binding": "ClusterRoleBinding/ci-admin", "subjects": ["ServiceAccount/build/ci"],
                      "role": "cluster-admin", "user": "alice@example.com", "source_ip": "203.0.113.24"}),
        Sample("rolebinding in a namespace to the cluster-admin ClusterRole", "k8s-audit", audit(
            "create", "rolebindings",
            _binding("team-admin", [{"kind": "User", "name": "bob"}], kind="RoleBinding", namespace="payments"),
            namespace="payments"), expect=1),
        Sample("update turning an existing binding into cluster-admin", "k8s-audit", audit(
            "update", "clusterrolebindings", _binding("viewers", [{"kind": "Group", "name": "devs"}]),
            name="viewers"), expect=1),
        Sample("binding to a read-only role", "k8s-audit", audit(
            "create", "clusterrolebindings", _binding("readers", [{"kind": "Group", "name": "devs"}], role="view")),
            expect=0),
        Sample("bootstrap binding of system:masters", "k8s-audit", audit(
            "create", "clusterrolebindings",
            _binding("cluster-admin", [{"kind": "Group", "name": "system:masters",
                                        "apiGroup": "rbac.authorization.k8s.io"}]),
            user="system:apiserver", source_ip="::1"), expect=0),
        Sample("forbidden attempt (403) does not alert", "k8s-audit", audit(
            "create", "clusterrolebindings", _binding("sneaky", [{"kind": "User", "name": "mallory"}]),
            code=403, user="mallory"), expect=0),
        Sample("RequestReceived stage never alerts on its own", "k8s-audit", audit(
            "create", "clusterrolebindings", _binding("early", [{"kind": "User", "name": "eve"}]),
            stage="RequestReceived", level="Request", code=0), expect=0),
    ),
)


class ClusterAdminBinding(Detection):
    card = CARD
    kinds = (K8sAudit,)
    audit_verbs = frozenset({"create", "update", "patch"})
    audit_resources = BINDINGS

    def setup(self) -> None:
        self.admin_roles = frozenset(self.data.strings("admin_roles"))

    def evaluate(self, event: K8sAudit) -> list[Finding] | None:
        if not mutation_succeeded(event, BINDINGS):
            return None
        obj = event.subject_object
        if obj is None:
            return None
        role_ref = obj.get("roleRef")
        if not isinstance(role_ref, dict) or role_ref.get("kind") != "ClusterRole":
            return None
        role = role_ref.get("name")
        if role not in self.admin_roles:
            return None
        subjects = [s for s in obj.get("subjects") or () if isinstance(s, dict)]
        # system:masters already bypasses authorization: binding it changes nothing (the bootstrap binding)
        if subjects and all(s.get("kind") == "Group" and s.get("name") == "system:masters" for s in subjects):
            return None
        kind = "RoleBinding" if event.resource == "rolebindings" else "ClusterRoleBinding"
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        name = event.name or str(meta.get("name", ""))
        where = f"{event.namespace}/" if event.namespace else ""
        entities: dict[str, Any] = {
            "binding": f"{kind}/{where}{name}",
            "role": role,
            "subjects": [_subject(s) for s in subjects],
        }
        if event.namespace:
            entities["namespace"] = event.namespace
        entities.update(actor_entities(event))
        return [Finding(key=f"{kind}/{where}{name}", entities=entities, event=event)]
