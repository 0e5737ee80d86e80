"""Reading Kubernetes audit events the way every Kubernetes card needs: did a mutation succeed, what
pod spec does the object carry, whose workload is it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from cloudward.alerts import Finding
from cloudward.analytics.k8s_owners import OwnerIndex, controller_of
from cloudward.detections.base import Detection
from cloudward.events import K8sAudit, undecoded_bodies
from cloudward.parsers._k8s import ContentNeedles

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
    bodies = undecoded_bodies(event)
    if bodies is not None:
        typed = typed_view_parts(event, *bodies)
        if typed is not None:
            return _view_of(event, owners, *typed)
    return _view_of(event, owners, *_dict_view_parts(event))


def _dict_view_parts(event: K8sAudit) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The object to judge and the response's metadata, from the decoded bodies."""
    return event.subject_object, _dict(_dict(event.response_object).get("metadata"))


def _view_of(event: K8sAudit, owners: OwnerIndex, obj: dict[str, Any] | None,
             response_meta: dict[str, Any]) -> PodSpecView | None:
    if obj is None:
        return None
    kind = obj.get("kind") if isinstance(obj.get("kind"), str) else WORKLOAD_KINDS[event.resource]
    if kind not in WORKLOAD_KINDS.values():
        kind = WORKLOAD_KINDS[event.resource]
    meta = _dict(obj.get("metadata"))
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


# -- typed decoding of the pod-spec fields the cards read -----------------------------------------------------
# A pod create at RequestResponse level carries the whole pod twice (request and response, ~55% of an audit
# log's bytes); the cards read a handful of fields. These Structs decode only those fields from the bodies'
# raw bytes; every other key is skipped without building anything. Fields that hold what a card reads whole
# stay `Any` (decoded as orjson would: the parser proved the line's numbers read the same); a value of an
# unexpected shape (a container that is not an object, a spec that is a list...) fails validation and the
# view is built from the orjson-decoded bodies as before, so the typed view never differs from that one.
# UNSET marks a key absent from the JSON: the dicts built below leave it out, as orjson's dicts do.
_UNSET = msgspec.UNSET


class _ContainerFields(msgspec.Struct):
    name: Any = _UNSET
    image: Any = _UNSET
    securityContext: Any = _UNSET
    volumeMounts: Any = _UNSET
    command: Any = _UNSET
    args: Any = _UNSET
    env: Any = _UNSET


class _VolumeFields(msgspec.Struct):
    name: Any = _UNSET
    hostPath: Any = _UNSET


class _PodSpecFields(msgspec.Struct):
    """A pod spec, or a workload spec holding one (`template.spec`, `jobTemplate.spec.template.spec`)."""

    containers: list[_ContainerFields] | msgspec.UnsetType | None = _UNSET
    initContainers: list[_ContainerFields] | msgspec.UnsetType | None = _UNSET
    ephemeralContainers: list[_ContainerFields] | msgspec.UnsetType | None = _UNSET
    volumes: list[_VolumeFields] | msgspec.UnsetType | None = _UNSET
    hostNetwork: Any = _UNSET
    hostPID: Any = _UNSET
    hostIPC: Any = _UNSET
    template: _Template | msgspec.UnsetType | None = _UNSET
    jobTemplate: _Template | msgspec.UnsetType | None = _UNSET


class _Template(msgspec.Struct):
    spec: _PodSpecFields | msgspec.UnsetType | None = _UNSET


class _MetadataFields(msgspec.Struct):
    name: Any = _UNSET
    generateName: Any = _UNSET
    namespace: Any = _UNSET
    ownerReferences: Any = _UNSET


class _ObjectFields(msgspec.Struct):
    kind: Any = _UNSET
    metadata: _MetadataFields | msgspec.UnsetType | None = _UNSET
    spec: _PodSpecFields | msgspec.UnsetType | None = _UNSET


class _ObjectHead(msgspec.Struct):
    kind: Any = _UNSET
    metadata: _MetadataFields | msgspec.UnsetType | None = _UNSET


_decode_object = msgspec.json.Decoder(_ObjectFields).decode
_decode_head = msgspec.json.Decoder(_ObjectHead).decode
_TYPED_FAILED = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)
_SPEC_KEYS = ("containers", "initContainers", "ephemeralContainers", "volumes", "hostNetwork", "hostPID",
              "hostIPC", "template", "jobTemplate")


def _fields(struct: Any, names: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for name in names:
        value = getattr(struct, name)
        if value is not _UNSET:
            out[name] = value
    return out


_CONTAINER_KEYS = _ContainerFields.__struct_fields__
_VOLUME_KEYS = _VolumeFields.__struct_fields__
_META_KEYS = _MetadataFields.__struct_fields__


def _spec_dict(spec: Any) -> Any:
    """A `_PodSpecFields` (or None) as the dict of its fields that orjson would have built (containers and
    volumes as dicts of the fields read; nested templates likewise)."""
    if spec is None or spec is _UNSET:
        return spec
    out: dict[str, Any] = {}
    for name in _SPEC_KEYS:
        value = getattr(spec, name)
        if value is _UNSET:
            continue
        if value is not None and name in ("containers", "initContainers", "ephemeralContainers"):
            value = [_fields(c, _CONTAINER_KEYS) for c in value]
        elif value is not None and name == "volumes":
            value = [_fields(v, _VOLUME_KEYS) for v in value]
        elif value is not None and name in ("template", "jobTemplate"):
            inner = _spec_dict(value.spec)
            value = {} if inner is _UNSET else {"spec": inner}
        out[name] = value
    return out


def _object_dict(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if obj.kind is not _UNSET:
        out["kind"] = obj.kind
    if obj.metadata is not _UNSET:
        out["metadata"] = None if obj.metadata is None else _fields(obj.metadata, _META_KEYS)
    spec = getattr(obj, "spec", _UNSET)
    if spec is not _UNSET:
        out["spec"] = _spec_dict(spec)
    return out


def typed_view_parts(event: K8sAudit, request: Any, response: Any) -> tuple[dict[str, Any] | None,
                                                                              dict[str, Any]] | None:
    """What `_dict_view_parts` gives — the object to judge and the response's metadata — read with the typed
    decoders from the bodies' bytes (`undecoded_bodies`), holding only the fields the cards read; None where
    the typed decoders cannot read it exactly (then the bodies are decoded whole)."""
    # bytes of a JSON object decode to a dict; anything else reads as no object (`K8sAudit.request_object`)
    req_is_object = request is not None and request[:1] == b"{"
    resp_is_object = response is not None and response[:1] == b"{"
    try:
        if event.verb in ("update", "patch"):
            resp = _decode_object(response) if resp_is_object else None
            if resp is not None and resp.kind not in (_UNSET, None, "Status"):
                subject = resp
            else:
                subject = _decode_object(request) if req_is_object else None
        else:
            if req_is_object:
                subject = _decode_object(request)
                resp = _decode_head(response) if resp_is_object else None
            else:
                resp = _decode_object(response) if resp_is_object else None
                subject = resp if resp is not None and resp.kind != "Status" else None
    except _TYPED_FAILED:
        return None
    response_meta = resp.metadata if resp is not None else None
    meta = {} if response_meta is None or response_meta is _UNSET else _fields(response_meta, _META_KEYS)
    return (None if subject is None else _object_dict(subject)), meta


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
    #: content interest (`parsers._k8s.content_interest`): of pod lines only these subresources are judged, and
    #: a pod line whose bodies are Pods (or a Status) matters only with one of `content_needles()` on it. Other
    #: workloads are always read: their ReplicaSets and Jobs teach the owner index.
    content_resources = frozenset({"pods"})
    content_subresources = frozenset({"", "ephemeralcontainers"})
    content_kinds = frozenset({"Pod", "Status"})

    def setup(self) -> None:
        self.owners = self.shared_analytics(OwnerIndex)

    def content_needles(self) -> ContentNeedles | None:
        """What must stand on a pod line for `judge` to find anything (None: it may on any line)."""
        return None

    def evaluate(self, event: K8sAudit) -> list[Finding] | None:
        view = pod_spec_view(event, self.owners)
        if view is None:
            return None
        return self.judge(event, view)

    def judge(self, event: K8sAudit, view: PodSpecView) -> list[Finding] | None:
        raise NotImplementedError
