"""IIS and Azure App Service HTTP logs in W3C extended format (each `#Fields:` header drives the
columns of the lines after it).

The site is the server's own name for it (`s-sitename`: IIS's `W3SVC1`, App Service's app name;
`~1` marks an app's Kudu/SCM site), else the Host header (`cs-host`), else `--site`, else a name read
off the file's path.
The server's name comes first because the Host header is whatever the client sent.
"""

from __future__ import annotations

from cloudward.events import SUMMARY_SPANS, HttpRequest
from cloudward.inputs import DEFAULT_MAX_LINE_BYTES
from cloudward.parsers._w3c import W3cFields, fields_directive, header_kind
from cloudward.parsers._web import client_ip, decode, default_site, iso_day_time
from cloudward.parsers._webscan import BlockScanner, ScanStop, Summaries, W3cCountedSummaries, WebDecoder
from cloudward.parsers.base import ERROR_ONLY, EVENT, SKIP, Decoder, Format, Head, ParseContext, WebInterest
from cloudward.parsers.clf import CLF_ADDRESS, YEAR

#: before a usable #Fields header every data line is malformed (and rejected): the trigger finds them all
NO_FIELDS_SHAPE = "^[^#\\r\\n]"


#: RE2, case-sensitive, for the W3C `date` and `time` values `_web.iso_day_time` accepts (or fewer: 29
#: February always goes to the parser, which knows leap years; year 0 it refuses)
W3C_DATE = (f"{YEAR}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
            "|(?:0[13578]|1[02])-31)")
W3C_TIME = "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,9})?"
_W3C_VALUE = "[^ \\r\\n]*"


def w3c_valid_line(cols: _Columns) -> str:
    """RE2 for one data line (no newline) that `_W3cLines.parse` provably accepts under these columns: exactly
    `count` space-separated values, a real date and time, an address in `c-ip`, a 3-digit `sc-status` (or
    `-`). The block scan parses every line that is not one, so a bad field is rejected with its file:line
    whatever page it names; unusual spellings the parser also accepts are parsed too, and accepted."""
    by_index = {cols.date: W3C_DATE, cols.time: W3C_TIME, cols.ip: CLF_ADDRESS, cols.status: "(?:[0-9]{3}|-)"}
    values = [by_index.get(i, _W3C_VALUE) for i in range(cols.count)]
    if values[0] == _W3C_VALUE:
        values[0] = "[^ #\\r\\n][^ \\r\\n]*"  # not a directive, not an empty first value
    return " ".join(f"(?:{v})" for v in values)


class _Columns:
    def __init__(self, f: W3cFields) -> None:
        self.count = f.count
        self.date = f.index("date")
        self.time = f.index("time")
        self.ip = f.index("c-ip")
        self.method = f.index("cs-method")
        self.stem = f.index("cs-uri-stem")
        self.query = f.index("cs-uri-query")
        self.status = f.index("sc-status")
        self.agent = f.index("cs(User-Agent)")
        self.referer = f.index("cs(Referer)")
        self.host = f.index("cs-host")
        self.sitename = f.index("s-sitename")
        self.user = f.index("cs-username")
        self.bytes = f.index("sc-bytes")
        self.server_ip = f.index("s-ip")
        self.usable = f.has("c-ip") and f.has("cs-uri-stem") and f.has("date") and f.has("time")


class W3cHttpLog(Format):
    name = "w3c-http"
    description = "IIS / Azure App Service HTTP logs, W3C extended format (#Fields: driven)"
    kinds = ("HttpRequest",)

    def sniff(self, head: Head) -> int:
        kind = header_kind(head)
        return 90 if kind == "http" else 0

    def decoder(self, ctx: ParseContext, display: str, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                head: Head | None = None) -> Decoder:
        prefilter: WebInterest | None = ctx.options.get("prefilter:HttpRequest")
        parser = _W3cLines(display, ctx, prefilter)
        if prefilter is not None:
            # the target is the field that starts with "/"; client errors are found by position (retarget)
            # (a page may stand first on a line, and `$` does not match before the CR of a CRLF line)
            parser.scanner = BlockScanner(prefilter, target_start="(?:^| )", target_prefix="(?:^| )/[^ ]*",
                                          target_end="(?: |\\r?$)",
                                          status_4xx="^#", ip_marker=lambda ip: b" " + ip + b" ",
                                          shape=NO_FIELDS_SHAPE)
            summaries = parser.summaries is not None
            # the C block scan, unless the file's own site needs every line (the scan cannot tell which lines
            # fall back to it)
            if not prefilter.site_always(parser.fallback_site) and parser.scanner.compile_w3c(parser.summarize,
                                                                                              summaries):
                parser.compiled = True
                if summaries:
                    parser.summaries = W3cCountedSummaries(display, bool(ctx.options.get(SUMMARY_SPANS)))
            elif parser.summaries is not None:
                parser.summaries.marker = parser.scanner.ip_marker
        return WebDecoder(ctx, display, max_line_bytes, parser.parse, parser.scanner, parser.summaries,
                          parser.fallback_site)


class _W3cLines:
    def __init__(self, display: str, ctx: ParseContext, prefilter: WebInterest | None) -> None:
        self.display = display
        self.reject = ctx.reject
        self.stats = ctx.stats
        self.fallback_site = default_site(ctx, display)
        self.cols: _Columns | None = None
        self.site_cache: dict[tuple[str, str], str] = {}
        self.prefilter = prefilter
        self.scanner: BlockScanner | None = None
        self.summaries: Summaries | None = Summaries(display, spans=bool(ctx.options.get(SUMMARY_SPANS))) \
            if prefilter is not None and prefilter.summaries else None
        #: the first data line after each header is always parsed (it starts the site's history)
        self.first_after_header = True
        #: the scanner uses the C block scan (`BlockScanner.compile_w3c`): it is given each header's columns
        self.compiled = False

    def _site(self, sitename: str, host: str) -> str:
        key = (sitename, host)
        site = self.site_cache.get(key)
        if site is None:
            if sitename != "-":
                site = sitename.lower()
            elif host != "-":
                site = host.lower().rsplit(":", 1)[0] if host.count(":") == 1 else host.lower()
            else:
                site = self.fallback_site
            if len(self.site_cache) < 10_000:
                self.site_cache[key] = site
        return site

    def summarize(self, block: bytes, found: ScanStop, lineno: int) -> None:
        """A data line the C scan proved valid, a client error on an ordinary page by the filter's cached answer,
        its stem, agent and site ASCII: its summary entry, as `parse` makes it."""
        summaries = self.summaries
        agent = "-" if found[8] < 0 else block[found[8]:found[9]].decode("ascii")
        sitename = "-" if found[10] < 0 else block[found[10]:found[11]].decode("ascii")
        host = "-" if found[12] < 0 else block[found[12]:found[13]].decode("ascii")
        summaries.error(found[15], found[14], block[found[6]:found[7]].decode("ascii"),  # type: ignore[union-attr]
                        "" if agent == "-" else agent.replace("+", " "), lineno, self._site(sitename, host))
        self.stats.skipped += 1

    def _columns_for_scan(self, cols: _Columns | None) -> tuple[int, ...]:
        if cols is None or not cols.usable:
            return (0,) * 11
        scm = self.prefilter is not None and getattr(self.prefilter, "scm_sites", True)
        return (cols.count, cols.date, cols.time, cols.ip, cols.status, cols.stem, cols.query, cols.agent,
                cols.sitename, cols.host, 1 if scm else 0)

    def parse(self, line: bytes, lineno: int) -> HttpRequest | None:
        display, reject = self.display, self.reject
        if line[:1] == b"#":
            fields = fields_directive(decode(line))
            if fields is not None:
                cols = self.cols = _Columns(fields)
                self.first_after_header = True
                if self.compiled:
                    self.scanner.w3c_cols = self._columns_for_scan(cols)  # type: ignore[union-attr]
                if self.scanner is not None:
                    self.scanner.take_next = True
                if not cols.usable:
                    reject(f"{display}:{lineno}", "#Fields header lacks date, time, c-ip or cs-uri-stem")
                    if self.scanner is not None:
                        self.scanner.retarget("^#", NO_FIELDS_SHAPE, valid="")
                elif self.scanner is not None:
                    status = "(?:[^ \\n]* )" + "{" + str(cols.status) + "}" if cols.status < cols.count else ""
                    # the valid-line grammar proves every field a parse checks (the field count included),
                    # so no shape branch is needed in the trigger
                    self.scanner.retarget(f"^{status}4[0-9][0-9](?: |\\r?$)" if status else "^#", "",
                                          valid=w3c_valid_line(cols))
            return None
        cols = self.cols
        if cols is None or not cols.usable:
            reject(f"{display}:{lineno}", "data line without a usable #Fields header before it")
            return None
        s = decode(line)
        parts = s.split(" ")
        if len(parts) != cols.count:
            reject(f"{display}:{lineno}", f"expected {cols.count} fields as the #Fields header says, got {len(parts)}")
            return None
        parts.append("-")
        ip = client_ip(parts[cols.ip])
        if not ip:
            reject(f"{display}:{lineno}", f"c-ip is not an IP address: {parts[cols.ip][:60]!r}")
            return None
        status_text = parts[cols.status]
        if status_text == "-":
            status = 0
        elif status_text.isdigit() and len(status_text) == 3:
            status = int(status_text)
        else:
            reject(f"{display}:{lineno}", f"sc-status is not a status code: {status_text[:20]!r}")
            return None
        site = self._site(parts[cols.sitename], parts[cols.host])
        # the date is checked before the prefilter's verdict: a bad line is rejected whatever page it names
        try:
            when = iso_day_time(parts[cols.date], parts[cols.time])
        except ValueError as exc:
            reject(f"{display}:{lineno}", str(exc))
            return None
        agent = parts[cols.agent]
        flt = self.prefilter
        need = EVENT
        if flt is not None:
            if self.first_after_header or flt.site_always(site):
                self.first_after_header = False
                if self.scanner is not None:
                    self.scanner.take_next = False
            else:
                need = flt.wants((parts[cols.stem] if parts[cols.query] == "-" else
                                  f"{parts[cols.stem]}?{parts[cols.query]}").encode("utf-8", "replace"),
                                 status_text.encode("ascii", "replace"), agent.encode("utf-8", "replace"))
                if need == SKIP:
                    self.stats.skipped += 1
                    if self.summaries is not None:
                        self.summaries.skipped(ip, lineno, site)
                    return None
        if need == ERROR_ONLY and self.summaries is not None:
            self.summaries.error(ip, when, parts[cols.stem], "" if agent == "-" else agent.replace("+", " "), lineno,
                                 site)
            self.stats.skipped += 1
            return None
        query = parts[cols.query]
        referer = parts[cols.referer]
        user = parts[cols.user]
        size = parts[cols.bytes]
        method = parts[cols.method]
        server_ip = parts[cols.server_ip]
        return HttpRequest(
            event_id=f"{display}:{lineno}", time=when, raw=s, site=site, client_ip=ip,
            method="" if method == "-" else method, path=parts[cols.stem],
            query="" if query == "-" else query, status=status,
            user_agent="" if agent == "-" else agent.replace("+", " "),
            referer="" if referer == "-" else referer,
            bytes_sent=int(size) if size.isdigit() else 0,
            username="" if user == "-" else user,
            server_ip=client_ip(server_ip) if server_ip != "-" else "",
        )


FORMATS = [W3cHttpLog()]
