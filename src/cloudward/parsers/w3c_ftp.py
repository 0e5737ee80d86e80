"""IIS / App Service FTP logs in W3C extended format.

Each line is one FTP command or channel event (`ControlChannelOpened`, `USER`, `PASS`, `STOR`,
`RETR`, `DELE`, `ControlChannelClosed`...) with its reply code; `x-session` ties a session's lines
together and `x-fullpath` is the file's path on the server.
"""

from __future__ import annotations

from cloudward.events import Event, FtpEvent
from cloudward.inputs import DEFAULT_MAX_LINE_BYTES
from cloudward.parsers._w3c import W3cFields, fields_directive, header_kind
from cloudward.parsers._web import client_ip, decode, default_site, iso_day_time
from cloudward.parsers.base import Decoder, Format, Head, LineDecoder, ParseContext

UPLOAD_COMMANDS = frozenset({"STOR", "STOU", "APPE"})


def ftp_action(command: str, status: str) -> str:
    """Normalized FtpEvent.action for an FTP command (or IIS channel event) and its reply code."""
    ok = status[:1] in ("1", "2")
    if command == "ControlChannelOpened":
        return "connect"
    if command in ("ControlChannelClosed", "QUIT"):
        return "disconnect"
    if command == "PASS":
        return "login" if status == "230" else "login_failed"
    if command in UPLOAD_COMMANDS:
        return "upload" if ok else "command"
    if command == "RETR":
        return "download" if ok else "command"
    if command in ("DELE", "RMD"):
        return "delete" if ok else "command"
    return "command"


class W3cFtpLog(Format):
    name = "w3c-ftp"
    description = "IIS / App Service FTP logs, W3C extended format (x-session, x-fullpath)"
    kinds = ("FtpEvent",)

    def sniff(self, head: Head) -> int:
        return 90 if header_kind(head) == "ftp" else 0

    def decoder(self, ctx: ParseContext, display: str, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                head: Head | None = None) -> Decoder:
        return _W3cFtpDecoder(ctx, display, max_line_bytes)


class _W3cFtpDecoder(LineDecoder):
    """One W3C FTP log stream; each `#Fields:` header sets the columns of the lines after it."""

    def __init__(self, ctx: ParseContext, display: str, max_line_bytes: int) -> None:
        super().__init__(ctx, display, max_line_bytes)
        self.fallback_site = default_site(ctx, display)
        self.fields: W3cFields | None = None

    def line(self, line: bytes, lineno: int) -> list[Event] | None:
        display = self.display
        reject = self.ctx.reject
        fallback_site = self.fallback_site
        f = self.fields
        if not line:
            return None
        if line[:1] == b"#":
            fields = fields_directive(decode(line))
            if fields is not None:
                f = self.fields = fields
                if not (f.has("c-ip") and f.has("cs-method") and f.has("date") and f.has("time")):
                    reject(f"{display}:{lineno}", "#Fields header lacks date, time, c-ip or cs-method")
                    self.fields = None
            return None
        if f is None:
            reject(f"{display}:{lineno}", "data line without a usable #Fields header before it")
            return None
        s = decode(line)
        parts = s.split(" ")
        if len(parts) != f.count:
            reject(f"{display}:{lineno}", f"expected {f.count} fields as the #Fields header says, got {len(parts)}")
            return None
        parts.append("-")
        ip = client_ip(parts[f.index("c-ip")])
        if not ip:
            reject(f"{display}:{lineno}", f"c-ip is not an IP address: {parts[f.index('c-ip')][:60]!r}")
            return None
        try:
            when = iso_day_time(parts[f.index("date")], parts[f.index("time")])
        except ValueError as exc:
            reject(f"{display}:{lineno}", str(exc))
            return None
        command = parts[f.index("cs-method")]
        status = parts[f.index("sc-status")]
        stem = parts[f.index("cs-uri-stem")]
        full = parts[f.index("x-fullpath")]
        path = full if full != "-" else stem
        action = ftp_action(command, status)
        sitename = parts[f.index("s-sitename")]
        user = parts[f.index("cs-username")]
        if command == "USER":  # the name a client tried is the command's argument
            user, path = stem, "-"
        return [FtpEvent(
            event_id=f"{display}:{lineno}", time=when, raw=s,
            site=sitename.lower() if sitename != "-" else fallback_site,
            client_ip=ip, user="" if user == "-" else user.replace("+", " "), action=action,
            command=command,
            file_path="" if path == "-" or action in ("connect", "disconnect", "login", "login_failed")
            else path.replace("+", " "),
            status="" if status == "-" else status,
            session="" if (sess := parts[f.index("x-session")]) == "-" else sess,
        )]


FORMATS = [W3cFtpLog()]
