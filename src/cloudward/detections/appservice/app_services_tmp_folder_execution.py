"""AppServices_TmpFolderExecution: a program (or a script handed to an interpreter) run from a
temporary folder — where dropped payloads live. Severity rises to high when a web worker is among the
process's ancestors or it runs as the web user."""

from __future__ import annotations

import fnmatch

from cloudward.alerts import Finding
from cloudward.analytics.processes import (
    MEMO_ARGS,
    SCRIPT,
    InterpreterArgs,
    NamePatterns,
    WebContext,
    basename,
    process_entities,
    program,
    remember,
)
from cloudward.detections.base import Card, Detection, Sample
from cloudward.detections.node._samples import audit_exec, sysmon_xml, tetragon_exec
from cloudward.events import ProcessExec

#: Windows interpreter options after which the next word is code, not a script path (POSIX shells and
#: script interpreters are read by `InterpreterArgs` from the interpreter_options list)
_INLINE = frozenset({"-c", "/c", "/C", "/k", "/K", "-e", "-E", "-Command", "-command", "-r", "-EncodedCommand"})


def _norm(path: str) -> str:
    return path.replace("\\", "/").lower()


CARD = Card(
    id="AppServices_TmpFolderExecution",
    title="Process execution from temporary folder",
    title_ko="임시 폴더에서 프로세스 실행",
    severity="medium",
    tactics=("Execution",),
    techniques=("T1204.002", "T1059"),
    data_source="PROC",
    looks_at="process starts whose executable (or the script an interpreter runs) lies under a folder of the "
             "temp_folders list; high severity when a web worker is an ancestor or the user is a web user",
    description="[[On {host}, ]]{process} ran from a temporary folder: {path} (pid {pid}[[, user {user}]]"
                "[[, parent {parent}]]){web}. Attackers drop and run payloads in temporary folders because "
                "anyone may write there.",
    description_ko="[[{host}에서 ]]{process}이(가) 임시 폴더에서 실행되었습니다: {path} (pid {pid}[[, 사용자 {user}]]"
                   "[[, 부모 {parent}]]){web_ko}. 누구나 쓸 수 있기 때문에 공격자는 임시 폴더에 페이로드를 내려받아 실행합니다.",
    remediation=(
        "Collect the file (hash it, keep a copy) before it disappears, and check it against malware scanners.",
        "Find how it got there: the parent process, the web request at that time, or the download command.",
        "Kill the process and remove the file; look for persistence it may have set up (cron, services, "
        "startup items).",
        "Mount /tmp, /var/tmp and /dev/shm noexec (or block execution from temp folders with AppLocker).",
    ),
    remediation_ko=(
        "파일이 사라지기 전에 수집(해시 계산, 사본 보관)하고 악성코드 검사기로 확인하십시오.",
        "부모 프로세스, 해당 시각의 웹 요청, 다운로드 명령을 통해 파일이 생긴 경로를 찾으십시오.",
        "프로세스를 종료하고 파일을 삭제한 뒤, 설치되었을 수 있는 지속성 장치(cron, 서비스, 시작 항목)를 확인하십시오.",
        "/tmp, /var/tmp, /dev/shm을 noexec로 마운트하십시오(또는 AppLocker로 임시 폴더 실행을 차단하십시오).",
    ),
    false_positives=(
        "Installers and build tools (go run, some package managers) run programs from temp folders; allow "
        "them with { executable = \"/tmp/go-build*\" } when that is expected on the host.",
    ),
    params={"web_severity": "high"},
    samples=(
        Sample("web shell runs a dropped binary from /tmp (auditd, as recorded)", "auditd",
               audit_exec(12761, 15965, 14935, ["php", "-S", "127.0.0.1:8089", "-t", "/srv/www"],
                          exe="/usr/bin/php8.2", uid=33)
               + audit_exec(12775, 15982, 15965, ["sh", "-c", "/tmp/.cw-drop/kworkerd"], exe="/usr/bin/dash", uid=33)
               + audit_exec(12776, 15983, 15982, ["/tmp/.cw-drop/kworkerd"], uid=33),
               expect=1, entities={"process": "kworkerd", "path": "/tmp/.cw-drop/kworkerd", "user": "www-data",
                                   "web_context": "descendant of php8.2"}),
        Sample("go-built C2 agent started from /tmp inside a pod (Tetragon)", "tetragon",
               tetragon_exec("/tmp/go-build2464283178/b001/exe/main",
                             "-url https://main.linux-libs.org:443 -proto h2 -psk SuperSecret", parent="/usr/local/go/bin/go",
                             parent_arguments="run main.go", pod="privileged-pod", namespace="default",
                             image="docker.io/library/nginx:latest"),
               expect=1, entities={"container": "web"}),
        Sample("payload in C:\\Windows\\Temp started by w3wp (Sysmon)", "sysmon-xml",
               sysmon_xml("C:\\Windows\\Temp\\svchost.exe", "C:\\Windows\\Temp\\svchost.exe -k netsvcs",
                          parent_image="C:\\Windows\\System32\\inetsrv\\w3wp.exe",
                          parent_command_line="w3wp.exe -ap \"shop-prod\"", user="IIS APPPOOL\\shop-prod"),
               expect=1, entities={"process": "svchost.exe"}),
        Sample("a script in /dev/shm run by bash", "auditd",
               audit_exec(13020, 21000, 1, ["bash", "/dev/shm/.x/run.sh"], exe="/usr/bin/bash", uid=0), expect=1,
               entities={"path": "/dev/shm/.x/run.sh"}),
        Sample("the host name comes from auditd's node= prefix", "auditd",
               "".join("node=web-07 " + ln + "\n" for ln in audit_exec(
                   13040, 21020, 1, ["/dev/shm/x"], exe="/dev/shm/x", uid=0).rstrip("\n").split("\n")),
               expect=1, entities={"host": "web-07"}, description_has="On web-07, x ran"),
        Sample("the host name comes from --host / the configuration", "auditd",
               audit_exec(13041, 21021, 1, ["/dev/shm/y"], exe="/dev/shm/y", uid=0),
               expect=1, config={"host": "db-02"}, entities={"host": "db-02"}, description_has="On db-02, y ran"),
        Sample("without a host name the phrase is left out, not 'On unknown'", "auditd",
               audit_exec(13042, 21022, 1, ["/dev/shm/z"], exe="/dev/shm/z", uid=0),
               expect=1, description_has="z ran from a temporary folder: /dev/shm/z (pid 21022, user root). "),
        Sample("a symlink in /tmp to a system program: argv[0] is the temporary path, not the executable", "auditd",
               audit_exec(13038, 21018, 1, ["/tmp/.x/kworker", "-lvp", "4444"], exe="/usr/bin/nc.openbsd", uid=33),
               expect=1, entities={"path": "/tmp/.x/kworker", "process": "nc.openbsd"}),
        Sample("a /tmp path given as an argument is not execution from /tmp", "auditd",
               audit_exec(13030, 21010, 1, ["cat", "/tmp/notes.txt"], exe="/usr/bin/cat", uid=1000), expect=0),
        Sample("a program whose name starts with tmp", "auditd",
               audit_exec(13031, 21011, 1, ["tmpreaper", "7d", "/tmp"], exe="/usr/sbin/tmpreaper"), expect=0),
        Sample("sh -c with /tmp inside the command text is not a script path", "auditd",
               audit_exec(13032, 21012, 1, ["sh", "-c", "ls /tmp"], exe="/usr/bin/dash", uid=1000), expect=0),
        Sample("bash --norc -ec in a temp folder: the command string is not joined to the cwd", "auditd",
               audit_exec(13033, 21013, 1, ["bash", "--norc", "-ec", "IFS=:; set -- $PATH; cd ./build && make"],
                          exe="/usr/bin/bash", uid=1000, cwd="/tmp/x"), expect=0),
        Sample("python -c, perl -ne and php -r code run in /tmp are not scripts", "auditd",
               audit_exec(13034, 21014, 1, ["python3", "-uc", "import os; os.listdir('./cache/x')"],
                          exe="/usr/bin/python3.11", uid=1000, cwd="/tmp/job")
               + audit_exec(13035, 21015, 1, ["perl", "-ne", "print if m{./x/y}"], exe="/usr/bin/perl",
                            uid=1000, cwd="/tmp/job")
               + audit_exec(13036, 21016, 1, ["php", "-d", "memory_limit=1G", "-r", "include './vendor/a.php';"],
                            exe="/usr/bin/php8.2", uid=1000, cwd="/tmp/job"), expect=0),
        Sample("bash -x runs a relative script in a temp folder", "auditd",
               audit_exec(13037, 21017, 1, ["bash", "-x", "-o", "pipefail", "./.x/stage2.sh"],
                          exe="/usr/bin/bash", uid=1000, cwd="/var/tmp"), expect=1,
               entities={"path": "/var/tmp/.x/stage2.sh", "process": "bash"}),
    ),
)


class TmpFolderExecution(Detection):
    card = CARD
    kinds = (ProcessExec,)

    def setup(self) -> None:
        prefixes = [_norm(p) for p in self.data.strings("temp_folders")]
        self.exact = tuple(p for p in prefixes if "*" not in p)
        self.wild = tuple((p.split("*", 1)[0], p + "*") for p in prefixes if "*" in p)
        self.heads = tuple(p.split("*", 1)[0] for p in prefixes)
        self.shells = NamePatterns(self.data.strings("shells_and_interpreters"))
        self.interpreters = InterpreterArgs(self.data)
        self.web = WebContext(self.data)
        self._exe_cache: dict[str, bool] = {}
        self._temp_cache: dict[str, bool] = {}
        self._paths: dict[tuple[str, ...], str] = {}

    def process_paths(self, executable: str, arg0: str | None) -> bool:
        """Whether an execution with this executable and argv[0] can give a finding at all (see
        cloudward.process_dispatch): `_path` returns '' for every other one, whatever the rest of argv and the
        cwd. It needs a temporary executable, an argv[0] path other than the executable, or a program that
        `InterpreterArgs.read` (a shell or interpreter family, or busybox) or the shells list reads."""
        if executable and self._exe_temp(executable):
            return True
        if arg0 is None:
            return False
        if arg0 != executable and ("/" in arg0 or "\\" in arg0):
            return True
        interpreters = self.interpreters
        if (executable and interpreters.family(executable) is not None) or interpreters.family(arg0) is not None:
            return True
        return program(executable or arg0) == "busybox" or self.shells(basename(executable) or basename(arg0))

    def _exe_temp(self, exe: str) -> bool:
        hit = self._exe_cache.get(exe)
        if hit is None:
            hit = _norm(exe).startswith(self.heads) and self._temp(exe)
            if len(self._exe_cache) >= 65536:
                self._exe_cache.clear()
            self._exe_cache[exe] = hit
        return hit

    def _temp(self, path: str) -> bool:
        # cached: the same few argv[0] paths and script paths come back with every execution
        hit = self._temp_cache.get(path)
        if hit is None:
            p = _norm(path)
            hit = p.startswith(self.exact) or any(
                p.startswith(head) and fnmatch.fnmatchcase(p, pat) for head, pat in self.wild)
            if len(self._temp_cache) >= 65536:
                self._temp_cache.clear()
            self._temp_cache[path] = hit
        return hit

    def _path(self, event: ProcessExec) -> str:
        exe = event.executable
        if exe and self._exe_temp(exe):
            return exe
        argv = event.argv
        if not argv:
            return ""
        a0 = argv[0]
        if a0 != exe and ("/" in a0 or "\\" in a0):
            if not a0.startswith("/") and "\\" not in a0 and event.cwd:
                a0 = event.cwd.rstrip("/") + "/" + a0.removeprefix("./")
            if self._temp(a0):
                return a0
        if len(argv) < 2:
            return ""
        run = self.interpreters.read(argv, exe)
        if run is not None:
            # a command string (bash -ec '...', python -c '...') is text, never a path under the cwd
            if run.kind != SCRIPT:
                return ""
            arg = run.text
            if "/" in arg and not arg.startswith("/") and event.cwd:
                arg = event.cwd.rstrip("/") + "/" + arg.removeprefix("./")
            return arg if self._temp(arg) else ""
        if self.shells(basename(exe) or basename(argv[0])):
            for arg in argv[1:]:
                if arg in _INLINE:
                    return ""  # inline code, not a script path
                if arg.startswith("-"):
                    continue
                if "/" in arg and not arg.startswith("/") and event.cwd:
                    arg = event.cwd.rstrip("/") + "/" + arg.removeprefix("./")
                return arg if self._temp(arg) else ""
        return ""

    def evaluate(self, event: ProcessExec) -> list[Finding] | None:
        argv = event.argv
        if len(argv) <= MEMO_ARGS:
            # `_path` is a pure function of the executable, the cwd and argv (and this card's lists): the
            # answer for a command line seen before is looked up, not worked out again
            key = (event.executable, event.cwd, *argv)
            path = self._paths.get(key)
            if path is None:
                path = self._path(event)
                remember(self._paths, key, path, sum(map(len, argv)))  # bounded: MEMO_LIMIT short command lines
        else:
            path = self._path(event)
        if not path:
            return None
        ent = process_entities(event)
        ent["path"] = path
        origin, origin_ko = self.web.origins(event)
        severity = None
        if origin:
            ent["web_context"] = origin
            if self.settings.severity is None:
                severity = str(self.params["web_severity"])
        return [Finding(key=f"{event.host}|{event.container_id}|{_norm(path)}", entities=ent, event=event,
                        severity=severity,
                        params={"web": f", in the web app's context ({origin})" if origin else "",
                                "web_ko": f", 웹 앱 컨텍스트({origin_ko})" if origin else "",
                                "parent": event.parent_executable})]
