"""Stateless helpers the process and container-host cards share: program names from paths (Linux
and Windows), name-pattern sets with a cache, the web-app context of a process, container-runtime
command lines, and the entities every host alert carries."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from cloudward.datalists import DataLists
from cloudward.events import ContainerEvent, NetConnection, ProcessExec

_CACHE_LIMIT = 65536
#: pure answers are remembered for short inputs only: at most this many arguments (or ancestors) and characters
MEMO_ARGS = 32
MEMO_CHARS = 1024
#: and at most this many of them (so a memo holds at most ~16 MB of keys)
MEMO_LIMIT = 16384


def remember(memo: dict[Any, Any], key: Any, value: Any, size: int) -> None:
    """Keep `value` (a pure function of `key`) under `key` when the key's text is at most `MEMO_CHARS` long
    (`size`); a memo that holds `MEMO_LIMIT` answers starts over. The process cards' memos all go through it."""
    if size <= MEMO_CHARS:
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        memo[key] = value


_BASENAMES: dict[str, str] = {}
_PROGRAMS: dict[str, str] = {}


def basename(path: str) -> str:
    """The lower-case file name of a Linux or Windows path (`C:\\Windows\\cmd.exe` -> `cmd.exe`).

    Cached: a host runs the same few hundred executables millions of times, and every card asks.
    """
    name = _BASENAMES.get(path)
    if name is None:
        cut = max(path.rfind("/"), path.rfind("\\"))
        name = (path[cut + 1 :] if cut >= 0 else path).lower()
        if len(_BASENAMES) >= _CACHE_LIMIT:
            _BASENAMES.clear()
        _BASENAMES[path] = name
    return name


def program(name_or_path: str) -> str:
    """File name without a Windows `.exe`: what command lists are keyed by."""
    name = _PROGRAMS.get(name_or_path)
    if name is None:
        name = basename(name_or_path)
        name = name[:-4] if name.endswith(".exe") else name
        if len(_PROGRAMS) >= _CACHE_LIMIT:
            _PROGRAMS.clear()
        _PROGRAMS[name_or_path] = name
    return name


class NamePatterns:
    """Shell-style patterns over lower-case file names, exact names looked up first, with a cache."""

    def __init__(self, patterns: tuple[str, ...] | list[str]) -> None:
        pats = [p.lower() for p in patterns]
        self.exact = frozenset(p for p in pats if not any(c in p for c in "*?["))
        self.wild = tuple(p for p in pats if p not in self.exact)
        self._cache: dict[str, bool] = {}

    def __call__(self, name: str) -> bool:
        if name in self.exact:
            return True
        if not self.wild:
            return False
        hit = self._cache.get(name)
        if hit is None:
            hit = any(fnmatch.fnmatchcase(name, p) for p in self.wild)
            if len(self._cache) < _CACHE_LIMIT:
                self._cache[name] = hit
        return hit


class WebContext:
    """Whether a process runs in a web app's context: a web worker among its ancestors (or as its
    parent), or the web server's account as its user."""

    def __init__(self, data: DataLists) -> None:
        self.workers = NamePatterns(data.strings("web_workers"))
        users = [str(u) for u in data.get("web_users") if isinstance(u, (str, int)) and not isinstance(u, bool)]
        self.users = NamePatterns(users)
        self._origins_cache: dict[tuple[Any, ...], tuple[str, str]] = {}

    def worker_ancestor(self, event: ProcessExec) -> str:
        """The nearest ancestor that is a web worker ('' if none)."""
        workers = self.workers
        if event.parent_executable:
            name = basename(event.parent_executable)
            if workers(name):
                return name
        for exe in event.ancestors:
            name = basename(exe)
            if workers(name):
                return name
        return ""

    def web_user(self, event: ProcessExec) -> str:
        user = event.user.lower()
        if user and self.users(user):
            return event.user
        if event.uid is not None and self.users(str(event.uid)):
            return event.user or str(event.uid)
        return ""

    def origin(self, event: ProcessExec) -> str:
        """How the process is tied to the web app ('' when it is not)."""
        return self.origins(event)[0]

    def origins(self, event: ProcessExec) -> tuple[str, str]:
        """(English, Korean) descriptions of how the process is tied to the web app; ('', '') if it is not.

        Remembered per (parent, ancestors, user, uid): a pure function of them and the two lists, and the
        same few lineages start most processes."""
        ancestors = event.ancestors
        if len(ancestors) > MEMO_ARGS:
            return self._origins(event)
        key = (event.parent_executable, event.user, event.uid, *ancestors)
        found = self._origins_cache.get(key)
        if found is None:
            found = self._origins(event)
            size = sum(map(len, ancestors)) + len(event.parent_executable) + len(event.user)
            remember(self._origins_cache, key, found, size)
        return found

    def _origins(self, event: ProcessExec) -> tuple[str, str]:
        worker = self.worker_ancestor(event)
        if worker:
            return f"descendant of {worker}", f"{worker}의 하위 프로세스"
        user = self.web_user(event)
        return (f"runs as web user {user}", f"웹 사용자 {user}(으)로 실행") if user else ("", "")


def process_entities(event: ProcessExec | NetConnection) -> dict[str, Any]:
    """host, pid, process, command_line, user, and the container fields when there is a container."""
    ent: dict[str, Any] = {"host": event.host or "unknown", "pid": event.pid,
                           "process": basename(event.executable) or "?", "command_line": event.command_line,
                           "user": event.user or (str(event.uid) if getattr(event, "uid", None) is not None else "")}
    if isinstance(event, ProcessExec):
        if event.parent_executable:
            ent["parent"] = event.parent_executable
        if event.executable:
            ent["executable"] = event.executable
    add_container(ent, event)
    return ent


def add_container(ent: dict[str, Any], event: ProcessExec | NetConnection | ContainerEvent) -> None:
    if event.container_id:
        ent["container_id"] = event.container_id
        ent["container"] = event.container_name or event.container_id[:12]
        if event.image:
            ent["image"] = event.image
    for name in ("pod", "namespace"):
        value = getattr(event, name, "")
        if value:
            ent[name] = value


def container_event_entities(event: ContainerEvent) -> dict[str, Any]:
    ent: dict[str, Any] = {"host": event.host or "unknown", "runtime": event.runtime, "action": event.action}
    add_container(ent, event)
    if not event.container_id and event.image:
        ent["image"] = event.image
    if event.command:
        ent["command_line"] = " ".join(event.command)
    if event.pid:
        ent["pid"] = event.pid
    if event.user:
        ent["user"] = event.user
    return ent


# -- container runtime command lines -------------------------------------------------------------
RUNTIME_CLIS = frozenset({"docker", "podman", "nerdctl", "ctr", "crictl"})
#: options of `docker|podman|nerdctl run|create|exec` that take no value
_BOOLEAN_OPTIONS = frozenset({
    "-d", "--detach", "-i", "--interactive", "-t", "--tty", "--rm", "--privileged", "--init", "-P",
    "--publish-all", "--read-only", "--no-healthcheck", "--oom-kill-disable", "--sig-proxy", "-q", "--quiet",
    "--disable-content-trust", "--help", "--replace", "--systemd", "--tls-verify", "--rootfs", "--net-host",
    "--null-io",
})
_VERBS = frozenset({"run", "create", "exec"})


@dataclass
class RuntimeCommand:
    """`docker run --privileged --name x image cmd...` read into its parts."""

    tool: str
    verb: str
    options: list[str] = field(default_factory=list)
    privileged: bool = False
    name: str = ""
    #: image for run/create, container for exec
    target: str = ""
    command: list[str] = field(default_factory=list)


def runtime_command(argv: list[str], executable: str = "") -> RuntimeCommand | None:
    """A container runtime CLI's run/create/exec command line, or None for anything else."""
    if not argv:
        return None
    tool = program(argv[0]) if argv[0] else program(executable)
    if tool not in RUNTIME_CLIS:
        tool = program(executable)
        if tool not in RUNTIME_CLIS:
            return None
    i = 1
    # global options before the verb (`docker -H tcp://x run`, `nerdctl --namespace k8s.io run`)
    while i < len(argv) and argv[i].startswith("-"):
        i += 1 if "=" in argv[i] or argv[i] in ("-D", "--debug", "--insecure") else 2
    if i < len(argv) and argv[i] == "container":  # `docker container run`
        i += 1
    if i >= len(argv) or argv[i] not in _VERBS:
        # `ctr run --privileged image id` and `ctr t exec` share the shape; other verbs are not ours
        if tool == "ctr" and i < len(argv) and argv[i] in ("t", "task", "tasks") and "exec" in argv[i:i + 2]:
            i += 1
        else:
            return None
    cmd = RuntimeCommand(tool=tool, verb=argv[i])
    i += 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        cmd.options.append(arg)
        opt, eq, value = arg.partition("=")
        if opt == "--privileged":
            cmd.privileged = not eq or value.lower() in ("true", "1", "yes")
        elif opt == "--name" and eq:
            cmd.name = value
        elif not eq and opt not in _BOOLEAN_OPTIONS:
            bundled = len(opt) > 2 and opt[1] != "-"
            if not (bundled and set(opt[1:]) <= set("ditP")) and i + 1 < len(argv):
                # an option whose value is the next word (-e X, -v X, --network X, --name X)
                if opt == "--name":
                    cmd.name = argv[i + 1]
                cmd.options.append(argv[i + 1])
                i += 1
        i += 1
    if i < len(argv):
        cmd.target = argv[i]
        cmd.command = argv[i + 1 :]
    return cmd


# -- interpreter command lines -------------------------------------------------------------------
#: what the argument an interpreter was given to run is
CODE, SCRIPT, MODULE, STDIN, NOTHING = "code", "script", "module", "stdin", "nothing"


@dataclass(frozen=True)
class ScriptArgument:
    """What an interpreter's command line tells it to run: `kind` is CODE (a command string such as
    `bash -c '...'` or `python -c '...'`: text, never a path), SCRIPT (a script file, possibly relative
    to the working directory), MODULE (`python -m pkg`), STDIN or NOTHING (an interactive start, or a
    command line that ends inside its options). `index` is the argv position of `text` (-1 when the
    text was attached to its flag, as in `perl -e'...'`)."""

    family: str
    kind: str
    text: str = ""
    index: int = -1


@dataclass(frozen=True)
class _Family:
    name: str
    programs: NamePatterns
    grouped: bool
    code: frozenset[str]
    code_is_operand: bool
    module: frozenset[str]
    script: frozenset[str]
    value: frozenset[str]
    optional: frozenset[str]
    stdin: frozenset[str]
    long_code: frozenset[str]
    long_value: frozenset[str]


def _letters(entry: dict[str, Any], key: str) -> frozenset[str]:
    return frozenset(str(v) for v in entry.get(key) or ())


class InterpreterArgs:
    """Reads shell and interpreter command lines per the `interpreter_options` data list."""

    def __init__(self, data: DataLists) -> None:
        self.families: list[_Family] = []
        for e in data.get("interpreter_options"):
            if not isinstance(e, dict) or not e.get("family"):
                continue
            self.families.append(_Family(
                name=str(e["family"]), programs=NamePatterns([str(p) for p in e.get("programs") or ()]),
                grouped=bool(e.get("grouped")), code=_letters(e, "code"),
                code_is_operand=bool(e.get("code_is_operand")), module=_letters(e, "module"),
                script=_letters(e, "script"), value=_letters(e, "value"),
                optional=_letters(e, "optional"), stdin=_letters(e, "stdin"),
                long_code=_letters(e, "long_code"), long_value=_letters(e, "long_value")))
        self._by_name: dict[str, _Family | None] = {}
        #: (executable, *argv) -> what `read` answered: a pure function of them and the families, and its
        #: answers are frozen; command lines repeat thousands of times (cron jobs, health checks, workers)
        self._reads: dict[tuple[str, ...], ScriptArgument | None] = {}

    def family(self, name: str) -> _Family | None:
        """The family of a program name (`bash`, `python3.11`, `php8.2`), or None."""
        name = program(name)
        if name in self._by_name:
            return self._by_name[name]
        found = next((f for f in self.families if f.programs(name)), None)
        if len(self._by_name) < _CACHE_LIMIT:
            self._by_name[name] = found
        return found

    def read(self, argv: list[str], executable: str = "") -> ScriptArgument | None:
        """What `argv` runs, or None when the program is not a known shell or interpreter. The program
        is taken from the executable when known (argv[0] can be anything), else from argv[0];
        `busybox sh ...` is read as `sh ...`."""
        if not argv:
            return None
        if len(argv) <= MEMO_ARGS:
            key = (executable, *argv)
            try:
                return self._reads[key]
            except KeyError:
                pass
            found = self._read_uncached(argv, executable)
            # bounded: at most _CACHE_LIMIT command lines of at most MEMO_CHARS characters each
            remember(self._reads, key, found, sum(map(len, argv)))
            return found
        return self._read_uncached(argv, executable)

    def _read_uncached(self, argv: list[str], executable: str) -> ScriptArgument | None:
        start = 1
        fam = self.family(executable) if executable else None
        if fam is None:
            fam = self.family(argv[0])
        if fam is None and program(executable or argv[0]) == "busybox" and len(argv) > 1:
            fam = self.family(argv[1])
            start = 2
        if fam is None:
            return None
        return _read(fam, argv, start)


def _read(fam: _Family, argv: list[str], i: int) -> ScriptArgument:
    code_flag = False  # a shell's -c: the first operand is the command string
    n = len(argv)
    while i < n:
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if arg == "-" or not arg or arg[0] not in "-+" or (arg[0] == "+" and fam.name != "shell"):
            break
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            if name in fam.long_code:
                if eq:
                    return ScriptArgument(fam.name, CODE, value, -1)
                return ScriptArgument(fam.name, CODE, argv[i + 1], i + 1) if i + 1 < n else \
                    ScriptArgument(fam.name, NOTHING)
            i += 2 if name in fam.long_value and not eq else 1
            continue
        letters = arg[1:]
        if not fam.grouped:
            letters = letters[:1]
            attached = arg[2:]
        j = 0
        skip_next = False
        while j < len(letters):
            ch = letters[j]
            rest = letters[j + 1:] if fam.grouped else attached
            if ch in fam.code:
                if fam.code_is_operand:
                    code_flag = True
                    j += 1
                    continue
                if rest:
                    return ScriptArgument(fam.name, CODE, rest, -1)
                return ScriptArgument(fam.name, CODE, argv[i + 1], i + 1) if i + 1 < n else \
                    ScriptArgument(fam.name, NOTHING)
            if ch in fam.module or ch in fam.script:
                kind = MODULE if ch in fam.module else SCRIPT
                if rest:
                    return ScriptArgument(fam.name, kind, rest, -1)
                return ScriptArgument(fam.name, kind, argv[i + 1], i + 1) if i + 1 < n else \
                    ScriptArgument(fam.name, NOTHING)
            if ch in fam.stdin:
                return ScriptArgument(fam.name, STDIN)
            if ch in fam.optional:
                break  # its argument, if any, is the rest of the group
            if ch in fam.value:
                # the value is the rest of the group; for a shell's -o/-O, and a bare letter, the next word
                if not rest or fam.code_is_operand:
                    skip_next = True
                break
            j += 1
        i += 2 if skip_next else 1
    if i >= n:
        return ScriptArgument(fam.name, NOTHING)
    if code_flag:
        return ScriptArgument(fam.name, CODE, argv[i], i)
    if argv[i] == "-":
        return ScriptArgument(fam.name, STDIN)
    return ScriptArgument(fam.name, SCRIPT, argv[i], i)
