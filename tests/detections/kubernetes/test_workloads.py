"""The pod-spec view the Kubernetes cards judge: typed decoding of the fields they read (from the bodies' raw
bytes) gives the view orjson-decoded bodies give, or declines."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudward.analytics.k8s_owners import OwnerIndex
from cloudward.detections.kubernetes import _workloads
from cloudward.events import K8sAudit, undecoded_bodies
from cloudward.parsers import _k8s
from cloudward.parsers.base import ParseContext, RecordRef

REF = RecordRef("audit.log", 3)
CONTAINER_KEYS = ("name", "image", "securityContext", "volumeMounts", "command", "args", "env")


def _event(line: bytes) -> K8sAudit:
    decode = _k8s.audit_line_decoder(ParseContext(cluster="c1"))
    assert decode is not None, "the C accelerator is built in the test environment"
    event = decode(line, REF)
    assert event is not None
    return event


def _facts(view: _workloads.PodSpecView | None) -> Any:
    """Everything a card reads off a view."""
    if view is None:
        return None
    return {
        "where": (view.namespace, view.kind, view.name, view.workload, view.pod, view.key),
        "volumes": [(v.get("name", ""), v.get("hostPath")) for v in view.volumes],
        "containers": [(c.name, c.image, c.list_name, c.privileged, *(c.spec.get(k) for k in CONTAINER_KEYS[2:]))
                       for c in view.containers],
    }


def _judged(event: K8sAudit, parts: Any) -> Any:
    """The facts of the view built from `parts`; a card failing on odd values fails the same way on both
    (the engine counts it as a rejection of the event)."""
    try:
        return _facts(_workloads._view_of(event, OwnerIndex(), *parts))
    except (TypeError, ValueError, AttributeError) as exc:
        return ("error", type(exc).__name__)


def _both(line: bytes) -> tuple[Any, Any, bool]:
    """(facts of the typed view, facts of the orjson view, whether the typed path took it)."""
    typed_event = _event(line)
    bodies = undecoded_bodies(typed_event)
    assert bodies is not None
    parts = _workloads.typed_view_parts(typed_event, *bodies)
    typed = None if parts is None else _judged(typed_event, parts)
    plain_event = _event(line)
    plain = _judged(plain_event, _workloads._dict_view_parts(plain_event))
    return typed, plain, parts is not None


def _line(verb: str, resource: str, request: Any, response: Any, *, absent: tuple[str, ...] = ()) -> bytes:
    doc: dict[str, Any] = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse", "auditID": "a-1",
        "stage": "ResponseComplete", "requestURI": f"/api/v1/namespaces/shop/{resource}", "verb": verb,
        "user": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
        "sourceIPs": ["10.0.0.5"], "objectRef": {"resource": resource, "namespace": "shop", "apiVersion": "v1"},
        "responseStatus": {"code": 201}, "requestObject": request, "responseObject": response,
        "requestReceivedTimestamp": "2026-11-02T09:15:27.000000Z", "stageTimestamp": "2026-11-02T09:15:27.100000Z",
    }
    for key in absent:
        doc.pop(key)
    return orjson.dumps(doc)


def _pod(containers: Any, *, volumes: Any = None, owner: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"generateName": "web-5cdcc99dbf-", "namespace": "shop",
                            "labels": {"app": "web", "pod-template-hash": "5cdcc99dbf"}}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5cdcc99dbf",
                                    "uid": "u-1", "controller": True, "blockOwnerDeletion": True}]
    spec: dict[str, Any] = {"containers": containers, "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"}
    if volumes is not None:
        spec["volumes"] = volumes
    return {"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": spec}


def test_a_replicaset_pod_create_takes_the_typed_path_and_reads_the_same():
    container = {"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
                 "resources": {"limits": {"cpu": "500m", "memory": 1.5e9}},
                 "securityContext": {"privileged": True, "capabilities": {"add": ["NET_ADMIN"]}},
                 "volumeMounts": [{"name": "sock", "mountPath": "/var/run/docker.sock", "readOnly": True}],
                 "env": [{"name": "POOL", "value": "pool.example:3333"}], "args": ["--x"]}
    request = _pod([container], volumes=[{"name": "sock", "hostPath": {"path": "/var/run/docker.sock"}},
                                         {"name": "data", "emptyDir": {}}])
    response = {**request, "metadata": {**request["metadata"], "name": "web-5cdcc99dbf-x2l8q", "uid": "p-1"},
                "status": {"phase": "Pending"}}
    typed, plain, took = _both(_line("create", "pods", request, response))
    assert took and typed == plain
    assert plain["where"][3] == "Deployment/web" and plain["where"][2] == "web-5cdcc99dbf-x2l8q"
    assert plain["containers"][0][3] is True  # privileged


def test_a_patched_deployment_is_judged_by_the_stored_result():
    template = {"spec": {"template": {"spec": {"initContainers": [{"name": "init", "image": "busybox"}],
                                               "containers": [{"name": "app", "image": "xmrig/xmrig"}],
                                               "hostPID": True}}}}
    request = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "xmrig/xmrig"}]}}}}
    response = {"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": "miner", "namespace": "shop"},
                **template}
    typed, plain, took = _both(_line("patch", "deployments", request, response))
    assert took and typed == plain
    assert [c[0] for c in plain["containers"]] == ["init", "app"]
    # a Status answer: the patch body is judged
    typed, plain, took = _both(_line("patch", "deployments", request, {"kind": "Status", "code": 200}))
    assert took and typed == plain


def test_shapes_it_cannot_read_exactly_are_declined():
    for containers in (["not-an-object"], {"name": "x"}, "x"):
        _, _, took = _both(_line("create", "pods", _pod(containers), None, absent=("responseObject",)))
        assert not took  # the orjson view (which skips what is not a container) decides
    _, _, took = _both(_line("create", "pods", {**_pod([]), "metadata": "odd"}, None))
    assert not took


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=4),
                     st.sampled_from(["/", "/etc", "/var/run/docker.sock", "nginx:1.25", "Pod", "Status"]))
_json = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["name", "path", "privileged", "value", "kind",
                                                                   "controller", "x"]), inner, max_size=3)),
    max_leaves=6)


def _maybe(keys: list[str], values: Any) -> Any:
    return st.dictionaries(st.sampled_from(keys), values, max_size=len(keys))


_containers = st.one_of(_json, st.lists(st.one_of(_maybe(list(CONTAINER_KEYS), _json), _json), max_size=3))
_spec = st.fixed_dictionaries({}, optional={
    "containers": _containers, "initContainers": _containers, "ephemeralContainers": _containers,
    "volumes": st.one_of(_json, st.lists(st.one_of(_maybe(["name", "hostPath", "emptyDir"], _json), _json),
                                         max_size=3)),
    "hostNetwork": _json, "hostPID": _json, "restartPolicy": _json})
_metadata = st.one_of(_json, _maybe(["name", "generateName", "namespace", "ownerReferences", "labels"], _json))
_object = st.one_of(_json, st.fixed_dictionaries({}, optional={
    "kind": st.one_of(_json, st.sampled_from(["Pod", "Deployment", "CronJob", "Status", "Job"])),
    "metadata": _metadata,
    "spec": st.one_of(_spec, st.fixed_dictionaries({}, optional={
        "template": st.one_of(_json, st.fixed_dictionaries({}, optional={"spec": _spec})),
        "jobTemplate": st.fixed_dictionaries({}, optional={"spec": st.fixed_dictionaries(
            {}, optional={"template": st.fixed_dictionaries({}, optional={"spec": _spec})})})}), _json)}))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(verb=st.sampled_from(["create", "update", "patch"]),
       resource=st.sampled_from(["pods", "deployments", "cronjobs", "replicasets", "jobs"]),
       request=st.one_of(st.just(Ellipsis), _object), response=st.one_of(st.just(Ellipsis), _object))
def test_typed_view_is_the_orjson_view_or_declines(verb, resource, request, response):
    absent = tuple(k for k, v in (("requestObject", request), ("responseObject", response)) if v is Ellipsis)
    line = _line(verb, resource, None if request is Ellipsis else request,
                 None if response is Ellipsis else response, absent=absent)
    typed, plain, took = _both(line)
    if took:
        assert typed == plain
