"""Kubernetes pod metadata from the CRI runtimes' own bundle files, joined onto a container id.

Docker labels name a pod only when dockerd runs the containers (dockershim); under containerd or
CRI-O the kubelet's pod name and namespace are in the OCI runtime spec each runtime writes for a task:

* containerd: ``<containerd root>/io.containerd.runtime.v2.task/<namespace>/<container id>/config.json``
  (namespace ``k8s.io`` for the CRI plugin), annotations ``io.kubernetes.cri.sandbox-name``,
  ``io.kubernetes.cri.sandbox-namespace``, ``io.kubernetes.cri.container-name``;
* CRI-O: ``<CRI-O run dir>/<container id>/userdata/config.json``, annotations
  ``io.kubernetes.pod.name``, ``io.kubernetes.pod.namespace``, ``io.kubernetes.container.name``.

A pause (sandbox) container carries the same pod annotations, so its processes are named too.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from dataclasses import dataclass

import orjson

#: containerd's v2 task bundles, under its state directory
CONTAINERD_TASKS = "io.containerd.runtime.v2.task"
#: the most a config.json is read (the OCI spec of a pod container is a few tens of KB)
_MAX_SPEC = 1 << 20

_CONTAINERD_KEYS = ("io.kubernetes.cri.sandbox-name", "io.kubernetes.cri.sandbox-namespace",
                    "io.kubernetes.cri.container-name")
_CRIO_KEYS = ("io.kubernetes.pod.name", "io.kubernetes.pod.namespace", "io.kubernetes.container.name")


@dataclass(frozen=True, slots=True)
class PodInfo:
    pod: str
    namespace: str
    container_name: str
    runtime: str


def _annotations(path: str) -> dict[str, object] | None:
    """The annotations of one OCI config.json, or None when it is missing, too big or not a spec."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(_MAX_SPEC + 1)
    except OSError:
        return None
    if len(data) > _MAX_SPEC:
        return None
    try:
        spec = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    notes = spec.get("annotations") if isinstance(spec, dict) else None
    return notes if isinstance(notes, dict) else None


def _pod(notes: dict[str, object], keys: tuple[str, str, str], runtime: str) -> PodInfo | None:
    pod, namespace, name = (notes.get(k) for k in keys)
    if not isinstance(pod, str) or not pod:
        return None
    return PodInfo(pod, namespace if isinstance(namespace, str) else "",
                   name if isinstance(name, str) else "", runtime)


class CriMetadata:
    """Pod name, namespace and container name by container id, read from the runtimes' bundles.

    A found id is cached for good (a container's pod never changes); an id with no bundle is retried
    after `retry_seconds`, since the runtime writes the bundle just before the container's first exec.
    """

    def __init__(self, containerd_root: str = "/run/containerd",
                 crio_root: str = "/run/containers/storage/overlay-containers",
                 retry_seconds: float = 2.0, size: int = 4096) -> None:
        self.containerd_tasks = os.path.join(containerd_root, CONTAINERD_TASKS) if containerd_root else ""
        self.crio_root = crio_root
        self.retry_seconds = retry_seconds
        self.size = size
        self._known: OrderedDict[str, PodInfo | float] = OrderedDict()
        #: bundle files that were there but unreadable or not a pod's spec
        self.unreadable = 0

    def available(self) -> bool:
        """Whether either runtime's bundle directory exists on this host."""
        return bool((self.containerd_tasks and os.path.isdir(self.containerd_tasks))
                    or (self.crio_root and os.path.isdir(self.crio_root)))

    def lookup(self, container_id: str, now: float | None = None) -> PodInfo | None:
        """The pod a full (64-hex) container id belongs to, or None when no runtime bundle names one."""
        if not container_id or "/" in container_id or container_id.startswith("."):
            return None  # an id is a path component here: never let it climb out of the root
        known = self._known.get(container_id)
        if isinstance(known, PodInfo):
            return known
        now = time.monotonic() if now is None else now
        if known is not None and now < known:
            return None
        found = self._read(container_id)
        if len(self._known) >= self.size:
            self._known.popitem(last=False)
        self._known[container_id] = found if found is not None else now + self.retry_seconds
        return found

    def _read(self, container_id: str) -> PodInfo | None:
        if self.containerd_tasks:
            try:
                namespaces = os.listdir(self.containerd_tasks)
            except OSError:
                namespaces = []
            # the CRI plugin's namespace first: that is where pods are
            for ns in sorted(namespaces, key=lambda n: n != "k8s.io"):
                path = os.path.join(self.containerd_tasks, ns, container_id, "config.json")
                if not os.path.exists(path):
                    continue
                notes = _annotations(path)
                found = _pod(notes, _CONTAINERD_KEYS, "containerd") if notes is not None else None
                if found is not None:
                    return found
                self.unreadable += notes is None
        if self.crio_root:
            path = os.path.join(self.crio_root, container_id, "userdata", "config.json")
            if os.path.exists(path):
                notes = _annotations(path)
                found = _pod(notes, _CRIO_KEYS, "cri-o") if notes is not None else None
                if found is not None:
                    return found
                self.unreadable += notes is None
        return None
