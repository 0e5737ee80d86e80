"""Audit rules in the kernel's binary form, loaded and removed for real; the agent's SIGTERM path."""

from __future__ import annotations

import struct
from pathlib import Path

from agent_harness import RunningAgent, require_audit

from cloudward.agent.audit_netlink import AUDIT_ARG2, AUDIT_FILTERKEY, AuditRule, AuditStream, agent_rules


def test_rule_layout_matches_audit_rule_data() -> None:
    rule = AuditRule(0xC000003E, (59, 322), "k", arg2=16)
    packed = rule.pack()
    flags, action, count = struct.unpack_from("=3I", packed)
    assert (flags, action, count) == (4, 2, 3)  # exit filter, always, arch + a2 + key
    mask = struct.unpack_from("=64I", packed, 12)
    assert mask[1] & (1 << (59 - 32)) and mask[10] & (1 << (322 - 320))
    names = struct.unpack_from("=64I", packed, 12 + 256)
    assert names[:3] == (11, AUDIT_ARG2, AUDIT_FILTERKEY)
    assert packed.endswith(b"k")


def test_rules_for_x86_64_cover_both_abis() -> None:
    rules = agent_rules(machine="x86_64")
    assert {r.arch for r in rules} == {0xC000003E, 0x40000003}
    assert {r.arg2 for r in rules if r.key.endswith("net")} == {16, 28}


def test_stream_loads_and_removes_its_rules_and_reads_records() -> None:
    require_audit()
    import subprocess
    import threading

    from cloudward.agent.audit_netlink import get_status, list_rule_keys

    stream = AuditStream()
    stream.open()
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.extend(stream.lines()), daemon=True)
    reader.start()
    try:
        assert list_rule_keys().count("cloudward_agent_exec") == 2
        subprocess.run(["/bin/echo", "cloudward audit test"], check=True, capture_output=True)
        import time

        deadline = time.monotonic() + 3
        want = b"cloudward audit test".hex().upper().encode()
        # the event's EOE record follows its EXECVE record: wait for both (a busy machine delays the second)
        while time.monotonic() < deadline and not (any(want in ln for ln in lines)
                                                   and any(ln.startswith(b"type=EOE ") for ln in lines)):
            time.sleep(0.05)
    finally:
        stream.stop_reading()
        reader.join(2)
        stream.close()
    assert any(ln.startswith(b"type=EXECVE msg=audit(") and want in ln for ln in lines)
    assert any(ln.startswith(b"type=EOE ") for ln in lines)
    assert not [k for k in list_rule_keys() if k.startswith("cloudward_agent")]
    assert get_status().pid == 0


def test_sigterm_removes_the_audit_rules(tmp_path: Path) -> None:
    require_audit()
    from cloudward.agent.audit_netlink import get_status, list_rule_keys

    before = get_status()
    running = RunningAgent(tmp_path, agent='collectors = ["audit"]')
    running.wait_ready(("audit",))
    assert "cloudward_agent_exec" in list_rule_keys()
    assert get_status().pid == running.proc.pid
    assert running.stop() == 0
    assert not [k for k in list_rule_keys() if k.startswith("cloudward_agent")]
    after = get_status()
    assert after.pid == 0 and after.enabled == before.enabled


def test_a_second_agent_reads_the_multicast_copy_and_leaves_the_first_ones_rules(tmp_path: Path) -> None:
    require_audit()
    import subprocess
    import time

    from cloudward.agent.audit_netlink import get_status, list_rule_keys

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = RunningAgent(tmp_path / "a", agent='collectors = ["audit"]')
    first.wait_ready(("audit",))
    second = RunningAgent(tmp_path / "b", agent='collectors = ["audit"]')
    status = second.wait_ready(("audit",))
    assert status["collectors"]["audit"]["mode"] == "multicast"
    assert get_status().pid == first.proc.pid
    assert subprocess.run(["/bin/echo", "two-agents"], capture_output=True).returncode == 0
    # both see it
    for agent in (first, second):
        agent.wait_status(lambda s: s["collectors"]["audit"]["events"] > 0, timeout=5)
    assert second.stop() == 0
    assert list_rule_keys().count("cloudward_agent_exec") == 2  # the first agent's rules are still loaded
    time.sleep(0.2)
    assert first.stop() == 0
    assert not [k for k in list_rule_keys() if k.startswith("cloudward_agent")]


def _datagram(mtype: int, payload: bytes) -> bytes:
    # kauditd's layout: a 16-byte netlink header whose length counts the payload only
    return struct.pack("=IHHII", len(payload), mtype, 0, 0, 0) + payload


def _drain(datagrams: list[bytes], accelerated: bool, max_records: int = 2048) -> list[tuple[list[bytes], bool]]:
    """What `AuditStream.batches` hands on for these datagrams, read off a real datagram socket."""
    import socket

    reader, writer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    writer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    for d in datagrams:
        writer.send(d)
    stream = AuditStream(rules=[])
    stream.sock = reader
    stream.accelerated = accelerated
    stream.coalesce_seconds = 0
    stream.poll_seconds = 0.01
    out = []
    try:
        for records, dry in stream.batches(max_records):
            out.append((records, dry))
            if dry:
                break
    finally:
        reader.close()
        writer.close()
    return out


def test_the_c_reader_hands_on_what_the_python_one_does() -> None:
    import pytest

    pytest.importorskip("cloudward._auditd")
    datagrams = [
        _datagram(1300, b"audit(1.5:7): arch=c000003e syscall=59 success=yes pid=5 ppid=1 uid=0\n"),
        _datagram(1309, b'audit(1.5:7): argc=2 a0="ls" a1="-l"\x00garbage after the NUL'),
        _datagram(1307, b'audit(1.5:7): cwd="/"\n\n'),
        _datagram(1105, b"audit(1.5:8): an unread type, dropped"),
        b"short",
        _datagram(1327, b"audit(1.5:7): proctitle=6C73"),
        _datagram(1320, b"audit(1.5:7): "),
        _datagram(1309, b"audit(1.5:9): argc=1 a0=" + b"41" * 20000),
    ] * 40
    python = _drain(datagrams, accelerated=False)
    c = _drain(datagrams, accelerated=True)
    assert [r for recs, _ in c for r in recs] == [r for recs, _ in python for r in recs]
    records = [r for recs, _ in c for r in recs]
    assert len(records) == 6 * 40 and records[1] == b'type=EXECVE msg=audit(1.5:7): argc=2 a0="ls" a1="-l"'
    assert records[2] == b'type=CWD msg=audit(1.5:7): cwd="/"' and c[-1][1]
    # a batch stops at max_records; the rest comes in the next one
    small = _drain(datagrams[:16], accelerated=True, max_records=5)
    assert [(len(recs), dry) for recs, dry in small] == [(5, False), (5, False), (2, True)]
    assert small == _drain(datagrams[:16], accelerated=False, max_records=5)
