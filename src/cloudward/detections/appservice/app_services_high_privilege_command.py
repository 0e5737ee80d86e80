"""AppServices_HighPrivilegeCommand: the web app's processes trying commands that need or grant high
privilege — sudo/su, account changes, setuid bits, capabilities, kernel modules, root cron; on Windows
adding users or administrators, HKLM changes, services, SYSTEM tasks, boot settings, log clearing and
shadow-copy deletion."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from cloudward.alerts import Finding
from cloudward.analytics.processes import (
    CODE,
    MEMO_ARGS,
    InterpreterArgs,
    NamePatterns,
    WebContext,
    basename,
    process_entities,
    program,
    remember,
)
from cloudward.detections.base import Card, Detection, Sample
from cloudward.detections.node._samples import audit_exec, sysmon_xml, winlogbeat
from cloudward.events import ProcessExec

_SHELL_CODE_FLAGS = frozenset({"-c", "/c", "/C", "/k", "/K", "-Command", "-command"})
_SEPARATORS = (";", "&&", "||", "|", "&", "\n", "`", "$(", ")")
_MAX_SUBCOMMANDS = 32


@dataclass(frozen=True)
class Rule:
    name: str
    #: alternatives, each a tuple of patterns that must all match some argument
    args: tuple[tuple[str, ...], ...]
    root_only: bool

    def matches(self, args: list[str], is_root: bool) -> bool:
        if self.root_only and not is_root:
            return False
        if not self.args:
            return True
        low = [a.lower() for a in args]
        return any(all(any(fnmatch.fnmatchcase(a, p) for a in low) for p in alt) for alt in self.args)


def split_commands(code: str) -> list[list[str]]:
    """A shell command string cut into simple commands (words), quotes dropped; good enough to name
    the programs a `sh -c` / `cmd /c` line runs, not a shell parser."""
    for sep in _SEPARATORS:
        code = code.replace(sep, "\n")
    out = []
    for part in code.split("\n")[:_MAX_SUBCOMMANDS]:
        words = [w.strip("'\"") for w in part.split()]
        words = [w for w in words if w]
        if words:
            out.append(words)
    return out


WEB_PARENT = audit_exec(12761, 15965, 14935, ["php", "-S", "127.0.0.1:8089", "-t", "/srv/www"],
                        exe="/usr/bin/php8.2", uid=33)
W3WP = "C:\\Windows\\System32\\inetsrv\\w3wp.exe"

CARD = Card(
    id="AppServices_HighPrivilegeCommand",
    title="Attempt to run high privilege command detected",
    title_ko="높은 권한 명령 실행 시도 탐지",
    severity="medium",
    tactics=("PrivilegeEscalation",),
    techniques=("T1548.003", "T1136.001", "T1548.001", "T1098"),
    data_source="PROC",
    looks_at="process starts in a web app's context (a web_workers ancestor, or a web_users account) that run "
             "a command of the high_privilege_commands list, directly or inside sh -c / cmd /c",
    description="[[On {host}, ]]the web app ({origin}) ran a high-privilege command: {matched} "
                "(process {process}, pid {pid}[[, user {user}]]). A web application has no reason to change accounts, "
                "privileges or system settings; this is an attacker trying to escalate from the web app.",
    description_ko="[[{host}에서 ]]웹 앱({origin_ko})이 높은 권한 명령을 실행했습니다: {matched} (프로세스 {process}, "
                   "pid {pid}[[, 사용자 {user}]]). 웹 애플리케이션은 계정·권한·시스템 설정을 바꿀 이유가 없으므로, "
                   "웹 앱을 통해 권한 상승을 시도하는 공격자로 보입니다.",
    remediation=(
        "Check whether the command succeeded: new accounts (/etc/passwd, net user), sudoers and group changes, "
        "setuid files, loaded modules, services and scheduled tasks.",
        "Undo what it changed, then find the entry point (web shell, injectable parameter) from the access log "
        "at that time and fix it.",
        "Make sure the web server's account has no sudo rights and no write access outside its data folders.",
        "If anything ran as root/SYSTEM, treat the host as compromised and rebuild it from a clean image.",
    ),
    remediation_ko=(
        "명령이 성공했는지 확인하십시오: 새 계정(/etc/passwd, net user), sudoers·그룹 변경, setuid 파일, 로드된 모듈, "
        "서비스와 예약 작업.",
        "변경된 내용을 되돌리고, 해당 시각의 접근 로그로 진입점(웹 셸, 주입 가능한 매개변수)을 찾아 수정하십시오.",
        "웹 서버 계정에 sudo 권한이 없고 데이터 폴더 밖에 쓰기 권한이 없는지 확인하십시오.",
        "root/SYSTEM 권한으로 실행된 것이 있다면 호스트가 침해된 것으로 보고 깨끗한 이미지로 다시 구축하십시오.",
    ),
    false_positives=(
        "Control panels that manage the server through the web app (Webmin-like tools) run such commands by "
        "design; allow them with { parent = \"*miniserv*\" } or by command line.",
    ),
    samples=(
        Sample("web shell runs sudo useradd (auditd, as recorded)", "auditd",
               WEB_PARENT
               + audit_exec(12779, 15985, 15965, ["sh", "-c", "sudo -n /usr/sbin/useradd -o -u 0 svc"],
                            exe="/usr/bin/dash", uid=33)
               + audit_exec(12780, 15986, 15985, ["sudo", "-n", "/usr/sbin/useradd", "-o", "-u", "0", "svc"],
                            exe="/usr/bin/sudo", uid=33, euid=0),
               expect=1, entities={"user": "www-data", "matched": "sudo -n /usr/sbin/useradd -o -u 0 svc"}),
        Sample("web shell hides sudo in a bash --norc -ec command string (auditd)", "auditd",
               WEB_PARENT
               + audit_exec(12790, 15990, 15965, ["bash", "--norc", "-ec", "cd /; sudo -n usermod -aG sudo www-data"],
                            exe="/usr/bin/bash", uid=33, cwd="/tmp"),
               expect=1, entities={"matched": "sudo -n usermod -aG sudo www-data"}),
        Sample("web shell sets the setuid bit (auditd)", "auditd",
               WEB_PARENT + audit_exec(12786, 15989, 15965, ["chmod", "u+s", "/tmp/.cw-drop/kworkerd"],
                                       exe="/usr/bin/chmod", uid=33),
               expect=1, entities={"process": "chmod"}),
        Sample("w3wp adds a local administrator (Sysmon)", "sysmon-xml",
               sysmon_xml("C:\\Windows\\System32\\net.exe", "net localgroup administrators svc_backup /add",
                          parent_image="C:\\Windows\\System32\\cmd.exe",
                          parent_command_line='cmd.exe /c "net localgroup administrators svc_backup /add"',
                          user="IIS APPPOOL\\shop-prod")
               .replace("<Data Name=\"ParentImage\">C:\\Windows\\System32\\cmd.exe",
                        f"<Data Name=\"ParentImage\">{W3WP}"),
               expect=1, entities={"process": "net.exe"}),
        Sample("cmd /c from w3wp deleting shadow copies (winlogbeat)", "sysmon-json",
               winlogbeat("C:\\Windows\\System32\\cmd.exe", 'cmd.exe /c "vssadmin delete shadows /all /quiet"',
                          parent_image=W3WP, parent_command_line='w3wp.exe -ap "shop-prod"',
                          user="IIS APPPOOL\\shop-prod"),
               expect=1),
        Sample("an administrator's own sudo at a login shell (auditd, as recorded)", "auditd",
               audit_exec(12833, 16004, 14935, ["bash", "-l", "-c", "sudo -n id"], exe="/usr/bin/bash", uid=1001,
                          auid=1001)
               + audit_exec(12835, 16004, 14935, ["sudo", "-n", "id"], exe="/usr/bin/sudo", uid=1001, euid=0,
                            auid=1001),
               expect=0),
        Sample("the web user running harmless commands", "auditd",
               WEB_PARENT + audit_exec(12771, 15979, 15965, ["id"], exe="/usr/bin/id", uid=33)
               + audit_exec(12772, 15980, 15965, ["chmod", "644", "/srv/www/uploads/a.png"], exe="/usr/bin/chmod",
                            uid=33),
               expect=0),
        Sample("w3wp running schtasks /query is read-only", "sysmon-xml",
               sysmon_xml("C:\\Windows\\System32\\schtasks.exe", "schtasks /query /fo LIST", parent_image=W3WP,
                          parent_command_line='w3wp.exe -ap "shop-prod"', user="IIS APPPOOL\\shop-prod"),
               expect=0),
    ),
)


class HighPrivilegeCommand(Detection):
    card = CARD
    kinds = (ProcessExec,)

    def setup(self) -> None:
        self.rules: dict[str, list[Rule]] = {}
        for e in self.data.get("high_privilege_commands"):
            if isinstance(e, str):
                e = {"name": e}
            if not isinstance(e, dict) or not isinstance(e.get("name"), str):
                continue
            alts = tuple(tuple(str(a).lower().split()) for a in e.get("args") or ())
            self.rules.setdefault(e["name"].lower(), []).append(Rule(e["name"].lower(), alts, e.get("root_only") is True))
        self.shells = NamePatterns(self.data.strings("shells_and_interpreters"))
        self.interpreters = InterpreterArgs(self.data)
        self.web = WebContext(self.data)
        self._matched_cache: dict[tuple[Any, ...], str] = {}

    def process_names(self, exe: str, arg0: str | None, parent: str) -> bool:
        """Whether an execution with these file names can match: a listed program, or a shell (see
        cloudward.process_dispatch; `evaluate` returns None for anything else)."""
        if arg0 is None:
            return False
        name = program(exe) if exe else program(arg0)
        return name in self.rules or program(arg0) in self.rules or self.shells(exe or arg0)

    def _match(self, words: list[str], is_root: bool) -> bool:
        rules = self.rules.get(program(words[0]))
        return bool(rules) and any(r.matches(words[1:], is_root) for r in rules)

    def evaluate(self, event: ProcessExec) -> list[Finding] | None:
        argv = event.argv
        if not argv:
            return None
        name = program(event.executable) if event.executable else program(argv[0])
        direct = name in self.rules or program(argv[0]) in self.rules
        shell = not direct and len(argv) > 2 and self.shells(basename(event.executable) or basename(argv[0]))
        if not direct and not shell:
            return None
        is_root = event.uid == 0 or event.euid == 0
        if len(argv) > MEMO_ARGS:
            matched = self._matched(event, name, direct, shell, is_root)
        else:
            # a pure function of the executable, argv and is_root (and the card's lists)
            key = (event.executable, is_root, *argv)
            matched = self._matched_cache.get(key)  # type: ignore[assignment]
            if matched is None:
                matched = self._matched(event, name, direct, shell, is_root)
                remember(self._matched_cache, key, matched, sum(map(len, argv)))
        if not matched:
            return None
        # the web context last: both must hold, and most shells (cron jobs, health checks) match no command
        origin, origin_ko = self.web.origins(event)
        if not origin:
            return None
        ent: dict[str, Any] = process_entities(event)
        ent["matched"] = matched
        ent["web_context"] = origin
        return [Finding(key=f"{event.host}|{event.container_id}|{matched}", entities=ent, event=event,
                        params={"origin": origin, "origin_ko": origin_ko})]

    def _matched(self, event: ProcessExec, name: str, direct: bool, shell: bool, is_root: bool) -> str:
        """The command of the list the execution runs ('' for none)."""
        argv = event.argv
        matched = ""
        if direct and self._match([name, *argv[1:]], is_root):
            matched = " ".join(argv)
        elif shell and (run := self.interpreters.read(argv, event.executable)) is not None:
            # POSIX shells: the command string after any flag group with c (-c, -ec, --norc -c)
            if run.kind == CODE and run.family == "shell":
                matched = next((" ".join(w) for w in split_commands(run.text) if self._match(w, is_root)), "")
        elif shell:
            for i, arg in enumerate(argv[1:-1], 1):
                if arg in _SHELL_CODE_FLAGS:
                    code = " ".join(argv[i + 1 :])
                    matched = next((" ".join(w) for w in split_commands(code) if self._match(w, is_root)), "")
                    break
        return matched
