"""xferlog, the transfer log written by vsftpd (`xferlog_std_format=YES`), ProFTPD (`TransferLog`)
and wu-ftpd:

    Mon Nov  2 10:00:05 2026 1 203.0.113.5 1234 /srv/www/shell.php b _ i r ftpuser ftp 0 * c

current-time, transfer-time, remote-host, file-size, filename, transfer-type, special-action-flag,
direction (o out / i in / d deleted), access-mode (a anonymous / g guest / r real), username,
service-name, authentication-method, authenticated-user-id, completion-status (c / i). The file name
may hold spaces, so the fixed columns are read from both ends and the name is what lies between.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from cloudward.events import Event, FtpEvent
from cloudward.inputs import DEFAULT_MAX_LINE_BYTES
from cloudward.parsers._web import TextLinesDecoder, client_ip, ctime_length, ctime_time, default_site
from cloudward.parsers.base import Decoder, Format, Head, ParseContext

DIRECTIONS = {"i": "upload", "o": "download", "d": "delete"}


def _split(s: str) -> tuple[list[str], str, list[str]] | None:
    """(left columns, file name, right columns) of an xferlog line after its timestamp (day padded,
    `Mon Nov  2 ...`, or not, `Sat Dec 5 ...`)."""
    stamp = ctime_length(s)
    if not stamp or len(s) <= stamp + 1:
        return None
    tokens = s[stamp + 1:].split(" ")
    if len(tokens) < 12:
        return None
    tail = 9 if tokens[-1] in ("c", "i") else 8
    left, right = tokens[:3], tokens[-tail:]
    name = " ".join(tokens[3:-tail])
    return left, name, right


def _valid(right: list[str]) -> bool:
    return (right[0] in ("a", "b") and right[2] in DIRECTIONS and right[3] in ("a", "g", "r")
            and right[6] in ("0", "1"))


class XferLog(Format):
    name = "xferlog"
    description = "xferlog transfer log (vsftpd xferlog_std_format, ProFTPD TransferLog, wu-ftpd)"
    kinds = ("FtpEvent",)

    def sniff(self, head: Head) -> int:
        good = 0
        for ln in head.lines:
            parts = _split(ln)
            if parts and _valid(parts[2]) and parts[0][1] and parts[0][2].isdigit():
                good += 1
        return 85 if good and good * 2 >= len(head.lines) else 0

    def decoder(self, ctx: ParseContext, display: str, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                head: Head | None = None) -> Decoder:
        site = default_site(ctx, display)
        return TextLinesDecoder(ctx, display, max_line_bytes, lambda lines: self._events(lines, ctx, site))

    def _events(self, lines: Iterable[tuple[str, str]], ctx: ParseContext, site: str) -> Iterator[Event]:
        for where, s in lines:
            parts = _split(s)
            if parts is None or not _valid(parts[2]):
                ctx.reject(where, "not an xferlog line (expected 14 columns after the time)")
                continue
            left, name, right = parts
            try:
                when = ctime_time(s[:ctime_length(s)])
            except ValueError as exc:
                ctx.reject(where, str(exc))
                continue
            ip = client_ip(left[1])
            if not ip:
                ctx.reject(where, f"remote host is not an IP address: {left[1][:60]!r} (turn reverse DNS "
                                  "off in the FTP server so the log keeps addresses)")
                continue
            complete = len(right) == 9 and right[8] == "c"
            yield FtpEvent(event_id=where, time=when, raw=s, site=site, client_ip=ip, user=right[4],
                           action=DIRECTIONS[right[2]], command={"i": "STOR", "o": "RETR", "d": "DELE"}[right[2]],
                           file_path=name, status="complete" if complete or len(right) == 8 else "incomplete")


FORMATS = [XferLog()]
