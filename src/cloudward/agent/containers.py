"""A process's container context from its cgroup text: the container id the path names and, when a CRI
runtime (containerd, CRI-O) runs it, the pod's name and namespace from the runtime's bundle."""

from __future__ import annotations

from typing import Any

from cloudward.agent.cri import CriMetadata, PodInfo
from cloudward.parsers._container_ids import from_cgroup

_MAX_CGROUPS = 4096


class ContainerResolver:
    """cgroup text -> (container id, pod); most processes share a handful of cgroups, so each distinct
    text is read once (a pod whose bundle was not there yet is looked up again, see `CriMetadata`)."""

    def __init__(self, cri: CriMetadata | None = None) -> None:
        self.cri = cri if cri is not None and cri.available() else None
        self._ids: dict[str, str] = {}

    def container_id(self, cgroup: str) -> str:
        found = self._ids.get(cgroup)
        if found is None:
            if len(self._ids) >= _MAX_CGROUPS:
                self._ids.clear()
            hit = from_cgroup(cgroup)
            found = self._ids[cgroup] = hit[1] if hit else ""
        return found

    def resolve(self, cgroup: str) -> tuple[str, PodInfo | None]:
        cid = self.container_id(cgroup) if cgroup else ""
        return cid, (self.cri.lookup(cid) if cid and self.cri is not None else None)

    def apply(self, event: Any, cgroup: str) -> None:
        """Set the event's container id from `cgroup` (unless it has one) and its pod when known."""
        if not event.container_id:
            cid = self.container_id(cgroup) if cgroup else ""
            if not cid:
                return
            event.container_id = cid
        if self.cri is None:
            return
        pod = self.cri.lookup(event.container_id)
        if pod is not None:
            event.pod = event.pod or pod.pod
            event.namespace = event.namespace or pod.namespace
            event.container_name = event.container_name or pod.container_name
