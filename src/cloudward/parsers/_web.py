"""Helpers shared by the web and FTP log parsers: client addresses, sites, fast timestamps.

Everything here runs once per log line, so it is written for the common case: results are cached
by the exact text they came from (an address or a timestamp repeats on many lines), and the caches
are cleared when they grow past a bound instead of growing with the input.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from calendar import timegm
from collections.abc import Callable, Iterable, Iterator

from cloudward.events import Event
from cloudward.inputs import DEFAULT_MAX_LINE_BYTES, InputFile
from cloudward.parsers.base import Decoder, Format, Head, ParseContext, iter_lines

MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}
_CACHE_LIMIT = 100_000

# -- client addresses -----------------------------------------------------------------------------
_ip_cache: dict[str, str] = {}


def client_ip(text: str) -> str:
    """The canonical form of an IPv4/IPv6 address, or "" when `text` is not exactly one address.

    IPv4-mapped IPv6 (`::ffff:203.0.113.5`, as vsftpd and dual-stack servers log it) becomes the IPv4
    address, so one client has one name whatever socket it came in on.
    """
    hit = _ip_cache.get(text)
    if hit is not None:
        return hit
    value = _canonical_ip(text)
    if len(_ip_cache) >= _CACHE_LIMIT:
        _ip_cache.clear()
    _ip_cache[text] = value
    return value


def _canonical_ip(text: str) -> str:
    # inet_pton is strict (one address, nothing around it); the round trip through inet_ntop gives the
    # canonical text, and a dotted quad that does not survive it (leading zeros: octal to some parsers)
    # is refused rather than guessed
    if not 2 < len(text) < 64 or not text.isascii():
        return ""
    if "." in text and ":" not in text:
        try:
            packed = socket.inet_pton(socket.AF_INET, text)
        except (OSError, ValueError):  # ValueError: a NUL in the text (hostile bytes in the address column)
            return ""
        return text if socket.inet_ntop(socket.AF_INET, packed) == text else ""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return ""
    mapped = getattr(addr, "ipv4_mapped", None)
    return str(mapped or addr)


#: raw address bytes -> canonical address ("" when not an address); shared by the web parsers' hot loops
IP_BYTES_CACHE: dict[bytes, str] = {}
_ipb_cache = IP_BYTES_CACHE


def client_ip_bytes(raw: bytes) -> str:
    """`client_ip` for raw log bytes, cached by the bytes themselves (no decoding on a hit)."""
    hit = _ipb_cache.get(raw)
    if hit is None:
        hit = client_ip(raw.decode("latin-1"))
        if len(_ipb_cache) >= _CACHE_LIMIT:
            _ipb_cache.clear()
        _ipb_cache[raw] = hit
    return hit


# -- sites ----------------------------------------------------------------------------------------
#: folder and file-name parts that say "a log" and nothing about which site
_GENERIC = frozenset({
    "", "log", "logs", "var", "nginx", "apache", "apache2", "httpd", "http", "https", "iis", "web", "www",
    "access", "accesslog", "access_log", "ssl_access", "ssl_access_log", "other_vhosts_access", "error",
    "rawlogs", "logfiles", "home", "site", "sites", "tmp", "data", "ftp", "vsftpd", "xferlog", "proftpd",
    "pure-ftpd", "pureftpd", "transfer", "ftpsvc", "w3svc", "sample", "samples", "json", "export",
    "appservicehttplogs", "insights-logs-appservicehttplogs", "-", "<stdin>", "<memory>", "<sample>",
})
_ROTATION = re.compile(r"(?:[._-](?:\d+|\d{8}|\d{4}-\d\d-\d\d))+$")
_LOG_WORDS = re.compile(
    r"(?:[._-]?(?:ssl[._-])?(?:access|transfer|requests?|xfer)?[._-]?(?:log|txt|json|jsonl|ndjson))+$", re.IGNORECASE)
_SITE_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,252}$")
_site_cache: dict[str, str] = {}


def site_from_path(display: str) -> str:
    """A site name read off a log file's path (`/var/log/nginx/shop.example.com.access.log` ->
    `shop.example.com`, `logs/blog/access.log` -> `blog`), or "unknown"."""
    hit = _site_cache.get(display)
    if hit is not None:
        return hit
    site = "unknown"
    if display not in ("-", "<stdin>"):
        parts = [p for p in re.split(r"[/\\]", display) if p]
        for i, part in enumerate(reversed(parts)):
            name = part
            if i == 0:
                for ext in (".gz", ".bz2", ".xz", ".zst"):
                    if name.endswith(ext):
                        name = name[: -len(ext)]
                name = _ROTATION.sub("", name)
                name = _LOG_WORDS.sub("", name)
                name = _ROTATION.sub("", name)
                for prefix in ("access_log_", "access-", "access_"):
                    if name.startswith(prefix):
                        name = name[len(prefix):]
                if re.fullmatch(r"(?:u_)?(?:ex|in|nc)\d{6,8}", name or "x"):  # IIS daily file names
                    name = ""
            name = name.strip("._-")
            if name.lower() in _GENERIC or name.isdigit() or not _SITE_OK.match(name):
                continue
            site = name.lower()
            break
    if len(_site_cache) >= 10_000:
        _site_cache.clear()
    _site_cache[display] = site
    return site


def default_site(ctx: ParseContext, display: str) -> str:
    """--site when given, else the name read off the path."""
    return ctx.site or site_from_path(display)


# -- timestamps -----------------------------------------------------------------------------------
_day_cache: dict[str, float] = {}


def _day_epoch(key: str, year: int, month: int, day: int) -> float:
    hit = _day_cache.get(key)
    if hit is None:
        if len(_day_cache) >= 20_000:
            _day_cache.clear()
        hit = _day_cache[key] = float(timegm((year, month, day, 0, 0, 0)))
    return hit


_minute_cache: dict[str, float] = {}


def clf_time(text: str) -> float:
    """`10/Oct/2026:13:55:36 +0200` (Apache/nginx `%t` without brackets) -> epoch seconds UTC.

    Raises ValueError when the text is not that shape or not a date: a day the month does not have, an
    hour past 23, a minute or second past 59, a time zone other than +/-hhmm (hh to 23, mm to 59). The
    block scan of `clf` proves the same grammar in RE2 (`clf.CLF_DATE`); the two must agree."""
    minute = _minute_cache.get(text[:17] + text[20:])
    if minute is not None and text[17] == ":" and text[18] in _SIXTY and text[19] in _TEN:
        return minute + int(text[18:20])
    value = _clf_time(text)
    if len(_minute_cache) >= _CACHE_LIMIT:
        _minute_cache.clear()
    _minute_cache[text[:17] + text[20:]] = value - int(text[18:20])
    return value


_TEN = frozenset("0123456789")
_SIXTY = frozenset("012345")
_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _clf_time(text: str) -> float:
    if len(text) != 26 or text[2] != "/" or text[6] != "/" or text[11] != ":" or text[14] != ":" \
            or text[17] != ":" or text[20] != " ":
        raise ValueError(f"not a common-log timestamp: {text[:40]!r}")
    month = MONTHS.get(text[3:6])
    if month is None:
        raise ValueError(f"unknown month in {text!r}")
    if not (_digits(text[0:2]) and _digits(text[7:11]) and _digits(text[12:14]) and _digits(text[15:17])
            and _digits(text[18:20])):
        raise ValueError(f"not a common-log timestamp: {text!r}")
    year, day = int(text[7:11]), int(text[0:2])
    days = _DAYS_IN_MONTH[month]
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        days = 29
    hour, minute, second = int(text[12:14]), int(text[15:17]), int(text[18:20])
    if not 1 <= day <= days or hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"not a date: {text!r}")
    tz = text[21:]
    offset = 0
    if tz != "+0000":
        if tz[0] not in "+-" or not _digits(tz[1:]) or int(tz[1:3]) > 23 or int(tz[3:5]) > 59:
            raise ValueError(f"bad time zone in {text!r}")
        offset = (-1 if tz[0] == "-" else 1) * (int(tz[1:3]) * 3600 + int(tz[3:5]) * 60)
    return _day_epoch(text[:11], year, month, day) + hour * 3600 + minute * 60 + second - offset


def iso_day_time(date: str, time: str) -> float:
    """W3C `date` (2026-11-02) and `time` (09:15:27 or 09:15:27.123) fields, UTC -> epoch seconds."""
    if len(date) != 10 or date[4] != "-" or date[7] != "-" or len(time) < 8 or time[2] != ":" or time[5] != ":" \
            or not (_digits(date[0:4]) and _digits(date[5:7]) and _digits(date[8:10]) and _digits(time[0:2])
                    and _digits(time[3:5]) and _digits(time[6:8])):
        raise ValueError(f"not a W3C date/time: {date[:12]!r} {time[:16]!r}")
    day = _day_epoch("w3c" + date, *_w3c_date(date))
    hour, minute, second = int(time[0:2]), int(time[3:5]), int(time[6:8])
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"not a time of day: {time[:16]!r}")
    seconds = hour * 3600 + minute * 60 + second
    if len(time) > 9 and time[8] == ".":
        seconds += float("0" + time[8:])
    return day + seconds


def _w3c_date(date: str) -> tuple[int, int, int]:
    """(year, month, day) of a W3C `yyyy-mm-dd`, or ValueError when that day does not exist. The block scan
    of `w3c-http` proves the same in RE2 (`w3c_http.W3C_DATE`, less 29 February); the two must agree."""
    year, month, day = int(date[0:4]), int(date[5:7]), int(date[8:10])
    if not 1 <= month <= 12:
        raise ValueError(f"not a date: {date!r}")
    days = _DAYS_IN_MONTH[month]
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        days = 29
    if not 1 <= day <= days:
        raise ValueError(f"not a date: {date!r}")
    return year, month, day


def ctime_time(text: str) -> float:
    """`Mon Nov  2 10:00:05 2026` (vsftpd.log and xferlog; GMT unless the server was told otherwise)."""
    parts = text.split()
    if len(parts) != 5:
        raise ValueError(f"not a ctime timestamp: {text[:30]!r}")
    _, mon, day, hms, year = parts
    month = MONTHS.get(mon)
    if month is None or len(hms) != 8 or not year.isdigit():
        raise ValueError(f"not a ctime timestamp: {text[:30]!r}")
    base = _day_epoch(f"{year}-{month}-{day}", int(year), month, int(day))
    return base + int(hms[0:2]) * 3600 + int(hms[3:5]) * 60 + int(hms[6:8])


def ctime_length(s: str) -> int:
    """Length of the ctime stamp at the start of `s` (`Mon Nov  2 10:00:05 2026`, 24 characters; the
    day may also be unpadded, `Mon Nov 2 10:00:05 2026`, 23, or zero-padded), or 0 when there is none.
    The stamp must be followed by a space or end the text."""
    if len(s) < 23 or s[3] != " " or s[7] != " " or s[4:7] not in MONTHS:
        return 0
    if s[8] == " " or s[9] != " ":  # `  2` (space-padded) or `12` / `02`
        n = 24
        if not s[9].isdigit() or (s[8] != " " and not s[8].isdigit()) or s[10:11] != " ":
            return 0
    else:  # ` 2 ` unpadded
        n = 23
        if not s[8].isdigit():
            return 0
    rest = s[n - 13:n]  # `HH:MM:SS YYYY` after the day and its space
    if len(rest) != 13 or rest[2] != ":" or rest[5] != ":" or rest[8] != " " or not (
            rest[:2] + rest[3:5] + rest[6:8] + rest[9:]).isdigit():
        return 0
    return n if len(s) == n or s[n] == " " else 0


def syslog_time(text: str, year: int) -> float:
    """`Nov  2 10:00:05` (RFC 3164 has no year: the caller supplies one)."""
    parts = text.split()
    if len(parts) != 3:
        raise ValueError(f"not a syslog timestamp: {text[:20]!r}")
    mon, day, hms = parts
    month = MONTHS.get(mon)
    if month is None or len(hms) != 8 or not day.isdigit() or not hms.replace(":", "").isdigit():
        raise ValueError(f"not a syslog timestamp: {text[:20]!r}")
    base = _day_epoch(f"{year}-{month}-{day}", year, month, int(day))
    return base + int(hms[0:2]) * 3600 + int(hms[3:5]) * 60 + int(hms[6:8])


def file_year(display: str) -> int:
    """The year to give year-less syslog stamps: the file's modification year, else this year."""
    import time

    try:
        return time.gmtime(os.path.getmtime(display)).tm_year
    except (OSError, ValueError):
        return time.gmtime().tm_year


class TextLinesDecoder(Decoder):
    """A text log whose lines are read independently of each other: each block's non-blank lines, as
    (`path:line`, decoded text), go through `events` (a format's per-line loop)."""

    def __init__(self, ctx: ParseContext, display: str, max_line_bytes: int,
                 events: Callable[[Iterable[tuple[str, str]]], Iterable[Event]]) -> None:
        super().__init__(ctx, display, max_line_bytes)
        self.events = events

    def take_block(self, buf: bytes, start: int, end: int) -> list[Event]:
        display, limit = self.display, self.limit
        lineno = first = self.lineno
        lines: list[tuple[str, str]] = []
        for raw in iter_lines(buf, start, end):
            lineno += 1
            if len(raw) > limit:
                self.ctx.reject(f"{display}:{lineno}", f"line too long: {len(raw)} bytes (limit {limit})")
            elif raw.strip():
                lines.append((f"{display}:{lineno}", decode(raw.rstrip(b"\r\n"))))
        self.lineno = lineno
        self.ctx.stats.lines += lineno - first
        return list(self.events(lines)) if lines else []


class TextLineFormat(Format):
    """A syslog-style text format read line by line: subclasses give `_events(lines, ctx, fallback_site,
    year)`; the decoder, the site a file's name implies and the year of syslog stamps are the same for all."""

    def decoder(self, ctx: ParseContext, display: str, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                head: Head | None = None) -> Decoder:
        fallback = default_site(ctx, display)
        year = file_year(display)
        return TextLinesDecoder(ctx, display, max_line_bytes, lambda lines: self._events(lines, ctx, fallback, year))

    def _events(self, lines: Iterable[tuple[str, str]], ctx: ParseContext, fallback: str,
                year: int) -> Iterator[Event]:
        raise NotImplementedError


def text_lines(src: InputFile, ctx: ParseContext) -> Iterator[tuple[str, str]]:
    """(`path:line`, decoded text) of every non-blank line of a text log."""
    display = src.display
    for lineno, line in src.lines(ctx.stats):
        if line.strip():
            yield f"{display}:{lineno}", decode(line)


def decode(line: bytes) -> str:
    """Log bytes as text: UTF-8 when valid, otherwise each undecodable byte as U+FFFD.

    Never raises; an address is validated afterwards, so replaced bytes can never pass for one."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("utf-8", errors="replace")


def split_target(target: str) -> tuple[str, str]:
    """`/a/b?x=1` -> (`/a/b`, `x=1`)."""
    q = target.find("?")
    if q < 0:
        return target, ""
    return target[:q], target[q + 1:]


class SyslogLine:
    """The parts of a syslog-prefixed line: BSD (`Nov  2 10:00:05 host prog[pid]: msg`, also with the
    day unpadded, `Dec 5 15:44:32`, or zero-padded) or ISO (`2026-11-02T10:00:05.123+00:00 host
    prog[pid]: msg`, as rsyslog writes with high precision). The program tag may lack its colon
    (`proftpd[123] msg`, older ProFTPD) or carry a PAM module (`vsftpd(pam_unix)[123]:`): `program`
    is then `vsftpd(pam_unix)` and `daemon` is `vsftpd`."""

    __slots__ = ("host", "message", "pid", "program", "time")

    def __init__(self, time: float, host: str, program: str, pid: str, message: str) -> None:
        self.time = time
        self.host = host
        self.program = program
        self.pid = pid
        self.message = message

    @property
    def daemon(self) -> str:
        """The program name without a `(module)` part, lower-cased."""
        cut = self.program.find("(")
        return (self.program if cut < 0 else self.program[:cut]).lower()


def _bsd_header(s: str) -> tuple[str, int] | None:
    """(`Mon D HH:MM:SS`, index after it) of a BSD timestamp at the start of `s`, day padded or not."""
    if len(s) < 15 or s[3] != " " or s[:3] not in MONTHS:
        return None
    i = 4
    if s[i] == " ":
        i += 1
    j = i
    while j < i + 2 and j < len(s) and s[j].isdigit():
        j += 1
    if j == i or s[j:j + 1] != " " or len(s) < j + 10 or s[j + 3] != ":" or s[j + 6] != ":":
        return None
    if j + 9 < len(s) and s[j + 9] != " ":
        return None
    return f"{s[:3]} {s[i:j]} {s[j + 1:j + 9]}", j + 10


def _rfc5424(s: str) -> SyslogLine | None:
    """`TIMESTAMP HOST APP PROCID MSGID [SD] MSG` after `<PRI>1 ` (RFC 5424, as rsyslog and syslog-ng
    forward); `-` is an empty field. Structured data is skipped (its values may hold `]` escaped as `\\]`)."""
    from cloudward.timeutil import parse_time

    parts = s.split(" ", 5)
    if len(parts) < 5:
        return None
    stamp, host, app, procid, _msgid = parts[:5]
    when = parse_time(stamp)
    if not when:
        return None
    rest = parts[5] if len(parts) > 5 else ""
    if rest.startswith("-"):
        message = rest[2:]
    elif rest.startswith("["):
        i, depth, n = 0, 0, len(rest)
        while i < n:
            c = rest[i]
            if c == "\\":
                i += 2
                continue
            if c == "[":
                depth += 1
            elif c == "]":
                depth -= 1
                if depth == 0 and rest[i + 1:i + 2] != "[":
                    break
            i += 1
        message = rest[i + 2:]
    else:
        message = rest
    if message.startswith("\ufeff"):  # the BOM RFC 5424 puts before a UTF-8 message
        message = message[1:]
    return SyslogLine(when, "" if host == "-" else host, "" if app == "-" else app,
                      procid if procid.isdigit() else "", message)


def split_syslog(s: str, year: int) -> SyslogLine | None:
    """The parts of one syslog line, or None when it does not start with a syslog header. A `<PRI>`
    prefix (as received on the wire) is dropped. A line with a header but no program tag
    (`-- MARK --`) has program ''."""
    from cloudward.timeutil import parse_time

    if s[:1] == "<":
        close = s.find(">", 1, 5)
        if close > 1 and s[1:close].isdigit():
            s = s[close + 1:]
            if s.startswith("1 "):
                return _rfc5424(s[2:])
    bsd = _bsd_header(s)
    if bsd is not None:
        stamp, after = bsd
        try:
            when = syslog_time(stamp, year)
        except ValueError:
            return None
        rest = s[after:]
    elif len(s) > 20 and s[4] == "-" and s[10] == "T":
        sp = s.find(" ")
        when = parse_time(s[:sp])
        if not when:
            return None
        rest = s[sp + 1:]
    else:
        return None
    sp = rest.find(" ")
    if sp <= 0:
        return None
    host, after = rest[:sp], rest[sp + 1:]
    end = after.find(" ")
    token = after if end < 0 else after[:end]
    message = "" if end < 0 else after[end + 1:]
    if token.endswith(":"):
        tag = token[:-1]
    elif token.endswith("]") and "[" in token:
        tag = token  # `proftpd[123] message`: older ProFTPD writes no colon after its tag
    else:
        return SyslogLine(when, host, "", "", after)
    pid = ""
    if tag.endswith("]") and "[" in tag:
        tag, pid = tag[:-1].split("[", 1)
        if not pid.isdigit():
            return SyslogLine(when, host, "", "", after)
    return SyslogLine(when, host, tag, pid, message)


def syslog_line_event(raw: str, where: str, year: int, daemon: str,
                      own: Callable[[SyslogLine, str, str, str, ParseContext], Event | None],
                      fallback: str, ctx: ParseContext, what: str) -> Event | None:
    """One syslog-framed line of an FTP daemon's file: `own` reads the daemon's lines; a line of another
    program (sshd, cron, another FTP daemon) goes to that program's reader through the syslog router, or
    is counted as ignored; a line with no syslog header is rejected as not a `what` line."""
    from cloudward.parsers.syslog import route  # the router imports the daemons' modules

    sl = split_syslog(raw, year)
    if sl is None:
        ctx.reject(where, f"not a {what} log line")
        return None
    site = ctx.site or sl.host.lower() or fallback
    if sl.daemon != daemon:
        return route(sl, where, raw, site, ctx)
    return own(sl, where, raw, site, ctx)


def pam_auth_failure(message: str) -> tuple[str, str] | None:
    """(rhost, user) of a PAM `authentication failure` message, or None for any other message.

        pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 tty=ftp ruser= rhost=198.51.100.4  user=bob
        authentication failure; logname= uid=0 euid=0 tty= ruser= rhost=198.51.100.4 user=bob   (older vsftpd(pam_unix))

    rhost is '' when the message has none. The user name is the client's and comes last; `ruser` may be
    the client's too, so a message with more than one ` rhost=` is refused (ValueError) rather than read."""
    body = message
    if body.startswith("pam_"):
        colon = body.find("): ")
        if colon < 0:
            return None
        body = body[colon + 3:]
    if not body.startswith("authentication failure;"):
        return None
    at = body.find(" rhost=")
    if at >= 0 and body.find(" rhost=", at + 1) >= 0:
        raise ValueError("ambiguous PAM message: rhost= appears twice (possible log injection)")
    rhost = ""
    after = at
    if at >= 0:
        end = body.find(" ", at + 7)
        rhost = body[at + 7:] if end < 0 else body[at + 7:end]
        after = at + 7 + len(rhost)
    u = body.find(" user=", max(after, 0))
    user = body[u + 6:].strip() if u >= 0 else ""
    return rhost, user
