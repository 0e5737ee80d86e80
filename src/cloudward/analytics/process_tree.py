"""Processes seen starting, so a later exec can name its parent, ancestors and container.

Audit logs, Sysmon and most ECS shippers record only the parent's pid. The tree remembers what each
pid last executed (per host), so the parent's executable and command line, the chain of ancestor
executables and the container (inherited from the parent, or read off a runtime shim's command line)
can be filled in. Memory is bounded: the oldest entries go first once `max_entries` is reached.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, NamedTuple

from cloudward.parsers._container_ids import child_container, is_runtime, names_child_container

MAX_ANCESTORS = 8


class ProcessNode(NamedTuple):
    """What the tree remembers of one pid. A named tuple: the tree builds one per exec with one C call
    (`_node`), without a Python-level `__init__`; fields read as attributes."""

    executable: str
    command_line: str
    #: executables of the ancestors, nearest first, the process itself excluded
    ancestors: tuple[str, ...]
    container_id: str
    #: container the process's children run in (a shim's or `runc exec`'s target), else ''
    child_container: str
    user: str
    time: float


def _node(*fields: Any) -> ProcessNode:
    return tuple.__new__(ProcessNode, fields)


_new_node = tuple.__new__
#: executables that are no container runtime's (`is_runtime` False) and whose children never get a container
#: from their command line (`child_container` "" whatever argv): most programs. Filled on first sight of each.
_PLAIN_LIMIT = 65536


class ProcessTree:
    def __init__(self, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self.nodes: OrderedDict[tuple[str, int], ProcessNode] = OrderedDict()
        #: executable -> True when it is neither a runtime nor one whose command line names a child
        #: container (`child_container` answers "" for every argv), so neither test need run again
        self._plain: dict[str, bool] = {}

    def parent(self, host: str, ppid: int) -> ProcessNode | None:
        return self.nodes.get((host, ppid)) if ppid else None

    def _is_plain(self, executable: str) -> bool:
        plain = self._plain.get(executable)
        if plain is None:
            plain = not is_runtime(executable) and not names_child_container(executable)
            if len(self._plain) >= _PLAIN_LIMIT:
                self._plain.clear()
            self._plain[executable] = plain
        return plain

    def record(self, event: Any) -> None:
        """Fill parent, ancestors and container of a ProcessExec from what is known, then remember it.

        Values the source already gave are kept; only empty ones are filled.
        """
        host = event.host
        nodes = self.nodes
        ppid = event.ppid
        parent = nodes.get((host, ppid)) if ppid else None
        container_id = event.container_id
        executable = event.executable
        plain = self._plain.get(executable)
        if plain is None:
            plain = self._is_plain(executable)
        if parent is not None:
            p_exe, p_cmd, p_anc, p_cid, p_child = parent[0], parent[1], parent[2], parent[3], parent[4]
            if not event.parent_executable:
                event.parent_executable = p_exe
            if not event.parent_command_line:
                event.parent_command_line = p_cmd
            if not event.ancestors:
                event.ancestors = [p_exe, *p_anc[: MAX_ANCESTORS - 1]]
            if not container_id and (plain or not is_runtime(executable)):
                container_id = event.container_id = p_cid or p_child
        elif event.parent_executable and not event.ancestors:
            event.ancestors = [event.parent_executable]
        key = (host, event.pid)
        if not container_id:
            # an exec keeps the pid: a process already known to be in a container stays there
            same = nodes.get(key)
            if same is not None and same[3]:
                container_id = event.container_id = same[3]
        # the later exec of a pid moves it to the newest end; the oldest goes first past the limit
        if nodes.pop(key, None) is None and len(nodes) >= self.max_entries:
            nodes.popitem(last=False)
        nodes[key] = _new_node(ProcessNode, (
            executable, event.command_line, tuple(event.ancestors), container_id,
            "" if plain else child_container(executable, event.argv), event.user, event.time))

    def container_of(self, host: str, pid: int) -> str:
        node = self.nodes.get((host, pid))
        return node.container_id if node else ""

    def __len__(self) -> int:
        return len(self.nodes)

    def state(self) -> dict[str, Any]:
        return {"nodes": [[h, p, n.executable, n.command_line, list(n.ancestors), n.container_id,
                           n.child_container, n.user, n.time] for (h, p), n in self.nodes.items()]}

    def restore(self, state: dict[str, Any]) -> None:
        for h, p, exe, cmd, anc, cid, child, user, t in state.get("nodes", []):
            self.nodes[(h, p)] = _node(exe, cmd, tuple(anc), cid, child, user, t)


def shared_tree(options: dict[str, Any]) -> ProcessTree:
    """The run's one tree, kept in the parse context's options so every input of a run shares it."""
    tree = options.get("process_tree")
    if tree is None:
        tree = options["process_tree"] = ProcessTree()
    return tree  # type: ignore[no-any-return]
