"""The C block decoder (`_tetragon.decode_block`, `tetragon.tetragon_block_decoder`) reads Tetragon JSON lines
exactly as the line-at-a-time path does: the same events (every field, the raw record), the same rejections
with their file:line, the same counts of lines, skipped lines and records, on every Tetragon corpus file, on
the benchmark's generated export, and on hypothesis-made and damaged lines. Lines it cannot read exactly it
hands back; it never crashes."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_tetragon_decoding import _general, lines

from cloudward.events import Event, ProcessExec
from cloudward.inputs import InputFile
from cloudward.parsers import tetragon
from cloudward.parsers.base import ParseContext
from cloudward.parsers.json_records import JsonRecords
from cloudward.timeutil import parse_time

_tetragon = pytest.importorskip("cloudward._tetragon")
ROOT = Path(__file__).parents[2]
DATA = ROOT / "tests" / "data" / "host" / "tetragon"
FILES = sorted(DATA.rglob("*.json"))
RAW_SLOT = Event.__dict__["raw"]
#: an ordinary exec first: the general path picks the dialect on it, the C decoder reads what follows
FIRST = orjson.dumps({"process_exec": {"process": {"pid": 1, "binary": "/sbin/init"}}, "time": "2026-11-02T09:15:26Z"})


def _scan(data: bytes, host: str = "", block: bool = True, typed: bool = True) -> tuple[list, list, tuple]:
    """Events, rejections and counts of a JSON-lines scan, with the C block decoder and typed decoding on or
    off (both off: orjson and `Tetragon.events` only)."""
    saved = tetragon.FAST_DECODE, tetragon._BLOCK_READY
    tetragon.FAST_DECODE = typed
    tetragon._BLOCK_READY = block and saved[1]
    try:
        ctx = ParseContext(host=host)
        events = list(JsonRecords().parse(InputFile.from_bytes(data, "t.jsonl"), ctx))
    finally:
        tetragon.FAST_DECODE, tetragon._BLOCK_READY = saved
    stats = ctx.stats
    return events, [(r.where, r.reason) for r in stats.rejections], (stats.lines, stats.skipped, stats.rejected,
                                                                      dict(stats.formats))


def _fields(event: Event) -> list:
    return [type(event).__name__] + [(f.name, repr(getattr(event, f.name))) for f in dataclasses.fields(event)]


def _placeless(event: Event) -> list:
    """The fields but the file:line (`_general` reads its lines as line 9 of another file)."""
    return [f for f in _fields(event) if f[0] not in ("event_id", "origin")]


def _assert_same(data: bytes, host: str = "") -> list:
    fast = _scan(data, host)
    slow = _scan(data, host, block=False, typed=False)
    assert fast[1:] == slow[1:], data
    assert [_fields(e) for e in fast[0]] == [_fields(e) for e in slow[0]], data
    return fast[0]


def _decoded_in_c(data: bytes, host: str = "") -> int:
    """How many events `decode_block` itself makes of `data`, restarting after each line it hands back."""
    count, pos, lineno = 0, 0, 0
    while pos < len(data):
        pos, lineno, _, events = _tetragon.decode_block(host, data, pos, len(data), lineno, "t.jsonl", 1 << 20)
        count += len(events)
        nl = data.find(b"\n", pos)
        pos, lineno = (len(data) if nl < 0 else nl + 1), lineno + 1
    return count


def _records(path: Path) -> list:
    data = path.read_bytes()
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return [orjson.loads(line) for line in data.splitlines() if line.strip()]
    return doc if isinstance(doc, list) else [doc]


def test_the_c_decoder_is_built_and_set_up():
    assert tetragon._BLOCK_READY
    assert tetragon.tetragon_block_decoder(ParseContext()) is not None


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(DATA)))
def test_every_corpus_file_the_same(path):
    # the file as it is (most are one pretty-printed document), its records as compact lines, and each record
    # pretty-printed onto one line (whitespace everywhere the C reader must pass over)
    _assert_same(path.read_bytes())
    records = _records(path)
    compact = FIRST + b"\n" + b"\n".join(orjson.dumps(r) for r in records) + b"\n"
    spaced = FIRST + b"\r\n" + b"\r\n".join(orjson.dumps(r, option=orjson.OPT_INDENT_2).replace(b"\n", b" ")
                                            for r in records) + b"\r\n"  # and CRLF line ends
    for data in (compact, spaced):
        for host in ("", "forced-host"):
            events = _assert_same(data, host)
            execs = sum(1 for r in records if isinstance(r, dict) and next(iter(r), "") == "process_exec")
            assert sum(1 for e in events if isinstance(e, ProcessExec)) == execs + 1
            # every exec and kprobe connect of the corpus read in C (the 2022 process_connect is not)
            in_c = execs + 1 + sum(len(_general(orjson.dumps(r), host) or ()) for r in records
                                   if isinstance(r, dict) and next(iter(r), "") == "process_kprobe")
            assert _decoded_in_c(data, host) == in_c


def test_the_benchmark_export_the_same_and_read_in_c(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import host_bench
    finally:
        sys.path.pop(0)
    path = tmp_path / "tetragon.jsonl"
    host_bench.write_tetragon(path, 3000)
    data = path.read_bytes()
    events = _assert_same(data)
    execs = sum(1 for e in events if isinstance(e, ProcessExec))
    assert execs > 2000
    assert _decoded_in_c(data) == len(events) > execs  # the execs and the kprobe connects
    # the raw record is the line's bytes until read, then the record itself
    fast = _scan(data)[0]
    exec_event = [e for e in fast if isinstance(e, ProcessExec)][-1]  # the first line picked the dialect
    assert type(RAW_SLOT.__get__(exec_event)).__name__ == "LazyJson"
    assert exec_event.raw == orjson.loads(data.split(b"\n")[int(exec_event.origin.rsplit(":", 1)[1]) - 1])


def test_what_the_c_decoder_reads_itself():
    rec = {"process_exec": {"process": {"pid": 4242, "uid": 1000, "auid": 4294967295, "cwd": "/app",
                                        "binary": "/bin/sh", "arguments": '-c "echo a  b"\tz \\"x',
                                        "user": {"name": ""}, "docker": "d0cker",
                                        "cap": {"effective": ["SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
                                                              "CAP_SYS_PTRACE", "CAP_NET_ADMIN", 7]},
                                        "pod": {"name": "web", "namespace": "shop", "container": {
                                            "id": "cri-o://ab://c", "name": "", "image": {"name": "img:1"}}}},
                            "parent": {"pid": 4241, "binary": "/bin/bash", "arguments": "-l"}},
           "node_name": "n1", "time": "2026-11-02T09:15:27.401327Z"}
    line = orjson.dumps(rec)
    pos, lineno, skipped, events = _tetragon.decode_block("", line, 0, len(line), 6, "f", 1 << 20)
    assert (pos, lineno, skipped, len(events)) == (len(line), 7, 0, 1)
    ev = events[0]
    assert (ev.event_id, ev.origin, ev.host, ev.pid, ev.ppid, ev.uid, ev.auid, ev.user) == (
        "f:7", "f:7", "n1", 4242, 4241, 1000, None, "1000")
    assert ev.argv == ["/bin/sh", "-c", "echo a  b", "z", "\\x"] and ev.command_line == "/bin/sh " + rec[
        "process_exec"]["process"]["arguments"]
    assert ev.capabilities[0] == "CAP_SYS_ADMIN" and len(ev.capabilities) == 5 and ev.privileged is True
    assert (ev.container_id, ev.container_name, ev.image, ev.pod, ev.namespace) == ("ab://c", "", "img:1", "web",
                                                                                    "shop")
    assert ev.time == parse_time(rec["time"]) == 1793610927.401327 and ev.parent_command_line == "/bin/bash -l"
    assert (ev.euid, ev.os, ev.cgroup, ev.ancestors, ev.intel) == (None, "linux", "", [], [])
    # remembered strings and words are shared, the lists each event owns are not
    again = _tetragon.decode_block("", line, 0, len(line), 6, "f", 1 << 20)[3][0]
    assert again.argv == ev.argv and again.argv is not ev.argv and again.executable is ev.executable
    assert again.capabilities is not ev.capabilities and again.ancestors is not ev.ancestors
    ev.argv.append("changed")
    ev.capabilities.clear()
    third = _tetragon.decode_block("", line, 0, len(line), 6, "f", 1 << 20)[3][0]
    assert third.argv == again.argv == ["/bin/sh", "-c", "echo a  b", "z", "\\x"] and len(third.capabilities) == 5
    # skipped lines are counted, a kprobe that may be a connect and anything unusual are handed back
    exit_line = b'{"process_exit":{"process":{"binary":"/x"}},"time":"t"}'
    end = -1  # all of it read
    for data, expect in [
        (exit_line + b"\n" + line, (end, 8, 1, 1)),
        (b'{"process_kprobe":{"function_name":"tcp_close"}}\n', (end, 7, 1, 0)),
        (b'{"process_kprobe":{"function_name":"tcp_connect"}}\n', (0, 6, 0, 0)),
        (line[:-1] + b',"time":"x"}', (0, 6, 0, 0)),  # a duplicate key it reads
        (line.replace(b'"pid":4242', b'"pid":"4242"'), (0, 6, 0, 0)),
        (line.replace(b'"binary":"/bin/sh"', b'"\\u0062inary":"/bin/sh"'), (0, 6, 0, 0)),
        (line.replace(b"27.401327Z", b"27.401327+00:00"), (0, 6, 0, 0)),
        (line + b" x", (0, 6, 0, 0)),
        (b"\n" + line, (0, 6, 0, 0)),
        *[(line.replace(b"/bin/sh", b"/bin/" + bad), (0, 6, 0, 0)) for bad in [
            b"\xed\xa0\x80", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf", b"\xf4\x90\x80\x80", b"\xe2\x82",
            b"\xff", b"\x80", b"\x01", b"\\ud800", b"\\udc00\\ud800", b"\\ud800\\u0041", b"\\x", b"\\u12"]],
        *[(line.replace(b"/bin/sh", b"/bin/" + good), (end, 7, 0, 1)) for good in [
            "é€😀".encode(), b"\\ud83d\\ude00", b"\\u0000", b"\\/\\b\\f\\n\\r\\t"]],
    ]:
        got = _tetragon.decode_block("", data, 0, len(data), 6, "f", 1 << 20)
        want_pos = len(data) if expect[0] == end else expect[0]
        assert (got[0], *got[1:3], len(got[3])) == (want_pos, *expect[1:]), (data, got)
    assert _tetragon.decode_block("", line, 0, len(line), 6, "f", len(line) - 1)[0] == 0  # over the limit
    # a kprobe on a connect function: a NetConnection to the first argument that names an address
    conn = {"process_kprobe": {"process": {"pid": 5, "uid": 0, "binary": "/usr/bin/curl", "arguments": "-s x",
                                           "start_time": 7, "auid": True, "pod": rec["process_exec"]["process"]["pod"]},
                               "parent": {"pid": 4}, "function_name": "tcp_connect",
                               "args": [{"int_arg": 1},
                                        {"sock_arg": {"daddr": ""}, "sockaddr_arg": {"addr": "1.2.3.4"}},
                                        {"sock_arg": {"daddr": "10.0.0.9", "dport": 443}}]},
            "time": "2026-11-02T09:15:27Z"}
    line = orjson.dumps(conn)
    pos, lineno, skipped, events = _tetragon.decode_block("", line, 0, len(line), 0, "f", 1 << 20)
    assert (pos, lineno, skipped, len(events)) == (len(line), 1, 0, 1) and type(events[0]).__name__ == "NetConnection"
    ev = events[0]
    assert (ev.destination_ip, ev.destination_port, ev.pid, ev.ppid, ev.user, ev.uid, ev.container_id, ev.time) == (
        "1.2.3.4", 0, 5, 4, "root", 0, "ab://c", parse_time(conn["time"]))
    assert ev.command_line == "/usr/bin/curl -s x" and (ev.destination_host, ev.cgroup, ev.os) == ("", "", "linux")
    closed = line.replace(b'"tcp_connect"', b'"tcp_close"')  # no "connect" left: skipped on its bytes
    assert _tetragon.decode_block("", closed, 0, len(closed), 0, "f", 1 << 20)[:3] == (len(closed), 1, 1)
    for changed in [line.replace(b'"tcp_connect"', b'"tcp_close","x":"connect"'),
                    line.replace(b'"tcp_connect"', b'"tcp_connec\\u0074"'),
                    line.replace(b'"addr":"1.2.3.4"', b'"addr":""').replace(b'"daddr":"10.0.0.9"', b'"daddr":5'),
                    line.replace(b'"args":[', b'"args":[],"x":['),
                    line.replace(b'{"process_kprobe"', b'{"process_exec":{},"process_kprobe"')]:
        assert _tetragon.decode_block("", changed, 0, len(changed), 0, "f", 1 << 20)[:3] == (0, 0, 0), changed


@st.composite
def damaged(draw) -> bytes:
    """A hypothesis line, now and then cut short, with a byte changed, dropped or put in."""
    line = draw(lines())
    how = draw(st.integers(0, 5))
    if how >= 3 or not line:
        return line
    at = draw(st.integers(0, len(line) - 1))
    if how == 0:
        return line[:at]
    if how == 1:
        return line[:at] + bytes([draw(st.sampled_from(b'{}[]",:\\ 0e-.\xff\xc3\x80\x00\t\r'))]) + line[at + 1:]
    return line[:at] + bytes([draw(st.integers(0, 255))]) + line[at:] if draw(st.booleans()) else (
        line[:at] + line[at + 1:])


TEXT = st.one_of(st.sampled_from(["", "/bin/sh", "-c \"a b\" c", "a\tb", "-c \"a\tb\"\tc", "\"\"\t\"", "caf\u00e9",
                                   "x\u2028y", "\U0001f600",
                                   "containerd://ab", "CAP_SYS_ADMIN", "SYS_ADMIN", "0", "2026-11-02T09:15:27Z",
                                   "2026-11-02T09:15:27.5Z", "2026-02-30T09:15:27Z", "2026-11-02T24:15:27Z",
                                   "1969-12-31T23:59:59Z", "2026-11-02T09:15:60.999Z", "2026-11-02T09:15:27"]),
                 st.text(max_size=12))
#: mostly of the type the field holds, now and then any other JSON value
ANY = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=False, allow_infinity=False),
                TEXT, st.lists(TEXT, max_size=2), st.dictionaries(TEXT, TEXT, max_size=2))


TIME = st.one_of(st.builds("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}Z".format, st.integers(1, 9999),
                           st.integers(1, 12), st.integers(1, 28), st.integers(0, 23), st.integers(0, 59),
                           st.integers(0, 60),
                           st.sampled_from(["", ".0", ".401327", ".5000000000000001", ".123456789012"])),
                 st.sampled_from(["", "2026-11-02T09:15:27.401327Z"]), TEXT)


@st.composite
def _value(draw, typical: st.SearchStrategy) -> object:
    return draw(ANY if draw(st.integers(0, 15)) == 15 else typical)


@st.composite
def _object(draw, fields: dict[str, st.SearchStrategy], required: str = "") -> dict:
    """Some of the fields (each there with a 5 in 6 chance, `required` nearly always), in any order."""
    keys = draw(st.permutations([k for k in fields if (k == required and draw(st.integers(0, 30))) or draw(
        st.integers(0, 5))]))
    return {k: draw(fields[k]) for k in keys}


@st.composite
def records(draw) -> bytes:
    """Well-formed records the C decoder mostly reads: the fields it reads, of their types or now and then not,
    in any order, written compact, spaced or with every non-ASCII character escaped."""
    ints = st.integers(-2**31, 2**33) | st.sampled_from([0, 4294967295])
    image = _object({"name": _value(TEXT), "id": ANY})
    container = _object({"id": _value(TEXT), "name": _value(TEXT), "image": _value(image), "pid": ANY})
    pod = _object({"name": _value(TEXT), "namespace": _value(TEXT), "container": _value(container), "labels": ANY})
    caps = _object({"effective": _value(st.lists(_value(TEXT), max_size=6)), "permitted": ANY})
    process = _object({
        "binary": _value(TEXT), "arguments": _value(TEXT), "pid": _value(ints), "uid": _value(ints),
        "auid": _value(ints), "cwd": _value(TEXT), "user": _value(_object({"name": _value(TEXT)})),
        "cap": _value(caps), "pod": _value(pod), "docker": _value(TEXT), "start_time": _value(TIME),
        "exec_id": ANY, "flags": ANY}, "binary")
    parent = _object({"binary": _value(TEXT), "arguments": _value(TEXT), "pid": _value(ints), "cwd": ANY})
    kind = draw(st.sampled_from(["process_exec", "process_exec", "process_kprobe"]))
    fields = {"process": _value(process), "parent": _value(parent), "extra": ANY}
    if kind == "process_kprobe":
        port = _value(st.integers(0, 70000))
        address = st.sampled_from(["10.96.0.1", "", "fe80::1", "caf\u00e9"]) | TEXT
        sock = _object({"daddr": _value(address), "dport": port, "saddr": ANY, "family": ANY})
        sockaddr = _object({"addr": _value(address), "port": port, "family": ANY})
        arg = _object({"sock_arg": _value(sock), "sockaddr_arg": _value(sockaddr), "int_arg": ANY})
        fields["function_name"] = _value(st.sampled_from(["tcp_connect", "__sys_connect", "tcp_v6_connect",
                                                          "security_socket_connect", "tcp_close", "connect"]))
        fields["args"] = _value(st.lists(_value(arg), max_size=3))
    body = _object(fields, "process")
    record = draw(_object({kind: _value(body), "node_name": _value(TEXT), "time": _value(TIME), "other": ANY},
                          kind))
    how = draw(st.integers(0, 2))
    if how == 0:
        return orjson.dumps(record)
    if how == 1:
        return orjson.dumps(record, option=orjson.OPT_INDENT_2).replace(b"\n", b" ")
    return json.dumps(record).encode()  # every non-ASCII character as a \u escape


@settings(max_examples=500, deadline=None)
@given(st.lists(records() | damaged(), min_size=1, max_size=6), st.sampled_from(["", "override-host"]))
def test_well_formed_records_the_same(block, host):
    _assert_same(FIRST + b"\n" + b"\n".join(block) + b"\n", host)


@settings(max_examples=400, deadline=None)
@given(st.lists(damaged(), min_size=1, max_size=6), st.sampled_from(["", "override-host"]))
def test_made_and_damaged_lines_the_same(block, host):
    _assert_same(FIRST + b"\n" + b"\n".join(block).replace(b"\n\n", b"\n") + b"\n", host)


@settings(max_examples=800, deadline=None)
@given(records() | damaged(), st.sampled_from(["", "override-host"]))
def test_each_line_decoded_in_c_is_the_general_paths_event(line, host):
    line = line.replace(b"\n", b" ")
    pos, lineno, skipped, events = _tetragon.decode_block(host, line, 0, len(line), 0, "t.jsonl", 1 << 20)
    if skipped:
        assert not _general(line, host) and not events and pos == len(line)
    elif events:
        assert pos == len(line) and lineno == 1
        slow = _general(line, host)
        assert slow is not None and len(slow) == 1
        assert _fields(events[0])[1:] != [] and [
            (n, v) for n, v in _fields(events[0])[1:] if n not in ("event_id", "origin")] == [
            (n, v) for n, v in _fields(slow[0])[1:] if n not in ("event_id", "origin")]
        assert events[0].event_id == "t.jsonl:1"
    else:
        assert (pos, lineno) == (0, 0)  # handed back


def test_bad_arguments_are_refused_not_crashed():
    with pytest.raises(TypeError):
        _tetragon.decode_block("", b"{}", 0, 2, 0, "f")
    with pytest.raises(TypeError):
        _tetragon.decode_block(None, b"{}", 0, 2, 0, "f", 10)
    assert _tetragon.decode_block("", b"{}", 5, 99, 0, "f", 10)[:3] == (2, 0, 0)
    assert _tetragon.decode_block("", memoryview(FIRST), -3, 1 << 40, 0, "f", 1 << 20)[0] == len(FIRST)


@pytest.mark.parametrize("special", [b'\\"', b"\\\\", b"\\n", b"\\u00e9", "é".encode(), "😀".encode(), b"\x01", b"\x1f",
                                     b"\xff", b"\xc3", b"\x7f", b"\\", b'"'])
def test_a_special_byte_at_every_place_in_a_string(special):
    # the string scan reads sixteen bytes at a time, then one: each place of a stop byte in and around a block
    for before in range(0, 40):
        binary = b"/" + b"b" * before + special + b"c" * (39 - before)
        line = orjson.dumps({"process_exec": {"process": {"binary": "X", "pid": 1}}, "time": "2026-11-02T09:15:27Z"})
        line = line.replace(b'"X"', b'"' + binary + b'"')
        pos, _, _, events = _tetragon.decode_block("", line, 0, len(line), 0, "t.jsonl", 1 << 20)
        slow = _general(line, "")
        if events:
            assert slow is not None and [_placeless(e) for e in events] == [_placeless(e) for e in slow]
            assert events[0].executable == orjson.loads(line)["process_exec"]["process"]["binary"]
        else:
            assert pos == 0 and special in (b"\x01", b"\x1f", b"\xff", b"\xc3", b"\\", b'"'), (special, before)


@pytest.mark.parametrize("effective", [b'[]', b'[ ]', b'[ "CAP_SYS_ADMIN" , 7 ]', b'["CAP_SYS_ADMIN",]',
                                       b'["CAP_SYS_ADMIN" "CAP_NET_ADMIN"]', b'[,"CAP_SYS_ADMIN"]', b'[[1,[]],{}]',
                                       b'[1,,2]', b'['])
def test_arrays_read_as_the_general_path_reads_them(effective):
    line = (b'{"process_exec":{"process":{"pid":1,"binary":"/bin/sh","cap":{"effective":' + effective
            + b'}}},"node_name":"n1","time":"2026-11-02T09:15:27Z"}\n')
    _assert_same(line)
    if b",]" in effective or b",," in effective or b"[," in effective or b'" "' in effective or effective == b"[":
        assert _decoded_in_c(line) == 0  # not JSON: left to the general path, which rejects it
    else:
        assert _decoded_in_c(line) == 1
