"""Pure-FTPd logs: its syslog messages, and its CLF transfer log (`--altlog clf:FILE`).

    Nov  2 10:00:00 ftp1 pure-ftpd: (?@203.0.113.5) [INFO] New connection from 203.0.113.5
    Nov  2 10:00:01 ftp1 pure-ftpd: (?@203.0.113.5) [INFO] bob is now logged in
    Nov  2 10:00:01 ftp1 pure-ftpd: (?@203.0.113.5) [WARNING] Authentication failed for user [root]
    Nov  2 10:00:05 ftp1 pure-ftpd: (bob@203.0.113.5) [NOTICE] /srv/www//shell.php uploaded  (52 bytes, 1.2KB/sec)
    203.0.113.5 - bob [02/Nov/2026:10:00:05 +0000] "PUT /srv/www/shell.php" 200 52

`(user@address)` comes before any text the client typed; the user part is `?` until login and an
account name after it. The address is what follows the last `@` inside those parentheses.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from cloudward.events import Event, FtpEvent
from cloudward.parsers._web import (
    SyslogLine,
    TextLineFormat,
    clf_time,
    client_ip,
    syslog_line_event,
)
from cloudward.parsers.base import Head, ParseContext

CLF_METHODS = {"PUT": ("upload", "STOR"), "GET": ("download", "RETR")}


def _is_clf_transfer(ln: str) -> bool:
    k = ln.find('] "')
    return k > 0 and ln[k + 3: k + 7] in ("PUT ", "GET ") and " HTTP/" not in ln


class PureFtpdLog(TextLineFormat):
    name = "pure-ftpd"
    description = "Pure-FTPd syslog messages and its CLF transfer log (--altlog clf:FILE)"
    kinds = ("FtpEvent",)

    def sniff(self, head: Head) -> int:
        if not head.lines:
            return 0
        syslog = sum(1 for ln in head.lines if "pure-ftpd" in ln and ") [" in ln)
        if syslog and syslog * 2 >= len(head.lines):
            return 85
        clf = sum(1 for ln in head.lines if _is_clf_transfer(ln))
        return 60 if clf * 2 >= len(head.lines) else 0

    def _events(self, lines: Iterable[tuple[str, str]], ctx: ParseContext, fallback: str,
                year: int) -> Iterator[Event]:
        for where, s in lines:
            if _is_clf_transfer(s):
                event = _clf(s, where, ctx.site or fallback, ctx)
            else:
                event = syslog_line_event(s, where, year, "pure-ftpd", syslog_event, fallback, ctx, "Pure-FTPd")
            if event is not None:
                yield event


def syslog_event(sl: SyslogLine, where: str, raw: str, site: str, ctx: ParseContext) -> FtpEvent | None:
    """One Pure-FTPd syslog line: its event, or None (rejected, or a message that carries nothing)."""
    if not sl.message.startswith("("):
        ctx.stats.ignored += 1  # startup and configuration messages have no (user@address) part
        return None
    return _syslog(sl.message, where, raw, sl.time, site, sl.pid, ctx)


def _syslog(msg: str, where: str, raw: str, when: float, site: str, pid: str, ctx: ParseContext) -> FtpEvent | None:
    end = msg.find(") [")
    if not msg.startswith("(") or end < 0:
        ctx.reject(where, "no (user@address) part")
        return None
    who = msg[1:end]
    at = who.rfind("@")
    if at < 0:
        ctx.reject(where, "no @ in the (user@address) part")
        return None
    ip = client_ip(who[at + 1:])
    if not ip:
        ctx.reject(where, f"client is not an IP address: {who[at + 1:][:60]!r} (run pure-ftpd with "
                          "--dontresolve so the log keeps addresses)")
        return None
    user = who[:at]
    user = "" if user == "?" else user
    level_end = msg.find("] ", end + 3)
    if level_end < 0:
        ctx.reject(where, "no [LEVEL] after the client part")
        return None
    text = msg[level_end + 2:]
    action, command, path = "command", "", ""
    if text.startswith("New connection from"):
        action = "connect"
    elif text.endswith(" is now logged in"):
        action, command = "login", "PASS"
        user = user or text[: -len(" is now logged in")]
    elif text.startswith("Authentication failed for user ["):
        action, command = "login_failed", "PASS"
        user = text[len("Authentication failed for user ["):].rstrip("]")
    elif text.startswith("Logout") or text.startswith("Timeout"):
        action = "disconnect"
    elif " uploaded  (" in text or text.endswith(" uploaded"):
        action, command, path = "upload", "STOR", text[: text.rfind(" uploaded")]
    elif " downloaded  (" in text or text.endswith(" downloaded"):
        action, command, path = "download", "RETR", text[: text.rfind(" downloaded")]
    elif text.startswith("Deleting "):
        action, command, path = "delete", "DELE", text[len("Deleting "):]
    else:
        ctx.stats.ignored += 1  # recognized, but nothing a detection reads
        return None
    return FtpEvent(event_id=where, time=when, raw=raw, site=site, client_ip=ip, user=user, action=action,
                    command=command, file_path=path.replace("//", "/"), status=text[-80:], session=pid)


def _clf(s: str, where: str, site: str, ctx: ParseContext) -> FtpEvent | None:
    k = s.find('] "')
    tokens = s[: k - 27].split(" ") if k >= 27 and s[k - 27] == "[" else []
    if len(tokens) < 3:
        ctx.reject(where, "not a Pure-FTPd transfer line")
        return None
    ip = client_ip(tokens[0])
    if not ip:
        ctx.reject(where, f"client is not an IP address: {tokens[0][:60]!r}")
        return None
    try:
        when = clf_time(s[k - 26: k])
    except ValueError as exc:
        ctx.reject(where, str(exc))
        return None
    q = s.rfind('" ')
    if q <= k + 3:
        ctx.reject(where, "truncated line: request not closed by a quote")
        return None
    method, _, path = s[k + 3: q].partition(" ")
    action, command = CLF_METHODS[method]
    return FtpEvent(event_id=where, time=when, raw=s, site=site, client_ip=ip,
                    user=" ".join(t for t in tokens[2:] if t) if tokens[2] != "-" else "", action=action,
                    command=command, file_path=path, status=s[q + 2:].split(" ", 1)[0])


FORMATS = [PureFtpdLog()]
