"""The C builder of whole exec events (`_auditd.exec_event`) gives exactly the `ProcessExec` that the Python
path (`Auditd._event`) gives, or declines (None) and leaves the event to it: on every auditd corpus in
tests/data, on the benchmark generator's log, and on generated and damaged records."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudward.events import ProcessExec
from cloudward.parsers import auditd
from cloudward.parsers.base import ParseContext

fast = pytest.importorskip("cloudward._auditd")
if auditd._exec_event is None:  # pragma: no cover - built, but set-up refused the event class
    pytest.fail("the C exec builder is built but not in use")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import host_bench  # noqa: E402


def _fields(event: object) -> tuple:
    """Every field of an event, its class and the types of its values (True == 1, 1.0 == 1 in Python)."""
    values = tuple(getattr(event, f.name) for f in dataclasses.fields(event))  # type: ignore[arg-type]
    return (type(event).__name__, values, tuple(type(v).__name__ for v in values))


def _decode(data: bytes, host: str = "") -> tuple[list[tuple], tuple[int, int, int, int]]:
    ctx = ParseContext(host=host)
    dec = auditd.Auditd().decoder(ctx, "f.log")
    events = []
    for i in range(0, len(data), 1 << 14):
        events += dec.feed(data[i : i + (1 << 14)])
    events += dec.close()
    s = ctx.stats
    return [_fields(e) for e in events], (s.lines, s.events, s.skipped, s.rejected)


def _corpora(tmp_path: Path) -> list[bytes]:
    found = [p.read_bytes() for p in sorted((ROOT / "tests" / "data").rglob("*.log"))
             if b" msg=audit(" in p.read_bytes()[:4096]]
    assert len(found) >= 2, "no auditd corpora under tests/data"
    generated = tmp_path / "audit.log"
    host_bench.write_audit(generated, 3000)
    return [*found, generated.read_bytes()]


def test_same_events_as_the_python_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = [0, 0]
    runs = [0]

    def counting(*args: object) -> ProcessExec | None:
        calls[0] += 1
        got = fast.exec_event(*args)
        calls[1] += got is not None
        return got

    def counting_run(*args: Any) -> tuple[int, int]:
        out = args[-1]
        before = len(out)
        got = fast.exec_run(*args)
        runs[0] += len(out) - before
        return got  # type: ignore[no-any-return]

    for data in _corpora(tmp_path):
        for host in ("", "node-1"):
            monkeypatch.setattr(auditd, "_exec_run", counting_run)
            with_run = _decode(data, host)
            monkeypatch.setattr(auditd, "_exec_run", None)
            monkeypatch.setattr(auditd, "_exec_event", counting)
            with_c = _decode(data, host)
            monkeypatch.setattr(auditd, "_exec_event", None)
            assert _decode(data, host) == with_c == with_run
    # the builders did the work (not a test of a path that always declines)
    assert calls[1] > 3000 and calls[1] > 0.9 * calls[0]
    assert runs[0] >= calls[1] * 0.9


# -- generated and damaged records, each straight through both builders ------------------------------------
_ids = st.sampled_from([b"0", b"1000", b"33", b"4294967295", b"-1", b"+5", b"1_0", b"007", b"", b"x", b"9" * 19,
                        b"123456789012345678", b"\xff"])
_texts = st.sampled_from([b'"/usr/bin/ls"', b'""', b'"', b"(null)", b"2F746D702F78", b"2F7A0041", b"zz", b'"\xe2\x82"',
                          b'"a\xffb"', b"", b"2f"])
_args = st.lists(st.one_of(_texts, st.binary(max_size=6).map(lambda b: b.replace(b" ", b"").replace(b"\n", b""))),
                 max_size=4)


@st.composite
def _exec_records(draw: st.DrawFn) -> tuple[bytes, bytes, list[bytes], bytes | None, bytes]:
    """(stamp, SYSCALL body as it reaches `_event`, EXECVE bodies, CWD body, ENRICHED part)"""
    stamp = draw(st.sampled_from([b"1795931077.157:12889", b"1.5:7", b":7", b"1..2:3", b"12", b"1.", b".5:1",
                                  b"9" * 70 + b":1", b"", b"1.2:3:4"]))
    # mostly an ordinary record (so the builder builds), each field sometimes missing, doubled or damaged
    good = {"arch": b"c000003e", "syscall": b"59", "success": b"yes", "pid": b"24492", "ppid": b"1", "uid": b"0",
            "euid": b"1000", "auid": b"4294967295", "exe": b'"/usr/bin/ls"', "comm": b'"ls"'}
    values = {"arch": st.sampled_from([b"c000003e", b"c00000b7", b"zz"]),
              "syscall": st.sampled_from([b"59", b"42", b"1"]), "success": st.sampled_from([b"yes", b"no", b""]),
              "exe": _texts, "comm": _texts}
    tokens = []
    for k, v in good.items():
        how = draw(st.sampled_from(["good", "good", "good", "other", "gone", "twice"]))
        if how == "gone":
            continue
        tokens.append(k.encode() + b"=" + (v if how == "good" else draw(values.get(k, _ids))))
        if how == "twice":
            tokens.append(k.encode() + b"=" + draw(values.get(k, _ids)))
    tokens += draw(st.lists(st.sampled_from([b"x=1", b"key=(null)", b"items=2", b"=", b"pid"]), max_size=2))
    syscall = b" ".join(draw(st.permutations(tokens)) if draw(st.booleans()) else tokens)
    argc = draw(st.sampled_from([b"argc=2", b"argc=0", b"x"]))
    args = draw(st.one_of(st.just([b'"ls"', b"2D6C2061"]), _args))
    body = b" ".join([argc, *(b"a%d=%s" % (i, a) for i, a in enumerate(args))])
    body += draw(st.sampled_from([b"", b"", b"", b" a1_len=4", b" a0[0]=78", b" b=1", b" a"]))
    execve = draw(st.sampled_from([[body], [body], [body, body], []]))
    cwd = draw(st.one_of(st.none(), st.sampled_from([b'cwd="/root"', b"cwd=2F746D70", b'cwd=""', b"", b"x=1",
                                                     b'cwd="/a" cwd="/b"', b"xcwd=1"])))
    enriched = draw(st.sampled_from([b"", b'ARCH=x86_64 SYSCALL=execve AUID="unset" UID="root" GID="root"',
                                     b'UID="www-data"', b"UID=", b'UID=""', b"AUID=x", b"UID=616263 EUID=x",
                                     b'SYSCALL=execve AUID="unset"', b"xUID=1 UID=2", b'UID="a\x00b"']))
    return stamp, syscall, execve, cwd, enriched


_junk = st.lists(st.sampled_from([b"\n", b"\xe2\x82", b"\xe2\x82\xac", b"\xff", b"\xf0\x9f", b"a", b"\x1d", b"\xc3"]),
                 max_size=8).map(b"".join)


@settings(max_examples=1500, deadline=None)
@given(_exec_records(), st.sampled_from(["", "node-1"]), st.sampled_from([b"", b"\n"]), _junk)
def test_builder_is_the_python_path_or_declines(records: tuple, host: str, tail: bytes, junk: bytes) -> None:
    stamp, syscall, execve, cwd, enriched = records
    text = b"type=SYSCALL msg=audit(x): " + syscall + b"\ntype=EXECVE \xff\xfe x" + junk + tail
    buf = b"junk" + text + b"more"
    got = fast.exec_event(stamp, "f.log:3", syscall, enriched, execve, cwd, buf, 4, 4 + len(text), host)
    ctx = ParseContext(host=host)
    records = text[:-1] if text.endswith(b"\n") else text  # (what take_block hands `_event`)
    want = auditd.Auditd()._event(stamp, b"", "f.log:3", syscall, enriched, execve, cwd, None, None, records, ctx)
    if got is not None:
        assert want is not None and _fields(got) == _fields(want)
        assert got.raw == {"records": records.decode("utf-8", "replace").split("\n")}
        assert (ctx.stats.skipped, ctx.stats.rejected) == (0, 0)


def test_builds_the_ordinary_event() -> None:
    """The common case is built (not declined), with fresh lists of its own and every default."""
    syscall = (b"arch=c000003e syscall=59 success=yes exit=0 ppid=22968 pid=24492 auid=4294967295 uid=0 euid=0 "
               b'comm="ls" exe="/usr/bin/ls"')
    text = b"type=SYSCALL ...\ntype=EXECVE ...\n"
    args = ("1.5:7", "f.log:1", syscall, b'UID="root"', [b'argc=2 a0="ls" a1=2D6C2061'], b'cwd="/tmp"',
            text, 0, len(text), "h")
    one, two = fast.exec_event(b"1.5:7", *args[1:]), fast.exec_event(b"1.5:7", *args[1:])
    assert type(one) is ProcessExec
    assert (one.event_id, one.time, one.pid, one.ppid, one.uid, one.euid, one.auid, one.user) == (
        "1.5:7", 1.5, 24492, 22968, 0, 0, None, "root")
    assert (one.argv, one.command_line, one.executable, one.cwd, one.host, one.origin) == (
        ["ls", "-l a"], "ls -l a", "/usr/bin/ls", "/tmp", "h", "f.log:1")
    assert one.raw == {"records": ["type=SYSCALL ...", "type=EXECVE ..."]} and one.os == "linux"
    assert one.ancestors == [] and one.ancestors is not two.ancestors and one.intel is not two.intel
    assert one == two


def test_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError):
        fast.exec_event("1.5:7", "w", b"", b"", [], None, b"", 0, 0, "")  # type: ignore[arg-type]
    memos = ({}, {}, {}, 512, 16)
    with pytest.raises(TypeError):  # another class's slot
        fast.exec_setup(dict, (("event_id", ProcessExec.__dict__["pid"], None, False),), {}, *memos)
    with pytest.raises(TypeError):  # a property is no slot
        fast.exec_setup(ProcessExec, (("raw", ProcessExec.__dict__["raw"], None, False),), {}, *memos)
    with pytest.raises(TypeError):  # a field the builder fills is missing
        fast.exec_setup(ProcessExec, (("pid", ProcessExec.__dict__["pid"], 0, False),), {}, *memos)


def test_shares_the_python_memos() -> None:
    """One string per distinct executable, working directory and user name, held in the same memos the Python
    path fills (a held event then costs its own values only)."""
    syscall = b'pid=5 uid=7 exe="/opt/memo-test/bin"'
    args = ("f.log:1", syscall, b'UID="memo-user"', [b'argc=1 a0="x"'], b'cwd="/memo-test"', b"t\n", 0, 2, "")
    one, two = fast.exec_event(b"1.5:7", *args), fast.exec_event(b"1.5:8", *args)
    assert one.executable is two.executable and one.cwd is two.cwd and one.user is two.user
    assert auditd._EXES[b'"/opt/memo-test/bin"'] is one.executable and auditd._CWDS[b'cwd="/memo-test"'] is one.cwd
    assert auditd._NAMES[b'UID="memo-user"'] == (None, "memo-user")


def _block(stamp: str, argv: str = 'argc=1 a0="x"') -> bytes:
    return (f'type=SYSCALL msg=audit({stamp}): arch=c000003e syscall=59 success=yes pid=5 uid=0 exe="/bin/x"\n'
            f"type=EXECVE msg=audit({stamp}): {argv}\ntype=PROCTITLE msg=audit({stamp}): proctitle=78\n").encode()


def test_exec_run_stops_where_the_python_path_must_read() -> None:
    first, second = _block("1.5:7"), _block("1.5:8")
    buf = first + second + _block("1.5:9", 'argc=1 a0[0]="x"') + _block("1.6:1")
    out: list[Any] = []
    assert fast.exec_run(buf, 0, len(buf), "f.log", 10, "h", 4096, set(), out) == (len(first + second), 16)
    assert [(e.event_id, e.origin) for e in out] == [("1.5:7", "f.log:11"), ("1.5:8", "f.log:14")]
    out.clear()  # an event of a poisoned stamp, or longer than the limit, is left to the Python path
    assert fast.exec_run(buf, 0, len(buf), "f.log", 0, "h", 4096, {b"1.5:8"}, out) == (len(first), 3)
    assert fast.exec_run(buf, 0, len(buf), "f.log", 0, "h", len(first) - 1, set(), []) == (0, 0)
    assert fast.exec_run(buf, 0, first.find(b"PROCTITLE"), "f.log", 0, "h", 4096, set(), []) == (0, 0)  # cut short
    out.clear()  # (as `whole_event`: the last record may end at the end of the range without its line break)
    assert fast.exec_run(buf, 0, len(first) - 1, "f.log", 0, "h", 4096, set(), out) == (len(first) - 1, 3)
    assert out[0].raw == {"records": first.decode().rstrip("\n").split("\n")}
