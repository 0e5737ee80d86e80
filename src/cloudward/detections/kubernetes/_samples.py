"""Builders for the cards' sample audit events: complete audit.k8s.io/v1 Events as an API server at
RequestResponse level writes them, so samples exercise the same parser as real logs."""

from __future__ import annotations

import uuid
from typing import Any

API_GROUPS = {
    "pods": ("", "v1"), "services": ("", "v1"), "deployments": ("apps", "v1"), "daemonsets": ("apps", "v1"),
    "statefulsets": ("apps", "v1"), "replicasets": ("apps", "v1"), "jobs": ("batch", "v1"),
    "cronjobs": ("batch", "v1"), "replicationcontrollers": ("", "v1"),
    "roles": ("rbac.authorization.k8s.io", "v1"), "clusterroles": ("rbac.authorization.k8s.io", "v1"),
    "rolebindings": ("rbac.authorization.k8s.io", "v1"),
    "clusterrolebindings": ("rbac.authorization.k8s.io", "v1"),
}
CLUSTER_SCOPED = {"clusterroles", "clusterrolebindings", "namespaces", "nodes"}
KUBECTL = "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819"


def audit(
    verb: str,
    resource: str,
    obj: dict[str, Any] | None,
    *,
    namespace: str = "default",
    name: str | None = None,
    subresource: str = "",
    user: str = "alice@example.com",
    groups: tuple[str, ...] = ("system:authenticated",),
    code: int | None = None,
    stage: str = "ResponseComplete",
    level: str = "RequestResponse",
    response: dict[str, Any] | None = None,
    source_ip: str = "203.0.113.24",
    user_agent: str = KUBECTL,
    when: str = "2026-11-02T09:15:27.401327Z",
    audit_id: str | None = None,
) -> dict[str, Any]:
    group, version = API_GROUPS.get(resource, ("", "v1"))
    meta = (obj or {}).get("metadata", {})
    name = name if name is not None else meta.get("name", "")
    ns = "" if resource in CLUSTER_SCOPED else namespace
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    uri = prefix + (f"/namespaces/{ns}" if ns else "") + f"/{resource}"
    if verb != "create" and name:
        uri += f"/{name}"
    if subresource:
        uri += f"/{subresource}"
    if code is None:
        code = 201 if verb == "create" else 200
    object_ref = {"resource": resource, "namespace": ns, "name": name, "apiGroup": group, "apiVersion": version}
    if subresource:
        object_ref["subresource"] = subresource
    event: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": level,
        "auditID": audit_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{verb}{uri}{user}{when}{stage}")),
        "stage": stage,
        "requestURI": uri,
        "verb": verb,
        "user": {"username": user, "groups": list(groups)},
        "sourceIPs": [source_ip],
        "userAgent": user_agent,
        "objectRef": {k: v for k, v in object_ref.items() if v},
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": when,
        "stageTimestamp": when,
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""},
    }
    if level in ("Request", "RequestResponse") and obj is not None:
        event["requestObject"] = obj
    if level == "RequestResponse" and 200 <= code < 300:
        event["responseObject"] = response if response is not None else obj
    return event


def container(name: str, image: str, *, privileged: bool | None = None, command: list[str] | None = None,
              args: list[str] | None = None, env: dict[str, str] | None = None,
              mounts: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": image, "resources": {}, "imagePullPolicy": "IfNotPresent"}
    if command:
        c["command"] = command
    if args:
        c["args"] = args
    if env:
        c["env"] = [{"name": k, "value": v} for k, v in env.items()]
    if mounts:
        c["volumeMounts"] = [{"name": n, "mountPath": p} for n, p in mounts]
    if privileged is not None:
        c["securityContext"] = {"privileged": privileged}
    return c


def host_path(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "hostPath": {"path": path, "type": ""}}


def pod(name: str, containers: list[dict[str, Any]], *, namespace: str = "default",
        volumes: list[dict[str, Any]] | None = None, owner: tuple[str, str] | None = None,
        init: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": {"app": name.split("-")[0]}}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1],
                                    "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, owner[1])), "controller": True,
                                    "blockOwnerDeletion": True}]
    spec: dict[str, Any] = {"containers": containers, "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"}
    if init:
        spec["initContainers"] = init
    if volumes:
        spec["volumes"] = volumes
    return {"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": spec}


def workload(kind: str, name: str, containers: list[dict[str, Any]], *, namespace: str = "default",
             volumes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": name}},
                "spec": {"containers": containers, **({"volumes": volumes} if volumes else {})}}
    api = {"Job": "batch/v1", "CronJob": "batch/v1"}.get(kind, "apps/v1")
    spec: dict[str, Any]
    if kind == "CronJob":
        spec = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}}
    else:
        spec = {"selector": {"matchLabels": {"app": name}}, "template": template}
        if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
            spec["replicas"] = 2
    return {"kind": kind, "apiVersion": api, "metadata": {"name": name, "namespace": namespace}, "spec": spec}
