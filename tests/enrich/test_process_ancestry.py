"""Process ancestry as an enricher: parents found across files and arrival orders, keyed state per host."""

from __future__ import annotations

import orjson

from cloudward.detections.node._samples import audit_exec, shim
from cloudward.engine import Engine
from cloudward.enrich.process_ancestry import ProcessAncestry
from cloudward.events import ProcessExec


def _execs(engine: Engine) -> dict[int, ProcessExec]:
    return {e.pid: e for e in engine._ran if isinstance(e, ProcessExec)}


class _Recording(Engine):
    """An engine that remembers the events it ran (to look at what the enrichers filled in)."""

    def __init__(self) -> None:
        super().__init__(raise_errors=True)
        self.hold = True
        self._ran: list = []

    def _run(self, event):
        super()._run(event)
        self._ran.append(event)


def test_a_child_read_before_its_parent_still_gets_its_parent_and_container():
    cid = "cd" * 32
    parent = shim(10, 700, cid) + audit_exec(11, 701, 700, ["sh", "-c", "id"], exe="/usr/bin/dash")
    child = audit_exec(12, 702, 701, ["id"], exe="/usr/bin/id")
    engine = _Recording()
    engine.feed_bytes("child.log", child.encode(), final=True)  # the child's file first
    engine.feed_bytes("parent.log", parent.encode(), final=True)
    engine.advance(None)
    got = _execs(engine)[702]
    assert got.parent_executable == "/usr/bin/dash" and got.parent_command_line == "sh -c id"
    assert got.ancestors[0] == "/usr/bin/dash" and got.container_id == cid


def test_state_is_keyed_by_host_and_merges_the_later_exec_of_a_pid():
    a, b = ProcessAncestry(), ProcessAncestry()
    a.enrich(ProcessExec(event_id="1", time=10.0, host="h1", pid=5, executable="/bin/old", command_line="old"))
    b.enrich(ProcessExec(event_id="2", time=20.0, host="h1", pid=5, executable="/bin/new", command_line="new"))
    b.enrich(ProcessExec(event_id="3", time=15.0, host="h2", pid=5, executable="/bin/x", command_line="x"))
    state = orjson.loads(orjson.dumps(b.state()))
    assert sorted(state["hosts"]) == ["h1", "h2"]
    a.merge(state)
    assert a.tree.nodes[("h1", 5)].executable == "/bin/new" and ("h2", 5) in a.tree.nodes
    b.merge(orjson.loads(orjson.dumps(a.state())))
    assert b.state() == a.state()
