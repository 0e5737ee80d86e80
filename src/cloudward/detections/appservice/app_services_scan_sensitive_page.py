"""AppServices_ScanSensitivePage: possibly vulnerable or sensitive pages requested by a source that
behaves like a scanner - on one site, or across several sites none of which sees enough alone.

Per client address (across all sites) a window of `window` seconds opens at its first request that
is interesting (a 4xx, a sensitive page, a scanner agent) and counts what follows: requests, client
errors, distinct paths that failed. A sensitive-page request (web_sensitive_pages) from an address
that has a scanner agent, a client-error ratio of at least `min_error_ratio` over at least
`min_requests` requests, or `min_error_paths` distinct failing paths, is an alert for that site.
Independently, an address that requested sensitive pages on at least `cross_site_min_sites` sites
within `cross_site_window` is one cross-site alert naming every site and path it probed.
"""

from __future__ import annotations

from typing import Any

from cloudward.alerts import Finding
from cloudward.analytics.cross_site import CrossSiteProfiles
from cloudward.analytics.ip_windows import KeyedWindows
from cloudward.analytics.web_filter import WebLineFilter
from cloudward.analytics.web_paths import SENSITIVE
from cloudward.detections.appservice._web import CHROME, FIREFOX, agents, clf, line_filter, lines, pages
from cloudward.detections.base import Card, Detection, Sample
from cloudward.events import Event, HttpRequest, HttpSummary
from cloudward.state import earlier, event_from_state, event_state, stable_key

MAX_PENDING = 20
MAX_ERROR_PATHS = 256
MAX_HIT_EVENTS = 10_000
CROSS_SITE_RESOURCE = ("site", "(several sites)")


class ScanWindow:
    __slots__ = ("agents", "error_paths", "errors", "last", "pending", "reported", "requests", "start", "tool")

    def __init__(self, start: float) -> None:
        self.start = start
        self.last = start
        self.requests = 0
        self.errors = 0
        self.error_paths: set[str] = set()
        self.tool = ""
        self.agents: list[str] = []
        #: sensitive-page requests not yet reported (the address did not look like a scanner yet)
        self.pending: list[HttpRequest] = []
        self.reported: set[tuple[str, str]] = set()

    def to_state(self) -> dict[str, Any]:
        return {"start": self.start, "last": self.last, "requests": self.requests, "errors": self.errors,
                "error_paths": sorted(self.error_paths), "tool": self.tool, "agents": self.agents,
                "reported": sorted(list(r) for r in self.reported),
                "pending": [event_state(e) for e in self.pending]}

    def absorb(self, other: ScanWindow) -> None:
        """Take in the counts and pending requests of an overlapping window of the same address."""
        self.last = max(self.last, other.last)
        self.requests += other.requests
        self.errors += other.errors
        self.error_paths |= set(sorted(other.error_paths)[: max(0, MAX_ERROR_PATHS - len(self.error_paths))])
        if other.tool and (not self.tool or other.tool < self.tool):
            self.tool = other.tool
        for agent in other.agents:
            if agent not in self.agents and len(self.agents) < 10:
                self.agents.append(agent)
        known = {e.event_id for e in self.pending}
        self.pending = sorted([*self.pending, *(e for e in other.pending if e.event_id not in known)],
                              key=stable_key)[:MAX_PENDING]  # type: ignore[assignment]
        self.reported |= other.reported

    @classmethod
    def from_state(cls, body: dict[str, Any]) -> ScanWindow:
        w = cls(float(body["start"]))
        w.last = float(body.get("last", w.start))
        w.requests = int(body.get("requests", 0))
        w.errors = int(body.get("errors", 0))
        w.error_paths = set(body.get("error_paths", []))
        w.tool = str(body.get("tool", ""))
        w.agents = list(body.get("agents", []))
        w.reported = {(str(a), str(b)) for a, b in body.get("reported", [])}
        w.pending = [event_from_state(e) for e in body.get("pending", [])]  # type: ignore[misc]
        return w


class LoneError:
    """The window of an address whose only interesting request so far is one client error on an ordinary page,
    as a summary entry gave it (most such addresses never send a second): what a `ScanWindow` opened by that
    entry would hold, in five fields. The card makes it a `ScanWindow` (`promote`) where it would need more -
    a second interesting request, a state or a merge - in place, so the windows' order is kept."""

    __slots__ = ("agent", "last", "path", "requests", "start", "tool")

    errors = 1

    def __init__(self, start: float, path: str, agent: str, tool: str) -> None:
        self.start = start
        self.last = start
        self.requests = 1
        self.path = path
        self.agent = agent
        self.tool = tool

    def promote(self) -> ScanWindow:
        w = ScanWindow(self.start)
        w.last = self.last
        w.requests = self.requests
        w.errors = 1
        w.error_paths.add(self.path)
        w.tool = self.tool
        if self.agent:
            w.agents.append(self.agent)
        return w

    def to_state(self) -> dict[str, Any]:
        return self.promote().to_state()


SCANNER = "45.155.205.17"
SITES = ("shop.example.com", "blog.example.com", "docs.example.com", "api.example.com")


def _scan(ip: str, host: str, start: int, paths: list[tuple[str, int]], agent: str = CHROME) -> list[str]:
    return [clf(ip, f"02/Nov/2026:03:{(start + i) // 60 % 60:02d}:{(start + i) % 60:02d}", f"GET {p} HTTP/1.1", s,
                agent=agent, size=153 if s == 404 else 2400, host=host) for i, (p, s) in enumerate(paths)]


DIRBUST = [("/admin.bak", 404), ("/old/", 404), ("/backup/", 404), ("/test/", 404), ("/.env", 404),
           ("/.git/config", 200), ("/config.php.bak", 404), ("/phpinfo.php", 404), ("/dev/", 404),
           ("/wp-config.php.bak", 404), ("/db.sql", 404), ("/.aws/credentials", 404)]

CARD = Card(
    id="AppServices_ScanSensitivePage",
    title="Suspicious access to possibly vulnerable web page detected",
    title_ko="취약할 수 있는 웹 페이지에 대한 의심스러운 접근 탐지",
    severity="low",
    tactics=("Reconnaissance", "Discovery"),
    techniques=("T1595.003", "T1595.002"),
    data_source="HTTP",
    looks_at="requests for sensitive pages (web_sensitive_pages: /.env, /.git/config, phpinfo.php, backups, "
             "dumps, actuator, phpunit eval-stdin.php, ...) from an address with a scanner agent "
             "(web_scanner_agents), a high client-error ratio or many distinct failing paths within window; "
             "and the same address probing sensitive pages on >= cross_site_min_sites sites within "
             "cross_site_window (state keyed by address across all sites)",
    description="{source_ip} probed [[{site}||the site]] for possibly vulnerable or sensitive pages ({paths}) and behaves like "
                "a scanner: {reason}. Such pages leak secrets or are entry points of known exploits; scanners try "
                "them on every site they find.",
    description_ko="{source_ip}이(가) [[{site}||사이트]]에서 취약하거나 민감할 수 있는 페이지({paths})를 탐색했으며 스캐너처럼 "
                   "동작합니다: {reason}. 이런 페이지는 비밀 정보를 노출하거나 알려진 익스플로잇의 진입점이므로, "
                   "스캐너는 찾은 모든 사이트에서 이를 시도합니다.",
    remediation=(
        "Check the response of each probed page: a 200 on a secret, backup, dump or .git file means it leaked; "
        "remove it from the web root and rotate what it contained.",
        "Make sure debug and status pages (phpinfo, server-status, actuator) are not reachable from the Internet.",
        "Block the address at the firewall or WAF; for cross-site scanners block it for every site.",
        "Keep the probed software (PHPUnit, Spring Boot, WordPress XML-RPC) patched or removed if unused.",
    ),
    remediation_ko=(
        "탐색된 각 페이지의 응답을 확인하십시오. 비밀 정보, 백업, 덤프, .git 파일에 200이 응답되었다면 유출된 것이므로 웹 "
        "루트에서 제거하고 그 안의 자격 증명을 교체하십시오.",
        "디버그 및 상태 페이지(phpinfo, server-status, actuator)가 인터넷에서 접근되지 않는지 확인하십시오.",
        "방화벽이나 WAF에서 해당 주소를 차단하십시오. 여러 사이트를 탐색한 스캐너는 모든 사이트에서 차단하십시오.",
        "탐색 대상 소프트웨어(PHPUnit, Spring Boot, WordPress XML-RPC)를 패치하거나 사용하지 않으면 제거하십시오.",
    ),
    false_positives=(
        "Your own or a contracted vulnerability scanner; allow it, e.g. { source_ip = \"192.0.2.10\" }.",
        "A shared egress address (corporate NAT, a cloud proxy) where one user mistypes and another probes.",
    ),
    params={"window": "10m", "min_requests": 10, "min_error_ratio": 0.5, "min_error_paths": 8,
            "cross_site_window": "1h", "cross_site_min_sites": 3, "max_tracked_ips": 200_000},
    samples=(
        Sample("directory brute force with .env and .git/config", "combined", lines(
            *_scan(SCANNER, "shop.example.com", 0, DIRBUST),
        ), expect=1, entities={"source_ip": SCANNER, "site": "shop.example.com"}),
        Sample("a scanner agent needs only one probe", "combined", lines(
            *_scan("198.51.100.40", "shop.example.com", 0, [("/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
                                                             404)], agent="Mozilla/5.0 (compatible; Nuclei - Open-source project (github.com/projectdiscovery/nuclei))"),
        ), expect=1, entities={"source_ip": "198.51.100.40", "paths": ["/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php"]}),
        Sample("two probes on each of four sites: one cross-site alert", "combined", lines(
            *(line for i, host in enumerate(SITES) for line in
              _scan(SCANNER, host, i * 300, [("/.env", 404), ("/actuator/env", 404)])),
        ), expect=1, entities={"source_ip": SCANNER, "sites": list(SITES)}),
        Sample("a visitor who asks for xmlrpc.php once on a healthy session", "combined", lines(
            *_scan("198.51.100.50", "blog.example.com", 0, [("/", 200), ("/about/", 200), ("/favicon.ico", 404),
                                                             ("/xmlrpc.php", 405), ("/blog/", 200), ("/contact/", 200),
                                                             ("/blog/post-1/", 200), ("/blog/post-2/", 200),
                                                             ("/feed/", 200), ("/about/team/", 200)], agent=FIREFOX),
        ), expect=0),
        Sample("many 404s but no sensitive page (a broken theme)", "combined", lines(
            *_scan("198.51.100.51", "blog.example.com", 0, [(f"/wp-content/themes/t/img/icon{i}.png", 404)
                                                             for i in range(15)], agent=FIREFOX),
        ), expect=0),
        Sample("one probe on each of two sites stays below the cross-site threshold", "combined", lines(
            *_scan(SCANNER, "shop.example.com", 0, [("/.env", 404)]),
            *_scan(SCANNER, "blog.example.com", 60, [("/.env", 404)]),
        ), expect=0),
        Sample("probes on three sites hours apart are not one campaign", "combined", lines(
            *_scan(SCANNER, "shop.example.com", 0, [("/.env", 404)]),
        ) + lines(clf(SCANNER, "02/Nov/2026:06:00:00", "GET /.env HTTP/1.1", 404, host="blog.example.com"),
                  clf(SCANNER, "02/Nov/2026:09:00:00", "GET /.env HTTP/1.1", 404, host="docs.example.com")),
            expect=0),
    ),
)


class ScanSensitivePage(Detection):
    card = CARD
    kinds = (HttpRequest, HttpSummary)
    partition = "source IP (every site of one address: cross-site profiles need them together)"

    def setup(self) -> None:
        self.pages = pages(self)
        self.agents = agents(self)
        self.cache_get = self.pages.cache.get
        self.agent_get = self.agents.cache.get
        self.min_requests = int(self.params["min_requests"])
        self.min_ratio = float(self.params["min_error_ratio"])
        self.min_error_paths = int(self.params["min_error_paths"])
        self.windows: KeyedWindows[ScanWindow] = KeyedWindows(
            self.duration("window"), ScanWindow, max_keys=int(self.params["max_tracked_ips"]))
        self.cross = CrossSiteProfiles(self.duration("cross_site_window"), int(self.params["cross_site_min_sites"]),
                                       max_ips=int(self.params["max_tracked_ips"]))
        #: addresses whose windows hold sensitive-page requests not yet reported
        self.pending: set[str] = set()
        #: (ip, site) -> a sensitive-page request, evidence for a later cross-site alert
        self.hit_events: dict[tuple[str, str], Event] = {}
        # client errors on ordinary pages and the ordinary requests of recently active addresses come
        # as HttpSummary entries (in line order) instead of full events
        self.prefilter = line_filter(self, path_mask=SENSITIVE, client_errors=True, tool_agents=True,
                                     summaries=True)

    def line_prefilter(self) -> WebLineFilter:
        return self.prefilter

    def evaluate(self, event: HttpRequest | HttpSummary) -> list[Finding] | None:
        if type(event) is HttpSummary:
            return self._summarized(event)
        ip = event.client_ip
        w = self.windows.windows.get(ip)
        status = event.status
        bits = self.cache_get(event.path)
        if bits is None:
            bits = self.pages.bits(event.path)
        if not 400 <= status < 500 and not bits & SENSITIVE:  # a server error is no probe either
            ua = event.user_agent
            tool = self.agent_get(ua, 0)
            if tool == 0:
                tool = self.agents.tool(ua)
            if tool is None:
                # an ordinary request only moves the error ratio of an address being watched - the same
                # as the ordinary requests web decoders count in summaries instead of events
                if w is not None:
                    w.requests += 1
                return None
        w = self.windows.open(ip, event.time)
        if type(w) is LoneError:
            w = self._promote(ip, w)
        w.requests += 1
        if 400 <= status < 500:
            w.errors += 1
            if len(w.error_paths) < MAX_ERROR_PATHS:
                w.error_paths.add(event.path)
        if not w.tool and event.user_agent:
            tool = self.agents.tool(event.user_agent)
            if tool is not None:
                w.tool = str(tool["tool"])
        if event.user_agent and event.user_agent not in w.agents and len(w.agents) < 10:
            w.agents.append(event.user_agent)
        out: list[Finding] = []
        if bits & SENSITIVE:
            if len(w.pending) < MAX_PENDING:
                w.pending.append(event)
                if len(self.pending) < 10_000:
                    self.pending.add(ip)
            cross = self._cross_site(event)
            if cross is not None:
                out.append(cross)
        if w.pending:
            reason = self._scanner_reason(w)
            if reason:
                out.extend(self._report(w, reason))
        return out or None

    def _summarized(self, summary: HttpSummary) -> list[Finding] | None:
        """Lines the decoder summarized, in their order: a client error on an ordinary page gets the
        bookkeeping `evaluate` does for one (and can complete the case against an address with
        sensitive-page requests pending); ordinary requests only move the error ratio."""
        out: list[Finding] = []
        keyed = self.windows
        windows = keyed.windows
        length = keyed.length
        agent_get = self.agent_get
        for entry in summary.entries:
            if entry[0] == "ordinary":
                w = windows.get(entry[1])
                if w is not None:
                    w.requests += entry[2]
                continue
            _, ip, when, path, agent = entry
            w = windows.get(ip)
            if w is not None and w.start <= when <= w.start + length:  # `KeyedWindows.open`'s first case
                if when > w.last:
                    w.last = when
                keyed.now = when
            elif w is None or not w.start - length <= when < w.start:
                # `KeyedWindows.open`'s fresh window, as a `LoneError` (what the lines below would give it)
                if w is not None:
                    del windows[ip]
                tool = ""
                if agent:
                    found = agent_get(agent, 0)  # the classifier's own cache first
                    if found == 0:
                        found = self.agents.tool(agent)
                    if found is not None:
                        tool = str(found["tool"])  # type: ignore[index]
                windows[ip] = LoneError(when, path, agent, tool)  # type: ignore[assignment]
                keyed.now = when
                keyed._opened += 1
                if keyed._opened >= keyed.sweep_every or len(windows) > keyed.max_keys:
                    keyed.sweep()
                continue
            else:
                w = keyed.open(ip, when)
            if type(w) is LoneError:
                w = self._promote(ip, w)
            w.requests += 1
            w.errors += 1
            if len(w.error_paths) < MAX_ERROR_PATHS:
                w.error_paths.add(path)
            if agent:
                if not w.tool:
                    tool = agent_get(agent, 0)  # the classifier's own cache first
                    if tool == 0:
                        tool = self.agents.tool(agent)
                    if tool is not None:
                        w.tool = str(tool["tool"])  # type: ignore[index]
                if agent not in w.agents and len(w.agents) < 10:
                    w.agents.append(agent)
            if w.pending:
                reason = self._scanner_reason(w)
                if reason:
                    out.extend(self._report(w, reason))
        return out or None

    def _promote(self, ip: str, lone: LoneError) -> ScanWindow:
        """`lone` as the `ScanWindow` it stands for, in its place among the windows."""
        w = self.windows.windows[ip] = lone.promote()
        return w

    def _promote_all(self) -> None:
        windows = self.windows.windows
        for ip, w in windows.items():
            if type(w) is LoneError:
                windows[ip] = w.promote()  # (a key's value replaced: the dict's order and size stay)

    def _scanner_reason(self, w: ScanWindow) -> str:
        reasons = []
        if w.tool:
            reasons.append(f"scanner agent {w.tool}")
        if w.requests >= self.min_requests and w.errors >= self.min_ratio * w.requests:
            reasons.append(f"{w.errors} of {w.requests} requests failed with a client error")
        if len(w.error_paths) >= self.min_error_paths:
            reasons.append(f"{len(w.error_paths)} distinct paths failed")
        return "; ".join(reasons)

    def _report(self, w: ScanWindow, reason: str) -> list[Finding]:
        pending = w.pending
        if len(pending) == 1:  # the common case (each probe of a known scanner): what the loop below makes
            last = pending[0]
            self.pending.discard(last.client_ip)
            w.pending = []
            label = self.pages.label(last.path, "sensitive")
            return [Finding(key=last.client_ip, entities={
                "source_ip": last.client_ip, "site": last.site, "paths": [last.path],
                "categories": [label] if label else [], "user_agents": list(w.agents), "reason": reason,
                "statuses": [str(last.status)],
            }, event=last, related=(), params={"reason": reason})]
        by_site: dict[str, list[HttpRequest]] = {}
        for e in w.pending:
            by_site.setdefault(e.site, []).append(e)
        self.pending.discard(w.pending[0].client_ip)
        w.pending = []
        out = []
        for site, events in by_site.items():
            last = events[-1]
            paths = [e.path for e in events]
            entities: dict[str, Any] = {
                "source_ip": last.client_ip, "site": site, "paths": paths,
                "categories": sorted({self.pages.label(p, "sensitive") for p in paths} - {""}),
                "user_agents": list(w.agents), "reason": reason,
                "statuses": sorted({str(e.status) for e in events}),
            }
            out.append(Finding(key=last.client_ip, entities=entities, event=last, related=tuple(events[:-1]),
                               params={"reason": reason}))
        return out

    def _cross_site(self, event: HttpRequest) -> Finding | None:
        ip, site = event.client_ip, event.site
        key = (ip, site)
        if key not in self.hit_events:
            if len(self.hit_events) >= MAX_HIT_EVENTS:
                del self.hit_events[next(iter(self.hit_events))]
            self.hit_events[key] = event
        hits = self.cross.record(ip, site, event.path, event.time)
        if hits is None:
            return None
        profile = self.cross.profile(ip)
        sites = sorted({h[1] for h in hits})
        related = ()
        if profile is not None:
            new = [s for s in sites if s not in profile.alerted_sites]
            related = tuple(self.hit_events[(ip, s)] for s in new if (ip, s) in self.hit_events and s != site)
            profile.alerted_sites.update(sites)
        entities: dict[str, Any] = {
            "source_ip": ip, "sites": sites, "site_count": len(sites),
            "paths": sorted({h[2] for h in hits}),
            "probes": [f"{h[1]} {h[2]}" for h in sorted(hits)],
        }
        if event.user_agent:
            entities["user_agents"] = [event.user_agent]
        reason = f"probed sensitive pages on {len(sites)} sites within {self.params['cross_site_window']}"
        return Finding(key=f"cross-site {ip}", entities=entities, event=event, related=related,
                       resource=CROSS_SITE_RESOURCE, params={"reason": reason, "site": ", ".join(sites)})

    def state(self) -> dict[str, Any]:
        """Keyed by source address: its window, its cross-site profile and a request per probed site."""
        ips: dict[str, Any] = {}
        self._promote_all()
        for ip, body in self.windows.keyed().items():
            ips.setdefault(ip, {})["window"] = body
        for ip, body in self.cross.keyed().items():
            ips.setdefault(ip, {})["profile"] = body
        for (ip, site), event in self.hit_events.items():
            ips.setdefault(ip, {}).setdefault("hits", {})[site] = event_state(event)
        return {"ips": ips}

    def merge(self, state: dict[str, Any]) -> None:
        self._promote_all()  # (a merge absorbs windows)
        ips = state.get("ips")
        if not isinstance(ips, dict):  # the earlier, unkeyed shape
            self.windows.restore(state.get("windows") or {}, ScanWindow.from_state)
            self.cross.restore(state.get("cross_site") or {})
            return
        self.windows.merge({ip: b["window"] for ip, b in ips.items() if "window" in b}, ScanWindow.from_state)
        self.cross.merge({ip: b["profile"] for ip, b in ips.items() if "profile" in b})
        for ip, body in ips.items():
            for site, event in (body.get("hits") or {}).items():
                key = (ip, site)
                chosen = earlier(self.hit_events.get(key), event_from_state(event))
                if chosen is not None:
                    self.hit_events[key] = chosen
            w = self.windows.windows.get(ip)
            if w is not None and w.pending:
                self.pending.add(ip)

    def advance(self, watermark: float) -> None:
        self.windows.advance(watermark)
