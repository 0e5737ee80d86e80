"""K8S.NODE_Webshell: a web server (nginx, Apache, PHP-FPM/CGI, IIS, Java and Node app servers) or a
process running as the web account starting a command shell or the first commands of someone
finding out where they landed (`id`, `whoami`, `uname -a`, `cat /etc/passwd`, `ls -la /`, `ip a`) —
on a node or inside a container. That is what a web shell dropped into the app does.

Benign look-alikes are left alone: a container's own health check (the command its image declares in
`Healthcheck`, learned from inspect data and docker events, or listed in `health_checks`), a CGI
program the configuration lists (`allowed_cgi`), and PHP's mail() handing mail to sendmail through
`sh -c` (`allowed_commands`).
"""

from __future__ import annotations

import fnmatch
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cloudward.alerts import Finding
from cloudward.analytics.processes import (
    MEMO_ARGS,
    NamePatterns,
    WebContext,
    basename,
    process_entities,
    program,
    remember,
)
from cloudward.detections.base import Card, Detection, Sample
from cloudward.detections.node._samples import audit_exec, container_id, shim, tetragon_exec
from cloudward.events import ContainerEvent, ProcessExec

_SHELL_SEPARATORS = (";", "&&", "||", "|", "\n", "`", "$(")
_MAX_SUBCOMMANDS = 16
_MAX_CONTAINERS = 20_000
#: attacker-controlled text is matched against shell-style patterns: bound how much of it
_MAX_MATCH_CHARS = 4096
_MAX_ARGS = 32

NGINX_ID = container_id("cw-web")
FPM = audit_exec(13001, 2210, 2200, ["php-fpm: pool www"], exe="/usr/sbin/php-fpm8.2", uid=33)
APACHE = audit_exec(13010, 3100, 1, ["/usr/sbin/apache2", "-k", "start"], exe="/usr/sbin/apache2")
APACHE_CHILD = audit_exec(13011, 3105, 3100, ["/usr/sbin/apache2", "-k", "start"], exe="/usr/sbin/apache2", uid=33)
TOMCAT = audit_exec(13020, 4100, 1, ["/usr/bin/java", "-Dcatalina.home=/usr/share/tomcat9", "-classpath",
                                     "/usr/share/tomcat9/bin/bootstrap.jar", "org.apache.catalina.startup.Bootstrap",
                                     "start"], exe="/usr/lib/jvm/java-17-openjdk-amd64/bin/java", uid=997)


@dataclass(frozen=True)
class _Command:
    name: str
    #: alternatives, each a tuple of patterns that must all match some argument
    args: tuple[tuple[str, ...], ...]
    #: the same patterns compiled once (what fnmatchcase does on each call, behind a cache lookup)
    matchers: tuple[tuple[Callable[[str], Any], ...], ...] = ()

    def matches(self, args: list[str]) -> bool:
        if not self.args:
            return True
        low = [a[:_MAX_MATCH_CHARS].lower() for a in args[:_MAX_ARGS]]
        for alt in self.matchers:
            for match in alt:
                for a in low:
                    if match(a) is not None:
                        break
                else:
                    break  # this pattern matches no argument: the alternative fails
            else:
                return True
        return False


def _commands(entries: tuple[Any, ...]) -> dict[str, list[_Command]]:
    out: dict[str, list[_Command]] = {}
    for e in entries:
        if isinstance(e, str):
            e = {"name": e}
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            continue
        alts = tuple(tuple(str(a).lower().split()) for a in e.get("args") or ())
        matchers = tuple(tuple(re.compile(fnmatch.translate(p)).match for p in alt) for alt in alts)
        out.setdefault(e["name"].lower(), []).append(_Command(e["name"].lower(), alts, matchers))
    return out


def split_commands(code: str) -> list[list[str]]:
    """Simple commands of a `sh -c` string (words, quotes dropped); names what a shell line runs."""
    for sep in _SHELL_SEPARATORS:
        code = code.replace(sep, "\n")
    out = []
    for part in code.split("\n")[:_MAX_SUBCOMMANDS]:
        words = [w.strip("'\"()") for w in part.split()]
        words = [w for w in words if w]
        if words:
            out.append(words)
    return out


CARD = Card(
    id="K8S.NODE_Webshell",
    title="Possible web shell: web server ran a shell or reconnaissance command",
    title_ko="웹 셸 의심: 웹 서버가 셸 또는 정찰 명령을 실행함",
    severity="high",
    tactics=("Persistence", "Execution", "Discovery"),
    techniques=("T1505.003", "T1059.004", "T1082", "T1033"),
    data_source="HOST",
    looks_at="process starts whose parent is a web server (web_servers) or that run as a web account (web_users): "
             "command shells (web_shells) and reconnaissance commands (recon_commands), directly or inside sh -c; "
             "container health checks from inspect data and docker events are learned",
    description="[[On {host}, ]]{origin} ran {what}: {command_line} (pid {pid}, user {user}){where}. Web servers serve "
                "pages; one that starts shells or asks who and where it is has most likely been given a web shell.",
    description_ko="[[{host}에서 ]]{origin_ko}이(가) {what_ko}을(를) 실행했습니다: {command_line} (pid {pid}, 사용자 {user})"
                   "{where_ko}. 웹 서버가 셸을 시작하거나 자신의 사용자·환경을 조회하는 것은 웹 셸이 심어졌을 가능성이 "
                   "높다는 뜻입니다.",
    remediation=(
        "Find the file that made the web server run this: the request in the access log at that time (a POST to an "
        "unexpected .php/.jsp/.aspx, an upload folder), and files in the web root changed recently.",
        "Remove the web shell and restore the web root from a clean copy or image; rotate the credentials the app "
        "could read (database, cloud keys, service-account token).",
        "Look at what else ran under the web server (downloads, outbound connections, new cron entries) and close "
        "the entry point (vulnerable plugin, upload without type checks).",
        "In a container, replace the pod or container from a clean image rather than cleaning it in place.",
    ),
    remediation_ko=(
        "해당 시각의 접근 로그에서 웹 서버가 이 명령을 실행하게 만든 요청(예상치 못한 .php/.jsp/.aspx에 대한 POST, 업로드 "
        "폴더)과 최근 변경된 웹 루트 파일을 찾으십시오.",
        "웹 셸을 제거하고 웹 루트를 깨끗한 사본이나 이미지로 복원한 뒤, 앱이 읽을 수 있던 자격 증명(데이터베이스, 클라우드 "
        "키, 서비스 계정 토큰)을 교체하십시오.",
        "웹 서버 아래에서 실행된 다른 작업(다운로드, 외부 연결, 새 cron 항목)을 확인하고 진입점(취약한 플러그인, 형식 검사 "
        "없는 업로드)을 막으십시오.",
        "컨테이너라면 제자리에서 정리하지 말고 깨끗한 이미지로 파드나 컨테이너를 교체하십시오.",
    ),
    false_positives=(
        "Apps that run OS commands by design (image converters, backup plugins, control panels); list the command "
        "in allowed_commands, e.g. \"sh -c convert *\".",
        "CGI programs written as shell scripts; list them in allowed_cgi, e.g. \"/usr/lib/cgi-bin/*.sh\".",
        "Health checks run as the web account; they are learned from inspect data, or list them in health_checks.",
    ),
    params={
        "allowed_cgi": [],
        "allowed_commands": ["sh -c /usr/sbin/sendmail *", "sh -c /usr/lib/sendmail *",
                             "/bin/sh -c /usr/sbin/sendmail *", "/bin/sh -c /usr/lib/sendmail *"],
        "health_checks": [],
    },
    samples=(
        Sample("php-fpm worker runs sh -c id (auditd)", "auditd",
               FPM + audit_exec(13002, 2215, 2210, ["sh", "-c", "id"], exe="/usr/bin/dash", uid=33)
               + audit_exec(13003, 2216, 2215, ["id"], exe="/usr/bin/id", uid=33),
               expect=1, entities={"web_server": "php-fpm8.2", "process": "dash", "user": "www-data"}),
        Sample("apache child runs uname -a and cat /etc/passwd (auditd RAW)", "auditd",
               APACHE + APACHE_CHILD
               + audit_exec(13012, 3110, 3105, ["uname", "-a"], exe="/usr/bin/uname", uid=33, enriched=False)
               + audit_exec(13013, 3111, 3105, ["cat", "/etc/passwd"], exe="/usr/bin/cat", uid=33, enriched=False),
               expect=1, entities={"web_server": "apache2", "recon": ["uname -a", "cat /etc/passwd"]}),
        Sample("tomcat runs a shell (auditd)", "auditd",
               TOMCAT + audit_exec(13021, 4110, 4100, ["/bin/bash", "-c", "whoami;ls -la /"], exe="/usr/bin/bash",
                                   uid=997),
               expect=1, entities={"web_server": "java", "recon": ["whoami", "ls -la /"]}),
        Sample("nginx in a pod spawns sh (Tetragon)", "tetragon",
               tetragon_exec("/bin/sh", "-c \"ip a; cat /etc/passwd\"", parent="/usr/sbin/nginx",
                             parent_arguments="-g \"daemon off;\"", uid=101),
               expect=1, entities={"web_server": "nginx", "pod": "web-7d9f8b6c5d-x2x9q"}),
        Sample("whoami as www-data in a container, parent unknown (auditd)", "auditd",
               shim(13030, 5100, NGINX_ID)
               + audit_exec(13031, 5110, 5100, ["whoami"], exe="/usr/bin/whoami", uid=33),
               expect=1, entities={"container_id": NGINX_ID, "process": "whoami"}),
        Sample("php-fpm hands mail to sendmail through sh -c", "auditd",
               FPM + audit_exec(13040, 2230, 2210, ["sh", "-c", "/usr/sbin/sendmail -t -i"], exe="/usr/bin/dash",
                                uid=33),
               expect=0),
        Sample("a CGI shell script the configuration lists", "auditd",
               APACHE + APACHE_CHILD
               + audit_exec(13050, 3120, 3105, ["/bin/sh", "/usr/lib/cgi-bin/status.sh"], exe="/usr/bin/dash",
                            uid=33),
               params={"allowed_cgi": ["/usr/lib/cgi-bin/*"]}, expect=0),
        Sample("apache's child runs a shell script, no reconnaissance (the web server alone is the origin)", "auditd",
               APACHE + APACHE_CHILD
               + audit_exec(13051, 3121, 3105, ["/bin/sh", "/var/www/html/uploads/x.sh"], exe="/usr/bin/dash",
                            uid=33),
               expect=1, entities={"web_server": "apache2", "process": "dash", "recon": []}),
        Sample("the container's declared health check, run as www-data", "auditd",
               shim(13060, 5200, NGINX_ID)
               + audit_exec(13061, 5210, 5200, ["/bin/sh", "-c", "ps aux | grep -q '[n]ginx: master' || exit 1"],
                            exe="/usr/bin/dash", uid=33)
               + audit_exec(13062, 5211, 5210, ["ps", "aux"], exe="/usr/bin/ps", uid=33),
               params={"health_checks": ["ps aux | grep -q '[n]ginx: master' || exit 1"]}, expect=0),
        Sample("the same commands when no health check declares them", "auditd",
               shim(13060, 5200, NGINX_ID)
               + audit_exec(13061, 5210, 5200, ["/bin/sh", "-c", "ps aux | grep -q '[n]ginx: master' || exit 1"],
                            exe="/usr/bin/dash", uid=33)
               + audit_exec(13062, 5211, 5210, ["ps", "aux"], exe="/usr/bin/ps", uid=33),
               expect=1, entities={"recon": ["ps aux"]}),
        Sample("java running a build tool, not an app server, starts sh", "auditd",
               audit_exec(13070, 6100, 1, ["/usr/bin/java", "-cp", "/opt/gradle/lib/*", "org.gradle.launcher.GradleMain",
                                           "build"], exe="/usr/bin/java", uid=1000)
               + audit_exec(13071, 6110, 6100, ["/bin/sh", "-c", "git rev-parse HEAD"], exe="/usr/bin/dash", uid=1000),
               expect=0),
        Sample("nginx starting its own workers", "auditd",
               audit_exec(13080, 7100, 1, ["/usr/sbin/nginx", "-g", "daemon on; master_process on;"])
               + audit_exec(13081, 7101, 7100, ["nginx: worker process"], exe="/usr/sbin/nginx", uid=33),
               expect=0),
        Sample("an administrator's id and uname at a login shell", "auditd",
               audit_exec(13090, 8100, 8000, ["id"], exe="/usr/bin/id", uid=1000, auid=1000)
               + audit_exec(13091, 8101, 8000, ["uname", "-a"], exe="/usr/bin/uname", uid=1000, auid=1000),
               expect=0),
    ),
)


class Webshell(Detection):
    card = CARD
    kinds = (ProcessExec, ContainerEvent)

    def setup(self) -> None:
        self.shells = NamePatterns(self.data.strings("web_shells"))
        self.recon = _commands(self.data.get("recon_commands"))
        self.servers: list[tuple[str, tuple[str, ...]]] = []
        for e in self.data.get("web_servers"):
            if isinstance(e, str):
                e = {"name": e}
            if isinstance(e, dict) and isinstance(e.get("name"), str):
                self.servers.append((e["name"].lower(), tuple(str(p).lower() for p in e.get("command_line") or ())))
        self.web = WebContext(self.data)
        self.allowed_cgi = tuple(str(p) for p in self.params["allowed_cgi"])
        self.allowed_commands = tuple(str(p).lower() for p in self.params["allowed_commands"])
        self.declared = {str(c).strip() for c in self.params["health_checks"]}
        #: container id -> health-check command lines its image declares (from inspect data)
        self.health: OrderedDict[str, set[str]] = OrderedDict()
        self._server_cache: dict[tuple[str, str], bool] = {}
        self._server_raw: dict[tuple[str, str], bool] = {}
        self._code_cache: dict[str, tuple[str, ...]] = {}
        self._words_cache: dict[tuple[str, ...], str] = {}
        self._allowed_cache: dict[tuple[str, ...], bool] = {}

    def process_names(self, exe: str, arg0: str | None, parent: str) -> bool:
        """Whether an execution with these file names can be a web shell's: a shell, or a reconnaissance
        program (see cloudward.process_dispatch; `evaluate` returns None for anything else)."""
        if self.shells(exe) or self.shells(arg0 or ""):
            return True
        first = arg0 if arg0 is not None else exe
        return bool(self.recon.get(program(first)) or self.recon.get(first))

    # -- what is a web server -----------------------------------------------------------------
    def _server(self, executable: str, command_line: str) -> bool:
        """Whether a process with this executable and command line is a web server (of `web_servers`).

        Remembered per (executable, command line) as given, before the lower-cased key is built: a pure
        function of them and the card's list, and the same few parents start most processes."""
        raw = (executable, command_line)
        hit = self._server_raw.get(raw)
        if hit is None:
            hit = self._server_lower(executable, command_line)
            remember(self._server_raw, raw, hit, len(executable) + len(command_line))
        return hit

    def _server_lower(self, executable: str, command_line: str) -> bool:
        name = basename(executable)
        low = command_line[:_MAX_MATCH_CHARS].lower()
        key = (name, low)
        hit = self._server_cache.get(key)
        if hit is None:
            padded = f" {low} "
            hit = False
            for pattern, lines in self.servers:
                if not fnmatch.fnmatchcase(name, pattern):
                    continue
                if not lines or any(fnmatch.fnmatchcase(padded, p) or fnmatch.fnmatchcase(low, p) for p in lines):
                    hit = True
                    break
            if len(self._server_cache) > 65536:
                self._server_cache.clear()
            self._server_cache[key] = hit
        return hit

    def _code_recon(self, code: str) -> tuple[str, ...]:
        """The reconnaissance commands of a shell's command string, remembered per (short) string: a pure
        function of it and the card's lists."""
        found = self._code_cache.get(code)
        if found is None:
            found = tuple(hit for words in split_commands(code) if (hit := self._recon(words)))
            remember(self._code_cache, code, found, len(code))
        return found

    def _words_recon(self, words: list[str]) -> str:
        """`_recon(words)`, remembered per (short) argument list."""
        if len(words) > MEMO_ARGS:
            return self._recon(words)
        key = tuple(words)
        found = self._words_cache.get(key)
        if found is None:
            found = self._recon(words)
            remember(self._words_cache, key, found, sum(map(len, words)))
        return found

    def _recon(self, words: list[str]) -> str:
        if not words:
            return ""
        name = program(words[0])
        rules = self.recon.get(name) or self.recon.get(basename(words[0]))
        if rules and any(r.matches(words[1:]) for r in rules):
            return " ".join([name, *words[1:]])[:200]
        return ""

    # -- learning health checks ------------------------------------------------------------------
    def _learn(self, event: ContainerEvent) -> None:
        raw = event.raw if isinstance(event.raw, dict) else {}
        config = raw.get("Config") if isinstance(raw.get("Config"), dict) else {}
        check = config.get("Healthcheck") if isinstance(config.get("Healthcheck"), dict) else {}
        test = check.get("Test")
        if not event.container_id or not isinstance(test, list) or not test:
            return
        kind, args = str(test[0]), [str(a) for a in test[1:]]
        lines = set()
        if kind == "CMD-SHELL" and args:
            lines.add(args[0].strip())
        elif kind == "CMD" and args:
            lines.add(" ".join(args))
        if lines:
            self.health[event.container_id] = lines
            if len(self.health) > _MAX_CONTAINERS:
                self.health.popitem(last=False)

    def _shell_code(self, command_line: str) -> str:
        """The code of `<shell> -c <code>` ('' for other command lines)."""
        parts = command_line.split(" ", 2)
        if len(parts) == 3 and parts[1] == "-c" and self.shells(basename(parts[0])):
            return parts[2].strip()
        return ""

    def _declared_check(self, event: ProcessExec) -> bool:
        """The process is a declared health check, or a command such a check's shell runs."""
        cmd = event.command_line.strip()
        parent = event.parent_command_line.strip()
        candidates = {c for c in (cmd, self._shell_code(cmd), parent, self._shell_code(parent)) if c}
        if candidates & self.declared:
            return True
        if not event.container_id or not self.health:
            return False
        lines = self.health.get(event.container_id)
        if lines is None:
            lines = next((v for k, v in self.health.items() if k.startswith(event.container_id)
                          or event.container_id.startswith(k)), None)
        return bool(lines and candidates & lines)

    # -- evaluation ----------------------------------------------------------------------------------
    def evaluate(self, event: ProcessExec | ContainerEvent) -> list[Finding] | None:
        if type(event) is ContainerEvent:
            if event.action == "inspect":
                self._learn(event)
            return None
        name = basename(event.executable)
        arg0 = basename(event.argv[0]) if event.argv else ""
        is_shell = self.shells(name) or self.shells(arg0)
        recon: list[str] = []
        if is_shell:
            if len(event.argv) > 2 and event.argv[1] in ("-c", "/c", "-Command", "-command"):
                recon = list(self._code_recon(event.argv[2][:8192]))
        else:
            hit = self._words_recon(event.argv or [event.executable])
            if not hit:
                return None
            recon.append(hit)
        parent_server = bool(event.parent_executable) and self._server(event.parent_executable,
                                                                       event.parent_command_line)
        if is_shell and not parent_server and not recon:
            # (asked again below, after the origin, in the original order: the answer is None either way, so
            # the shells of every health check and cron job skip the web-account lookup)
            return None
        origin = origin_ko = ""
        if parent_server:
            origin = origin_ko = basename(event.parent_executable)
        elif recon and any(self._server(a, "") for a in event.ancestors[1:4]):
            origin = origin_ko = next(basename(a) for a in event.ancestors[1:4] if self._server(a, ""))
        elif self.web.web_user(event) and (recon or (len(event.argv) > 2 and event.argv[1] == "-c")):
            user = self.web.web_user(event)
            origin, origin_ko = f"a process of web account {user}", f"웹 계정 {user}의 프로세스"
        if not origin:
            return None
        if is_shell and not parent_server and not recon:
            return None
        if self._allowed(event):
            return None
        ent = process_entities(event)
        ent["web_server"] = basename(event.parent_executable) if parent_server else origin
        ent["recon"] = recon
        what = "a command shell" if is_shell else "reconnaissance commands"
        what_ko = "명령 셸" if is_shell else "정찰 명령"
        where = f" in container {ent['container']}" if event.container_id else ""
        where_ko = f" (컨테이너 {ent['container']})" if event.container_id else ""
        # one alert per web server (or web account) and container: a web shell session folds into it
        return [Finding(key=f"{event.host}|{event.container_id}|{ent['web_server']}", entities=ent, event=event,
                        params={"origin": origin, "origin_ko": origin_ko, "what": what, "what_ko": what_ko,
                                "where": where, "where_ko": where_ko})]

    def _allowed(self, event: ProcessExec) -> bool:
        # the lists' part is a pure function of the executable, the first arguments and the command line;
        # declared health checks are learned as the scan goes, so they are asked every time
        key = (event.executable, event.command_line, *event.argv[:3])
        listed = self._allowed_cache.get(key)
        if listed is None:
            listed = self._listed(event)
            remember(self._allowed_cache, key, listed, len(event.command_line) + sum(map(len, event.argv[:3])))
        return listed or self._declared_check(event)

    def _listed(self, event: ProcessExec) -> bool:
        """A CGI program or command the configuration allows."""
        if self.allowed_cgi:
            for value in (event.executable, *event.argv[:3]):
                if value and any(fnmatch.fnmatchcase(value[:_MAX_MATCH_CHARS], p) for p in self.allowed_cgi):
                    return True
        low = event.command_line[:_MAX_MATCH_CHARS].lower()
        return any(fnmatch.fnmatchcase(low, p) for p in self.allowed_commands)
