"""Random JSON shaped like the host dialects' records never crashes a scan: records are parsed or
rejected with a reason."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudward.pipeline import scan_text

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 2**33), st.text(max_size=20))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=8)
KEYS = ["process_exec", "process_kprobe", "process_connect", "process", "parent", "pod", "container", "binary",
        "arguments", "Actor", "Action", "Type", "HostConfig", "State", "ProcessConfig", "ContainerID", "RepoTags",
        "RootFS", "rule", "priority", "output", "output_fields", "winlog", "EventID", "SourceName", "hosts",
        "event", "destination", "status", "info", "metadata", "args", "function_name"]
RECORDS = st.dictionaries(st.sampled_from(KEYS), VALUES, min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(st.lists(RECORDS, min_size=1, max_size=4))
def test_random_host_records_never_crash(records):
    text = "\n".join(orjson.dumps(r).decode() for r in records) + "\n"
    _, stats = scan_text(text, raise_errors=True)
    assert stats.files == 1


PROCESS = st.fixed_dictionaries({"binary": st.text(max_size=30), "pid": VALUES, "arguments": VALUES},
                                optional={"pod": VALUES, "cap": VALUES, "uid": VALUES, "user": VALUES,
                                          "docker": VALUES})


@settings(max_examples=60, deadline=None)
@given(PROCESS, st.one_of(PROCESS, VALUES), VALUES, st.sampled_from(["process_exec", "process_kprobe",
                                                                      "process_connect"]))
def test_tetragon_shaped_records(process, parent, args, kind):
    record = {kind: {"process": process, "parent": parent, "args": args, "function_name": "tcp_connect",
                     "destination_ip": "10.0.0.1", "destination_port": args}, "node_name": "n"}
    scan_text(orjson.dumps(record).decode() + "\n", raise_errors=True)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.sampled_from(["Image", "CommandLine", "ParentImage", "User", "ProcessId", "UtcTime",
                                        "DestinationIp", "DestinationPort", "Initiated"]), VALUES),
       st.sampled_from([1, 3, "1", "3", 11]))
def test_sysmon_shaped_records(data, event_id):
    record = {"winlog": {"provider_name": "Microsoft-Windows-Sysmon", "event_id": event_id, "event_data": data}}
    scan_text(orjson.dumps(record).decode() + "\n", raise_errors=True)
