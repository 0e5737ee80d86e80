"""AppServices_WpThemeInjection: a WordPress theme file is changed and then called directly, or a
theme's PHP file is called with web-shell parameters and answers.

WordPress never requests a theme's PHP files by URL: they are included by index.php. A direct,
successful request for one right after someone edited the theme (the theme editor, the AJAX file
editor, a theme upload, or an FTP upload of a PHP file into wp-content/themes) is a theme turned into
a web shell, and so is a direct request carrying command-like parameters.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from cloudward.alerts import Finding
from cloudward.analytics.web_filter import WebLineFilter
from cloudward.analytics.web_paths import THEME_EDIT, THEME_EDIT_ACTIONS, THEME_PHP, normalize
from cloudward.detections.appservice._web import (
    CHROME,
    FIREFOX,
    clf,
    line_filter,
    lines,
    pages,
    request_entities,
    target,
)
from cloudward.detections.base import Card, Detection, Sample
from cloudward.events import Event, FtpEvent, HttpRequest
from cloudward.state import event_from_state, event_state, stable_key

THEMES = "/wp-content/themes/"
MAX_EDITS_PER_SITE = 32
MAX_SITES = 20_000
MAX_FTP_FILES = 50_000

ADMIN = "203.0.113.50"
ATTACKER = "198.51.100.66"


def theme_file(path: str) -> str:
    """`wp-content/themes/<theme>/<file>` of a URL path or server file path, lowercased; "" if none."""
    p = normalize(path)
    i = p.find(THEMES)
    return p[i + 1:] if i >= 0 else ""


def theme_name(path: str) -> str:
    rel = theme_file(path)
    parts = rel.split("/")
    return parts[2] if len(parts) > 3 else ""


CARD = Card(
    id="AppServices_WpThemeInjection",
    title="Suspicious WordPress theme invocation detected",
    title_ko="의심스러운 WordPress 테마 호출 탐지",
    severity="high",
    tactics=("Execution", "Persistence"),
    techniques=("T1505.003", "T1059"),
    data_source="HTTP",
    looks_at="theme edits (POST /wp-admin/theme-editor.php, admin-ajax.php?action=edit-theme-plugin-file, "
             "update.php?action=upload-theme, PUT of a theme PHP file, FTP uploads of PHP into wp-content/themes) "
             "followed by a direct 2xx request for a theme PHP file on the same site within correlation_window; "
             "or direct 2xx requests for theme PHP files with web-shell parameters (webshell_parameters)",
    description="{source_ip} called the theme file {path} on [[{site}||the site]] directly and it answered ({reason}). "
                "WordPress itself never requests theme PHP files by URL, so a theme file answering such calls "
                "has most likely been turned into a web shell.",
    description_ko="{source_ip}이(가) [[{site}||사이트]]의 테마 파일 {path}을(를) 직접 호출했고 응답을 받았습니다({reason}). "
                   "WordPress는 테마 PHP 파일을 URL로 직접 요청하지 않으므로, 이런 호출에 응답하는 테마 파일은 웹 셸로 "
                   "바뀌었을 가능성이 높습니다.",
    remediation=(
        "Compare the theme's files with a clean copy of the same theme version and restore the changed ones.",
        "Review who edited the theme (the editor address in this alert, WordPress user activity) and reset "
        "that account's password and sessions.",
        "Disable in-dashboard file editing: define('DISALLOW_FILE_EDIT', true) in wp-config.php.",
        "Block the calling address and check what else it requested on the site.",
    ),
    remediation_ko=(
        "테마 파일을 같은 버전의 깨끗한 사본과 비교하고 변경된 파일을 복원하십시오.",
        "테마를 편집한 주체(이 경보의 편집자 주소, WordPress 사용자 활동)를 확인하고 해당 계정의 비밀번호와 세션을 초기화하십시오.",
        "대시보드 파일 편집을 끄십시오: wp-config.php에 define('DISALLOW_FILE_EDIT', true)를 추가합니다.",
        "호출한 주소를 차단하고 그 주소가 사이트에서 요청한 다른 항목을 확인하십시오.",
    ),
    false_positives=(
        "A few old themes expose PHP endpoints of their own (thumbnail scripts, AJAX handlers) that browsers "
        "call directly; allow them by path, e.g. { path = \"/wp-content/themes/oldtheme/timthumb.php\" }.",
    ),
    params={"correlation_window": "24h"},
    samples=(
        Sample("theme editor save, then the edited 404.php is called", "combined", lines(
            clf(ADMIN, "02/Nov/2026:09:10:00", "GET /wp-admin/theme-editor.php?file=404.php&theme=twentytwenty "
                "HTTP/1.1", 200, agent=CHROME),
            clf(ADMIN, "02/Nov/2026:09:10:42", "POST /wp-admin/theme-editor.php HTTP/1.1", 302, agent=CHROME),
            clf("198.51.100.20", "02/Nov/2026:09:12:00", "GET /wp-content/themes/twentytwenty/style.css HTTP/1.1",
                200),
            clf(ATTACKER, "02/Nov/2026:09:14:05", "GET /wp-content/themes/twentytwenty/404.php HTTP/1.1", 200,
                size=88, agent="curl/8.4.0"),
        ), expect=1, config={"site": "blog.example.com"},
            entities={"source_ip": ATTACKER, "editor_ip": ADMIN, "site": "blog.example.com",
                      "theme": "twentytwenty"}),
        Sample("AJAX file editor with its action in the query string", "combined", lines(
            clf(ADMIN, "02/Nov/2026:10:00:00", "POST /wp-admin/admin-ajax.php?action=edit-theme-plugin-file "
                "HTTP/1.1", 200, agent=CHROME, host="shop.example.com"),
            clf(ATTACKER, "02/Nov/2026:10:30:00", "POST /wp-content/themes/storefront/header.php HTTP/1.1", 200,
                agent="Mozilla/5.0", host="shop.example.com"),
        ), expect=1, entities={"site": "shop.example.com", "theme": "storefront"}),
        Sample("theme PHP called with a command parameter", "combined", lines(
            clf(ATTACKER, "02/Nov/2026:11:00:00",
                "GET /wp-content/themes/astra/inc/cache.php?cmd=cat%20/etc/passwd HTTP/1.1", 200, size=2048),
        ), expect=1, config={"site": "blog.example.com"}, entities={"reason": "web-shell parameters: cmd"}),
        Sample("theme stylesheets, scripts and images are ordinary", "combined", lines(
            clf("198.51.100.20", "02/Nov/2026:09:12:00", "GET /wp-content/themes/twentytwenty/style.css?ver=2.7 "
                "HTTP/1.1", 200),
            clf("198.51.100.20", "02/Nov/2026:09:12:01", "GET /wp-content/themes/twentytwenty/assets/js/index.js "
                "HTTP/1.1", 200),
            clf(ADMIN, "02/Nov/2026:09:13:00", "POST /wp-admin/admin-ajax.php HTTP/1.1", 200, agent=CHROME),
        ), expect=0, config={"site": "blog.example.com"}),
        Sample("an edit followed by a direct call that fails", "combined", lines(
            clf(ADMIN, "02/Nov/2026:09:10:42", "POST /wp-admin/theme-editor.php HTTP/1.1", 302, agent=CHROME),
            clf(ATTACKER, "02/Nov/2026:09:14:05", "GET /wp-content/themes/twentytwenty/404.php HTTP/1.1", 403),
        ), expect=0, config={"site": "blog.example.com"}),
        Sample("a direct call with harmless parameters and no edit", "combined", lines(
            clf("198.51.100.21", "02/Nov/2026:09:14:05",
                "GET /wp-content/themes/oldtheme/timthumb.php?src=/img/a.jpg&w=200&idea=1 HTTP/1.1", 200,
                agent=FIREFOX),
        ), expect=0, config={"site": "blog.example.com"}),
        Sample("an edit on another site does not count", "combined", lines(
            clf(ADMIN, "02/Nov/2026:09:10:42", "POST /wp-admin/theme-editor.php HTTP/1.1", 302, agent=CHROME,
                host="other.example.com"),
            clf(ATTACKER, "02/Nov/2026:09:14:05", "GET /wp-content/themes/twentytwenty/404.php HTTP/1.1", 200,
                host="blog.example.com"),
        ), expect=0),
    ),
)


class WpThemeInjection(Detection):
    card = CARD
    kinds = (HttpRequest, FtpEvent)
    partition = "site (theme edits) and theme file (FTP uploads, calls)"

    def setup(self) -> None:
        self.window = self.duration("correlation_window")
        self.pages = pages(self)
        self.cache_get = self.pages.cache.get
        self.prefilter = line_filter(self, path_mask=THEME_PHP | THEME_EDIT)
        #: site -> recent theme edits: (time, editor ip, what, event)
        self.edits: dict[str, list[tuple[float, str, str, Event | None]]] = {}
        #: theme file (wp-content/themes/...) -> (time, ip, what) of FTP uploads, any site
        self.ftp_uploads: dict[str, tuple[float, str, str]] = {}
        #: theme file -> recent direct 2xx calls, for an FTP log read after the web log that shows the calls
        self.calls: dict[str, list[HttpRequest]] = {}
        params: list[str] = []
        strong: list[str] = []
        values: list[str] = []
        for entry in self.data.get("webshell_parameters"):
            if not isinstance(entry, dict):
                continue
            if "param" in entry:
                params.append(str(entry["param"]).lower())
                if entry.get("strong"):
                    strong.append(str(entry["param"]).lower())
            elif "value" in entry:
                values.append(str(entry["value"]).lower())
        self.params_all = frozenset(params)
        self.params_strong = frozenset(strong)
        self.word_values = frozenset(v.strip() for v in values if v.strip().isalnum())
        self.text_values = tuple(v for v in values if not v.strip().isalnum())

    # -- edits ----------------------------------------------------------------------------------
    def _edit(self, site: str, when: float, ip: str, what: str, event: Event | None) -> None:
        edits = self.edits.get(site)
        if edits is None:
            if len(self.edits) >= MAX_SITES:
                del self.edits[next(iter(self.edits))]
            edits = self.edits[site] = []
        edits.append((when, ip, what, event))
        if len(edits) > MAX_EDITS_PER_SITE:
            del edits[0]

    def _edit_of(self, event: HttpRequest, bits: int) -> str:
        """What kind of theme edit this request is, or ""."""
        if event.status >= 400 or event.status < 200:
            return ""
        if bits & THEME_PHP and event.method in ("PUT", "MOVE", "COPY") and event.status < 300:
            return f"{event.method} of {event.path}"
        if event.method != "POST" or not bits & THEME_EDIT:
            return ""
        name = normalize(event.path).rsplit("/", 1)[-1]
        query = event.query.lower()
        if name == "theme-editor.php":
            return "theme editor save"
        if name == "admin-ajax.php" and "action=edit-theme-plugin-file" in query:
            return "theme file edit through admin-ajax.php"
        if name == "update.php" and "action=upload-theme" in query:
            return "theme upload"
        return ""

    def shell_params(self, query: str) -> list[str]:
        """Names of query parameters that look like web-shell commands."""
        if not query:
            return []
        found = []
        for pair in query.split("&")[:64]:
            name, _, value = pair.partition("=")
            name = unquote_plus(name).lower()
            if name not in self.params_all or not value:
                continue
            if name in self.params_strong:
                found.append(name)
                continue
            text = unquote_plus(value).lower()
            words = set(text.replace("/", " ").replace(";", " ").replace("|", " ").replace("`", " ").split())
            if words & self.word_values or any(v in text for v in self.text_values):
                found.append(name)
        return found

    # -- events ---------------------------------------------------------------------------------
    def line_prefilter(self) -> WebLineFilter:
        return self.prefilter

    def evaluate(self, event: Any) -> list[Finding] | None:
        if type(event) is FtpEvent:
            return self._ftp(event)
        bits = self.cache_get(event.path)
        if bits is None:
            bits = self.pages.bits(event.path)
        if not bits & (THEME_PHP | THEME_EDIT):
            query = event.query
            if not query or not any(action in query for action in THEME_EDIT_ACTIONS):
                return None
            bits |= THEME_EDIT
        what = self._edit_of(event, bits)
        if what:
            self._edit(event.site, event.time, event.client_ip, what, event)
            return None
        if not bits & THEME_PHP or not 200 <= event.status < 300:
            return None
        reason = ""
        editor = ""
        related: tuple[Event, ...] = ()
        for when, ip, edit, edit_event in reversed(self.edits.get(event.site, ())):
            if when <= event.time <= when + self.window:
                reason, editor = f"called after a {edit} by {ip}", ip
                related = (edit_event,) if edit_event is not None else ()
                break
        if not reason:
            upload = self.ftp_uploads.get(theme_file(event.path))
            if upload is not None and upload[0] <= event.time <= upload[0] + self.window:
                reason, editor = f"called after an FTP upload of the file by {upload[1]}", upload[1]
        if not reason:
            self._remember_call(event)
        shell = self.shell_params(event.query)
        if shell:
            reason = (reason + "; " if reason else "") + "web-shell parameters: " + ", ".join(shell)
        if not reason:
            return None
        entities = request_entities(event)
        entities["path"] = event.path
        entities["theme"] = theme_name(event.path)
        entities["urls"] = [target(event)]
        entities["reason"] = reason
        if editor:
            entities["editor_ip"] = editor
        return [Finding(key=theme_file(event.path), entities=entities, event=event, related=related)]

    def _remember_call(self, event: HttpRequest) -> None:
        rel = theme_file(event.path)
        calls = self.calls.get(rel)
        if calls is None:
            if len(self.calls) >= MAX_FTP_FILES:
                del self.calls[next(iter(self.calls))]
            calls = self.calls[rel] = []
        calls.append(event)
        if len(calls) > 8:
            del calls[0]

    def _ftp(self, event: FtpEvent) -> list[Finding] | None:
        if event.action != "upload" or THEMES not in normalize(event.file_path):
            return None
        rel = theme_file(event.file_path)
        if self.pages.php_segment("/" + rel) < 0:
            return None
        if len(self.ftp_uploads) >= MAX_FTP_FILES:
            del self.ftp_uploads[next(iter(self.ftp_uploads))]
        self.ftp_uploads[rel] = (event.time, event.client_ip, f"FTP upload by {event.user or '?'}")
        # calls already seen (their web log was read first) that came after this upload
        out = []
        for call in self.calls.pop(rel, ()):
            if event.time <= call.time <= event.time + self.window:
                entities = request_entities(call)
                entities.update(path=call.path, theme=theme_name(call.path), urls=[target(call)],
                                reason=f"called after an FTP upload of the file by {event.client_ip}",
                                editor_ip=event.client_ip)
                out.append(Finding(key=rel, entities=entities, event=call, related=(event,)))
        return out or None

    # -- state ----------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Theme edits keyed by site; FTP uploads and remembered calls keyed by theme file."""
        return {
            "edits": {site: [[t, ip, what, event_state(e) if e is not None else None] for t, ip, what, e in edits]
                      for site, edits in self.edits.items()},
            "ftp_uploads": {k: list(v) for k, v in self.ftp_uploads.items()},
            "calls": {k: [event_state(e) for e in calls] for k, calls in self.calls.items()},
        }

    def merge(self, state: dict[str, Any]) -> None:
        """Edits and calls: union in time order; an FTP upload: the later one per file (what a call meets)."""
        for site, edits in (state.get("edits") or {}).items():
            mine = {(t, ip, what) for t, ip, what, _ in self.edits.get(site, ())}
            for t, ip, what, *rest in edits:
                if (float(t), str(ip), str(what)) in mine:
                    continue
                event = event_from_state(rest[0]) if rest and rest[0] else None
                self._edit(site, float(t), str(ip), str(what), event)
            if site in self.edits:
                self.edits[site].sort(key=lambda e: (e[0], e[1], e[2]))
        for k, (t, ip, what) in (state.get("ftp_uploads") or {}).items():
            have = self.ftp_uploads.get(k)
            if have is None or (float(t), str(ip), str(what)) > have:
                self.ftp_uploads[k] = (float(t), str(ip), str(what))
        for k, calls in (state.get("calls") or {}).items():
            mine_calls = self.calls.setdefault(k, [])
            known = {e.event_id for e in mine_calls}
            mine_calls.extend(c for c in map(event_from_state, calls)  # type: ignore[misc]
                              if c.event_id not in known)
            mine_calls.sort(key=stable_key)
            del mine_calls[:-8]
