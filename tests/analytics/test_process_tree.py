"""The process tree's shortcut for ordinary programs (issue 10): an executable that is neither a runtime
nor one whose command line names a child container is recorded without asking either again."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cloudward.analytics.process_tree import ProcessNode, ProcessTree
from cloudward.events import ProcessExec
from cloudward.parsers._container_ids import child_container, is_runtime, names_child_container

H = "a" * 64
NAMES = ["containerd-shim", "containerd-shim-runc-v2", "docker-containerd-shim", "containerd-shimx", "runc", "crun",
         "youki", "conmon", "bash", "runcx", "xrunc", "node", "", "conmon2"]
ARGS = ["-id", H, "exec", "run", "create", "-c", "--cid", "x", "", "-namespace"]


@given(st.sampled_from(["", "/usr/bin/", "/x/", "rel/"]), st.one_of(st.sampled_from(NAMES), st.text(max_size=12)),
       st.lists(st.one_of(st.sampled_from(ARGS), st.text(max_size=6)), max_size=8))
def test_a_plain_executable_never_names_a_child_container(folder: str, name: str, argv: list[str]) -> None:
    exe = folder + name
    if not names_child_container(exe):
        assert child_container(exe, argv) == ""
    if is_runtime(exe):
        assert names_child_container(exe)


def test_runtime_lineage_and_plain_children() -> None:
    tree = ProcessTree()
    shim = ProcessExec(event_id="1", pid=10, ppid=1, executable="/usr/bin/containerd-shim-runc-v2",
                       argv=["containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", H], command_line="shim")
    runc = ProcessExec(event_id="2", pid=11, ppid=10, executable="/usr/sbin/runc", argv=["runc", "init"],
                       command_line="runc init")
    app = ProcessExec(event_id="3", pid=12, ppid=10, executable="/usr/local/bin/node", argv=["node", "a.js"],
                      command_line="node a.js")
    child = ProcessExec(event_id="4", pid=13, ppid=12, executable="/bin/sh", argv=["sh"], command_line="sh")
    for ev in (shim, runc, app, child):
        tree.record(ev)
    assert runc.container_id == ""  # a runtime's own process runs on the host
    assert app.container_id == H and child.container_id == H
    assert child.ancestors == ["/usr/local/bin/node", "/usr/bin/containerd-shim-runc-v2"]
    node = tree.parent("", 10)
    assert isinstance(node, ProcessNode) and node.child_container == H and node.ancestors == ()
    again = ProcessExec(event_id="5", pid=12, ppid=0, executable="/usr/bin/python3", argv=["python3"],
                        command_line="python3")
    tree.record(again)  # an exec keeps its pid's container
    assert again.container_id == H
    restored = ProcessTree()
    restored.restore(tree.state())
    assert restored.nodes == tree.nodes and list(restored.nodes) == list(tree.nodes)
