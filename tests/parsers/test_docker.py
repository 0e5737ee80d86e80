"""docker events, docker inspect (containers, images, execs; crictl) and daemon.json, on the recordings."""

from __future__ import annotations

from pathlib import Path

import orjson

from cloudward.events import ContainerEvent
from cloudward.inputs import InputFile
from cloudward.parsers.base import ParseContext
from cloudward.parsers.json_records import JsonRecords

RECORDED = Path(__file__).parents[1] / "data" / "host" / "recorded"
PLAIN = "0762b4bfb96f4fc16f6a29cc37e5e93eb959c99b89060a0786720d056440e649"


def parse_file(path: Path) -> tuple[list, ParseContext]:
    ctx = ParseContext()
    return list(JsonRecords().parse(InputFile(str(path)), ctx)), ctx


def parse_records(records: list | dict) -> tuple[list, ParseContext]:
    ctx = ParseContext()
    data = orjson.dumps(records)
    return list(JsonRecords().parse(InputFile.from_bytes(data, "x.json"), ctx)), ctx


def test_docker_events_recording():
    events, ctx = parse_file(RECORDED / "docker-events.jsonl")
    assert ctx.stats.rejected == 0
    assert ctx.stats.formats["docker-events"] == 41
    assert all(isinstance(e, ContainerEvent) for e in events)
    creates = [e for e in events if e.action == "create"]
    assert {e.container_name for e in creates} == {"cw-privileged", "cw-sysadmin", "cw-plain", "cw-ssh", "cw-miner"}
    miner = next(e for e in creates if e.container_name == "cw-miner")
    assert miner.image == "xmrig/xmrig:6.21.0" and miner.runtime == "docker" and miner.time > 1.7e9
    exec_ls = next(e for e in events if e.action == "exec_create" and e.command == ["ls", "/"])
    assert exec_ls.container_id == PLAIN
    assert exec_ls.exec_id == "0fb049b918d369aa5085ffa00a1dbbe715b981fb2e0550b37648934fad9b27e3"
    assert exec_ls.event_id.endswith("docker-events.jsonl:" + str(exec_ls.event_id.rsplit(":", 1)[1]))


def test_container_inspect_recording():
    events, ctx = parse_file(RECORDED / "docker-inspect-containers.json")
    assert ctx.stats.rejected == 0
    by_name = {e.container_name: e for e in events}
    assert by_name["cw-privileged"].privileged is True and by_name["cw-privileged"].state == "created"
    assert by_name["cw-sysadmin"].capabilities == ["CAP_SYS_ADMIN"] and by_name["cw-sysadmin"].pid > 0
    assert by_name["cw-ssh"].command == ["/usr/sbin/dropbear", "-F", "-E", "-R", "-p", "2222"]
    assert by_name["cw-plain"].privileged is False and by_name["cw-plain"].action == "inspect"


def test_exec_and_image_inspect_recording():
    execs, ctx = parse_file(RECORDED / "docker-inspect-execs.json")
    assert ctx.stats.rejected == 0
    privileged = [e for e in execs if e.privileged]
    assert len(privileged) == 1 and privileged[0].command == ["id"] and privileged[0].action == "exec_inspect"
    ls = next(e for e in execs if e.command == ["ls", "/"])
    assert ls.pid == 15779 and ls.container_id == PLAIN
    images, ctx = parse_file(RECORDED / "docker-inspect-images.json")
    assert [e.action for e in images] == ["image_inspect", "image_inspect"]
    assert "xmrig/xmrig:6.21.0" in images[0].image


def test_crictl_inspect():
    record = {"status": {"id": "cri-o://" + "c" * 64, "metadata": {"name": "app", "attempt": 0},
                         "state": "CONTAINER_RUNNING", "image": {"image": "docker.io/library/nginx:1.27"},
                         "labels": {"io.kubernetes.pod.name": "web-0"}},
              "info": {"pid": 4242, "config": {"linux": {"security_context": {"privileged": True}}},
                       "runtimeSpec": {"process": {"args": ["nginx", "-g", "daemon off;"],
                                                   "capabilities": {"effective": ["CAP_SYS_ADMIN"]}}}}}
    events, _ctx = parse_records(record)
    ev = events[0]
    assert (ev.runtime, ev.container_id, ev.privileged, ev.pid, ev.state) == ("cri-o", "c" * 64, True, 4242, "running")


def test_daemon_json():
    events, _ = parse_records({"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"], "tlsverify": False,
                               "storage-driver": "overlay2"})
    assert events[0].action == "daemon_config" and events[0].ports[1] == "tcp://0.0.0.0:2375"
    assert events[0].labels == {"tlsverify": "false"}


def test_other_json_with_hosts_is_not_daemon_config():
    events, ctx = parse_records({"hosts": ["a", "b"], "owner": "team"})
    assert events == [] and ctx.stats.rejected == 1


def test_malformed_docker_records_are_rejected():
    _events, ctx = parse_records([{"Type": "container", "Action": "start", "Actor": "not-an-object"},
                                 {"HostConfig": {}, "State": "running"}])
    assert ctx.stats.rejected == 2


def test_docker_zero_time_is_ignored_and_created_used():
    import json

    from cloudward.pipeline import scan_text
    from cloudward.timeutil import parse_time

    records = orjson.loads((RECORDED / "docker-inspect-containers.json").read_bytes())
    never_started = next(r for r in records if r["State"]["StartedAt"].startswith("0001-01-01"))
    events, _ = parse_records([never_started])
    (event,) = events
    assert event.time == parse_time(never_started["Created"]) > 1.7e9
    alerts, _ = scan_text(json.dumps([never_started]), only={"K8S.NODE_PrivilegedContainerArtifacts"})
    assert alerts and alerts[0].to_dict()["first_seen"].startswith(never_started["Created"][:16])
    assert parse_time("0001-01-01T00:00:00Z") == 0.0 and parse_time("0001-01-01T00:00:00.000+00:00") == 0.0
