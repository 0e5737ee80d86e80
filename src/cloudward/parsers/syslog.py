"""Mixed-daemon syslog files (`/var/log/messages`, `/var/log/secure`, `daemon.log`, `syslog`): every
line is routed by its program tag to the reader of that daemon.

    Nov  2 10:00:00 ftp1 systemd[1]: Started vsftpd.service - Vsftpd ftp daemon.
    Nov  2 10:00:05 ftp1 vsftpd[2101]: [bob] OK LOGIN: Client "203.0.113.5"
    Nov  2 10:00:09 ftp1 vsftpd: pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0
        tty=ftp ruser= rhost=198.51.100.4  user=root                                         (one line)
    Nov  2 10:00:11 ftp1 proftpd[2203] ftp1.example.com (198.51.100.4[198.51.100.4]): USER root
        (Login failed): Incorrect password                                                   (one line)
    Nov  2 10:00:12 ftp1 pure-ftpd: (?@198.51.100.4) [WARNING] Authentication failed for user [admin]
    Nov  2 10:00:13 ftp1 CRON[2210]: (root) CMD (run-parts /etc/cron.hourly)
    Dec 5 15:44:32 ftp1 sshd[2211]: Failed password for root from 198.51.100.4 port 50122 ssh2

The day may be unpadded (`Dec 5`). sshd's lines are read as a known program's and counted as ignored:
no card reads SSH logins yet, and a /var/log/secure full of them is not an error.

Lines of programs no parser reads (CRON, systemd, kernel...) are counted as ignored, never rejected,
so a file whose first lines belong to other daemons is read like any other. A line without a syslog
header is rejected with its file:line. `route` decides one already split line and holds no state, so
a syslog listener can call it per received message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from cloudward.events import Event, FtpEvent
from cloudward.parsers import proftpd, pureftpd, vsftpd
from cloudward.parsers._web import SyslogLine, TextLineFormat, split_syslog
from cloudward.parsers.base import Head, ParseContext

#: one daemon's syslog line -> its event (or None: rejected with a reason, or ignored)
LineReader = Callable[[SyslogLine, str, str, str, ParseContext], FtpEvent | None]

def _known_unread(line: SyslogLine, where: str, raw: str, site: str, ctx: ParseContext) -> FtpEvent | None:
    """A daemon whose lines are recognized but that no card reads (sshd in /var/log/secure and auth.log):
    each of its lines is counted as ignored, never rejected, whatever its message."""
    ctx.stats.ignored += 1
    return None


#: daemon (program tag without pid or `(module)`, lower-cased) -> the reader of its lines
ROUTES: dict[str, LineReader] = {
    "vsftpd": vsftpd.syslog_event,
    "proftpd": proftpd.syslog_event,
    "pure-ftpd": pureftpd.syslog_event,
    "sshd": _known_unread,
}


def route(line: SyslogLine, where: str, raw: str, site: str, ctx: ParseContext) -> Event | None:
    """The event of one syslog line (`where` is its file:line or message id, `site` the site to give
    it), or None: ignored when no reader handles its program, or rejected by that reader."""
    reader = ROUTES.get(line.daemon)
    if reader is None:
        ctx.stats.ignored += 1
        return None
    return reader(line, where, raw, site, ctx)


def route_text(text: str, where: str, ctx: ParseContext, year: int, fallback_site: str = "") -> Event | None:
    """`route` for one line of text, header included; a line without a syslog header is rejected."""
    line = split_syslog(text, year)
    if line is None:
        ctx.reject(where, "not a syslog line: no `Mon D HH:MM:SS host program:` header")
        return None
    return route(line, where, text, ctx.site or line.host.lower() or fallback_site, ctx)


class SyslogFile(TextLineFormat):
    name = "syslog"
    description = "syslog files of many daemons (/var/log/messages, secure, daemon.log): FTP daemons' lines"
    kinds = ("FtpEvent",)

    def sniff(self, head: Head) -> int:
        if not head.lines:
            return 0
        framed = sum(1 for ln in head.lines if split_syslog(ln, 2000) is not None)
        # below the single-daemon formats (85), which read a file of only their own lines
        return 30 if framed * 2 > len(head.lines) else 0

    def _events(self, lines: Iterable[tuple[str, str]], ctx: ParseContext, fallback: str,
                year: int) -> Iterator[Event]:
        for where, text in lines:
            event = route_text(text, where, ctx, year, fallback)
            if event is not None:
                yield event


FORMATS = [SyslogFile()]
