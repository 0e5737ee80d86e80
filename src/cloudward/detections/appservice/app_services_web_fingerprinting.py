"""AppServices_WebFingerprinting: a fingerprinting tool maps the site's software and versions.

Three signs, from cheapest to subtlest: the tool's user agent (Blind Elephant, WhatWeb, Nmap's NSE,
WPScan, Nikto...), a path only a tool requests (`/nmaplowercheck<n>`, `/HNAP1`, `/evox/about`), or the
behaviour itself: one address fetching at least `min_files` distinct version-revealing static files
(web_fingerprint_files) from a site within `window` - Blind Elephant's signature when the files belong
to several products at once.
"""

from __future__ import annotations

from typing import Any

from cloudward.alerts import Finding
from cloudward.analytics.ip_windows import KeyedWindows
from cloudward.analytics.web_filter import WebLineFilter
from cloudward.analytics.web_paths import FINGERPRINT, TOOL_PATH, normalize
from cloudward.detections.appservice._web import (
    CHROME,
    FIREFOX,
    agents,
    clf,
    line_filter,
    lines,
    pages,
    request_entities,
)
from cloudward.detections.base import Card, Detection, Sample
from cloudward.events import Event, HttpRequest
from cloudward.state import event_from_state, event_state, stable_key

MAX_EVIDENCE_EVENTS = 10


class FingerprintWindow:
    __slots__ = ("events", "files", "last", "reported", "start")

    def __init__(self, start: float) -> None:
        self.start = start
        self.last = start
        #: normalized path -> product it identifies
        self.files: dict[str, str] = {}
        self.events: list[Event] = []
        self.reported = False

    def to_state(self) -> dict[str, Any]:
        return {"start": self.start, "last": self.last, "files": self.files, "reported": self.reported,
                "events": [event_state(e) for e in self.events]}

    def absorb(self, other: FingerprintWindow) -> None:
        self.last = max(self.last, other.last)
        for path, product in sorted(other.files.items()):
            self.files.setdefault(path, product)
        known = {e.event_id for e in self.events}
        self.events = sorted([*self.events, *(e for e in other.events if e.event_id not in known)],
                             key=stable_key)[:MAX_EVIDENCE_EVENTS]
        self.reported = self.reported or other.reported

    @classmethod
    def from_state(cls, body: dict[str, Any]) -> FingerprintWindow:
        w = cls(float(body["start"]))
        w.last = float(body.get("last", w.start))
        w.files = {str(k): str(v) for k, v in (body.get("files") or {}).items()}
        w.reported = bool(body.get("reported"))
        w.events = [event_from_state(e) for e in body.get("events", [])]
        return w


def _probe(ip: str, second: int, path: str, status: int = 200, agent: str = CHROME) -> str:
    return clf(ip, f"02/Nov/2026:14:{second // 60:02d}:{second % 60:02d}", f"GET {path} HTTP/1.1", status,
               agent=agent, size=1800)


BLIND_ELEPHANT_PATHS = (
    "/readme.html", "/license.txt", "/wp-includes/js/tinymce/tiny_mce.js", "/CHANGELOG.txt", "/misc/drupal.js",
    "/administrator/manifests/files/joomla.xml", "/media/system/js/core.js", "/language/en-GB/en-GB.xml",
)

CARD = Card(
    id="AppServices_WebFingerprinting",
    title="Web fingerprinting detected",
    title_ko="웹 핑거프린팅 탐지",
    severity="medium",
    tactics=("Reconnaissance",),
    techniques=("T1595.002", "T1592.002"),
    data_source="HTTP",
    looks_at="user agents of fingerprinting tools (web_scanner_agents, purpose fingerprinting), tool-only paths "
             "(web_tool_paths: /nmaplowercheck..., /HNAP1, /evox/about), and one address fetching >= min_files "
             "distinct version-revealing files (web_fingerprint_files) from one site within window",
    description="{source_ip} fingerprinted {site} with {tool} ({method}). Fingerprinting maps the software and "
                "versions a site runs so that known vulnerabilities can be matched to it; it usually comes "
                "before an attack.",
    description_ko="{source_ip}이(가) {tool}(으)로 {site}을(를) 핑거프린팅했습니다({method}). 핑거프린팅은 사이트가 "
                   "실행하는 소프트웨어와 버전을 파악해 알려진 취약점과 대조하려는 것으로, 보통 공격에 앞서 일어납니다.",
    remediation=(
        "Check that the software and plugins the tool could identify are up to date.",
        "Remove version-revealing files the site does not need (readme.html, license.txt, CHANGELOG.txt).",
        "Block or rate-limit the address at the firewall or WAF if it is not your own scanner.",
        "Watch the address for follow-up exploitation attempts (ScanSensitivePage, login failures).",
    ),
    remediation_ko=(
        "도구가 식별할 수 있었던 소프트웨어와 플러그인이 최신 버전인지 확인하십시오.",
        "사이트에 필요 없는 버전 노출 파일(readme.html, license.txt, CHANGELOG.txt)을 제거하십시오.",
        "자체 스캐너가 아니라면 방화벽이나 WAF에서 해당 주소를 차단하거나 속도를 제한하십시오.",
        "이 주소의 후속 공격 시도(ScanSensitivePage, 로그인 실패)를 주시하십시오.",
    ),
    false_positives=(
        "Your own vulnerability scanner or an attack-surface service you contracted; allow it by address, "
        "e.g. { source_ip = \"192.0.2.10\" }.",
    ),
    params={"window": "10m", "min_files": 5},
    samples=(
        Sample("WhatWeb by its user agent", "combined", lines(
            _probe("198.51.100.9", 0, "/", agent="WhatWeb/0.5.5"),
        ), expect=1, config={"site": "shop.example.com"},
            entities={"source_ip": "198.51.100.9", "tool": "WhatWeb", "method": "user agent"}),
        Sample("Nmap http scripts by their probe paths", "combined", lines(
            _probe("198.51.100.10", 0, "/nmaplowercheck1730554201", 404, agent="Mozilla/5.0 (compatible)"),
            _probe("198.51.100.10", 1, "/HNAP1", 404, agent="Mozilla/5.0 (compatible)"),
            _probe("198.51.100.10", 2, "/evox/about", 404, agent="Mozilla/5.0 (compatible)"),
        ), expect=1, config={"site": "shop.example.com"},
            entities={"tool": "Nmap (http-* NSE scripts)", "method": "tool-only path"}),
        Sample("Blind Elephant behaviour behind a browser agent", "combined", lines(
            *(_probe("198.51.100.11", i * 3, p, 200 if i % 3 else 404) for i, p in enumerate(BLIND_ELEPHANT_PATHS)),
        ), expect=1, config={"site": "blog.example.com"},
            entities={"source_ip": "198.51.100.11", "method": "behaviour"}),
        Sample("a visitor reading the license and a changelog", "combined", lines(
            _probe("198.51.100.30", 0, "/", agent=FIREFOX),
            _probe("198.51.100.30", 5, "/license.txt", agent=FIREFOX),
            _probe("198.51.100.30", 9, "/CHANGELOG.txt", agent=FIREFOX),
            _probe("198.51.100.30", 12, "/wp-includes/js/jquery/jquery.js", agent=FIREFOX),
        ), expect=0, config={"site": "blog.example.com"}),
        Sample("fingerprint files spread over an hour stay below the threshold", "combined", lines(
            *(_probe("198.51.100.12", i * 900, p) for i, p in enumerate(BLIND_ELEPHANT_PATHS[:4])),
        ), expect=0, config={"site": "blog.example.com"}),
        Sample("uptime monitors and browsers mentioning map are not Nmap", "combined", lines(
            _probe("198.51.100.13", 0, "/", agent="Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"),
            _probe("198.51.100.14", 1, "/sitemap.xml", agent="Mozilla/5.0 (compatible; Googlebot/2.1)"),
        ), expect=0, config={"site": "blog.example.com"}),
    ),
)


class WebFingerprinting(Detection):
    card = CARD
    kinds = (HttpRequest,)
    partition = "site and source IP"

    def setup(self) -> None:
        self.pages = pages(self)
        self.agents = agents(self)
        self.cache_get = self.pages.cache.get
        self.agent_get = self.agents.cache.get
        self.prefilter = line_filter(self, path_mask=FINGERPRINT | TOOL_PATH, tool_agents=True)
        self.min_files = int(self.params["min_files"])
        self.windows: KeyedWindows[FingerprintWindow] = KeyedWindows(self.duration("window"), FingerprintWindow)

    def line_prefilter(self) -> WebLineFilter:
        return self.prefilter

    def evaluate(self, event: HttpRequest) -> list[Finding] | None:
        ua = event.user_agent
        tool = self.agent_get(ua, 0)
        if tool == 0:
            tool = self.agents.tool(ua)
        path = event.path
        bits = self.cache_get(path)
        if bits is None:
            bits = self.pages.bits(path)
        if tool is not None and tool.get("purpose") == "fingerprinting":
            return [self._finding(event, str(tool["tool"]), "user agent")]
        if not bits & (FINGERPRINT | TOOL_PATH):
            return None
        if bits & TOOL_PATH:
            return [self._finding(event, self.pages.label(path, "tools") or "a fingerprinting tool", "tool-only path")]
        w = self.windows.open((event.site, event.client_ip), event.time)
        key = normalize(path)
        if key in w.files:
            return None
        w.files[key] = self.pages.label(path, "fingerprint") or "unknown"
        if len(w.events) < MAX_EVIDENCE_EVENTS:
            w.events.append(event)
        if len(w.files) < self.min_files:
            return None
        products = sorted(set(w.files.values()))
        tool_name = ("Blind Elephant or a similar tool (files of " + ", ".join(products) + ")"
                     if len(products) > 1 else f"an unidentified tool (files of {products[0]})")
        finding = self._finding(event, tool_name, "behaviour")
        finding.entities["paths"] = sorted(w.files)
        finding.entities["products"] = products
        if not w.reported:
            finding.related = tuple(e for e in w.events if e is not event)
            w.reported = True
        return [finding]

    def _finding(self, event: HttpRequest, tool: str, method: str) -> Finding:
        entities = request_entities(event)
        entities.pop("user_agent", None)
        entities["tool"] = tool
        entities["method"] = method
        entities["user_agents"] = [event.user_agent] if event.user_agent else []
        entities["paths"] = [event.path]
        return Finding(key=event.client_ip, entities=entities, event=event)

    def state(self) -> dict[str, Any]:
        """Keyed by (site, source address): one window each."""
        return {"windows": self.windows.keyed(lambda k: f"{k[0]} {k[1]}")}

    def merge(self, state: dict[str, Any]) -> None:
        windows = state.get("windows")
        if isinstance(windows, dict) and "now" in windows:  # the earlier, unkeyed shape
            self.windows.restore(windows, FingerprintWindow.from_state)
            return
        self.windows.merge(windows or {}, FingerprintWindow.from_state, lambda text: tuple(text.split(" ", 1)))

    def advance(self, watermark: float) -> None:
        self.windows.advance(watermark)
