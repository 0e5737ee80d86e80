"""Typed decoding of Tetragon lines (`tetragon.tetragon_line_decoder`, msgspec Structs of the fields read) gives
exactly the event that orjson and `Tetragon.events` give, or declines (None) and leaves the line to that general
path: on key order, duplicate and escaped keys, whitespace, missing fields, values of every JSON type, odd
numbers, escapes and invalid UTF-8. The raw record stays the line's bytes until something reads it."""

from __future__ import annotations

import dataclasses
import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudward.events import Event, NetConnection, ProcessExec
from cloudward.inputs import InputFile
from cloudward.parsers import tetragon
from cloudward.parsers.base import ParseContext, RecordRef
from cloudward.parsers.json_records import loads_lenient
from cloudward.pipeline import Pipeline

pytest.importorskip("cloudward._speedups")
REF = RecordRef("tetragon.jsonl", 9)
RAW_SLOT = Event.__dict__["raw"]


def _general(line: bytes, host: str) -> list[Event] | None:
    """What the general path makes of the line: orjson (lenient), the dialect's claim, `Tetragon.events`."""
    try:
        record = orjson.loads(line)
    except (orjson.JSONDecodeError, UnicodeDecodeError):
        try:
            record = loads_lenient(line)
        except (orjson.JSONDecodeError, UnicodeDecodeError):
            return None
    dialect = tetragon.Tetragon()
    if type(record) is not dict or not dialect.claims(record):
        return None
    if isinstance(record.get("records"), list) and len(record) <= 2:
        return None
    try:
        return list(dialect.events(record, REF, ParseContext(host=host)))
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return None


def _same(line: bytes, host: str = "") -> bool:
    """Asserts the typed event equals the general path's; True when the typed path took the line."""
    decode = tetragon.tetragon_line_decoder(ParseContext(host=host))
    assert decode is not None
    fast = decode(line, REF)
    if fast is None:
        return False  # declined: the general path reads it, as before
    slow = _general(line, host)
    assert slow is not None and len(slow) == 1, line
    assert type(fast) is type(slow[0])
    assert type(RAW_SLOT.__get__(fast)).__name__ == "LazyJson"
    for f in dataclasses.fields(fast):
        assert repr(getattr(fast, f.name)) == repr(getattr(slow[0], f.name)), (f.name, line)
    return True


def _obj(pairs: list[tuple[str, str]], space: str = "") -> str:
    return "{" + ("," + space).join(f"{k}:{space}{v}" for k, v in pairs) + "}"


def _key(name: str, escaped: bool) -> str:
    return '"\\u00' + format(ord(name[0]), "02x") + name[1:] + '"' if escaped else json.dumps(name)


ODD = st.sampled_from([
    "null", "true", "false", "0", "-1", "7", "4294967295", "18446744073709551615", "12345678901234567890123",
    "1.5", "1e400", "-0.0", '""', '"x"', '"42"', '"/bin/sh"', '"caf\\u00e9"', '"a\\"b c\\" d"', '"\\ud83d\\ude00"',
    '"\\ud800"', '"tab\\there"', "[]", '["CAP_SYS_ADMIN",1]', "{}", '{"name":"alice"}', '"containerd://ab12"',
    '"2026-11-02T09:15:27.401327Z"', "1762074927", '"x\\u0000y"',
])


def _text(s: str) -> str:
    return json.dumps(s)


@st.composite
def fields(draw, template: dict[str, str]) -> list[tuple[str, str]]:
    """The template's fields, each kept as is, replaced by an odd value or left out; shuffled, with now and
    then a duplicate, an escaped key or an unknown field holding anything."""
    out = []
    for name, value in template.items():
        # hypothesis leans to small integers: the ordinary case is the small one
        choice = draw(st.integers(0, 29))
        if choice >= 28:
            continue
        if choice == 27:
            value = draw(ODD)
        out.append((_key(name, draw(st.integers(0, 15)) == 15), value))
    if draw(st.integers(0, 5)) == 5:
        out.append((_text("extra"), draw(st.one_of(ODD, st.just('"\udcff\udcfe"'), st.just('{"n":1e999}')))))
    if out and draw(st.integers(0, 7)) == 7:
        out.append((out[0][0], draw(ODD)))
    return draw(st.permutations(out))


@st.composite
def lines(draw) -> bytes:
    space = draw(st.sampled_from(["", "", " "]))
    image = _obj(draw(fields({"id": _text("sha256:ab"), "name": _text("ghcr.io/acme/web:1.2")})), space)
    container = _obj(draw(fields({"id": draw(st.sampled_from(['"containerd://4f2a9c"', '"docker://ab"', '"4f2a"'])),
                                  "name": _text("web"), "image": image, "pid": "1"})), space)
    pod = _obj(draw(fields({"namespace": _text("shop"), "name": _text("web-7d9f"), "container": container,
                            "pod_labels": '{"app":"web"}'})), space)
    caps = _obj(draw(fields({"permitted": '["CAP_CHOWN"]', "effective": draw(st.sampled_from([
        '["CAP_SYS_ADMIN","CAP_SYS_MODULE","CAP_SYS_RAWIO","CAP_SYS_PTRACE","CAP_NET_ADMIN"]',
        '["DAC_OVERRIDE","CAP_CHOWN"]', "[]"]))})), space)
    arguments = draw(st.one_of(st.sampled_from(['"-c \\"wget -q http://x/\\" now"', '"-s http://inventory:9000/"',
                                                '""', '"a  b\\tc"', '"\\"unclosed"']), st.text(max_size=8).map(_text)))
    process = _obj(draw(fields({
        "exec_id": _text("bm9kZQ=="), "pid": "4242", "uid": draw(st.sampled_from(["0", "1000"])), "cwd": _text("/app"),
        "binary": draw(st.sampled_from(['"/bin/sh"', '"/usr/bin/curl"', '"/tmp/x"'])), "arguments": arguments,
        "flags": _text("execve"), "start_time": _text("2026-11-02T09:15:26Z"), "auid": "4294967295",
        "user": '{"name":"alice"}', "cap": caps, "pod": pod, "docker": _text("4f2a9c0"), "refcnt": "1",
    })), space)
    parent = _obj(draw(fields({"pid": "4241", "binary": _text("/bin/bash"), "arguments": _text("-l"),
                               "cwd": _text("/")})), space)
    kind = draw(st.sampled_from(["process_exec", "process_exec", "process_kprobe", "process_connect",
                                 "process_exit"]))
    body_fields = {"process": process, "parent": parent}
    if kind == "process_kprobe":
        sock = _obj(draw(fields({"family": _text("AF_INET"), "daddr": _text("10.96.0.1"), "dport": "443",
                                 "saddr": _text("10.244.1.2")})), space)
        body_fields["function_name"] = draw(st.sampled_from(['"tcp_connect"', '"__sys_connect"', '"tcp_close"']))
        body_fields["args"] = draw(st.sampled_from([f'[{{"sock_arg":{sock}}}]',
                                                    '[{"sockaddr_arg":{"addr":"1.2.3.4","port":80}}]', "[]", "{}"]))
    elif kind == "process_connect":
        body_fields["destination_ip"] = draw(st.sampled_from(['"10.0.0.9"', '""', "5"]))
        body_fields["destination_port"] = draw(st.sampled_from(["8080", '"8080"', "true"]))
    body = _obj(draw(fields(body_fields)), space)
    top = [(_key(kind, draw(st.integers(0, 15)) == 15), draw(ODD) if draw(st.integers(0, 20)) == 20 else body),
           (_text("node_name"), draw(st.one_of(st.just('"node-a"'), ODD))),
           (_text("time"), draw(st.one_of(st.just('"2026-11-02T09:15:27.401327Z"'), ODD)))]
    second = draw(st.integers(0, 12))
    if second == 12:
        top.append((_text("process_exit"), "{}"))
    elif second == 11:
        top.append((_text("records"), "[]"))
    text = _obj(draw(st.permutations(top)), space)
    return text.encode("utf-8", errors="surrogateescape")


@settings(max_examples=600, deadline=None)
@given(lines(), st.sampled_from(["", "override-host"]))
def test_typed_decoding_equals_the_dict_path_or_declines(line, host):
    _same(line, host)


def test_the_typed_path_takes_ordinary_records():
    process = {"pid": 7, "uid": 0, "binary": "/usr/bin/curl", "arguments": '-s "http://x/ a" -k', "cwd": "/",
               "cap": {"effective": ["CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_PTRACE",
                                     "NET_ADMIN"]},
               "pod": {"namespace": "ns", "name": "p", "container": {"id": "containerd://abc", "name": "c",
                                                                     "image": {"name": "img:1"}}}}
    execs = [{"process_exec": {"process": process, "parent": {"pid": 6, "binary": "/bin/sh"}},
              "time": "2026-11-02T09:15:27Z"},
             {"time": "2026-11-02T09:15:27Z", "node_name": "n1", "process_exec": {"process": {"binary": "/x"}}}]
    connects = [{"process_kprobe": {"process": process, "function_name": "tcp_connect",
                                    "args": [{"sock_arg": {"daddr": "10.0.0.1", "dport": 443}}]}},
                {"process_connect": {"destination_ip": "10.0.0.2", "destination_port": 80}, "node_name": "n2"}]
    for record in execs + connects:
        assert _same(orjson.dumps(record)), record
        assert _same(orjson.dumps(record, option=orjson.OPT_INDENT_2).replace(b"\n", b""))
    event = tetragon.tetragon_line_decoder(ParseContext())(orjson.dumps(execs[0]), REF)
    assert isinstance(event, ProcessExec) and event.privileged is True and event.container_id == "abc"
    assert event.argv == ["/usr/bin/curl", "-s", "http://x/ a", "-k"]
    assert type(RAW_SLOT.__get__(event)).__name__ == "LazyJson"
    assert event.raw == execs[0]  # decoded on first read, once
    assert type(RAW_SLOT.__get__(event)) is dict
    conn = tetragon.tetragon_line_decoder(ParseContext())(orjson.dumps(connects[0]), REF)
    assert isinstance(conn, NetConnection) and conn.destination_port == 443


def test_alerts_and_rejections_the_same_with_typed_decoding_off(monkeypatch):
    def rec(binary: str, args: str, **extra: object) -> bytes:
        return orjson.dumps({"process_exec": {"process": {"pid": 10, "binary": binary, "arguments": args,
                                                          "pod": {"namespace": "shop", "name": "web-1", "container": {
                                                              "id": "containerd://" + "ab" * 32, "name": "web"}}},
                                              "parent": {"pid": 9, "binary": "/bin/bash"}},
                             "node_name": "node-a", "time": "2026-11-02T09:15:27Z", **extra})
    data = b"\n".join([
        rec("/usr/sbin/sshd", "-D"), rec("/usr/local/bin/kubectl", "get secrets -A"),
        b'{"process_exec":{"process":{"binary":"/bin/sh","arguments":5}}}', b"{broken",
        b'{"process_exec":"x"}', rec("/tmp/\xffminer", "-o pool:3333").replace(b"\\u00ff", b"\xff"),
        rec("/tmp/go-build1/b001/exe/main", "-url https://c2.example:443", n=1e300),
        b'{"process_kprobe":{"function_name":"tcp_close","process":{"binary":"/x"}}}',
        b'{"process_exit":{"process":{"binary":"/x"}},"time":"2026-11-02T09:15:28Z"}',
    ]) + b"\n"

    def run() -> tuple[list, list, int]:
        pipe = Pipeline()
        pipe.run_input(InputFile.from_bytes(data, "tetragon.jsonl"))
        return ([a.to_dict() for a in pipe.finish()], [(r.where, r.reason) for r in pipe.stats.rejections],
                pipe.stats.events)

    typed = run()
    monkeypatch.setattr(tetragon, "FAST_DECODE", False)
    assert run() == typed
    assert typed[0] and len(typed[1]) == 3


def _split_by_character(arguments: str) -> list[str]:
    """The character-at-a-time reading `split_arguments` replaced (its specification)."""
    if '"' not in arguments:
        return arguments.split()
    out: list[str] = []
    word: list[str] = []
    quoted = has_word = False
    for ch in arguments:
        if ch == '"':
            quoted = not quoted
            has_word = True
        elif ch in " \t" and not quoted:
            if has_word:
                out.append("".join(word))
                word, has_word = [], False
        else:
            word.append(ch)
            has_word = True
    if has_word:
        out.append("".join(word))
    return out


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=st.sampled_from(['"', " ", "\t", "a", "b", "\n", "\u00a0"]), max_size=14))
def test_split_arguments_reads_as_character_by_character(arguments):
    assert tetragon.split_arguments(arguments) == _split_by_character(arguments)


@settings(max_examples=300, deadline=None)
@given(lines())
def test_lines_the_raw_filter_skips_give_no_event(line):
    if not tetragon._may_have_event(line, 0, len(line)):
        assert not _general(line, "")
