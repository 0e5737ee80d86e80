"""Tetragon parser on the real Tetragon events (tests/data/host/tetragon, from cilium/tetragon)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cloudward.events import NetConnection, ProcessExec
from cloudward.inputs import InputFile
from cloudward.parsers.base import ParseContext
from cloudward.parsers.json_records import JsonRecords
from cloudward.parsers.tetragon import split_arguments

DATA = Path(__file__).parents[1] / "data" / "host" / "tetragon"
FILES = sorted(DATA.rglob("*.json"))


def parse(path: Path, ctx: ParseContext | None = None) -> list:
    ctx = ctx or ParseContext()
    return list(JsonRecords().parse(InputFile(str(path)), ctx))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(DATA)))
def test_every_corpus_file_parses(path):
    ctx = ParseContext()
    events = parse(path, ctx)
    assert ctx.stats.rejected == 0, ctx.stats.rejections
    assert ctx.stats.formats["tetragon"] >= 1
    kind = next(iter(orjson.loads(path.read_bytes().split(b"\n")[0] if path.name == "events.json"
                                  else path.read_bytes())))
    if kind == "process_exec":
        assert all(isinstance(e, ProcessExec) for e in events) and events
    elif kind in ("process_connect",):
        assert len(events) == 1 and isinstance(events[0], NetConnection)
    elif kind in ("process_exit", "process_close", "process_listen"):
        assert events == []


def test_exec_fields():
    folder = DATA / "03_chapter/03_security_observability_events/01_reaching_the_host_namespace"
    path = folder / "privileged-pod-nsenter.json"
    ev = parse(path)[0]
    assert ev.executable == "/usr/bin/nsenter"
    assert ev.argv == ["/usr/bin/nsenter", "-t", "1", "-m", "-u", "-n", "-i", "-p", "bash"]
    assert ev.pod == "privileged-pod" and ev.namespace == "default" and ev.image == "nginx:latest"
    assert len(ev.container_id) == 64 and ev.privileged is True and "CAP_SYS_ADMIN" in ev.capabilities
    assert ev.parent_executable == "/bin/bash" and ev.host


def test_quoted_arguments_and_connect():
    path = DATA / "03_chapter/03_security_observability_events/01_reaching_the_host_namespace/privileged-pod-init.json"
    ev = parse(path)[0]
    assert ev.argv[-3:] == ["nginx", "-g", "daemon off;"]
    conn = parse(DATA / "03_chapter/00_process_lifecycle/nc_process_connect.json")[0]
    assert (conn.destination_ip, conn.destination_port, conn.executable) == ("64.225.45.153", 443, "/usr/bin/nc")
    assert conn.container_id.startswith("e6af4dff4ea3")


def test_kprobe_connect_and_other_kprobes():
    from cloudward.detections.node._samples import tetragon_connect

    ctx = ParseContext()
    data = orjson.dumps(tetragon_connect("/usr/bin/curl", "-sk https://10.96.0.1/", "10.96.0.1", 443))
    events = list(JsonRecords().parse(InputFile.from_bytes(data, "k.json"), ctx))
    assert isinstance(events[0], NetConnection) and events[0].destination_port == 443
    # the corpus kprobe is a write(), not a connection: no event
    assert parse(DATA / "03_chapter/00_four_golden_signals/process_kprobe.json") == []


def test_split_arguments():
    assert split_arguments('-g "daemon off;" -x') == ["-g", "daemon off;", "-x"]
    assert split_arguments('a "" b') == ["a", "", "b"]
    assert split_arguments("plain words  here") == ["plain", "words", "here"]
    assert split_arguments('unbalanced "quote here') == ["unbalanced", "quote here"]


def test_bad_tetragon_records_are_rejected():
    ctx = ParseContext()
    data = b'{"process_exec": "nope"}\n{"process_exec": {"process": {"pid": 1}}}\n'
    assert list(JsonRecords().parse(InputFile.from_bytes(data, "t.json"), ctx)) == []
    assert ctx.stats.rejected == 2
