"""ProFTPD's system log (`SystemLog` file or syslog). Transfers go to its `TransferLog`, which is
xferlog and read by that parser.

    2026-11-02 10:00:00,123 ftp1 proftpd[12345] ftp.example.com (203.0.113.5[203.0.113.5]): FTP session opened.
    2026-11-02 10:00:01,456 ftp1 proftpd[12345] ftp.example.com (203.0.113.5[203.0.113.5]): USER bob: Login successful.
    Nov  2 10:00:02 ftp1 proftpd[12346]: ftp.example.com (203.0.113.5[203.0.113.5]) - USER root (Login
        failed): Incorrect password    (one line)
    Dec 5 15:44:32 ftp1 proftpd[12347] ftp.example.com (203.0.113.5[203.0.113.5]): FTP session opened.
        (older versions: no colon after the tag; an unpadded day)

The client is `(name[address])`, written before anything the client typed; the address inside the
brackets is used, the name (reverse DNS, when enabled) only when it contains no space or bracket.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from cloudward.events import Event, FtpEvent
from cloudward.parsers._web import (
    SyslogLine,
    TextLineFormat,
    client_ip,
    pam_auth_failure,
    syslog_line_event,
)
from cloudward.parsers.base import Head, ParseContext
from cloudward.timeutil import parse_time


def _native(s: str) -> tuple[float, str, str, str] | None:
    """(time, host, pid, rest) of a `2026-11-02 10:00:00,123 host proftpd[pid] rest` line."""
    if len(s) < 30 or s[4] != "-" or s[10] != " " or s[19] != ",":
        return None
    when = parse_time(s[:10] + "T" + s[11:19] + "." + s[20:23])
    sp = s.find(" ", 24)
    if not when or sp < 0:
        return None
    host = s[24:sp]
    tag_end = s.find(" ", sp + 1)
    tag = s[sp + 1: tag_end]
    if not tag.startswith("proftpd[") or not tag.endswith("]"):
        return None
    return when, host, tag[8:-1], s[tag_end + 1:]


class ProftpdLog(TextLineFormat):
    name = "proftpd"
    description = "ProFTPD system log (session opened/closed, logins, failures), file or syslog"
    kinds = ("FtpEvent",)

    def sniff(self, head: Head) -> int:
        hits = sum(1 for ln in head.lines if "proftpd" in ln and "[" in ln and ("): " in ln or ") - " in ln))
        return 85 if hits and hits * 2 >= len(head.lines) else 0

    def _events(self, lines: Iterable[tuple[str, str]], ctx: ParseContext, fallback: str,
                year: int) -> Iterator[Event]:
        for where, s in lines:
            native = _native(s)
            if native is not None:
                when, host, pid, rest = native
                event = _event(when, pid, rest, where, s, ctx.site or host.lower() or fallback, ctx)
            else:
                event = syslog_line_event(s, where, year, "proftpd", syslog_event, fallback, ctx, "ProFTPD")
            if event is not None:
                yield event


def syslog_event(sl: SyslogLine, where: str, raw: str, site: str, ctx: ParseContext) -> FtpEvent | None:
    """One ProFTPD syslog line (`proftpd[pid]:`, or `proftpd[pid]` without the colon as older versions
    write, or a PAM failure under proftpd's tag): its event, or None (rejected, or ignored)."""
    try:
        pam = pam_auth_failure(sl.message)
    except ValueError as exc:
        ctx.reject(where, str(exc))
        return None
    if pam is not None:
        ip = client_ip(pam[0])
        if not ip:
            ctx.reject(where, f"PAM rhost is not an IP address: {pam[0][:60]!r}")
            return None
        return FtpEvent(event_id=where, time=sl.time, raw=raw, site=site, client_ip=ip, user=pam[1],
                        action="login_failed", command="PASS", status="FAIL", session=sl.pid)
    if sl.message.startswith("pam_") or " (" not in sl.message:
        ctx.stats.ignored += 1  # PAM session messages, startup and shutdown lines without a client
        return None
    return _event(sl.time, sl.pid, sl.message, where, raw, site, ctx)


def _event(when: float, pid: str, rest: str, where: str, raw: str, site: str, ctx: ParseContext) -> FtpEvent | None:
    # rest: "<server name> (<client name>[<address>])<: | - ><message>"
    open_ = rest.find(" (")
    bracket = rest.find("[", open_ + 2)
    close = rest.find("])", bracket + 1)
    if open_ < 0 or bracket < 0 or close < 0:
        ctx.reject(where, "no (name[address]) client part")
        return None
    name = rest[open_ + 2: bracket]
    if " " in name or "]" in name or "(" in name:
        ctx.reject(where, "client name holds spaces or brackets (possible log injection)")
        return None
    ip = client_ip(rest[bracket + 1: close])
    if not ip:
        ctx.reject(where, f"client address is not an IP: {rest[bracket + 1: close][:60]!r}")
        return None
    message = rest[close + 2:]
    if message.startswith(": "):
        message = message[2:]
    elif message.startswith(" - "):
        message = message[3:]
    else:
        ctx.reject(where, "no message after the client part")
        return None
    parsed = _message(message)
    if parsed is None:
        ctx.stats.ignored += 1  # recognized, but nothing a detection reads
        return None
    action, user, command = parsed
    return FtpEvent(event_id=where, time=when, raw=raw, site=site, client_ip=ip, user=user, action=action,
                    command=command, status=message[-80:], session=pid)


def _message(message: str) -> tuple[str, str, str] | None:
    """(action, user, command) of the messages that matter; None for the rest."""
    if message.startswith("FTP session opened"):
        return "connect", "", ""
    if message.startswith("FTP session closed"):
        return "disconnect", "", ""
    for verb in ("USER ", "ANON "):
        if message.startswith(verb):
            body = message[len(verb):]
            if body.endswith(": Login successful."):
                return "login", body[: -len(": Login successful.")], "PASS"
            if " (Login failed)" in body:
                return "login_failed", body[: body.rfind(" (Login failed)")], "PASS"
            if ": no such user found" in body:
                return "login_failed", body[: body.rfind(": no such user found")], "USER"
            return None
    if message.startswith(("Maximum login attempts", "SECURITY VIOLATION")):
        return "login_failed", "", ""
    return None


FORMATS = [ProftpdLog()]
