"""AppServices_AnomalousPageAccess: a site's admin or login page reached from an address that never
used that site's admin pages before.

Per site, the card learns which client addresses successfully use its sensitive pages
(web_admin_pages: WordPress, Joomla, Drupal, phpMyAdmin, Tomcat manager, Kudu/SCM, /admin...) during
`learning_period`, counted from the first event of that site. After that, a successful request from
an address outside the baseline alerts; it does not join the baseline (an intruder must not teach
the card to trust them). "Successful" means a 2xx answer, or a redirect after a POST; on login forms
anyone can load, only a POST answered with a redirect (a sign-in that worked) counts.

Baselines are state: the store keeps them across `tail`/`serve` restarts, and `--baseline-from PATH`
feeds earlier logs through a learning pass in which every successful access is learned.
"""

from __future__ import annotations

from typing import Any

from cloudward.alerts import Finding
from cloudward.analytics.site_baselines import SiteBaseline, SiteBaselines
from cloudward.analytics.web_filter import WebLineFilter
from cloudward.analytics.web_paths import ADMIN, normalize
from cloudward.detections.appservice._web import CHROME, FIREFOX, clf, line_filter, lines, pages, request_entities
from cloudward.detections.base import Card, Detection, Sample
from cloudward.events import HttpRequest
from cloudward.timeutil import format_time

ADMIN_IP = "203.0.113.50"
EDITOR_IP = "203.0.113.51"
NEW_IP = "185.220.101.4"


def _day(day: int, hms: str) -> str:
    return f"{day:02d}/Nov/2026:{hms}"


#: two weeks of an admin and an editor signing in from their usual addresses
ROUTINE = [
    clf(ADMIN_IP if d % 2 else EDITOR_IP, _day(d, "08:30:00"), "POST /wp-login.php HTTP/1.1", 302, agent=CHROME,
        referer="https://blog.example.com/wp-login.php") for d in range(1, 15)
] + [clf(ADMIN_IP, _day(d, "08:31:10"), "GET /wp-admin/ HTTP/1.1", 200, agent=CHROME) for d in range(1, 15, 3)]

CARD = Card(
    id="AppServices_AnomalousPageAccess",
    title="Connection to web page from anomalous IP address detected",
    title_ko="비정상 IP 주소에서 웹 페이지 연결 탐지",
    severity="low",
    tactics=("InitialAccess",),
    techniques=("T1078", "T1190"),
    data_source="HTTP",
    looks_at="successful requests for admin and login pages (web_admin_pages; any request to a Kudu/SCM site), "
             "per site; after learning_period from the site's first event, an address not in the site's "
             "baseline alerts",
    description="{source_ip} reached {paths} ({apps}) on [[{site}||the site]], and no request from that address reached the "
                "site's sensitive pages while the baseline was learned ({learned} addresses since {since}). "
                "A new address on an admin page can be an administrator travelling, or stolen credentials.",
    description_ko="{source_ip}이(가) [[{site}||사이트]]의 {paths}({apps})에 접근했습니다. 기준선을 학습하는 동안({since} 이후 "
                   "주소 {learned}개) 이 주소에서 사이트의 민감한 페이지에 접근한 적이 없습니다. 관리 페이지에 새 "
                   "주소가 나타난 것은 출장 중인 관리자일 수도 있고, 도용된 자격 증명일 수도 있습니다.",
    remediation=(
        "Ask the site's administrators whether they signed in from this address.",
        "If nobody did: reset the passwords and sessions of admin accounts, and review what changed on the site "
        "after this request (users, plugins, themes, files).",
        "Restrict admin pages to known addresses or put them behind SSO / App Service access restrictions.",
        "Add the address to allow if it is a new legitimate location (office, VPN egress).",
    ),
    remediation_ko=(
        "사이트 관리자에게 이 주소에서 로그인했는지 확인하십시오.",
        "아무도 로그인하지 않았다면 관리자 계정의 비밀번호와 세션을 초기화하고, 이 요청 이후 사이트에서 바뀐 것(사용자, "
        "플러그인, 테마, 파일)을 검토하십시오.",
        "관리 페이지를 알려진 주소로 제한하거나 SSO 또는 App Service 접근 제한 뒤에 두십시오.",
        "새로운 정상 위치(사무실, VPN 출구)라면 해당 주소를 allow에 추가하십시오.",
    ),
    false_positives=(
        "Administrators on new networks (travel, mobile, a changed VPN egress); allow known ranges with "
        "{ source_ip = \"198.51.100.*\" }.",
    ),
    params={"learning_period": "7d", "max_ips_per_site": 50_000},
    samples=(
        Sample("sign-in from a new address after two weeks of routine", "combined", lines(
            *ROUTINE,
            clf(NEW_IP, _day(15, "02:14:09"), "POST /wp-login.php HTTP/1.1", 302, agent=FIREFOX),
            clf(NEW_IP, _day(15, "02:14:11"), "GET /wp-admin/plugin-install.php HTTP/1.1", 200, agent=FIREFOX),
        ), expect=1, config={"site": "blog.example.com"},
            entities={"source_ip": NEW_IP, "site": "blog.example.com",
                      "paths": ["/wp-login.php", "/wp-admin/plugin-install.php"]}),
        Sample("Kudu console of an App Service app from a new address", "w3c-http",
               "#Software: Microsoft Internet Information Services 10.0\n"
               "#Fields: date time s-sitename cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
               "cs(User-Agent) cs(Referer) cs-host sc-status sc-bytes time-taken\n"
               "2026-11-01 09:00:00 ~1CONTOSO GET /api/vfs/site/wwwroot/ - 443 deployer 203.0.113.60 "
               "Mozilla/5.0 - contoso.scm.azurewebsites.net 200 2311 40\n"
               "2026-11-09 23:41:17 ~1CONTOSO POST /api/command - 443 deployer 185.220.101.4 "
               "python-requests/2.31.0 - contoso.scm.azurewebsites.net 200 77 801\n",
               expect=1, params={"learning_period": "1d"}, entities={"site": "~1contoso", "source_ip": NEW_IP}),
        Sample("the usual administrators after the learning period", "combined", lines(
            *ROUTINE,
            clf(ADMIN_IP, _day(16, "08:30:00"), "POST /wp-login.php HTTP/1.1", 302, agent=CHROME),
        ), expect=0, config={"site": "blog.example.com"}),
        Sample("a new address during the learning period only joins the baseline", "combined", lines(
            *ROUTINE[:3],
            clf(NEW_IP, _day(3, "11:00:00"), "POST /wp-login.php HTTP/1.1", 302, agent=FIREFOX),
        ), expect=0, config={"site": "blog.example.com"}),
        Sample("failed sign-ins and bots loading the login form", "combined", lines(
            *ROUTINE,
            clf(NEW_IP, _day(15, "02:14:09"), "POST /wp-login.php HTTP/1.1", 200, agent=FIREFOX),
            clf("198.51.100.99", _day(15, "02:15:00"), "GET /wp-login.php HTTP/1.1", 200, agent="Mozilla/5.0"),
            clf("198.51.100.99", _day(15, "02:15:01"), "GET /wp-admin/ HTTP/1.1", 302, agent="Mozilla/5.0"),
            clf("198.51.100.98", _day(15, "02:16:00"), "POST /wp-admin/admin-ajax.php HTTP/1.1", 200, agent=CHROME),
        ), expect=0, config={"site": "blog.example.com"}),
        Sample("the baseline is per site", "combined", lines(
            *[clf(ADMIN_IP, _day(d, "08:30:00"), "POST /wp-login.php HTTP/1.1", 302, host="blog.example.com")
              for d in range(1, 10)],
            clf(ADMIN_IP, _day(1, "09:00:00"), "GET /index.html HTTP/1.1", 200, host="shop.example.com"),
            clf(ADMIN_IP, _day(9, "09:00:00"), "POST /wp-login.php HTTP/1.1", 302, host="shop.example.com"),
        ), expect=1, entities={"site": "shop.example.com", "source_ip": ADMIN_IP}),
    ),
)


class AnomalousPageAccess(Detection):
    card = CARD
    kinds = (HttpRequest,)
    partition = "site"

    def setup(self) -> None:
        self.period = self.duration("learning_period")
        self.baselines = SiteBaselines(self.period, max_ips_per_site=int(self.params["max_ips_per_site"]))
        self.sites = self.baselines.sites
        self.pages = pages(self)
        self.cache_get = self.pages.cache.get
        #: normalized admin path -> (app, is a login form)
        self.admin_info: dict[str, tuple[str, bool]] = {}
        self.scm_sites: dict[str, bool] = {}
        # the first line of every file and of every site in it is always parsed, which is all the
        # learning period's start needs from ordinary requests
        self.prefilter = line_filter(self, path_mask=ADMIN, scm_sites=True)

    def _info(self, path: str) -> tuple[str, bool]:
        p = normalize(path)
        hit = self.admin_info.get(p)
        if hit is None:
            entry = self.pages.admin.match(p, p[p.rfind("/") + 1:]) or {}
            hit = (str(entry.get("app", "admin page")), bool(entry.get("form")))
            if len(self.admin_info) >= 50_000:
                self.admin_info.clear()
            self.admin_info[p] = hit
        return hit

    def line_prefilter(self) -> WebLineFilter:
        return self.prefilter

    def evaluate(self, event: HttpRequest) -> list[Finding] | None:
        site = event.site
        b = self.sites.get(site)
        if b is None:
            b = self.baselines.site(site, event.time)
        elif event.time < b.first_seen:
            b.first_seen = event.time
        bits = self.cache_get(event.path)
        if bits is None:
            bits = self.pages.bits(event.path)
        if not bits & ADMIN:
            scm = self.scm_sites.get(site)
            if scm is None:
                scm = self.scm_sites[site] = site.startswith("~1") or ".scm." in site
            if not scm:
                return None
            app, form = "Kudu/SCM", False
        else:
            app, form = self._info(event.path)
        status, method = event.status, event.method
        if form:
            success = method == "POST" and 300 <= status < 400
        else:
            success = 200 <= status < 300 or (method == "POST" and 300 <= status < 400)
        if not success:
            return None
        ip = event.client_ip
        if self.learning or self.baselines.learning(b, event.time):
            if ip not in b.ips:
                self.hold_back(b.first_seen + self.baselines.learning_period)
            self.baselines.learn(b, ip)
            return None
        if ip in b.ips:
            return None
        return [self._finding(event, b, app)]

    def _finding(self, event: HttpRequest, b: SiteBaseline, app: str) -> Finding:
        entities = request_entities(event)
        entities["paths"] = [event.path]
        entities["apps"] = [app]
        return Finding(key=event.client_ip, entities=entities, event=event,
                       params={"learned": len(b.ips), "since": format_time(b.first_seen)})

    def state(self) -> dict[str, Any]:
        return self.baselines.state()

    def merge(self, state: dict[str, Any]) -> None:
        self.baselines.merge(state)
