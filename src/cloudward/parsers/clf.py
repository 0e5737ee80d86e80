"""nginx and Apache access logs: `common`, `combined`, and their virtual-host variants.

    common          %h %l %u %t "%r" %>s %b
    combined        common + "%{Referer}i" "%{User-Agent}i"   (nginx `combined`, also with extra
                    quoted fields after it, such as nginx's `main` with "$http_x_forwarded_for")
    proxied         combined with an X-Forwarded-For chain as the first field (`10.0.0.2, 10.0.0.1,
                    85.181.35.98 - - [...]`): the client is picked from the chain's right end per
                    `[web] trusted_proxies` (see parsers._forwarded), the chain kept as `forwarded_for`
    vhost variants  the same with the site first: Apache `%v:%p` / `%v`, nginx `$host` / `$server_name`

Parsing is plain string work anchored on what the servers escape. Apache and nginx both escape `"`
inside logged values (`\\"` and `\\x22`), so the sequence `] "` that ends the timestamp and the quotes
around the request, referer and user agent cannot be forged by a client. The client address is a
fixed column left of every client-written field (user name, request, headers), and the column is
chosen once per file from its first lines, so no line can move its own address. A value a client
wrote with spaces (an HTTP user name) ends up in that field, never in another.
"""

from __future__ import annotations

import re

from cloudward.events import SUMMARY_SPANS, HttpRequest
from cloudward.inputs import DEFAULT_MAX_LINE_BYTES
from cloudward.parsers._forwarded import DEFAULT, TrustedProxies, chain_entity, is_chain_start, pick_client, split_chain
from cloudward.parsers._web import IP_BYTES_CACHE, clf_time, client_ip, client_ip_bytes, decode, default_site
from cloudward.parsers._webscan import BlockScanner, CountedSummaries, ScanStop, Summaries, WebDecoder
from cloudward.parsers.base import ERROR_ONLY, EVENT, SKIP, Decoder, Format, Head, HeadFirst, ParseContext, WebInterest


def _close_quote(s: str, start: int) -> int:
    """Index of the quote closing a field that starts at `start`, skipping backslash-escaped ones."""
    q = s.find('"', start)
    while q > 0 and s[q - 1] == "\\":
        n = 1
        while s[q - 1 - n] == "\\":
            n += 1
        if n % 2 == 0:  # an escaped backslash before a real quote
            break
        q = s.find('"', q + 1)
    return q


def _unescape(value: str) -> str:
    return value.replace('\\"', '"').replace("\\\\", "\\") if "\\" in value else value


def header_value(value: str) -> str:
    """A logged header as the events carry it: `-` (not sent) and an empty value are both empty. The
    user agent is kept as logged (`-` included) by both parsers; the referer is normalized here."""
    return "" if value == "-" else value


def _prefix_tokens(s: str) -> list[str] | None:
    k = s.find('] "')
    if k < 27 or s[k - 27] != "[":
        return None
    return s[: k - 27].rstrip(" ").split(" ")


def looks_like_clf(line: str) -> bool:
    tokens = _prefix_tokens(line)
    if not tokens or not (client_ip(tokens[0]) or (len(tokens) > 1 and client_ip(tokens[1]))
                          or (is_chain_start(tokens[0]) and split_chain(tokens) is not None)):
        return False
    k = line.find('] "')
    try:
        clf_time(line[k - 26 : k])
    except ValueError:
        return False
    q = _close_quote(line, k + 3)
    return q > 0 and line[q + 1 : q + 5].strip()[:3].isdigit()


def detect_ip_column(lines: list[str]) -> int:
    """0 when the client address is the first column, 1 when a site name comes first (vhost)."""
    first = second = 0
    for ln in lines:
        tokens = _prefix_tokens(ln)
        if not tokens:
            continue
        if client_ip(tokens[0]) and len(tokens) in (3, 4) and not (len(tokens) == 4 and client_ip(tokens[1])):
            first += 1
        elif is_chain_start(tokens[0]):  # an X-Forwarded-For chain in front
            first += 1
        elif len(tokens) >= 4 and client_ip(tokens[1]):
            second += 1
    return 1 if second > first else 0


class CombinedLog(Format):
    name = "combined"
    description = "nginx/Apache access logs: common, combined, and vhost variants (%v / $host first)"
    kinds = ("HttpRequest",)

    def sniff(self, head: Head) -> int:
        if not head.lines:
            return 0
        good = [ln for ln in head.lines if looks_like_clf(ln)]
        if len(good) * 2 < len(head.lines):
            return 0
        # Pure-FTPd's CLF transfer log has no protocol in its "request"; let that parser have it
        if not any(" HTTP/" in ln for ln in good):
            return 40
        return 80

    def decoder(self, ctx: ParseContext, display: str, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                head: Head | None = None) -> Decoder:
        if head is None:  # the address column is chosen from the stream's first lines
            return HeadFirst(ctx, display, max_line_bytes,
                             lambda first: self.decoder(ctx, display, max_line_bytes=max_line_bytes, head=first))
        ip_col = detect_ip_column(head.lines)
        robust = _LineParser(display, ip_col, default_site(ctx, display), ctx)
        prefilter: WebInterest | None = ctx.options.get("prefilter:HttpRequest")
        if prefilter is not None and not ip_col and prefilter.site_always(robust.file_site):
            prefilter = None  # a Kudu/SCM site: every request matters
        scanner = None
        # with the site in front of every line (vhost) the first line of each site must be read, so
        # such files take the line-by-line path; one file per site skips whole runs of lines
        if prefilter is not None and not ip_col:
            scanner_valid = _valid(head.data)
            scanner = BlockScanner(prefilter, target_start='"[A-Z]+ ', target_prefix='"[A-Z]+ [^ "]*',
                                   target_end="[ ?\\x22]",
                                   status_4xx='" 4[0-9][0-9] ',
                                   ip_marker=_chain_markers if _has_chains(head.lines) else _plain_marker,
                                   valid=scanner_valid)
        fast = _FastPath(robust, prefilter)
        # plain addresses in front (no forwarded chains): the C block scan, when it is built
        compiled = scanner is not None and scanner.ip_marker is _plain_marker and scanner.compile_clf(
            scanner_valid == COMBINED_VALID, fast.summarize, prefilter is not None and prefilter.summaries)
        if prefilter is not None and prefilter.summaries:
            spans = bool(ctx.options.get(SUMMARY_SPANS))
            fast.summaries = CountedSummaries(display, spans) if compiled else Summaries(
                display, scanner.ip_marker if scanner is not None else None, spans)
        return WebDecoder(ctx, display, max_line_bytes, fast.parse, scanner, fast.summaries, robust.file_site)


def _plain_marker(ip: bytes) -> bytes:
    return b"\n" + ip + b" "


def _chain_markers(ip: bytes) -> tuple[bytes, ...]:
    """Where a watched address stands on a line that may start with an X-Forwarded-For chain: alone,
    first, inside or last in the chain."""
    return b"\n" + ip + b" ", b"\n" + ip + b", ", b", " + ip + b", ", b", " + ip + b" - "


def _has_chains(lines: list[str]) -> bool:
    return any(is_chain_start(ln.split(" ", 1)[0]) for ln in lines)


#: four digits, not 0000 (`calendar.timegm` refuses year 0, so the parser rejects such a line)
YEAR = "(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
#: RE2, case-sensitive, for what `_web.clf_time` accepts - or a little less (29 February always goes to the
#: parser, which knows leap years): the block scan passes over a line only when its date is one
_MONTHS_31 = "Jan|Mar|May|Jul|Aug|Oct|Dec"
_MONTHS_30 = "Apr|Jun|Sep|Nov"
CLF_DATE = (rf"(?:(?:0[1-9]|1[0-9]|2[0-8])/(?:{_MONTHS_31}|{_MONTHS_30}|Feb)|(?:29|30)/(?:{_MONTHS_31}|{_MONTHS_30})"
            rf"|31/(?:{_MONTHS_31}))/{YEAR}:(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9] "
            r"[+-](?:[01][0-9]|2[0-3])[0-5][0-9]")
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_H = "[0-9a-fA-F]{1,4}"
#: IPv6 in full or with one `::` (no embedded IPv4, no zone: those lines go to the parser)
_IPV6 = "|".join((
    rf"(?:{_H}:){{7}}{_H}", rf"(?:{_H}:){{1,7}}:", rf"(?:{_H}:){{1,6}}:{_H}", rf"(?:{_H}:){{1,5}}(?::{_H}){{1,2}}",
    rf"(?:{_H}:){{1,4}}(?::{_H}){{1,3}}", rf"(?:{_H}:){{1,3}}(?::{_H}){{1,4}}", rf"(?:{_H}:){{1,2}}(?::{_H}){{1,5}}",
    rf"{_H}:(?::{_H}){{1,6}}", rf":(?::{_H}){{1,7}}",  # `::` alone is refused by client_ip (too short)
))
#: RE2 for what `_web.client_ip` accepts (or less)
CLF_ADDRESS = rf"(?:{_IPV4}|{_IPV6})"
_TOKEN = r"[^ \t\n\r\f\v]+"  # Python's \S (RE2's \s has no \v)
_PLAIN_HEADER = r'"[^"\\\n]*"'
#: RE2 for one line (no newline) that `_FastPath.parse` provably accepts: `CLF_LINE` or `CHAIN_LINE` with a
#: real address (alone, or last in an X-Forwarded-For chain whose other elements - client-written - may be
#: anything without a space or a comma, `-` included) and a real date. The block scan parses every line
#: that is not one (`BlockScanner` `valid`), so a bad field is rejected with its file:line whatever page
#: it names; lines the parser accepts in other spellings (a user name with spaces, escaped quotes) are
#: parsed too, and accepted.
_VALID_PREFIX = (rf"(?:{CLF_ADDRESS} {_TOKEN}|(?:[^ ,\t\n\r\f\v]+, )+{CLF_ADDRESS} -) {_TOKEN} \[{CLF_DATE}\] "
                 r'"[A-Z]{1,20} [^ "\n]* HTTP/[0-9.]{1,3}" [0-9]{3} (?:[0-9]+|-)')
COMBINED_VALID = _VALID_PREFIX + rf" {_PLAIN_HEADER} {_PLAIN_HEADER}(?: {_PLAIN_HEADER})*"
COMMON_VALID = _VALID_PREFIX


def _valid(head: bytes) -> str:
    """The valid-line RE2 of this file, by whether its first line ends with a quoted field (combined) or not
    (common): a common line in a combined file (a line cut after its size) is parsed, and so is garbage."""
    first = next((ln for ln in head.split(b"\n") if ln.strip()), b"").rstrip(b"\r")
    return COMBINED_VALID if first.endswith(b'"') else COMMON_VALID


#: The shape of a well-formed line. Every quantified class is followed by a delimiter the class cannot
#: match (`\S+` by a space, `[^"]*` by a quote), so a line matches in one way only; a line that does not
#: fit (a user name with spaces, an escaped quote in a header, a malformed request) goes to the
#: string-operation parser, which accepts or rejects it. A referer or user agent holding a backslash (an escaped
#: quote or backslash) goes there too, so escapes are undone, and a field ending in an escaped quote refused, in
#: one place only.
_FIELDS = (
    rb'(\S+) \S+ (\S+) \[([^\]]{26})\] "([A-Z]{1,20}) ([^ "]*) (HTTP/[0-9.]{1,3})" (\d{3}) (\d+|-)'
    rb'(?: "([^"\\]*)" "([^"\\]*)"(?: "[^"]*")*)?$'
)
CLF_LINE = re.compile(_FIELDS)
#: the same with an X-Forwarded-For chain of two or more addresses first: elements hold neither space nor
#: comma and are separated by ", ", so the chain ends at its only space not preceded by a comma
CHAIN_LINE = re.compile(rb"((?:[^ ,]+, )+[^ ,]+) - " + _FIELDS[len(rb"(\S+) \S+ "):])
VHOST_LINE = re.compile(rb"(\S+) " + _FIELDS)


class _FastPath:
    """One line: fields from one match of the shape above (the robust parser for anything else), the
    prefilter's exact verdict, then the event."""

    def __init__(self, robust: _LineParser, prefilter: WebInterest | None) -> None:
        self.robust = robust
        self.flt = prefilter
        self.match = (VHOST_LINE if robust.ip_col else CLF_LINE).match
        self.sites: dict[bytes, bool] = {}
        #: the interest's answer for a whole line when it has one (Sigma's needles may stand anywhere on it)
        self.wants_line = getattr(prefilter, "wants_line", None)
        #: where client errors on ordinary pages and counted ordinary requests go (the decoder's)
        self.summaries: Summaries | None = None
        self.last_ts = b""
        self.last_time = 0.0
        #: raw user agents of summary entries -> their text (a busy site repeats a few)
        self.agents: dict[bytes, str] = {}

    def summarize(self, block: bytes, found: ScanStop, lineno: int) -> HttpRequest | None:
        """A line the C block scan proved valid and a client error on an ordinary page (the filter's cached
        answer): its summary entry, from the fields' offsets and the time and address the scan read - what
        `parse` does for it, without the match."""
        summaries = self.summaries
        if summaries is None:  # not expected: the scan stops so only when summaries are wanted
            return self._parse_at(block, found, lineno)
        target = block[found[7]:found[8]].decode("utf-8", errors="replace")
        qm = target.find("?")
        agent = ""
        if found[9] >= 0:
            raw = block[found[9]:found[10]]
            agents = self.agents
            agent = agents.get(raw)  # type: ignore[assignment]
            if agent is None:
                if len(agents) >= 4096:
                    agents.clear()
                agent = agents[raw] = raw.decode("utf-8", "replace")
        summaries.error(found[12], found[11], target if qm < 0 else target[:qm], agent,  # type: ignore[misc]
                        lineno, self.robust.file_site)
        self.robust.stats.skipped += 1
        return None

    def _parse_at(self, block: bytes, found: ScanStop, lineno: int) -> HttpRequest | None:
        line = block[found[1]:found[2]]
        return self.parse(line[:-1] if line[-1:] == b"\r" else line, lineno)

    def parse(self, line: bytes, lineno: int) -> HttpRequest | None:
        m = self.match(line)
        chain: list[str] = []
        if m is None:
            m = CHAIN_LINE.match(line) if not self.robust.ip_col else None
            if m is None:
                return self.robust.parse(line, lineno)
            chain = m.group(1).decode("utf-8", errors="replace").split(", ")
        robust = self.robust
        g = m.groups()
        vhost = robust.ip_col == 1
        site_raw = b""
        if vhost:
            site_raw = g[0]
            g = g[1:]
        if chain:
            ip = pick_client(chain, robust.trusted)
            if not ip:  # the robust parser gives the reason
                return robust.parse(line, lineno)
            chain = chain_entity(chain)
        else:
            ip = IP_BYTES_CACHE.get(g[0])
            if ip is None:
                ip = client_ip_bytes(g[0])
        if not ip:
            robust.reject(f"{robust.display}:{lineno}", f"client address is not an IP: {decode(g[0])[:60]!r}")
            return None
        ts = g[2]  # checked first: a line is rejected for a bad date whatever its page
        if ts != self.last_ts:
            try:
                self.last_time = clf_time(ts.decode("latin-1"))
            except ValueError as exc:
                robust.reject(f"{robust.display}:{lineno}", str(exc))
                return None
            self.last_ts = ts
        flt = self.flt
        if flt is not None and lineno > 1:
            always = False
            if vhost:
                known = self.sites.get(site_raw)
                if known is None:  # the first line of each site is always parsed
                    known = flt.site_always(site_raw.decode("latin-1").rsplit(":", 1)[0])
                    if len(self.sites) < 100_000:
                        self.sites[site_raw] = known
                    always = True
                always = always or known
            if always:
                need = EVENT
            elif self.wants_line is not None:
                need = self.wants_line(line, g[4], g[6], g[9] or b"")
            else:
                need = flt.wants(g[4], g[6], g[9] or b"")
            if need == SKIP:
                robust.stats.skipped += 1
                if self.summaries is not None:
                    self.summaries.skipped(ip, lineno, robust.file_site)
                return None
        else:
            need = EVENT
        target = g[4].decode("utf-8", errors="replace")
        qm = target.find("?")
        if need == ERROR_ONLY and self.summaries is not None:
            self.summaries.error(ip, self.last_time, target if qm < 0 else target[:qm],
                                 g[9].decode("utf-8", "replace") if g[9] else "", lineno, robust.file_site)
            robust.stats.skipped += 1
            return None
        if vhost:
            site = site_raw.decode("utf-8", errors="replace").lower()
            colon = site.rfind(":")
            if colon > 0 and site[colon + 1:].isdigit() and "]" not in site[colon:]:
                site = site[:colon]
        else:
            site = robust.file_site
        user = g[1]
        return HttpRequest(
            event_id=f"{robust.display}:{lineno}", time=self.last_time, raw=decode(line), site=site, client_ip=ip,
            method=g[3].decode("ascii"), path=target if qm < 0 else target[:qm],
            query="" if qm < 0 else target[qm + 1:], status=int(g[6]),
            user_agent=g[9].decode("utf-8", errors="replace") if g[9] else "",
            referer=g[8].decode("utf-8", errors="replace") if g[8] and g[8] != b"-" else "",
            bytes_sent=int(g[7]) if g[7] != b"-" else 0,
            username="" if user == b"-" else user.decode("utf-8", errors="replace"), forwarded_for=chain,
        )


class _LineParser:
    def __init__(self, display: str, ip_col: int, file_site: str, ctx: ParseContext) -> None:
        self.display = display
        self.ip_col = ip_col
        self.file_site = file_site
        self.reject = ctx.reject
        self.stats = ctx.stats
        self.trusted: TrustedProxies = ctx.options.get("trusted_proxies") or DEFAULT

    def parse(self, line: bytes, lineno: int) -> HttpRequest | None:
        display, ip_col, reject = self.display, self.ip_col, self.reject
        s = decode(line)
        k = s.find('] "')
        if k < 27 or s[k - 27] != "[":
            if s.strip():
                reject(f"{display}:{lineno}", "not an access-log line: no [time] \"request\" part")
            return None
        tokens = s[: k - 27].rstrip(" ").split(" ")
        if len(tokens) < ip_col + 3:
            reject(f"{display}:{lineno}", f"too few fields before the time ({len(tokens)})")
            return None
        chain: list[str] = []
        if is_chain_start(tokens[ip_col]):
            # `a, b, c - user [time]`: an X-Forwarded-For chain, read from the right (the left is client-written)
            split = split_chain(tokens[ip_col:])
            ip = pick_client(split[0], self.trusted) if split is not None else ""
            if not ip:
                reject(f"{display}:{lineno}", "X-Forwarded-For chain does not end in `address - user` before the time")
                return None
            chain = chain_entity(split[0])
            tokens = [*tokens[:ip_col], ip, "-", split[1]]
        else:
            ip = client_ip(tokens[ip_col])
            if len(tokens) > ip_col + 3 and any(t.endswith(",") for t in tokens[ip_col + 1:]):
                # `6.6.6.6 - , 10.0.0.9, 203.0.113.1 - - [...]`: the left of an X-Forwarded-For chain, which
                # the client wrote, made to look like an address and a user name with spaces; which address
                # is the client cannot be told, so the line is not read as either
                reject(f"{display}:{lineno}", "ambiguous client address: the fields before the time read both as "
                                              "an address with a user name and as an X-Forwarded-For chain")
                return None
        if not ip:
            reject(f"{display}:{lineno}", f"client address is not an IP: {tokens[ip_col][:60]!r}")
            return None
        try:
            when = clf_time(s[k - 26 : k])
        except ValueError as exc:
            reject(f"{display}:{lineno}", str(exc))
            return None
        q = _close_quote(s, k + 3)
        if q < 0:
            reject(f"{display}:{lineno}", "truncated line: request is not closed by a quote")
            return None
        rest = s[q + 2 :]
        sp = rest.find(" ")
        status_text = rest if sp < 0 else rest[:sp]
        if len(status_text) != 3 or not (status_text.isascii() and status_text.isdigit()) or (
                q + 1 < len(s) and s[q + 1] != " "):
            reject(f"{display}:{lineno}", f"no status code after the request: {rest[:20]!r}")
            return None
        referer = agent = ""
        size = 0
        if sp >= 0:
            rest = rest[sp + 1 :]
            sp = rest.find(" ")
            size_text = rest if sp < 0 else rest[:sp]
            if size_text.isascii() and size_text.isdigit():
                size = int(size_text)
            elif size_text != "-":
                reject(f"{display}:{lineno}", f"bytes field is not a number: {size_text[:20]!r}")
                return None
            if sp >= 0:
                if rest[sp + 1 : sp + 2] != '"':
                    reject(f"{display}:{lineno}", "unexpected text after the size field")
                    return None
                e1 = _close_quote(rest, sp + 2)
                if e1 < 0 or rest[e1 + 1 : e1 + 3] != ' "':
                    reject(f"{display}:{lineno}", "truncated line: referer/user-agent fields not closed")
                    return None
                e2 = _close_quote(rest, e1 + 3)
                if e2 < 0 or (e2 + 1 < len(rest) and rest[e2 + 1] != " "):
                    reject(f"{display}:{lineno}", "truncated line: user-agent field not closed")
                    return None
                referer = header_value(_unescape(rest[sp + 2 : e1]))
                agent = _unescape(rest[e1 + 3 : e2])
        request = s[k + 3 : q]
        method = path = query = ""
        sp1 = request.find(" ")
        if sp1 > 0 and request[:sp1].isalpha() and request[:sp1].isupper():
            method = request[:sp1]
            sp2 = request.rfind(" ")
            target = request[sp1 + 1 : sp2] if sp2 > sp1 and request.startswith("HTTP/", sp2 + 1) \
                else request[sp1 + 1 :]
            qm = target.find("?")
            if qm < 0:
                path = target
            else:
                path, query = target[:qm], target[qm + 1 :]
        if ip_col:
            site = tokens[0]
            colon = site.rfind(":")
            if colon > 0 and site[colon + 1 :].isdigit() and "]" not in site[colon:]:
                site = site[:colon]
            site = site.lower()
        else:
            site = self.file_site
        user = " ".join(tokens[ip_col + 2 :])
        return HttpRequest(
            event_id=f"{display}:{lineno}", time=when, raw=s, site=site, client_ip=ip,
            method=method, path=path, query=query, status=int(status_text), user_agent=agent,
            referer=referer, bytes_sent=size, username="" if user == "-" else user, forwarded_for=chain,
        )


FORMATS = [CombinedLog()]
