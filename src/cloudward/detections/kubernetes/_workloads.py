"""Reading Kubernetes audit events the way every Kubernetes card needs: did a mutation succeed, what
pod spec does the object carry, whose workload is it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cloudward.alerts import Finding
from cloudward.analytics.k8s_owners import OwnerIndex, controller_of
from cloudward.detections.base import Detection
from cloudward.events import K8sAudit

MUTATING = frozenset({"create", "update", "patch"})

#: resource -> kind of the objects that carry a pod spec, and where the spec sits in each
WORKLOAD_KINDS = {
    "pods": "Pod",
    "deployments": "Deployment",
    "daemonsets": "DaemonSet",
    "statefulsets": "StatefulSet",
    "replicasets": "ReplicaSet",
    "replicationcontrollers": "ReplicationController",
    "jobs": "Job",
    "cronjobs": "CronJob",
}
WORKLOAD_RESOURCES = frozenset(WORKLOAD_KINDS)
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def mutation_succeeded(event: K8sAudit, resources: frozenset[str], subresources: tuple[str, ...] = ("",)) -> bool:
    """A create/update/patch of `resources` that the API server completed successfully.

    The RequestReceived stage precedes the outcome and never counts on its own; GKE entries carry no
    stage and are complete.
    """
    return (
        event.verb in MUTATING
        and event.resource in resources
        and event.subresource in subresources
        and 200 <= event.code < 300
        and event.stage != "RequestReceived"
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(slots=True)
class Container:
    name: str
    image: str
    #: containers, initContainers or ephemeralContainers
    list_name: str
    spec: dict[str, Any]

    @property
    def privileged(self) -> bool:
        return _dict(self.spec.get("securityContext")).get("privileged") is True


@dataclass(slots=True)
class PodSpecView:
    namespace: str
    kind: str
    name: str
    #: "Kind/name" of the top-level workload (a Deployment for its ReplicaSets' pods)
    workload: str
    pod: str
    spec: dict[str, Any]
    containers: list[Container] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.workload}"

    @property
    def volumes(self) -> list[dict[str, Any]]:
        vols = self.spec.get("volumes")
        return [v for v in vols if isinstance(v, dict)] if isinstance(vols, list) else []


def pod_spec_of(kind: str, obj: dict[str, Any]) -> dict[str, Any] | None:
    spec = _dict(obj.get("spec"))
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = _dict(_dict(spec.get("jobTemplate")).get("spec"))
    template = spec.get("template")
    return _dict(template).get("spec") if isinstance(template, dict) else None


def pod_spec_view(event: K8sAudit, owners: OwnerIndex) -> PodSpecView | None:
    """The pod spec a successful workload mutation carries, with its workload; None otherwise."""
    cached = owners.memo(event)
    if cached is not None:
        return cached or None
    view = _build_view(event, owners)
    owners.remember(event, view or False)
    return view


def _build_view(event: K8sAudit, owners: OwnerIndex) -> PodSpecView | None:
    if not mutation_succeeded(event, WORKLOAD_RESOURCES, ("", "ephemeralcontainers")):
        return None
    obj = event.subject_object
    if obj is None:
        return None
    kind = obj.get("kind") if isinstance(obj.get("kind"), str) else WORKLOAD_KINDS[event.resource]
    if kind not in WORKLOAD_KINDS.values():
        kind = WORKLOAD_KINDS[event.resource]
    meta = _dict(obj.get("metadata"))
    response_meta = _dict(_dict(event.response_object).get("metadata"))
    name = meta.get("name") or response_meta.get("name") or event.name or str(meta.get("generateName", ""))
    namespace = event.namespace or str(meta.get("namespace", ""))
    owner = controller_of(meta) or controller_of(response_meta)
    if kind in ("ReplicaSet", "Job"):
        owners.record(namespace, kind, name, owner)
    if owner is not None and kind not in ("ReplicaSet", "Job"):
        wkind, wname = owners.resolve(namespace, *owner)
    else:
        wkind, wname = owners.resolve(namespace, kind, name)
    spec = pod_spec_of(kind, obj)
    if spec is None:
        return None
    containers = []
    for list_name in CONTAINER_LISTS:
        items = spec.get(list_name)
        if isinstance(items, list):
            for c in items:
                if isinstance(c, dict):
                    image = c.get("image")
                    containers.append(Container(str(c.get("name", "")), image if isinstance(image, str) else "",
                                                list_name, c))
    return PodSpecView(namespace, kind, name, f"{wkind}/{wname}", name if kind == "Pod" else "", spec, containers)


def actor_entities(event: K8sAudit) -> dict[str, Any]:
    """Who did it, from where: shared by every Kubernetes alert."""
    out: dict[str, Any] = {"user": event.user, "source_ip": event.source_ip}
    if event.user_agent:
        out["user_agent"] = event.user_agent
    return out


def workload_entities(event: K8sAudit, view: PodSpecView, containers: list[Container]) -> dict[str, Any]:
    out: dict[str, Any] = {"namespace": view.namespace, "workload": view.workload}
    if view.pod:
        out["pod"] = view.pod
    if containers:
        out["container"] = containers[0].name
        out["image"] = containers[0].image
    out["containers"] = [c.name for c in containers]
    out["images"] = sorted({c.image for c in containers if c.image})
    out.update(actor_entities(event))
    return out


class PodSpecCard(Detection):
    """Base of the cards that judge pod specs: the spec and its workload are found once per event (and
    shared between these cards), then `judge` decides."""

    kinds = (K8sAudit,)
    audit_verbs = MUTATING
    audit_resources = WORKLOAD_RESOURCES

    def setup(self) -> None:
        self.owners = self.shared_analytics(OwnerIndex)

    def evaluate(self, event: K8sAudit) -> list[Finding] | None:
        view = pod_spec_view(event, self.owners)
        if view is None:
            return None
        return self.judge(event, view)

    def judge(self, event: K8sAudit, view: PodSpecView) -> list[Finding] | None:
        raise NotImplementedError
