"""Kubernetes audit-log throughput: `cloudward scan --output jsonl` end to end against a loop that only
`orjson.loads` every line, on the same generated file, in one run.

The file imitates an API server at RequestResponse level: about 90% get/list/watch by nodes and controllers
(the bulk of every real audit log), 5% lease renewals (update, by controllers), 5% creates, updates and
patches of pods, workloads, services, config maps and RBAC objects with full specs, and a few attacks so
the scan has alerts to write. Events average about 2 KB.

    python benchmarks/k8s_bench.py                 # 1,000,000 events (about 2 GB), generated once
    python benchmarks/k8s_bench.py --events 200000 # quicker
Results are printed as a Markdown table for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bytecode_cache  # noqa: E402

OUT = HERE / "out"

NODES = [f"aks-nodepool1-{i:08d}-vmss{j:06d}" for i in range(3) for j in range(4)]
CONTROLLERS = ["replicaset-controller", "deployment-controller", "endpointslice-controller", "job-controller",
               "daemon-set-controller", "namespace-controller", "generic-garbage-collector"]
READ_RESOURCES = ["pods", "configmaps", "secrets", "endpoints", "nodes", "services", "leases", "events"]


def _labels(i: int) -> dict:
    return {"app.kubernetes.io/name": f"svc-{i % 40}", "app.kubernetes.io/part-of": "shop",
            "app.kubernetes.io/managed-by": "Helm", "pod-template-hash": "5cdcc99dbf"}


def _object(kind: str, name: str, ns: str, i: int) -> dict:
    meta = {"name": name, "namespace": ns, "uid": str(uuid.UUID(int=i)), "resourceVersion": str(1000000 + i),
            "creationTimestamp": "2026-11-02T08:00:00Z", "labels": _labels(i),
            "annotations": {"meta.helm.sh/release-name": "shop", "meta.helm.sh/release-namespace": ns,
                            "kubectl.kubernetes.io/last-applied-configuration": "x" * 200}}
    containers = [{"name": "app", "image": f"ghcr.io/acme/svc-{i % 40}:1.{i % 9}.0",
                   "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                   "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "REGION", "value": "westeurope"}],
                   "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                   "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
                   "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False}}]
    spec = {"containers": containers, "serviceAccountName": "default", "restartPolicy": "Always",
            "volumes": [{"name": "config", "configMap": {"name": f"svc-{i % 40}-config"}}]}
    if kind == "Pod":
        return {"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": spec}
    if kind == "Deployment":
        return {"kind": "Deployment", "apiVersion": "apps/v1", "metadata": meta,
                "spec": {"replicas": 3, "selector": {"matchLabels": {"app": name}},
                         "template": {"metadata": {"labels": _labels(i)}, "spec": spec}}}
    if kind == "Service":
        return {"kind": "Service", "apiVersion": "v1", "metadata": meta,
                "spec": {"type": "ClusterIP", "selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}}
    return {"kind": "ConfigMap", "apiVersion": "v1", "metadata": meta, "data": {"settings.yaml": "k: v\n" * 60}}


def _event(i: int, rng: random.Random, verb: str, resource: str, user: str, ns: str, name: str,
           level: str, obj: dict | None, response: dict | None, code: int) -> dict:
    when = f"2026-11-02T{8 + i // 3_600_000 % 12:02d}:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}.{i % 1000:03d}123Z"
    group = {"deployments": "apps", "leases": "coordination.k8s.io"}.get(resource, "")
    ev = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level, "auditID": str(uuid.UUID(int=i + 1)),
          "stage": "ResponseComplete",
          "requestURI": f"/api/v1/namespaces/{ns}/{resource}/{name}?resourceVersion=0&timeout=7m41s",
          "verb": verb, "user": {"username": user, "groups": ["system:serviceaccounts", "system:authenticated"]},
          "sourceIPs": [f"10.224.0.{rng.randint(2, 250)}"],
          "userAgent": "kube-controller-manager/v1.29.2 (linux/amd64) kubernetes/4b8e819/system:serviceaccount",
          "objectRef": {"resource": resource, "namespace": ns, "name": name, "apiGroup": group, "apiVersion": "v1"},
          "responseStatus": {"metadata": {}, "code": code},
          "requestReceivedTimestamp": when, "stageTimestamp": when,
          "annotations": {"authorization.k8s.io/decision": "allow",
                          "authorization.k8s.io/reason": "RBAC: allowed by ClusterRoleBinding \"system:controller\""}}
    if obj is not None:
        ev["requestObject"] = obj
    if response is not None:
        ev["responseObject"] = response
    return ev


def generate(path: Path, events: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    attacks = {events // 3: "miner", events // 2: "admin", 2 * events // 3: "privileged"}
    with open(path, "wb", buffering=8 << 20) as fh:
        for i in range(events):
            r = rng.random()
            ns = f"team-{i % 25}"
            if i in attacks:
                kind = attacks[i]
                if kind == "miner":
                    obj = _object("Deployment", "metrics", ns, i)
                    obj["spec"]["template"]["spec"]["containers"][0]["image"] = "docker.io/metal3d/xmrig:latest"
                    ev = _event(i, rng, "create", "deployments", "jenkins@acme.example", ns, "metrics",
                                "RequestResponse", obj, obj, 201)
                elif kind == "admin":
                    b = {"kind": "ClusterRoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1",
                         "metadata": {"name": "backdoor"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                                                       "kind": "ClusterRole", "name": "cluster-admin"},
                         "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]}
                    ev = _event(i, rng, "create", "clusterrolebindings", "jenkins@acme.example", "", "backdoor",
                                "RequestResponse", b, b, 201)
                else:
                    obj = _object("Pod", "debug", ns, i)
                    obj["spec"]["containers"][0]["securityContext"] = {"privileged": True}
                    ev = _event(i, rng, "create", "pods", "jenkins@acme.example", ns, "debug", "RequestResponse",
                                obj, obj, 201)
            elif r < 0.90:  # reads by nodes and controllers
                res = READ_RESOURCES[i % len(READ_RESOURCES)]
                verb = ("get", "list", "watch")[i % 3]
                user = (f"system:node:{NODES[i % len(NODES)]}" if i % 2 else
                        f"system:serviceaccount:kube-system:{CONTROLLERS[i % len(CONTROLLERS)]}")
                kind = {"pods": "Pod", "services": "Service"}.get(res, "ConfigMap")
                body = _object(kind, f"{res[:-1]}-{i % 500}", ns, i) if verb == "get" else None
                ev = _event(i, rng, verb, res, user, ns, f"{res[:-1]}-{i % 500}" if verb == "get" else "",
                            "RequestResponse" if verb == "get" else "Metadata", None, body, 200)
                if verb != "get":  # list/watch at Metadata level: pad like real annotations do
                    ev["annotations"]["pod-security.kubernetes.io/audit"] = "y" * 1200
            elif r < 0.95:  # lease renewals
                lease = {"kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
                         "metadata": {"name": f"lease-{i % 30}", "namespace": "kube-node-lease",
                                      "resourceVersion": str(i), "managedFields": [{"manager": "kubelet"}] * 8},
                         "spec": {"holderIdentity": NODES[i % len(NODES)], "leaseDurationSeconds": 40,
                                  "renewTime": "2026-11-02T09:00:00.000000Z"}}
                ev = _event(i, rng, "update", "leases", f"system:node:{NODES[i % len(NODES)]}", "kube-node-lease",
                            f"lease-{i % 30}", "RequestResponse", lease, lease, 200)
            else:  # deploys and their pods
                kind, res = [("Deployment", "deployments"), ("Pod", "pods"), ("Service", "services"),
                             ("ConfigMap", "configmaps")][i % 4]
                obj = _object(kind, f"svc-{i % 40}", ns, i)
                verb = ("create", "update", "patch")[i % 3]
                ev = _event(i, rng, verb, res, "deploy-bot@acme.example", ns, f"svc-{i % 40}", "RequestResponse",
                            obj, obj, 201 if verb == "create" else 200)
            fh.write(orjson.dumps(ev) + b"\n")


# -- the realistic profile (issue 10) ---------------------------------------------------------------------

HUMANS = ["alice@acme.example", "bob@acme.example", "carol@acme.example"]
APP_IMAGES = [f"ghcr.io/acme/svc-{i}:1.{i % 9}.{i % 4}" for i in range(40)]
KUBECTL_UA = "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819"
#: alert types the realistic file must raise, one attack each (the bench refuses a figure otherwise)
REALISTIC_ALERTS = frozenset({"K8S_MaliciousContainerImage", "K8S_ClusterAdminBinding", "K8S_PrivilegedContainer",
                              "K8S_SensitiveMount", "K8S_KubeSystemContainer", "K8S_HighPrivilegesRole"})


def _managed_fields(manager: str, n: int) -> list[dict]:
    return [{"manager": manager, "operation": "Update", "apiVersion": "v1", "time": "2026-11-02T08:00:00Z",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {".": {}, f"f:k{j}": {}}}}}
            for j in range(n)]


def _full_pod(i: int, ns: str, name: str, image: str, owner: str, *, status: bool) -> dict:
    """A pod as the replicaset controller creates it and the API server answers it: full spec, defaults."""
    pod = {"kind": "Pod", "apiVersion": "v1",
           "metadata": {"name": name, "generateName": owner + "-", "namespace": ns, "uid": str(uuid.UUID(int=i)),
                        "labels": {"app": owner.rsplit("-", 1)[0], "pod-template-hash": owner.rsplit("-", 1)[-1]},
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner,
                                             "uid": str(uuid.UUID(int=i // 7)), "controller": True,
                                             "blockOwnerDeletion": True}],
                        "managedFields": _managed_fields("kube-controller-manager", 2)},
           "spec": {"volumes": [{"name": "kube-api-access-x", "projected": {"sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}],
                        "defaultMode": 420}}],
                    "containers": [{"name": "app", "image": image, "ports": [{"containerPort": 8080,
                                                                              "protocol": "TCP"}],
                                    "env": [{"name": "LOG_LEVEL", "value": "info"}],
                                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                                    "volumeMounts": [{"name": "kube-api-access-x", "readOnly": True,
                                                      "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
                                    "terminationMessagePath": "/dev/termination-log",
                                    "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent",
                                    "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False}}],
                    "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                    "serviceAccountName": "default", "serviceAccount": "default", "securityContext": {},
                    "schedulerName": "default-scheduler", "priority": 0, "enableServiceLinks": True,
                    "preemptionPolicy": "PreemptLowerPriority",
                    "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                                     "effect": "NoExecute", "tolerationSeconds": 300},
                                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                     "effect": "NoExecute", "tolerationSeconds": 300}],
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                                            "labelSelector": {"matchLabels": {"app": owner}}}}]}},
                    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                                   "whenUnsatisfiable": "ScheduleAnyway",
                                                   "labelSelector": {"matchLabels": {"app": owner}}}]}}
    if status:
        pod["status"] = {"phase": "Pending", "qosClass": "Burstable"}
    return pod


def _audit(i: int, verb: str, resource: str, user: str, ns: str, name: str, *, level: str = "Metadata",
           subresource: str = "", groups: tuple[str, ...] = ("system:authenticated",), ua: str = KUBECTL_UA,
           code: int = 200, request: dict | None = None, response: dict | None = None, ip: str = "") -> dict:
    ms = 8 * 3_600_000 + i * 12  # about 83 events a second: 300,000 events are an hour of a busy cluster
    when = (f"2026-11-02T{ms // 3_600_000 % 24:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"
            f"{i % 1000:03d}Z")
    group = {"deployments": "apps", "replicasets": "apps", "leases": "coordination.k8s.io",
             "rolebindings": "rbac.authorization.k8s.io", "clusterrolebindings": "rbac.authorization.k8s.io",
             "clusterroles": "rbac.authorization.k8s.io"}.get(resource, "")
    base = f"/apis/{group}/v1" if group else "/api/v1"
    uri = base + (f"/namespaces/{ns}" if ns else "") + f"/{resource}" + (f"/{name}" if name and verb != "create"
                                                                        else "")
    if subresource:
        uri += f"/{subresource}"
    ref = {"resource": resource, "namespace": ns, "name": name, "apiGroup": group, "apiVersion": "v1"}
    if subresource:
        ref["subresource"] = subresource
    ev = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level, "auditID": str(uuid.UUID(int=i + 7)),
          "stage": "ResponseComplete", "requestURI": uri, "verb": verb,
          "user": {"username": user, "groups": list(groups)}, "sourceIPs": [ip or f"10.224.0.{4 + i % 200}"],
          "userAgent": ua, "objectRef": {k: v for k, v in ref.items() if v},
          "responseStatus": {"metadata": {}, "code": code},
          "requestReceivedTimestamp": when, "stageTimestamp": when,
          "annotations": {"authorization.k8s.io/decision": "allow" if code != 403 else "forbid",
                          "authorization.k8s.io/reason": "RBAC: allowed by ClusterRoleBinding \"system:node\""
                          if code != 403 else ""}}
    if code == 403:
        ev["responseStatus"] = {"metadata": {}, "status": "Failure", "reason": "Forbidden", "code": 403,
                                "message": f"{resource} is forbidden: User \"{user}\" cannot {verb} resource"}
    if request is not None:
        ev["requestObject"] = request
    if response is not None:
        ev["responseObject"] = response
    return ev


def _realistic_attack(i: int, kind: str) -> dict:
    ns, user = "team-3", "mallory@acme.example"
    if kind == "K8S_MaliciousContainerImage":
        pod = _full_pod(i, ns, "metrics-7d9f-abcde", "docker.io/metal3d/xmrig:latest", "metrics-7d9f", status=True)
        return _audit(i, "create", "pods", user, ns, "", level="RequestResponse", code=201, request=pod,
                      response=pod)
    if kind == "K8S_PrivilegedContainer":
        pod = _full_pod(i, ns, "debug", "docker.io/library/busybox:1.36", "debug-1", status=False)
        pod["spec"]["containers"][0]["securityContext"] = {"privileged": True}
        return _audit(i, "create", "pods", user, ns, "", level="RequestResponse", code=201, request=pod,
                      response=pod)
    if kind == "K8S_SensitiveMount":
        pod = _full_pod(i, ns, "hostfs", "docker.io/library/busybox:1.36", "hostfs-1", status=False)
        pod["spec"]["volumes"].append({"name": "root", "hostPath": {"path": "/", "type": ""}})
        return _audit(i, "create", "pods", user, ns, "", level="RequestResponse", code=201, request=pod,
                      response=pod)
    if kind == "K8S_KubeSystemContainer":
        pod = _full_pod(i, "kube-system", "kube-proxy-x", "docker.io/attacker/tools:1", "kube-proxy-x1",
                        status=False)
        return _audit(i, "create", "pods", user, "kube-system", "", level="RequestResponse", code=201,
                      request=pod, response=pod)
    if kind == "K8S_ClusterAdminBinding":
        b = {"kind": "ClusterRoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1",
             "metadata": {"name": "backdoor"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
             "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]}
        return _audit(i, "create", "clusterrolebindings", user, "", "", level="RequestResponse", code=201,
                      request=b, response=b)
    role = {"kind": "ClusterRole", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "everything"},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}
    return _audit(i, "create", "clusterroles", user, "", "", level="RequestResponse", code=201, request=role,
                  response=role)


def _first_line() -> dict:
    """A long first line (4.9 KB in the issue's log): a replicaset's pod create with managed fields."""
    pod = _full_pod(0, "team-0", "svc-0-5cdcc99dbf-aaaaa", APP_IMAGES[0], "svc-0-5cdcc99dbf", status=False)
    del pod["metadata"]["managedFields"]
    return _audit(0, "create", "pods", "system:serviceaccount:kube-system:replicaset-controller", "team-0", "",
                  level="RequestResponse", code=201, request=pod, response=pod,
                  groups=("system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"),
                  ua="kube-controller-manager/v1.29.2 (linux/amd64) kubernetes/4b8e819/system:serviceaccount")


def generate_realistic(path: Path, events: int, seed: int = 2) -> None:
    """The issue's profile: 60% reads by system users, 16% kubelet lease updates, 11% pod creates at
    RequestResponse with full specs, the rest rolebindings, execs, human kubectl, events and node status,
    1% denied; about 1.8 KB per event; a 4.9 KB first line; one attack per expected alert type."""
    rng = random.Random(seed)
    attacks = {events * (k + 1) // (len(REALISTIC_ALERTS) + 1): kind
               for k, kind in enumerate(sorted(REALISTIC_ALERTS))}
    controller_ua = "kube-controller-manager/v1.29.2 (linux/amd64) kubernetes/4b8e819/system:serviceaccount"
    sa_groups = ("system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated")
    node_groups = ("system:nodes", "system:authenticated")
    with open(path, "wb", buffering=8 << 20) as fh:
        fh.write(orjson.dumps(_first_line()) + b"\n")
        for i in range(1, events):
            ns = f"team-{i % 25}"
            node = NODES[i % len(NODES)]
            if i in attacks:
                ev = _realistic_attack(i, attacks[i])
            elif (r := rng.random()) < 0.60:  # reads by nodes and controllers, Metadata level
                res = READ_RESOURCES[i % len(READ_RESOURCES)]
                verb = ("get", "list", "watch")[i % 3]
                if i % 2:
                    user, groups, ua = f"system:node:{node}", node_groups, "kubelet/v1.29.2 (linux/amd64)"
                else:
                    user = f"system:serviceaccount:kube-system:{CONTROLLERS[i % len(CONTROLLERS)]}"
                    groups, ua = sa_groups, controller_ua
                ev = _audit(i, verb, res, user, ns, f"{res[:-1]}-{i % 500}" if verb == "get" else "",
                            groups=groups, ua=ua)
                if verb != "get":  # what informers ask for
                    ev["requestURI"] += ("?allowWatchBookmarks=true&fieldSelector=spec.nodeName%3D" + node +
                                         f"&resourceVersion={i * 7}&timeout=7m41s&timeoutSeconds=461&watch=true")
                ev["annotations"]["pod-security.kubernetes.io/enforce-policy"] = "restricted:latest"
            elif r < 0.76:  # kubelet lease renewals at RequestResponse
                lease = {"kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
                         "metadata": {"name": node, "namespace": "kube-node-lease", "resourceVersion": str(i),
                                      "managedFields": _managed_fields("kubelet", 3)},
                         "spec": {"holderIdentity": node, "leaseDurationSeconds": 40,
                                  "renewTime": "2026-11-02T09:00:00.000000Z"}}
                ev = _audit(i, "update", "leases", f"system:node:{node}", "kube-node-lease", node,
                            level="RequestResponse", groups=node_groups, ua="kubelet/v1.29.2 (linux/amd64)",
                            request=lease, response=lease)
            elif r < 0.87:  # pods created by the replicaset controller
                svc = i % 40
                owner = f"svc-{svc}-5cdcc99dbf"
                name = f"{owner}-{i % 100000:05d}"
                request = _full_pod(i, ns, name, APP_IMAGES[svc], owner, status=False)
                response = _full_pod(i, ns, name, APP_IMAGES[svc], owner, status=True)
                ev = _audit(i, "create", "pods", "system:serviceaccount:kube-system:replicaset-controller", ns, "",
                            level="RequestResponse", code=201, groups=sa_groups, ua=controller_ua,
                            request=request, response=response)
            elif r < 0.91:  # events written by kubelets and controllers (Metadata level)
                ev = _audit(i, "create", "events", f"system:node:{node}", ns, "", groups=node_groups,
                            ua="kubelet/v1.29.2 (linux/amd64)", code=201)
            elif r < 0.94:  # node and pod status patches by kubelets
                ev = _audit(i, "patch", "pods", f"system:node:{node}", ns, f"svc-{i % 40}-x", subresource="status",
                            groups=node_groups, ua="kubelet/v1.29.2 (linux/amd64)")
            elif r < 0.955:  # rolebindings by the deploy pipeline
                b = {"kind": "RoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1",
                     "metadata": {"name": f"team-{i % 25}-view", "namespace": ns},
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                     "subjects": [{"kind": "Group", "name": f"team-{i % 25}",
                                   "apiGroup": "rbac.authorization.k8s.io"}]}
                ev = _audit(i, ("create", "update", "patch")[i % 3], "rolebindings", "deploy-bot@acme.example", ns,
                            b["metadata"]["name"], level="RequestResponse", request=b, response=b,
                            code=201 if i % 3 == 0 else 200, ip="203.0.113.10")
            elif r < 0.965:  # kubectl exec by people
                ev = _audit(i, "create", "pods", HUMANS[i % 3], ns, f"svc-{i % 40}-x", subresource="exec",
                            level="Request", ip=f"198.51.100.{i % 50}", code=101)
                ev["requestURI"] += "?command=sh&container=app&stdin=true&tty=true"
            elif r < 0.99:  # human kubectl: reads, describe, logs, a few edits of config maps
                verb = ("get", "list", "get", "patch")[i % 4]
                res = ("pods", "deployments", "services", "configmaps")[i % 4]
                ev = _audit(i, verb, res, HUMANS[i % 3], ns, f"svc-{i % 40}" if verb != "list" else "",
                            ip=f"198.51.100.{i % 50}")
            else:  # denied
                ev = _audit(i, ("get", "list", "create")[i % 3], "secrets", f"system:serviceaccount:{ns}:default",
                            ns, "", code=403, groups=("system:serviceaccounts", "system:authenticated"))
            fh.write(orjson.dumps(ev) + b"\n")


def _measure(cmd: list[str]) -> tuple[float, int, float]:
    """Wall seconds, peak RSS (KiB) and CPU seconds (user + system) of one child process (wait4 gives that
    child's own usage). CPU time is what a loaded machine distorts least."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed with {proc.returncode}")
    return elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


PARSE_ONLY = """
import sys, orjson
n = 0
with open(sys.argv[1], "rb") as fh:
    for line in fh:
        orjson.loads(line)
        n += 1
print(n)
"""


#: alert types the existing profile's three attacks raise
EXISTING_ALERTS = frozenset({"K8S_MaliciousContainerImage", "K8S_ClusterAdminBinding", "K8S_PrivilegedContainer"})
PROFILES = {"existing": (generate, EXISTING_ALERTS, 1_000_000), "realistic": (generate_realistic, REALISTIC_ALERTS,
                                                                               300_000)}
_READ = re.compile(r"Read \d+ input\(s\), ([\d,]+) lines")


def verify(cloudward: str, path: Path, lines: int, expected: frozenset[str]) -> int:
    """Refuse to report a figure for a scan that did not read every line or raise exactly the expected
    alert types (a scan that rejected its input is an error, not a fast run). Returns the alert count."""
    proc = subprocess.run([cloudward, "scan", str(path), "--output", "jsonl", "--no-progress", "--strict"],
                          capture_output=True, env={**os.environ, "COLUMNS": "200"})
    if proc.returncode not in (0, 1):
        raise SystemExit(f"scan of {path} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    m = _READ.search(proc.stderr.decode())
    read = int(m.group(1).replace(",", "")) if m else -1
    if read != lines:
        raise SystemExit(f"scan of {path} read {read} lines of {lines}")
    types = [orjson.loads(line)["alert_type"] for line in proc.stdout.splitlines() if line.strip()]
    if set(types) != expected or len(types) != len(expected):
        raise SystemExit(f"scan of {path} raised {sorted(types)}, expected {sorted(expected)}")
    return len(types)


def run_profile(name: str, events: int | None, path: Path | None, repeat: int) -> dict:
    make, expected, default_events = PROFILES[name]
    events = events or default_events
    if path is None:
        OUT.mkdir(exist_ok=True)
        path = OUT / (f"audit-{events}.log" if name == "existing" else f"audit-{name}-{events}.log")
        if not path.exists():
            t = time.perf_counter()
            make(path, events)
            print(f"generated {path} in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        first = len(fh.readline())
        lines = 1 + sum(1 for _ in fh)
    cloudward = str(Path(sys.executable).parent / "cloudward")
    alerts = verify(cloudward, path, lines, expected)
    # one process, as the loop it is compared with (`--workers` is measured by scale_bench.py)
    scan_cmd = [cloudward, "scan", str(path), "--output", "jsonl", "--quiet", "--no-progress", "--workers", "1"]
    parse_cmd = [sys.executable, "-c", PARSE_ONLY, str(path)]
    scan_t, parse_t = [], []
    # each side runs in its own child process, alternating, so both see the same page cache
    for _ in range(repeat):
        parse_t.append(_measure(parse_cmd))
        scan_t.append(_measure(scan_cmd))
    return {"profile": name, "lines": lines, "bytes": size, "first_line": first, "alerts": alerts,
            "scan_s": min(t for t, _, _ in scan_t), "parse_s": min(t for t, _, _ in parse_t),
            "scan_cpu_s": min(c for _, _, c in scan_t), "parse_cpu_s": min(c for _, _, c in parse_t),
            "scan_rss_mb": max(m for _, m, _ in scan_t) / 1024, "parse_rss_mb": max(m for _, m, _ in parse_t) / 1024,
            "load": os.getloadavg()[0]}


def table(results: list[dict]) -> str:
    out = ["| profile | input | `cloudward scan --output jsonl` | `orjson.loads` every line | ratio | ratio of CPU "
           "time |", "|---|---|---|---|---|---|"]
    for r in results:
        n = r["lines"]
        cpu = (f"{r['parse_cpu_s'] / r['scan_cpu_s']:.2f}x ({r['scan_cpu_s']:.2f} s vs {r['parse_cpu_s']:.2f} s)"
               if "scan_cpu_s" in r else "")
        out.append(
            f"| {r['profile']} | {n:,} events, {r['bytes'] / 1e6:,.0f} MB ({r['bytes'] / n:,.0f} B/event, first line "
            f"{r['first_line'] / 1e3:.1f} KB) | {n / r['scan_s']:,.0f} events/s ({r['scan_s']:.2f} s, peak RSS "
            f"{r['scan_rss_mb']:.0f} MB, {r['alerts']} alerts) | {n / r['parse_s']:,.0f} events/s "
            f"({r['parse_s']:.2f} s, peak RSS {r['parse_rss_mb']:.0f} MB) | **{r['parse_s'] / r['scan_s']:.2f}x** "
            f"| {cpu} |")
    loads = ", ".join(f"{r['profile']} {r['load']:.1f}" for r in results if "load" in r)
    after = f" (after each profile: {loads})." if loads else "."
    out.append(f"\n{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average "
               f"{os.getloadavg()[0]:.1f} at the end of the run" + after)
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=[*PROFILES, "both"], default="both")
    ap.add_argument("--events", type=int, help="events per profile (default: 1,000,000 existing, 300,000 realistic)")
    ap.add_argument("--file", type=Path, help="use this audit log instead of generating one (with one --profile, "
                                              "whose expected alerts it must raise)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side; the best is reported")
    ap.add_argument("--json", action="store_true", help="print the results as JSON (for benchmarks/run.py)")
    args = ap.parse_args()
    bytecode_cache.prepare()
    names = list(PROFILES) if args.profile == "both" else [args.profile]
    results = [run_profile(n, args.events, args.file, args.repeat) for n in names]
    print(orjson.dumps(results).decode() if args.json else table(results))


if __name__ == "__main__":
    main()
