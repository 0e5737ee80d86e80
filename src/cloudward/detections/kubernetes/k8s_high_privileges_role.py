"""K8S_HighPrivilegesRole: a Role or ClusterRole that grants powers worth an attacker's while."""

from __future__ import annotations

import fnmatch
from typing import Any

from cloudward.alerts import Finding
from cloudward.detections.base import Card, Detection, Sample
from cloudward.detections.kubernetes._samples import audit
from cloudward.detections.kubernetes._workloads import actor_entities, mutation_succeeded
from cloudward.events import K8sAudit

ROLES = frozenset({"roles", "clusterroles"})
ESCALATING_VERBS = ("escalate", "bind", "impersonate")
READ_VERBS = {"get", "list", "watch", "*"}
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "*"}
EXEC_VERBS = {"create", "get", "*"}


def _role(name: str, rules: list[dict[str, Any]], kind: str = "ClusterRole",
          namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"kind": kind, "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": meta, "rules": rules}


def _list(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def risky_rules(rules: list[Any], cluster_wide: bool) -> list[str]:
    """Each risky grant in `rules`, described; empty when the role is harmless."""
    found: list[str] = []
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict):
            continue
        verbs = set(_list(rule.get("verbs")))
        resources = set(_list(rule.get("resources")))
        groups = _list(rule.get("apiGroups"))
        where = f"rule {i + 1}"
        shown = ",".join(sorted(resources)) or "non-resource URLs"
        if "*" in verbs:
            found.append(f"{where}: all verbs (*) on {shown}")
        if "*" in resources or "*/*" in resources:
            found.append(f"{where}: all resources (*) in API groups {','.join(groups) or '(core)'}")
        for verb in ESCALATING_VERBS:
            if verb in verbs:
                found.append(f"{where}: {verb} on {shown}")
        for sub in ("pods/exec", "pods/attach"):
            if sub in resources and verbs & EXEC_VERBS:
                found.append(f"{where}: {sub} ({','.join(sorted(verbs & EXEC_VERBS))}) — commands in any pod")
        if cluster_wide and "secrets" in resources and verbs & READ_VERBS:
            found.append(f"{where}: read secrets in every namespace ({','.join(sorted(verbs & READ_VERBS))})")
        urls = _list(rule.get("nonResourceURLs"))
        if urls and verbs & WRITE_VERBS - {"*"}:
            found.append(f"{where}: write ({','.join(sorted(verbs & WRITE_VERBS))}) to non-resource URLs")
    return found


CARD = Card(
    id="K8S_HighPrivilegesRole",
    title="New high privileges role detected",
    title_ko="새로운 높은 권한 역할 탐지",
    severity="low",
    tactics=("Persistence", "PrivilegeEscalation"),
    techniques=("T1098", "T1078.004"),
    data_source="AUDIT",
    looks_at="create/update/patch of roles and clusterroles (the resulting object) granting wildcard verbs or "
             "resources, escalate/bind/impersonate, pods/exec or pods/attach, cluster-wide secret reads, or writes "
             "to non-resource URLs; roles the control plane manages itself are skipped",
    description="{user} created or changed {role} granting: {risky_rules}. Whoever is bound to it can take over "
                "workloads or raise their own privileges.",
    description_ko="{user}이(가) {role}을(를) 생성하거나 변경하여 다음 권한을 부여했습니다: {risky_rules}. 이 역할에 "
                   "바인딩된 주체는 워크로드를 장악하거나 자신의 권한을 높일 수 있습니다.",
    remediation=(
        "Check who needs this role and why; list its bindings (kubectl get clusterrolebindings,rolebindings -A "
        "-o wide | grep <role>).",
        "Replace wildcards with the exact verbs and resources needed; drop escalate, bind, impersonate and "
        "pods/exec unless essential.",
        "Delete the role if nobody can justify it.",
    ),
    remediation_ko=(
        "이 역할이 누구에게 왜 필요한지 확인하고 바인딩을 나열하십시오 (kubectl get clusterrolebindings,rolebindings -A "
        "-o wide | grep <역할>).",
        "와일드카드를 필요한 동사와 리소스로 바꾸고, 꼭 필요하지 않다면 escalate, bind, impersonate, pods/exec를 제거하십시오.",
        "정당한 사유가 없다면 역할을 삭제하십시오.",
    ),
    false_positives=(
        "Operators and Helm charts that ship broad ClusterRoles (add them to allow by role or user).",
    ),
    samples=(
        Sample("wildcard ClusterRole", "k8s-audit", audit("create", "clusterroles", _role(
            "ops-all", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])), expect=1,
            entities={"role": "ClusterRole/ops-all", "user": "alice@example.com"}),
        Sample("impersonation grant", "k8s-audit", audit("create", "clusterroles", _role(
            "support", [{"apiGroups": [""], "resources": ["users", "groups"], "verbs": ["impersonate"]}])),
            expect=1),
        Sample("namespaced role with pods/exec", "k8s-audit", audit("create", "roles", _role(
            "debugger", [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}], kind="Role",
            namespace="payments"), namespace="payments"), expect=1),
        Sample("cluster-wide secret reader", "k8s-audit", audit("create", "clusterroles", _role(
            "secret-sync", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}])), expect=1),
        Sample("patch adding a wildcard to an existing role", "k8s-audit", audit("patch", "clusterroles", {
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}]}, name="pod-reader",
            response=_role("pod-reader", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}])), expect=1),
        Sample("namespaced secret reader is not cluster-wide", "k8s-audit", audit("create", "roles", _role(
            "app-secrets", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}], kind="Role",
            namespace="shop"), namespace="shop"), expect=0),
        Sample("read-only ClusterRole", "k8s-audit", audit("create", "clusterroles", _role(
            "pod-reader", [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]}])),
            expect=0),
        Sample("control plane reconciling its own system: role", "k8s-audit", audit("update", "clusterroles", _role(
            "system:controller:generic-garbage-collector",
            [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch", "patch", "update", "delete"]}]),
            name="system:controller:generic-garbage-collector", user="system:apiserver", source_ip="::1"),
            expect=0),
    ),
)


class HighPrivilegesRole(Detection):
    card = CARD
    kinds = (K8sAudit,)
    audit_verbs = frozenset({"create", "update", "patch"})
    audit_resources = ROLES

    def setup(self) -> None:
        self.control_plane = tuple(self.data.strings("control_plane_users"))

    def _control_plane(self, user: str) -> bool:
        return any(fnmatch.fnmatchcase(user, p) for p in self.control_plane)

    def evaluate(self, event: K8sAudit) -> list[Finding] | None:
        if not mutation_succeeded(event, ROLES) or self._control_plane(event.user):
            return None
        obj = event.subject_object
        if obj is None or not isinstance(obj.get("rules"), list):
            return None
        cluster_wide = event.resource == "clusterroles"
        found = risky_rules(obj["rules"], cluster_wide)
        if not found:
            return None
        kind = "ClusterRole" if cluster_wide else "Role"
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        name = event.name or str(meta.get("name", ""))
        where = f"{event.namespace}/" if event.namespace else ""
        entities: dict[str, Any] = {"role": f"{kind}/{where}{name}", "risky_rules": found}
        if event.namespace:
            entities["namespace"] = event.namespace
        entities.update(actor_entities(event))
        return [Finding(key=f"{kind}/{where}{name}", entities=entities, event=event)]
