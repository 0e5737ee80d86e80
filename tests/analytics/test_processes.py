"""Interpreter command lines: a command string is never a script path (property-tested)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cloudward.analytics.processes import CODE, MODULE, NOTHING, SCRIPT, STDIN, InterpreterArgs
from cloudward.datalists import DataLists

READER = InterpreterArgs(DataLists())

SHELLS = ["sh", "bash", "/bin/dash", "/usr/bin/zsh", "ksh", "busybox"]
#: shell flags that take no argument, and the long ones
SHELL_FLAGS = list("aefhimnuvxCEP")
SHELL_LONG = ["--norc", "--noprofile", "--login", "--posix", "--restricted", "--noediting"]
#: free text, including what looks like a relative path or an option inside the string
TEXT = st.text(min_size=1, max_size=40).filter(lambda s: s[0] not in "-+")


def test_issue_example() -> None:
    run = READER.read(["bash", "--norc", "-ec", "IFS=:; set -- $PATH"], "/usr/bin/bash")
    assert run is not None and (run.kind, run.text, run.index) == (CODE, "IFS=:; set -- $PATH", 3)


def test_known_forms() -> None:
    cases = {
        ("sh", "-c", "ls /tmp"): (CODE, "ls /tmp"),
        ("bash", "-lc", "x"): (CODE, "x"),
        ("bash", "-xc", "x"): (CODE, "x"),
        ("bash", "-c", "-e", "x"): (CODE, "x"),
        ("bash", "-o", "pipefail", "-c", "x"): (CODE, "x"),
        ("bash", "-o", "pipefail", "run.sh"): (SCRIPT, "run.sh"),
        ("bash", "--rcfile", "/etc/rc", "job.sh", "a"): (SCRIPT, "job.sh"),
        ("bash", "-s"): (STDIN, ""),
        ("bash",): (NOTHING, ""),
        ("bash", "-i"): (NOTHING, ""),
        ("bash", "--", "-weird.sh"): (SCRIPT, "-weird.sh"),
        ("busybox", "sh", "-c", "id"): (CODE, "id"),
        ("python3", "-c", "print(1)"): (CODE, "print(1)"),
        ("python3", "-uc", "print(1)"): (CODE, "print(1)"),
        ("python3", "-cprint(1)"): (CODE, "print(1)"),
        ("python3", "-c", "-x"): (CODE, "-x"),
        ("python3", "-W", "ignore", "tool.py"): (SCRIPT, "tool.py"),
        ("python3", "-m", "http.server"): (MODULE, "http.server"),
        ("python3", "-"): (STDIN, ""),
        ("perl", "-ne", "print"): (CODE, "print"),
        ("perl", "-e'print 1'"): (CODE, "'print 1'"),
        ("perl", "-I", "/lib", "x.pl"): (SCRIPT, "x.pl"),
        ("perl", "-i", "x.pl"): (SCRIPT, "x.pl"),
        ("perl", "-Mstrict", "-e", "1"): (CODE, "1"),
        ("ruby", "-e", "puts 1"): (CODE, "puts 1"),
        ("ruby", "-r", "json", "x.rb"): (SCRIPT, "x.rb"),
        ("node", "-e", "require('x')"): (CODE, "require('x')"),
        ("node", "--eval=1+1"): (CODE, "1+1"),
        ("node", "-r", "dotenv/config", "app.js"): (SCRIPT, "app.js"),
        ("php", "-r", "echo 1;"): (CODE, "echo 1;"),
        ("php", "-c", "/etc/php.ini", "-f", "x.php"): (SCRIPT, "x.php"),
        ("php8.2", "-d", "a=b", "x.php"): (SCRIPT, "x.php"),
    }
    for argv, (kind, text) in cases.items():
        run = READER.read(list(argv))
        assert run is not None, argv
        assert (run.kind, run.text) == (kind, text), (argv, run)


def test_other_programs_are_not_interpreters() -> None:
    assert READER.read(["ls", "-c", "x"]) is None
    assert READER.read(["cat", "/tmp/x"], "/usr/bin/cat") is None
    assert READER.read([]) is None


@st.composite
def shell_options(draw: st.DrawFn, with_c: bool) -> list[str]:
    out: list[str] = []
    for _ in range(draw(st.integers(0, 4))):
        choice = draw(st.integers(0, 2))
        if choice == 0:
            out.append(draw(st.sampled_from(SHELL_LONG)))
        elif choice == 1:
            out += ["-o", draw(st.sampled_from(["pipefail", "errexit", "nounset"]))]
        else:
            letters = draw(st.lists(st.sampled_from(SHELL_FLAGS), min_size=1, max_size=4))
            out.append(draw(st.sampled_from("-+")) + "".join(letters))
    if with_c:
        letters = draw(st.lists(st.sampled_from(SHELL_FLAGS), max_size=3))
        at = draw(st.integers(0, len(letters)))
        group = "-" + "".join(letters[:at]) + "c" + "".join(letters[at:])
        out.insert(draw(st.integers(0, len(out))) if out and "-o" not in out else len(out), group)
    return out


@settings(max_examples=150, deadline=None)
@given(shell=st.sampled_from(SHELLS), options=shell_options(with_c=True), code=TEXT,
       rest=st.lists(st.text(max_size=10), max_size=3))
def test_shell_command_string_is_code(shell: str, options: list[str], code: str, rest: list[str]) -> None:
    argv = [shell, *(["sh"] if shell == "busybox" else []), *options, code, *rest]
    run = READER.read(argv)
    assert run is not None
    assert run.kind == CODE and run.text == code and argv[run.index] == code


@settings(max_examples=150, deadline=None)
@given(shell=st.sampled_from(SHELLS), options=shell_options(with_c=False), script=TEXT,
       rest=st.lists(st.text(max_size=10), max_size=3))
def test_shell_script_operand_is_script(shell: str, options: list[str], script: str, rest: list[str]) -> None:
    argv = [shell, *(["sh"] if shell == "busybox" else []), *options, script, *rest]
    run = READER.read(argv)
    assert run is not None
    assert run.kind == SCRIPT and run.text == script


@settings(max_examples=200, deadline=None)
@given(argv0=st.sampled_from(["python3", "perl", "ruby", "node", "php"]),
       flags=st.lists(st.sampled_from(["-u", "-B", "-E", "-s", "-w", "-n", "-l", "-S", "-v"]), max_size=3),
       code=st.text(max_size=40))
def test_inline_code_flags(argv0: str, flags: list[str], code: str) -> None:
    code_flag = {"python3": "-c", "perl": "-e", "ruby": "-e", "node": "-e", "php": "-r"}[argv0]
    usable = {"python3": {"-u", "-B", "-E", "-s"}, "perl": {"-w", "-n", "-l"}, "ruby": {"-w", "-n", "-l", "-v"},
              "node": set(), "php": {"-n"}}[argv0]
    argv = [argv0, *(f for f in flags if f in usable), code_flag, code]
    run = READER.read(argv)
    assert run is not None and run.kind == CODE and run.text == code


@settings(max_examples=150, deadline=None)
@given(argv=st.lists(st.text(max_size=12), min_size=1, max_size=8),
       exe=st.sampled_from(["", "/bin/bash", "/usr/bin/python3", "/usr/bin/perl", "/usr/bin/php", "/bin/ls"]))
def test_any_command_line_is_read_without_error(argv: list[str], exe: str) -> None:
    run = READER.read(argv, exe)
    if run is not None:
        assert run.kind in (CODE, SCRIPT, MODULE, STDIN, NOTHING)
        if run.index >= 0:
            assert argv[run.index] == run.text


@settings(max_examples=200, deadline=None)
@given(argv=st.lists(st.sampled_from(["sh", "bash", "-c", "-e", "-ec", "x.sh", "./a", "python3", "-m", "-", "--", ""]),
                     min_size=1, max_size=6),
       exe=st.sampled_from(["", "/bin/bash", "/usr/bin/python3", "/bin/busybox", "/bin/ls"]))
def test_remembered_reads_are_the_reads(argv: list[str], exe: str) -> None:
    """`read` remembers its answer per (executable, argv): asked again, or by a reader that never saw it,
    the answer is the same."""
    first = READER.read(argv, exe)
    assert READER.read(list(argv), exe) == first == InterpreterArgs(DataLists())._read_uncached(argv, exe)


def test_remembered_web_origins_follow_every_input() -> None:
    from cloudward.analytics.processes import WebContext
    from cloudward.events import ProcessExec

    web = WebContext(DataLists())

    def origins(**fields: object) -> tuple[str, str]:
        return web.origins(ProcessExec(event_id="x", **fields))  # type: ignore[arg-type]

    assert origins(parent_executable="/usr/sbin/php-fpm8.2")[0] == "descendant of php-fpm8.2"
    assert origins(parent_executable="/usr/bin/bash")[0] == ""
    assert origins(parent_executable="/usr/bin/bash", ancestors=["/usr/bin/bash", "/usr/sbin/apache2"])[0] == (
        "descendant of apache2")
    assert origins(parent_executable="/usr/bin/bash", user="www-data")[0] == "runs as web user www-data"
    assert origins(parent_executable="/usr/bin/bash", uid=33)[0] == "runs as web user 33"
    assert origins(parent_executable="/usr/bin/bash")[0] == ""
