"""auditd parser: the real recordings (ENRICHED and RAW), and every kind of damaged input."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cloudward.detections.node._samples import audit_connect, audit_exec, shim
from cloudward.enrich.process_ancestry import ProcessAncestry
from cloudward.events import NetConnection, ProcessExec
from cloudward.inputs import InputFile
from cloudward.parsers import by_name, sniff
from cloudward.parsers.auditd import Auditd
from cloudward.parsers.base import Head, ParseContext

RECORDED = Path(__file__).parents[1] / "data" / "host" / "recorded"


def parse(text: str | bytes, ctx: ParseContext | None = None) -> tuple[list, ParseContext]:
    """The parser's events, then the process-ancestry enricher over them in time order (as the engine runs it)."""
    ctx = ctx or ParseContext()
    data = text.encode() if isinstance(text, str) else text
    events = list(Auditd().parse(InputFile.from_bytes(data, "audit.log"), ctx))
    ancestry = ProcessAncestry()
    for event in sorted(events, key=lambda e: e.time):  # stable: one instant keeps the file's order
        ancestry.enrich(event)
    return events, ctx


def by_serial(events: list, serial: int):
    return next(e for e in events if e.event_id.endswith(f":{serial}"))


def test_sniffed_as_auditd():
    for name in ("audit-enriched.log", "audit-raw.log"):
        head = Head.of(InputFile(str(RECORDED / name)))
        assert sniff(head) is by_name("auditd")


def test_recorded_enriched_log():
    events, ctx = parse((RECORDED / "audit-enriched.log").read_bytes())
    assert ctx.stats.rejected == 0
    execs = [e for e in events if isinstance(e, ProcessExec)]
    assert len(execs) > 400
    # hex-encoded argument with spaces, decoded; the name resolved by the ENRICHED part
    php = by_serial(events, 12806)
    assert php.argv == ["php", "-r", 'echo shell_exec(base64_decode("Y2F0IC9ldGMvcGFzc3dk"));']
    assert php.executable == "/usr/bin/php8.2" and php.user == "www-data" and php.uid == 33
    assert php.event_id == "1795931071.209:12806"
    # the parent resolved from its earlier exec; ancestors nearest first
    child = by_serial(events, 12808)
    assert child.command_line == "cat /etc/passwd"
    assert child.parent_executable == "/usr/bin/dash" and child.parent_command_line == "sh -c cat /etc/passwd"
    assert child.ancestors[:2] == ["/usr/bin/dash", "/usr/bin/php8.2"]
    # login uid and effective uid
    sudo = by_serial(events, 12835)
    assert (sudo.user, sudo.uid, sudo.euid, sudo.auid) == ("cwadmin", 1001, 0, 1001)
    # a process in a container, placed by its runtime ancestors (shim -id, runc exec ... <id>)
    ls = by_serial(events, 12700)
    assert ls.container_id == "0762b4bfb96f4fc16f6a29cc37e5e93eb959c99b89060a0786720d056440e649"
    assert ls.cwd == "/"
    # runtime processes themselves stay on the host
    runc = by_serial(events, 12697)
    assert runc.container_id == ""
    conns = [e for e in events if isinstance(e, NetConnection)]
    assert {(c.destination_ip, c.destination_port) for c in conns} >= {("127.0.0.1", 8089), ("0.0.0.0", 2222)}


def test_recorded_raw_log():
    events, ctx = parse((RECORDED / "audit-raw.log").read_bytes())
    assert ctx.stats.rejected == 0
    php = next(e for e in events if isinstance(e, ProcessExec) and e.argv[:2] == ["php", "-r"])
    assert php.user == "33" and php.uid == 33  # RAW: no resolved names, the uid stands in
    assert php.argv[2] == 'system("uname -a; /tmp/.cw-drop/kworkerd");'
    echo = next(e for e in events if isinstance(e, ProcessExec) and e.executable == "/usr/bin/echo")
    assert echo.argv == ["/bin/echo", "arg with spaces", 'quote"inside']


def test_interleaved_records_are_joined_by_event_id():
    a = audit_exec(100, 500, 1, ["curl", "http://example.org/a b"]).rstrip("\n").split("\n")
    b = audit_exec(101, 501, 1, ["wget", "-q", "http://example.org/x"]).rstrip("\n").split("\n")
    mixed = [x for pair in zip(a, b, strict=True) for x in pair]
    events, ctx = parse("\n".join(mixed) + "\n")
    assert ctx.stats.rejected == 0
    assert sorted(e.command_line for e in events) == ["curl http://example.org/a b", "wget -q http://example.org/x"]
    assert {e.pid for e in events} == {500, 501}


def test_same_serial_different_time_is_two_events():
    a = audit_exec(100, 500, 1, ["id"], ts=1795931000.0)
    b = audit_exec(100, 501, 1, ["uname"], ts=1795931001.0)
    events, _ctx = parse(a + b)
    assert sorted(e.command_line for e in events) == ["id", "uname"]


def test_two_syscall_records_under_one_id_are_rejected_not_merged():
    a = audit_exec(100, 500, 1, ["id"]).rstrip("\n").split("\n")
    b = audit_exec(100, 501, 1, ["uname"]).rstrip("\n").split("\n")
    events, ctx = parse("\n".join(a[:1] + b[:1] + a[1:] + b[1:]) + "\n")
    assert events == []
    assert ctx.stats.rejected == 1
    assert "two SYSCALL records" in ctx.stats.rejections[0].reason


def test_partial_event_without_syscall_is_rejected():
    lines = audit_exec(100, 500, 1, ["id"]).rstrip("\n").split("\n")
    events, ctx = parse("\n".join(lines[1:]) + "\n" + audit_exec(101, 501, 1, ["uname"]))
    assert [e.command_line for e in events] == ["uname"]
    assert ctx.stats.rejected == 1
    assert ctx.stats.rejections[0].where == "audit.log:1"
    assert "without their SYSCALL" in ctx.stats.rejections[0].reason


def test_missing_execve_falls_back_to_proctitle():
    lines = [ln for ln in audit_exec(100, 500, 1, ["sleep", "60"]).rstrip("\n").split("\n") if "type=EXECVE" not in ln]
    events, _ = parse("\n".join(lines) + "\n")
    assert events[0].argv == ["sleep", "60"]


def test_event_cut_off_at_the_end_of_the_file_keeps_what_it_has():
    lines = audit_exec(100, 500, 1, ["sleep", "60"]).rstrip("\n").split("\n")[:2]  # no PROCTITLE
    events, ctx = parse("\n".join(lines) + "\n")
    assert events[0].argv == ["sleep", "60"] and ctx.stats.rejected == 0


def test_long_argument_split_into_chunks():
    stamp = "1795931000.000:7"
    chunk1, chunk2 = "A" * 10, "B" * 5
    text = (
        f"type=SYSCALL msg=audit({stamp}): arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=42 uid=0 euid=0 "
        f'auid=4294967295 comm="python3" exe="/usr/bin/python3.11"\n'
        f"type=EXECVE msg=audit({stamp}): argc=3 a0=\"python3\" a1=\"-c\" a2_len=15 "
        f"a2[0]={chunk1.encode().hex().upper()}\n"
        f"type=EXECVE msg=audit({stamp}): a2[1]={chunk2.encode().hex().upper()}\n"
        f"type=PROCTITLE msg=audit({stamp}): proctitle=707974686F6E33\n"
    )
    events, _ctx = parse(text)
    assert events[0].argv == ["python3", "-c", chunk1 + chunk2]


def test_non_utf8_argument_and_nul_bytes():
    stamp = "1795931000.000:8"
    text = (
        f"type=SYSCALL msg=audit({stamp}): arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=43 uid=0 "
        f'comm="x" exe="/tmp/x"\n'
        f"type=EXECVE msg=audit({stamp}): argc=2 a0=\"x\" a1=FF41FE\n"
        f"type=PROCTITLE msg=audit({stamp}): proctitle=78\n"
    ).encode()
    bad = b"type=SYSCALL msg=audit(1795931000.000:9): pid=44 \x00\x00\x00 exe=\"/bin/true\"\n"
    events, ctx = parse(text + bad)
    assert events[0].argv == ["x", "\ufffdA\ufffd"]
    assert ctx.stats.rejected == 1 and "NUL" in ctx.stats.rejections[0].reason


def test_unknown_types_and_garbage_lines():
    text = (
        "type=USER_LOGIN msg=audit(1795931000.000:1): pid=1 uid=0 msg='op=login acct=\"root\" res=success'\n"
        "type=SOMETHING_NEW msg=audit(1795931000.000:2): whatever=1\n"
        "this is not an audit record\n"
        + audit_exec(3, 45, 1, ["true"])
    )
    events, ctx = parse(text)
    assert [e.command_line for e in events] == ["true"]
    assert ctx.stats.rejected == 1 and ctx.stats.rejections[0].where == "audit.log:3"


def test_failed_execve_is_not_a_process_start():
    text = audit_exec(4, 46, 1, ["nosuch"]).replace("success=yes exit=0", "success=no exit=-2")
    events, _ = parse(text)
    assert events == []


def test_node_prefix_sets_the_host_and_the_event_id():
    text = "".join("node=web-01 " + ln + "\n" for ln in audit_exec(5, 47, 1, ["id"]).rstrip("\n").split("\n"))
    events, _ = parse(text)
    assert events[0].host == "web-01" and events[0].event_id.startswith("web-01:")


def test_host_override_wins():
    events, _ = parse(audit_exec(5, 47, 1, ["id"]), ParseContext(host="forced"))
    assert events[0].host == "forced"


def test_connect_event_with_container_from_lineage():
    cid = "ab" * 32
    text = shim(10, 600, cid) + audit_exec(11, 601, 600, ["curl", "https://10.96.0.1/"], exe="/usr/bin/curl") \
        + audit_connect(12, 601, 600, "/usr/bin/curl", ["curl", "https://10.96.0.1/"], "10.96.0.1", 443)
    events, _ = parse(text)
    conn = events[-1]
    assert isinstance(conn, NetConnection)
    assert (conn.destination_ip, conn.destination_port, conn.container_id) == ("10.96.0.1", 443, cid)
    assert conn.command_line == "curl https://10.96.0.1/"


def test_ipv6_sockaddr():
    assert Auditd._sockaddr(b"saddr=0A0001BB00000000" + b"20010DB8000000000000000000000001".ljust(32, b"0")
                            + b"00000000") == ("2001:db8::1", 443)
    assert Auditd._sockaddr(b"saddr=01002F7661722F72756E") is None  # unix socket
    assert Auditd._sockaddr(b"saddr=zz") is None


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=120), max_size=12))
def test_random_bytes_never_crash(lines):
    prefix = [b"type=SYSCALL msg=audit(1.000:1): ", b"type=EXECVE msg=audit(1.000:1): ", b""]
    data = b"\n".join(prefix[i % 3] + line for i, line in enumerate(lines))
    parse(data)


ARG = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\n\r"), min_size=1, max_size=12)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(ARG, min_size=1, max_size=4), min_size=1, max_size=5), st.randoms(use_true_random=False))
def test_interleaved_events_never_mix(argvs, rnd):
    """However the records of several events are interleaved, each event keeps exactly its own arguments."""
    queues = [audit_exec(200 + i, 700 + i, 1, argv, exe="/usr/bin/x").rstrip("\n").split("\n")
              for i, argv in enumerate(argvs)]
    lines = []
    while any(queues):
        q = rnd.choice([q for q in queues if q])
        lines.append(q.pop(0))
    events, ctx = parse("\n".join(lines) + "\n")
    assert ctx.stats.rejected == 0
    assert sorted((e.pid, e.argv) for e in events) == sorted((700 + i, argv) for i, argv in enumerate(argvs))


_SYSCALL_KEYS = ["arch", "syscall", "success", "pid", "ppid", "uid", "euid", "auid", "exe", "comm"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([*_SYSCALL_KEYS, "a0", "items", "key", "suid", "fsuid", "xpid"]),
                          st.text(alphabet='ab0"=x(/', max_size=6)), max_size=14),
       st.sampled_from(["", " ", "  "]))
def test_one_pass_syscall_fields_agree_with_field_by_field_search(tokens, gap):
    from cloudward.parsers.auditd import _field, _syscall_fields

    # repeated keys, empty values, "=" inside values, doubled spaces: the one-pass read must find, for every
    # key, exactly what a search for " key=" finds
    record = (" " + gap.join(f"{k}={v}" for k, v in tokens)).encode()
    fields = _syscall_fields(record)
    for key in _SYSCALL_KEYS:
        assert fields.get(key.encode()) == _field(record, b" " + key.encode() + b"="), (record, key)
