"""Process ancestry: the parent, ancestors and container of each exec, from the execs seen before it.

Audit logs, Sysmon and most ECS shippers record only the parent's pid. This enricher keeps the
process tree (`analytics.process_tree`) per host, in event-time order (the engine runs enrichers in
that order), so a child exec learns its parent's executable, command line and container whichever
file the parent was read from; a connection learns the container of its pid. State is keyed by host
and merges per (host, pid): the later exec of a pid wins, as it would in one run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from cloudward.analytics.process_tree import ProcessNode, ProcessTree
from cloudward.config import Config
from cloudward.enrich import Enricher
from cloudward.events import NetConnection, ProcessExec


class ProcessAncestry(Enricher):
    kinds = (ProcessExec, NetConnection)
    name = "process_ancestry"
    partition = "host"
    #: before container context, which reads the container id this fills in
    order: ClassVar[int] = 10

    def __init__(self) -> None:
        self.tree = ProcessTree()

    def enrich(self, event: Any) -> None:
        if type(event) is ProcessExec:
            self.tree.record(event)
        elif not event.container_id:
            event.container_id = self.tree.container_of(event.host, event.pid)

    def state(self) -> dict[str, Any]:
        hosts: dict[str, list[list[Any]]] = {}
        for (host, pid), n in self.tree.nodes.items():
            hosts.setdefault(host, []).append([pid, n.executable, n.command_line, list(n.ancestors),
                                               n.container_id, n.child_container, n.user, n.time])
        return {"hosts": hosts}

    def merge(self, state: Mapping[str, Any]) -> None:
        nodes = self.tree.nodes
        for host, rows in (state.get("hosts") or {}).items():
            for pid, exe, cmd, anc, cid, child, user, when in rows:
                key = (str(host), int(pid))
                have = nodes.get(key)
                if have is not None and (have.time, have.command_line) >= (float(when), str(cmd)):
                    continue
                nodes[key] = ProcessNode(exe, cmd, tuple(anc), cid, child, user, float(when))
        for key in sorted(nodes, key=lambda k: nodes[k].time):  # oldest first, as the tree evicts
            nodes.move_to_end(key)


def build(config: Config, **options: Any) -> ProcessAncestry:
    return ProcessAncestry()
