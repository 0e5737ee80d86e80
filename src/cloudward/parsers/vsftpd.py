"""vsftpd's own log (`vsftpd.log`, `xferlog_std_format=NO`), written directly or through syslog.

    Mon Nov  2 10:00:00 2026 [pid 1234] CONNECT: Client "203.0.113.5"
    Mon Nov  2 10:00:01 2026 [pid 1236] [ftpuser] OK LOGIN: Client "203.0.113.5"
    Mon Nov  2 10:00:05 2026 [pid 1238] [ftpuser] OK UPLOAD: Client "203.0.113.5", "/srv/a.php", 52 bytes, 1.2Kbyte/sec
    Sat Dec 5 15:44:32 2026 [pid 1239] CONNECT: Client "203.0.113.5"          (day unpadded, as some builds write)
    Nov  2 10:00:01 ftp1 vsftpd[1236]: [ftpuser] FAIL LOGIN: Client "203.0.113.5"
    Oct 23 21:15:42 vps vsftpd: pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0
        tty=ftp ruser= rhost=198.51.100.4  user=bob                                          (one line)
    Oct 23 21:15:42 vps vsftpd(pam_unix)[1240]: authentication failure; logname= uid=0 euid=0 tty=
        ruser= rhost=198.51.100.4 user=bob                                                   (one line)

A file of vsftpd's syslog lines mixed with other programs' (/var/log/messages) is read by the
`syslog` format, which hands vsftpd's lines to `syslog_event` here.

The user name in brackets is what the client typed (for failed logins) and file names are the
client's too, and vsftpd does not escape quotes or brackets in them. So a line is accepted only when
the `: Client "` marker occurs exactly once: a name carrying a copy of it (an attempt to put a
different address on the line) makes the line ambiguous, and it is rejected rather than guessed.
Times are GMT unless vsftpd runs with `use_localtime=YES`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from cloudward.events import Event, FtpEvent
from cloudward.parsers._web import (
    SyslogLine,
    TextLineFormat,
    client_ip,
    ctime_length,
    ctime_time,
    pam_auth_failure,
    split_syslog,
    syslog_line_event,
)
from cloudward.parsers.base import Head, ParseContext

MARKER = ': Client "'
#: vsftpd's verbs -> FtpEvent.action (FAIL variants of transfers are plain commands)
VERBS = {
    "CONNECT": "connect", "OK LOGIN": "login", "FAIL LOGIN": "login_failed", "OK UPLOAD": "upload",
    "OK DOWNLOAD": "download", "OK DELETE": "delete", "OK MKDIR": "command", "OK RMDIR": "delete",
    "OK RENAME": "command", "OK CHMOD": "command", "FAIL UPLOAD": "command", "FAIL DOWNLOAD": "command",
    "FAIL DELETE": "command", "FAIL MKDIR": "command", "FAIL RMDIR": "command", "FAIL RENAME": "command",
    "FAIL CHMOD": "command", "FTP command": "command", "FTP response": "response",
}
_VERBS_BY_LENGTH = sorted(VERBS, key=len, reverse=True)


def _native_stamp(s: str) -> int:
    """Length of the ctime stamp of a line of vsftpd's own log (day padded or not), 0 for other lines."""
    n = ctime_length(s)
    return n if n and s[n:n + 6] == " [pid " else 0


class VsftpdLog(TextLineFormat):
    name = "vsftpd"
    description = "vsftpd.log (CONNECT / OK LOGIN / FAIL LOGIN / OK UPLOAD / OK DOWNLOAD ...), file or syslog"
    kinds = ("FtpEvent",)

    def sniff(self, head: Head) -> int:
        hits = 0
        for ln in head.lines:
            if MARKER in ln and _native_stamp(ln):
                hits += 1
            elif "vsftpd" in ln:
                sl = split_syslog(ln, 2000)
                hits += sl is not None and sl.daemon == "vsftpd"
        return 85 if hits and hits * 2 >= len(head.lines) else 0

    def _events(self, lines: Iterable[tuple[str, str]], ctx: ParseContext, fallback: str,
                year: int) -> Iterator[Event]:
        for where, s in lines:
            site = fallback
            pid = ""
            stamp = _native_stamp(s)
            if stamp:
                try:
                    when = ctime_time(s[:stamp])
                except ValueError as exc:
                    ctx.reject(where, str(exc))
                    continue
                close = s.find("] ", stamp + 6)
                if close < 0 or not s[stamp + 6:close].isdigit():
                    ctx.reject(where, "no [pid N] after the time")
                    continue
                pid = s[stamp + 6:close]
                body = s[close + 2:]
            else:
                event = syslog_line_event(s, where, year, "vsftpd", syslog_event, fallback, ctx, "vsftpd")
                if event is not None:
                    yield event
                continue
            event = self._event(body, where, s, when, site if not ctx.site else ctx.site, pid, ctx)
            if event is not None:
                yield event

    @staticmethod
    def _event(body: str, where: str, raw: str, when: float, site: str, pid: str,
               ctx: ParseContext) -> FtpEvent | None:
        c = body.find(MARKER)
        if c < 0:
            ctx.reject(where, "no Client \"address\" part")
            return None
        if body.find(MARKER, c + 1) >= 0:
            ctx.reject(where, "ambiguous line: the Client marker appears twice (possible log injection "
                              "through a user or file name)")
            return None
        head = body[:c]
        verb = next((v for v in _VERBS_BY_LENGTH if head.endswith(v)), None)
        if verb is None:
            ctx.reject(where, f"unknown vsftpd message: {head[-30:]!r}")
            return None
        user_part = head[: -len(verb)].strip()
        user = ""
        if user_part:
            if not (user_part.startswith("[") and user_part.endswith("]")):
                ctx.reject(where, "text before the message is not a [user] field")
                return None
            user = user_part[1:-1]
        start = c + len(MARKER)
        end = body.find('"', start)
        if end < 0:
            ctx.reject(where, "truncated line: client address not closed by a quote")
            return None
        ip = client_ip(body[start:end])
        if not ip:
            ctx.reject(where, f"client is not an IP address: {body[start:end][:60]!r}")
            return None
        tail = body[end + 1:]
        if tail and not tail.startswith(', "'):
            ctx.reject(where, "unexpected text after the client address")
            return None
        action = VERBS[verb]
        if action == "response":
            ctx.stats.ignored += 1  # recognized, but nothing a detection reads
            return None
        argument = ""
        if tail:
            stop = tail.rfind('", ') if action in ("upload", "download") else len(tail) - 1
            if stop < 3 or tail[stop] != '"':
                ctx.reject(where, "truncated line: file name not closed by a quote")
                return None
            argument = tail[3:stop]
        command = verb.split(" ", 1)[-1] if action != "command" or not verb.startswith("FTP") else \
            argument.split(" ", 1)[0].upper()
        file_path = argument if action in ("upload", "download", "delete") or verb.endswith(
            ("MKDIR", "RENAME", "CHMOD", "UPLOAD", "DOWNLOAD", "DELETE")) else ""
        status = "FAIL" if verb.startswith("FAIL") else ("OK" if verb.startswith("OK") else "")
        return FtpEvent(event_id=where, time=when, raw=raw, site=site, client_ip=ip, user=user,
                        action=action, command=command, file_path=file_path, status=status, session=pid)


def syslog_event(sl: SyslogLine, where: str, raw: str, site: str, ctx: ParseContext) -> FtpEvent | None:
    """One vsftpd syslog line (program tag vsftpd, or vsftpd(pam_unix)): its event, or None (rejected
    with a reason, or a message that carries nothing, counted as ignored)."""
    body, pid = sl.message, sl.pid
    try:
        pam = pam_auth_failure(body)
    except ValueError as exc:
        ctx.reject(where, str(exc))
        return None
    if pam is not None:
        rhost, user = pam
        ip = client_ip(rhost)
        if not ip:
            ctx.reject(where, f"PAM rhost is not an IP address: {rhost[:60]!r}")
            return None
        return FtpEvent(event_id=where, time=sl.time, raw=raw, site=site, client_ip=ip, user=user,
                        action="login_failed", command="PASS", status="FAIL", session=pid)
    if body.startswith("pam_") or sl.program != "vsftpd" or MARKER not in body:
        ctx.stats.ignored += 1  # PAM session and account messages, vsftpd's startup lines
        return None
    if body.startswith("[pid "):
        close = body.find("] ")
        if close < 0:
            ctx.reject(where, "no ] after [pid")
            return None
        pid, body = body[5:close], body[close + 2:]
    return VsftpdLog._event(body, where, raw, sl.time, site, pid, ctx)


FORMATS = [VsftpdLog()]
