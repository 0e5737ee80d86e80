"""ECS process and connection records."""

from __future__ import annotations

import orjson

from cloudward.detections.node._samples import ecs_exec
from cloudward.events import NetConnection, ProcessExec
from cloudward.inputs import InputFile
from cloudward.parsers.base import ParseContext
from cloudward.parsers.json_records import JsonRecords

CID = "d" * 64


def parse(*records) -> tuple[list, ParseContext]:
    ctx = ParseContext()
    data = b"\n".join(orjson.dumps(r) for r in records) + b"\n"
    return list(JsonRecords().parse(InputFile.from_bytes(data, "ecs.json"), ctx)), ctx


def test_nested_exec_with_container():
    rec = ecs_exec("/usr/bin/curl", ["curl", "-s", "https://kubernetes.default.svc/api"],
                   container={"id": CID, "name": "web", "image": {"name": "nginx:1.27"}})
    events, ctx = parse(rec)
    ev = events[0]
    assert ctx.stats.formats["ecs-process"] == 1 and isinstance(ev, ProcessExec)
    assert (ev.host, ev.pid, ev.ppid, ev.container_id, ev.image, ev.user, ev.uid) == (
        "node-2", 7001, 7000, CID, "nginx:1.27", "root", 0)
    assert ev.command_line == "curl -s https://kubernetes.default.svc/api" and ev.parent_executable == "/bin/bash"


def test_dotted_keys_and_cgroup():
    rec = {"@timestamp": "2026-11-02T09:15:27Z", "event.category": "process", "event.type": "start",
           "process.executable": "/usr/sbin/sshd", "process.args": ["/usr/sbin/sshd", "-D"], "process.pid": 12,
           "process.cgroup": "0::/kubepods.slice/kubepods-burstable.slice/cri-containerd-" + CID + ".scope",
           "host.name": "node-3"}
    events, _ = parse(rec)
    assert events[0].container_id == CID and events[0].cgroup.endswith(".scope")


def test_network_and_skips():
    conn = {"event": {"category": ["network"], "type": ["connection", "start"]}, "host": {"name": "n"},
            "process": {"pid": 5, "executable": "/usr/bin/wget"}, "destination": {"ip": "10.96.0.1", "port": 443},
            "network": {"direction": "egress"}}
    inbound = {**conn, "network": {"direction": "ingress"}}
    end = {"event": {"category": ["process"], "type": ["end"]}, "process": {"executable": "/bin/ls", "pid": 6}}
    file_event = {"event": {"category": ["file"], "type": ["creation"]}, "process": {"executable": "/bin/touch"}}
    events, ctx = parse(conn, inbound, end, file_event)
    assert len(events) == 1 and isinstance(events[0], NetConnection) and events[0].destination_port == 443
    assert ctx.stats.skipped == 3 and ctx.stats.rejected == 0


def test_web_ecs_records_stay_with_the_http_dialect():
    rec = {"source": {"ip": "203.0.113.9"}, "http": {"request": {"method": "GET"}}, "url": {"path": "/"},
           "process": {"name": "nginx"}}
    _events, ctx = parse(rec)
    assert ctx.stats.formats.get("ecs-process", 0) == 0
