"""Pieces the container-host cards share."""

from __future__ import annotations

from collections import OrderedDict

from cloudward.analytics.processes import basename
from cloudward.events import ProcessExec

#: parents that start a container's first process
_RUNTIME_PARENTS = ("containerd-shim", "runc", "crun", "conmon", "youki", "docker-containerd-shim")


class FirstSeen:
    """Remembers keys (bounded) so a container is reported once however many of its processes follow."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self.keys: OrderedDict[str, None] = OrderedDict()

    def first(self, key: str) -> bool:
        if key in self.keys:
            return False
        if len(self.keys) >= self.size:
            self.keys.popitem(last=False)
        self.keys[key] = None
        return True


def started_by_runtime(event: ProcessExec) -> bool:
    """The container's entry process (or an exec into it): its parent is the runtime."""
    return basename(event.parent_executable).startswith(_RUNTIME_PARENTS)
