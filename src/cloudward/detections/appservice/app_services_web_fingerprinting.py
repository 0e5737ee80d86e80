"""AppServices_WebFingerprinting: a fingerprinting tool maps the site's software and versions.

Three signs, from cheapest to subtlest: the tool's user agent (WhatWeb, Nmap's NSE, WPScan, Nikto...),
a path only a tool requests (`/nmaplowercheck<n>`, `/HNAP1`, `/evox/about`), or the behaviour itself,
which is how Blind Elephant is found (it sends a stock, decade-old browser user agent): one address
fetching, from one site within `window`, at least `min_files` distinct static version-revealing files
(web_fingerprint_files: readme.html, license.txt, changelogs, .pot/.mo catalogues, specific
wp-includes, media/system/js and misc/ scripts), mostly (`min_unlinked_ratio`) without a Referer - no
page it fetched linked them - and spanning more than one application family or at least
`min_plugins` plugins (web_plugin_folders: `/wp-content/plugins/<name>/readme.txt`...). A browser
loading a page's scripts sends the page as Referer; a crawler or feed reader fetches one such file,
not a catalogue of them.
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
    __slots__ = ("events", "files", "last", "plugins", "reported", "start", "unlinked")

    def __init__(self, start: float) -> None:
        self.start = start
        self.last = start
        #: normalized path -> product it identifies
        self.files: dict[str, str] = {}
        #: "family/plugin" names whose files were fetched
        self.plugins: set[str] = set()
        #: distinct files fetched without a Referer (a set, so two partial windows merge exactly)
        self.unlinked: set[str] = set()
        self.events: list[Event] = []
        self.reported = False

    def to_state(self) -> dict[str, Any]:
        return {"start": self.start, "last": self.last, "files": self.files, "reported": self.reported,
                "plugins": sorted(self.plugins), "unlinked": sorted(self.unlinked),
                "events": [event_state(e) for e in self.events]}

    def absorb(self, other: FingerprintWindow) -> None:
        self.last = max(self.last, other.last)
        for path, product in sorted(other.files.items()):
            self.files.setdefault(path, product)
        self.plugins |= other.plugins
        self.unlinked |= other.unlinked
        known = {e.event_id for e in self.events}
        self.events = sorted([*self.events, *(e for e in other.events if e.event_id not in known)],
                             key=stable_key)[:MAX_EVIDENCE_EVENTS]
        self.reported = self.reported or other.reported

    @classmethod
    def from_state(cls, body: dict[str, Any]) -> FingerprintWindow:
        w = cls(float(body["start"]))
        w.last = float(body.get("last", w.start))
        w.files = {str(k): str(v) for k, v in (body.get("files") or {}).items()}
        w.plugins = {str(p) for p in body.get("plugins") or ()}
        w.unlinked = {str(p) for p in body.get("unlinked") or ()}
        w.reported = bool(body.get("reported"))
        w.events = [event_from_state(e) for e in body.get("events", [])]
        return w


def _probe(ip: str, second: int, path: str, status: int = 200, agent: str = CHROME, referer: str = "-") -> str:
    return clf(ip, f"02/Nov/2026:14:{second // 60:02d}:{second % 60:02d}", f"GET {path} HTTP/1.1", status,
               agent=agent, size=1800, referer=referer)


#: the stock browser agent Blind Elephant-style tools send (Firefox 3.5, 2009)
OLD_FIREFOX = "Mozilla/5.0 (Windows; U; Windows NT 6.1; en-US; rv:1.9.1.5) Gecko/20091102 Firefox/3.5.5"
#: a Blind Elephant run against a WordPress site: its version files, plugin readmes and a 404 probe
BLIND_ELEPHANT_WORDPRESS = (
    "/readme.html", "/license.txt", "/wp-includes/js/tinymce/tiny_mce.js", "/wp-includes/js/quicktags.js",
    "/wp-includes/css/editor.css", "/wp-includes/images/smilies/icon_smile.gif", "/wp-admin/js/common.js",
    "/wp-content/languages/admin-de_DE.mo", "/9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c.html",
    "/wp-content/plugins/akismet/readme.txt", "/wp-content/plugins/contact-form-7/readme.txt",
    "/wp-content/plugins/wordpress-seo/readme.txt", "/wp-content/plugins/jetpack/changelog.txt",
    "/wp-content/plugins/woocommerce/i18n/languages/woocommerce.pot",
)
#: what a browser fetches after https://blog.example.com/ (with that page as Referer)
WORDPRESS_PAGE_ASSETS = (
    "/wp-includes/js/jquery/jquery.js", "/wp-includes/js/jquery/suggest.js", "/wp-includes/js/quicktags.js",
    "/wp-includes/css/buttons.css", "/wp-includes/images/smilies/icon_smile.gif", "/wp-includes/js/thickbox/thickbox.js",
    "/wp-content/plugins/contact-form-7/includes/js/index.js", "/wp-content/themes/twentytwentyfour/style.css",
)


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
    description="{source_ip} fingerprinted [[{site}||the site]] with {tool} ({method}). Fingerprinting maps the software and "
                "versions a site runs so that known vulnerabilities can be matched to it; it usually comes "
                "before an attack.",
    description_ko="{source_ip}이(가) {tool}(으)로 [[{site}||사이트]]을(를) 핑거프린팅했습니다({method}). 핑거프린팅은 사이트가 "
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
        "A CDN cache warmer or asset preloader fetching a site's static files without a Referer (the behaviour "
        "sign); allow its addresses the same way.",
    ),
    params={"window": "10m", "min_files": 5, "min_unlinked_ratio": 0.8, "min_plugins": 4},
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
        Sample("Blind Elephant against WordPress: version files, plugin readmes, a 404 probe, an old browser agent",
               "combined", lines(
                   *(_probe("198.51.100.40", i * 2, p, 404 if p.endswith(".html") and p != "/readme.html" else 200,
                            agent=OLD_FIREFOX) for i, p in enumerate(BLIND_ELEPHANT_WORDPRESS)),
               ), expect=1, config={"site": "blog.example.com"},
               entities={"source_ip": "198.51.100.40", "method": "behaviour", "products": ["WordPress"],
                         "plugins": ["WordPress/akismet", "WordPress/contact-form-7", "WordPress/jetpack",
                                     "WordPress/woocommerce", "WordPress/wordpress-seo"]}),
        Sample("plugin enumeration: many plugins' readme.txt from one address", "combined", lines(
            *(_probe("198.51.100.41", i, f"/wp-content/plugins/{name}/readme.txt", 200 if i % 2 else 404)
              for i, name in enumerate(("akismet", "elementor", "wpforms-lite", "really-simple-ssl",
                                         "updraftplus", "litespeed-cache"))),
        ), expect=1, config={"site": "blog.example.com"}, entities={"method": "behaviour"}),
        Sample("a browser loading a WordPress page with its scripts and images (Referer set)", "combined", lines(
            _probe("203.0.113.50", 0, "/", agent=FIREFOX),
            *(_probe("203.0.113.50", 1 + i, p, agent=FIREFOX, referer="https://blog.example.com/")
              for i, p in enumerate(WORDPRESS_PAGE_ASSETS)),
            _probe("203.0.113.50", 12, "/license.txt", agent=FIREFOX, referer="https://blog.example.com/about/"),
        ), expect=0, config={"site": "blog.example.com"}),
        Sample("a feed reader polling the feeds", "combined", lines(
            *(_probe("203.0.113.51", i * 30, p, agent="Feedly/1.0 (+http://www.feedly.com/fetcher.html; 12 subscribers)")
              for i, p in enumerate(("/feed/", "/comments/feed/", "/feed/", "/wp-includes/images/rss.png"))),
        ), expect=0, config={"site": "blog.example.com"}),
        Sample("a crawler fetching readme.html once among ordinary pages", "combined", lines(
            *(_probe("66.249.66.1", i * 7, p, agent="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
              for i, p in enumerate(("/robots.txt", "/sitemap.xml", "/readme.html", "/about/", "/license.txt"))),
        ), expect=0, config={"site": "blog.example.com"}),
        Sample("an uptime checker fetching the front page every minute", "combined", lines(
            *(_probe("216.144.250.150", i * 60, "/",
                     agent="Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)") for i in range(8)),
        ), expect=0, config={"site": "blog.example.com"}),
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
        self.min_unlinked = float(self.params["min_unlinked_ratio"])
        self.min_plugins = int(self.params["min_plugins"])
        self.plugin_folders = tuple(
            (str(e["prefix"]).lower(), str(e.get("cms") or "")) for e in self.data.get("web_plugin_folders")
            if isinstance(e, dict) and e.get("prefix"))
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
        family = self.pages.label(path, "fingerprint") or "generic"
        for prefix, cms in self.plugin_folders:
            if key.startswith(prefix):
                name = key[len(prefix):].split("/", 1)[0]
                if name:
                    family = cms or family
                    w.plugins.add(f"{family}/{name}")
                break
        w.files[key] = family
        if not event.referer:
            w.unlinked.add(key)
        if len(w.events) < MAX_EVIDENCE_EVENTS:
            w.events.append(event)
        if len(w.files) < self.min_files or len(w.unlinked) < self.min_unlinked * len(w.files):
            return None
        products = sorted(set(w.files.values()) - {"generic"}) or ["generic"]
        if len(products) < 2 and len(w.plugins) < self.min_plugins:
            return None
        if len(products) > 1:
            tool_name = "Blind Elephant or a similar tool (files of " + ", ".join(products) + ")"
        else:
            tool_name = (f"Blind Elephant or a plugin scanner ({products[0]} version files and "
                         f"{len(w.plugins)} plugins)")
        finding = self._finding(event, tool_name, "behaviour")
        finding.entities["paths"] = sorted(w.files)
        finding.entities["products"] = products
        if w.plugins:
            finding.entities["plugins"] = sorted(w.plugins)
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
