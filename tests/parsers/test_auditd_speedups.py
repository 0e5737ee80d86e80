"""The optional C twins of the auditd decoder's field readers (`cloudward._auditd`) give exactly the
pure-Python answers, on generated records and on the awkward cases; and the decoder gives the same events
with the extension switched off."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudward.parsers import auditd
from cloudward.parsers.base import ParseContext

fast = pytest.importorskip("cloudward._auditd")

# values the way audit writes them, and the ways a damaged or hostile record could hold them
_pieces = st.sampled_from([
    b'"', b"=", b" ", b"(null)", b"a", b"0", b"f", b"F", b"g", b"\x00", b"\xff", b"\xe2\x82", b"\xe2\x82\xac",
    b"a0", b"_len", b"[", b"]", b"pid", b"ppid", b"uid", b"exe", b"comm", b"arch", b"syscall", b"success",
    b"euid", b"auid", b"00", b"2f62696e", b"\t", b"\n",
])
_blob = st.lists(_pieces, max_size=24).map(b"".join)
_value = st.one_of(
    _blob,
    st.binary(max_size=40),
    st.binary(max_size=30).map(lambda b: b'"' + b.replace(b" ", b"_") + b'"'),
    st.binary(max_size=30).map(lambda b: b.hex().encode()),
    st.binary(max_size=30).map(lambda b: b.hex().upper().encode()),
)
_key = st.sampled_from([b"arch", b"syscall", b"success", b"pid", b"ppid", b"uid", b"euid", b"auid", b"exe",
                        b"comm", b"a0", b"a1", b"a12", b"a1_len", b"argc", b"key", b"x", b"", b"a"])
_token = st.one_of(st.tuples(_key, _value).map(lambda kv: kv[0] + b"=" + kv[1].replace(b" ", b"")), _blob)
_record = st.lists(_token, max_size=12).map(b" ".join)


@settings(max_examples=400, deadline=None)
@given(_value)
def test_value_text_matches_python(value: bytes) -> None:
    assert fast.value_text(value) == auditd._py_value_text(value)


@settings(max_examples=400, deadline=None)
@given(_record)
def test_syscall_fields_matches_python(record: bytes) -> None:
    assert fast.syscall_fields(record) == auditd._py_syscall_fields(b" " + record)


@settings(max_examples=400, deadline=None)
@given(_record)
def test_execve_args_matches_python(record: bytes) -> None:
    assert fast.execve_args(record) == auditd._py_execve_args(record)


@pytest.mark.parametrize("value", [b"", b'"', b'""', b'"x', b'x"', b"(null)", b"(NULL)", b"2f", b"2", b"2g",
                                   b"00", b"2F62696E0073", b"\xff\xfe", b'"\xe2\x82"', b'"a\x00b"', b"e282",
                                   b"41" * 600])
def test_value_text_edge_cases(value: bytes) -> None:
    assert fast.value_text(value) == auditd._py_value_text(value)


def test_real_records() -> None:
    syscall = (b"arch=c000003e syscall=59 success=yes exit=0 a0=7f2a a1=7f2b a2=7f2c a3=8 items=2 ppid=22968 "
               b"pid=24492 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) "
               b'ses=4294967295 comm="true" exe="/usr/bin/true" key="cloudward_agent_exec"')
    fields = fast.syscall_fields(syscall)
    assert fields[b"pid"] == b"24492" and fields[b"ppid"] == b"22968" and fields[b"exe"] == b'"/usr/bin/true"'
    assert fields == auditd._py_syscall_fields(b" " + syscall)
    execve = b'argc=4 a0="/bin/sh" a1="-c" a2=6563686F20686920746865726500 a3="x"'
    assert fast.execve_args(execve) == ["/bin/sh", "-c", "echo hi there\ufffd", "x"]


def test_rejects_other_types() -> None:
    for fn in (fast.value_text, fast.syscall_fields, fast.execve_args):
        with pytest.raises(TypeError):
            fn("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fast.whole_event("text", 0, 4)  # type: ignore[arg-type]


def _events(data: bytes) -> list[tuple]:
    ctx = ParseContext(host="h")
    dec = auditd.Auditd().decoder(ctx, "f.log")
    events = dec.feed(data) + dec.close()
    return [(type(e).__name__, e.event_id, e.pid, e.ppid, getattr(e, "argv", None), e.executable,
             getattr(e, "cwd", None), e.user, e.uid, getattr(e, "euid", None), getattr(e, "auid", None),
             e.raw, e.origin) for e in events] + [(ctx.stats.lines, ctx.stats.skipped, ctx.stats.rejected)]


def test_decoder_same_without_the_extension(monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"".join(p.read_bytes() for p in sorted((Path(__file__).parents[1] / "data" / "host").rglob("*audit*"))
                    if p.is_file())
    assert data, "no auditd samples found under tests/data/host"
    with_c = _events(data)
    monkeypatch.setattr(auditd, "_c_syscall_fields", None)
    monkeypatch.setattr(auditd, "_value_text", auditd._py_value_text)
    monkeypatch.setattr(auditd, "_execve_args", auditd._py_execve_args)
    monkeypatch.setattr(auditd, "_whole_event", auditd._py_whole_event)
    monkeypatch.setattr(auditd, "_exec_event", None)
    assert _events(data) == with_c
    assert len(with_c) > 10


# -- whole events: the C matcher against the regular expression it replaces -----------------------------------
_stamps = st.sampled_from([b"1795931077.157:12889", b"1795931077.157:12890", b"1.2:3", b"", b"1.2:3x", b"9"])
_types = st.sampled_from([b"SYSCALL", b"EXECVE", b"CWD", b"PATH", b"SOCKADDR", b"PROCTITLE", b"EOE", b"BPRM_FCAPS",
                          b"EXECVEX", b"PATH ", b"CW"])
_bodies = st.one_of(st.sampled_from([b'argc=2 a0="ls" a1="-l"', b'cwd="/"', b"proctitle=6C73", b"saddr=0200",
                                     b"", b"x\ry", b"a\x00b", b"): x", b"msg=audit(1.2:3): y", b"\x1dUID=\"root\""]),
                    st.binary(max_size=12))


@st.composite
def _event_block(draw: st.DrawFn) -> bytes:
    """A whole event (SYSCALL, records between, PROCTITLE or EOE), then a few damages: a line of another
    stamp or type, a CR, NUL or line break inside, a cut, junk around."""
    stamp = draw(_stamps)
    mids = [b"type=" + draw(st.sampled_from([b"EXECVE", b"CWD", b"PATH", b"SOCKADDR"])) + b" msg=audit(" + stamp
            + b"): " + draw(_bodies) for _ in range(draw(st.integers(0, 5)))]
    final = b"type=" + draw(st.sampled_from([b"PROCTITLE", b"EOE"])) + b" msg=audit(" + stamp + b"): " + draw(_bodies)
    lines = [b"type=SYSCALL msg=audit(" + stamp + b"): " + draw(_bodies), *mids, final]
    for _ in range(draw(st.integers(0, 2))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.integers(0, 4))
        if kind == 0:
            lines[i] = lines[i].replace(stamp, draw(_stamps), 1) if stamp else lines[i]
        elif kind == 1:
            lines[i] = lines[i].replace(lines[i][5:lines[i].find(b" ")], draw(_types), 1)
        elif kind == 2 and lines[i]:
            j = draw(st.integers(0, len(lines[i]) - 1))
            lines[i] = lines[i][:j] + draw(st.sampled_from([b"\r", b"\x00", b"\n", b")", b" "])) + lines[i][j + 1:]
        elif kind == 3:
            lines.insert(i, b"type=" + draw(_types) + b" msg=audit(" + draw(_stamps) + b"): " + draw(_bodies))
        else:
            lines = lines[:i + 1]
    return b"\n".join(lines) + draw(st.sampled_from([b"", b"\n", b"\n\n", b"\r\n", b"\ntype=SYSCALL"]))


@settings(max_examples=800, deadline=None)
@given(_event_block(), st.data())
def test_whole_event_matches_the_regular_expression(block: bytes, data: st.DataObject) -> None:
    prefix = data.draw(st.sampled_from([b"", b"x\n", b"type=SYSCALL msg=audit(1.2:3): a\n"]))
    buf = prefix + block
    pos = data.draw(st.sampled_from([0, len(prefix)]))
    end = data.draw(st.sampled_from([len(buf), max(pos, len(buf) - 1), len(buf) + 5,
                                     data.draw(st.integers(0, len(buf)))]))
    assert fast.whole_event(buf, pos, end) == auditd._py_whole_event(buf, pos, end)


def test_whole_event_real_records() -> None:
    data = (Path(__file__).parents[1] / "data" / "host" / "recorded" / "audit-raw.log").read_bytes()
    pos = matched = 0
    while pos < len(data):
        got = fast.whole_event(data, pos, len(data))
        assert got == auditd._py_whole_event(data, pos, len(data))
        if got is not None:
            matched += 1
            pos = got[1]
        else:
            pos = data.find(b"\n", pos) + 1 or len(data)
    assert matched > 5
    one = (b'type=SYSCALL msg=audit(1.5:7): pid=1 exe="/bin/x"\ntype=EXECVE msg=audit(1.5:7): argc=1 a0="x"\n'
           b'type=CWD msg=audit(1.5:7): cwd="/"\ntype=PATH msg=audit(1.5:7): item=0\n'
           b"type=PROCTITLE msg=audit(1.5:7): proctitle=78")
    assert fast.whole_event(one, 0, len(one)) == (b"1.5:7", len(one), b'pid=1 exe="/bin/x"', [b'argc=1 a0="x"'],
                                                 b'cwd="/"', None, b"proctitle=78")


_VALUES = st.one_of(st.sampled_from([b'"root"', b'""', b"(null)", b"2F746D70", b"2F7A", b"zz", b'"a', b'"/usr/bin/x"']),
                    st.binary(max_size=12))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([b"SYSCALL", b"UID", b"AUID", b"ARCH", b"xUID", b"cwd", b"x"]), _VALUES),
                max_size=6), st.booleans())
def test_remembered_values_are_the_values(pairs: list[tuple[bytes, bytes]], twice: bool) -> None:
    """The per-value memos of `Auditd._event` (ENRICHED names, executables, working directories) answer what
    the field-by-field reading answers, the first time and when remembered."""
    body = b" ".join(k + b"=" + v for k, v in pairs)
    for _ in range(2 if twice else 1):
        uname = auditd._field(b" " + body, b" UID=")
        cached = auditd._NAMES.get(body) or auditd._enriched_names(body)
        assert cached == (auditd._field(b" " + body, b" SYSCALL="), auditd._value_text(uname) if uname else None)
        cwd = auditd._CWDS.get(body) or auditd._cwd_text(body)
        assert cwd == auditd._value_text(auditd._field(b" " + body, b" cwd=") or b"")
        for _, v in pairs:
            assert auditd._text_of(v) == auditd._value_text(v)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.sampled_from([b"0", b"1000", b"4294967295", b"-1", b"+5", b"1_0", b" 7", b"x", b""]),
                 st.binary(max_size=8)))
def test_remembered_ids_are_the_ids(value: bytes | None) -> None:
    assert auditd._id(value) == auditd._int(value)
    assert (auditd._IDS[value] if value in auditd._IDS else auditd._id(value)) == auditd._int(value)
