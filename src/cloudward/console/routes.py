"""The console's routes: sign-in, overview, alerts, alert detail, suppression rules, detections, sources.

Sessions live in the server's memory (a restart signs everyone out); the cookie holds only a random
session id. Every POST carries a CSRF token bound to the session (before sign-in: to a pre-session
cookie), and every action checks the role on the server."""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from cloudward import __version__
from cloudward.config import SEVERITIES, ConfigError, SuppressRule
from cloudward.console.i18n import LANGUAGES, Translator
from cloudward.datalists import shipped
from cloudward.server import queries
from cloudward.server.queries import AlertFilter, QueryError
from cloudward.server.suppressions import rule_doc, rule_from_doc, save_rule, simulate
from cloudward.server.tokens import Principal
from cloudward.timeutil import format_time, parse_time

SESSION_COOKIE = "cw_session"
PRE_COOKIE = "cw_pre"
LANG_COOKIE = "cw_lang"
SESSION_SECONDS = 12 * 3600
MAX_FORM_BYTES = 1024 * 1024
PER_PAGE = 50
#: a source that sent nothing for this long is shown as silent
SILENT_AFTER = 15 * 60
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; connect-src 'self'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
#: overview ranges: name -> (seconds or None for everything, bucket seconds or None for automatic)
RANGES = {"24h": (86400.0, 3600.0), "7d": (7 * 86400.0, 86400.0), "30d": (30 * 86400.0, 86400.0),
          "all": (None, None)}
FILTER_KEYS = ("severity", "type", "status", "resource", "entity", "source_ip", "q", "since", "until")
STATIC = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}
#: entities that "suppress similar" does not pre-fill: they differ on every occurrence
VOLATILE_ENTITIES = {"request_id", "exec_id", "event_id", "time", "url", "path", "query", "command_line"}


@dataclass
class Session:
    principal: Principal
    csrf: str
    expires: float


class Sessions:
    def __init__(self) -> None:
        self._by_id: dict[str, Session] = {}

    def create(self, principal: Principal) -> tuple[str, Session]:
        self._expire()
        sid = secrets.token_urlsafe(32)
        session = Session(principal, secrets.token_urlsafe(32), time.time() + SESSION_SECONDS)
        self._by_id[sid] = session
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        session = self._by_id.get(sid)
        if session is None or session.expires < time.time():
            self._by_id.pop(sid, None)
            return None
        return session

    def drop(self, sid: str | None) -> None:
        if sid:
            self._by_id.pop(sid, None)

    def _expire(self) -> None:
        now = time.time()
        for sid in [s for s, v in self._by_id.items() if v.expires < now]:
            del self._by_id[sid]


def _load_tactics() -> dict[str, dict[str, str]]:
    return {_tactic_key(e["name"]): e for e in shipped("mitre_tactics")}


def _tactic_key(name: str) -> str:
    return name.replace("_", "").replace("-", "").replace(" ", "").lower()


def technique_url(technique: str) -> str | None:
    """The public ATT&CK page of a technique id (T1611, T1059.004), None for anything else."""
    head, _, sub = technique.upper().partition(".")
    if not (head.startswith("T") and head[1:].isdigit() and (not sub or sub.isdigit())):
        return None
    return f"https://attack.mitre.org/techniques/{head}/" + (f"{sub}/" if sub else "")


def safe_next(value: str | None, default: str = "/") -> str:
    """Only a path on this server (no scheme, no //host, no backslash): never an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or "\n" in value:
        return default
    return value


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return orjson.dumps(str(value)).decode()


def _filter_from(params: dict[str, str]) -> AlertFilter:
    return AlertFilter(severity=params.get("severity") or None, alert_type=params.get("type") or None,
                       status=params.get("status") or None, resource=params.get("resource") or None,
                       entity=params.get("entity") or None, source_ip=params.get("source_ip") or None,
                       text=params.get("q") or None, since=params.get("since") or None,
                       until=params.get("until") or None)


def _chart(buckets: list[tuple[float, dict[str, int]]], bucket: float) -> dict[str, Any]:
    """Stacked bars (severity, high on top) in a 720x200 viewBox; each bar says its counts in a <title>."""
    width, height, pad_left, pad_bottom = 720.0, 200.0, 36.0, 22.0
    peak = max([sum(c.values()) for _, c in buckets] + [1])
    slot = (width - pad_left) / max(len(buckets), 1)
    bars = []
    for i, (start, counts) in enumerate(buckets):
        y = height - pad_bottom
        for sev in SEVERITIES:  # informational first, so high stacks on top
            n = counts.get(sev, 0)
            if not n:
                continue
            h = (height - pad_bottom - 8) * n / peak
            y -= h
            bars.append({"x": round(pad_left + i * slot + slot * 0.1, 2), "y": round(y, 2),
                         "w": round(max(slot * 0.8, 1.0), 2), "h": round(h, 2), "severity": sev, "count": n,
                         "start": format_time(start), "end": format_time(start + bucket)})
    ticks = []
    step = max(1, len(buckets) // 6)
    for i in range(0, len(buckets), step):
        ticks.append({"x": round(pad_left + i * slot + slot / 2, 2), "at": format_time(buckets[i][0]),
                      "label": time.strftime("%m-%d %H:%M" if bucket < 86400 else "%m-%d",
                                             time.gmtime(buckets[i][0]))})
    return {"bars": bars, "ticks": ticks, "peak": peak, "base": height - pad_bottom, "left": pad_left,
            "width": width, "height": height, "bucket": bucket,
            "rows": [{"at": format_time(start), "counts": c, "total": sum(c.values())} for start, c in buckets]}


def mount_console(app: FastAPI, service: Any, *,
                  change_status: Callable[[list[str], str, str, Principal], dict[str, Any]]) -> None:
    """Add the console's routes to the `serve` application; `change_status` is the API's own."""
    env = Environment(loader=PackageLoader("cloudward.console", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(severities=SEVERITIES[::-1], statuses=queries.STATUSES, version=__version__,
                       technique_url=technique_url, sorts=tuple(queries.SORTS), ranges=tuple(RANGES))
    sessions = Sessions()
    tactics = _load_tactics()
    static_dir = Path(str(resources.files("cloudward.console").joinpath("static")))

    # -- plumbing -----------------------------------------------------------------------------
    def lang_of(request: Request) -> str:
        lang = request.cookies.get(LANG_COOKIE, "")
        return lang if lang in LANGUAGES else "en"

    def secure(request: Request) -> bool:
        return request.url.scheme == "https"

    def session_of(request: Request) -> Session | None:
        return sessions.get(request.cookies.get(SESSION_COOKIE))

    def harden(response: Response) -> Response:
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    def redirect(to: str) -> Response:
        return harden(RedirectResponse(to, status_code=303))

    def render(request: Request, template: str, session: Session | None, status: int = 200,
               **context: Any) -> Response:
        lang = lang_of(request)
        t = Translator(lang)
        pre = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)

        def tactic(name: str) -> dict[str, str]:
            entry = tactics.get(_tactic_key(name))
            if entry is None:
                return {"label": name, "url": ""}
            return {"label": entry["ko"] if lang == "ko" else entry["title"],
                    "url": f"https://attack.mitre.org/tactics/{entry['id']}/"}

        def loc(doc: dict[str, Any], key: str) -> Any:
            """The alert's text in the page's language (Korean falls back to English only when absent)."""
            if lang == "ko" and doc.get(f"{key}_ko"):
                return doc[f"{key}_ko"]
            return doc.get(key)

        html = env.get_template(template).render(
            request=request, t=t, lang=lang, session=session, tactic=tactic, loc=loc, path=request.url.path,
            here=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
            csrf=session.csrf if session else pre, is_admin=bool(session and session.principal.may("admin")),
            alerts_url=lambda **kw: "/alerts?" + urlencode({k: v for k, v in kw.items() if v}), **context)
        response = HTMLResponse(html, status_code=status)
        if not request.cookies.get(PRE_COOKIE):
            response.set_cookie(PRE_COOKIE, pre, httponly=True, samesite="strict", secure=secure(request), path="/")
        return harden(response)

    async def form_of(request: Request) -> dict[str, list[str]]:
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, "form over 1 MiB")
        try:
            return parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=20_000)
        except ValueError:
            raise HTTPException(400, "form has too many fields") from None

    def first(form: dict[str, list[str]], key: str, limit: int = 2000) -> str:
        values = form.get(key) or [""]
        return values[0][:limit]

    def csrf_ok(request: Request, form: dict[str, list[str]], session: Session | None) -> bool:
        sent = first(form, "csrf", 200)
        want = session.csrf if session else request.cookies.get(PRE_COOKIE, "")
        return bool(sent and want) and hmac.compare_digest(sent, want)

    def refuse(request: Request, session: Session | None, status: int, key: str) -> Response:
        return render(request, "error.html", session, status=status, message_key=key)

    def signed_in(request: Request) -> Session | Response:
        session = session_of(request)
        if session is None:
            return redirect("/login?" + urlencode({"next": safe_next(str(request.url.path) + (
                f"?{request.url.query}" if request.url.query else ""))}))
        return session

    async def action_guard(request: Request) -> tuple[Session, dict[str, list[str]]] | Response:
        """A POST that changes something: signed in, CSRF token right, role admin."""
        session = session_of(request)
        form = await form_of(request)
        if session is None:
            return refuse(request, None, 401, "error.signed_out")
        if not csrf_ok(request, form, session):
            return refuse(request, session, 403, "error.csrf")
        if not session.principal.may("admin"):
            return refuse(request, session, 403, "error.admin_only")
        return session, form

    # -- static files (ours, no CDN) -------------------------------------------------------------
    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in STATIC:
            raise HTTPException(404, "no such file")
        response = Response((static_dir / name).read_bytes(), media_type=STATIC[name])
        harden(response)
        response.headers["Cache-Control"] = "max-age=3600"
        return response

    # -- sign-in ------------------------------------------------------------------------------------
    @app.get("/login", include_in_schema=False)
    def login_page(request: Request, next: str = "/") -> Response:
        return render(request, "login.html", None, next=safe_next(next), failed=False)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await form_of(request)
        nxt = safe_next(first(form, "next"))
        if not csrf_ok(request, form, None):
            return refuse(request, None, 403, "error.csrf")
        who = service.tokens.identify(first(form, "token", 500).strip())
        if who is None or not who.may("read"):
            return render(request, "login.html", None, status=401, next=nxt, failed=True)
        sid, _ = sessions.create(who)
        response = redirect(nxt)
        response.set_cookie(SESSION_COOKIE, sid, max_age=SESSION_SECONDS, httponly=True, samesite="strict",
                            secure=secure(request), path="/")
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        form = await form_of(request)
        session = session_of(request)
        if session is not None and not csrf_ok(request, form, session):
            return refuse(request, session, 403, "error.csrf")
        sessions.drop(request.cookies.get(SESSION_COOKIE))
        response = redirect("/login")
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=secure(request))
        return response

    @app.post("/lang", include_in_schema=False)
    async def set_lang(request: Request) -> Response:
        form = await form_of(request)
        session = session_of(request)
        if not csrf_ok(request, form, session):
            return refuse(request, session, 403, "error.csrf")
        lang = first(form, "lang", 8)
        response = redirect(safe_next(first(form, "next")))
        if lang in LANGUAGES:
            response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="strict",
                                secure=secure(request), path="/")
        return response

    # -- overview -------------------------------------------------------------------------------------
    def source_rows() -> list[dict[str, Any]]:
        now = time.time()
        with service.worker.lock:
            items = [s.to_dict(name, now) for name, s in sorted(service.worker.sources.items())]
        for item in items:
            received = parse_time(item["last_received"]) if item["last_received"] else 0.0
            item["silent"] = not received or now - received > SILENT_AFTER
            item["troubled"] = item["silent"] or item["rejected"] > 0
        return items

    @app.get("/", include_in_schema=False)
    def overview(request: Request, range: str = "7d") -> Response:
        session = signed_in(request)
        if not isinstance(session, Session):
            return session
        if range not in RANGES:
            range = "7d"
        db = service.reader.db()
        span = queries.time_span(db)
        seconds, bucket = RANGES[range]
        chart = None
        if span is not None:
            end = span[1]
            start = end - seconds if seconds else span[0]
            if bucket is None:
                bucket = 3600.0 if end - start <= 2 * 86400 else 86400.0
            start = start - start % bucket
            end = end - end % bucket + bucket
            chart = _chart(queries.over_time(db, start, end - 1e-6, bucket), bucket)
        high = queries.alert_page(db, AlertFilter(severity="high", status="active"), "newest", 1, 8)["items"]
        return render(request, "overview.html", session, counts=queries.counts_by(db), chart=chart, range=range,
                      top=queries.top_resources(db), high=high, sources=source_rows(), span=span)

    # -- alerts ----------------------------------------------------------------------------------
    @app.get("/alerts", include_in_schema=False)
    def alerts_page(request: Request) -> Response:
        session = signed_in(request)
        if not isinstance(session, Session):
            return session
        params = {k: request.query_params.get(k, "")[:500] for k in (*FILTER_KEYS, "sort", "page")}
        sort = params["sort"] if params["sort"] in queries.SORTS else "newest"
        page = int(params["page"]) if params["page"].isdigit() and 0 < int(params["page"]) < 100_000 else 1
        error = None
        try:
            result = queries.alert_page(service.reader.db(), _filter_from(params), sort, page, PER_PAGE)
        except QueryError as exc:
            error = str(exc)
            result = {"items": [], "total": 0, "page": 1, "pages": 1}
        shown = {k: params[k] for k in FILTER_KEYS if params[k]}
        types = [r[0] for r in service.reader.db().execute("SELECT DISTINCT alert_type FROM alerts ORDER BY 1")]
        return render(request, "alerts.html", session, result=result, filters=shown, params=params, sort=sort,
                      error=error, types=types,
                      page_url=lambda n: "/alerts?" + urlencode({**shown, "sort": sort, "page": n}),
                      sort_url=lambda s: "/alerts?" + urlencode({**shown, "sort": s}))

    @app.post("/alerts/bulk", include_in_schema=False)
    async def alerts_bulk(request: Request) -> Response:
        guard = await action_guard(request)
        if isinstance(guard, Response):
            return guard
        session, form = guard
        ids = [i[:200] for i in form.get("ids", [])][:10_000]
        action = first(form, "action", 20)
        back = safe_next(first(form, "next"), "/alerts")
        if ids and action in ("dismiss", "resolve", "reactivate"):
            await asyncio.to_thread(change_status, ids, action, first(form, "reason"), session.principal)
        return redirect(back)

    @app.get("/alerts/{alert_id}", include_in_schema=False)
    def alert_detail(alert_id: str, request: Request) -> Response:
        session = signed_in(request)
        if not isinstance(session, Session):
            return session
        doc = service.reader.get_alert(alert_id)
        if doc is None:
            return refuse(request, session, 404, "error.no_alert")
        evidence = sorted(doc.get("evidence") or [], key=lambda e: str(e.get("time", "")))
        for item in evidence:
            item["raw_json"] = _json_text(item.get("raw"))
        related = queries.related_alerts(service.reader.db(), doc)
        return render(request, "alert.html", session, alert=doc, evidence=evidence, related=related,
                      entity_rows=_entity_rows(doc.get("entities") or {}))

    @app.post("/alerts/{alert_id}/status", include_in_schema=False)
    async def alert_status(alert_id: str, request: Request) -> Response:
        guard = await action_guard(request)
        if isinstance(guard, Response):
            return guard
        session, form = guard
        action = first(form, "action", 20)
        if action not in ("dismiss", "resolve", "reactivate"):
            return refuse(request, session, 400, "error.bad_action")
        result = await asyncio.to_thread(change_status, [alert_id], action, first(form, "reason"), session.principal)
        if result["missing"]:
            return refuse(request, session, 404, "error.no_alert")
        return redirect(f"/alerts/{alert_id}")

    # -- suppression rules --------------------------------------------------------------------
    def rule_rows() -> list[dict[str, Any]]:
        now = time.time()
        with service.worker.lock:
            rules = list(service.worker.api_rules)
        rows = []
        for rule_id, rule, created, who in rules:
            doc = rule_doc(rule_id, rule, created, who)
            doc["expired"] = bool(rule.expires and rule.expires <= now)
            rows.append(doc)
        return rows

    def draft_from(form: dict[str, list[str]]) -> dict[str, str]:
        return {k: first(form, k) for k in ("alert_type", "match", "reason", "expires")}

    def rule_from_draft(draft: dict[str, str]) -> SuppressRule:
        match: dict[str, Any] = {}
        for line in draft["match"].splitlines():
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"match: expected key=value lines, not {line[:80]!r}")
            match[key.strip()] = value.strip()
        doc: dict[str, Any] = {"alert_type": draft["alert_type"].strip() or "*", "match": match,
                               "reason": draft["reason"]}
        if draft["expires"].strip():
            doc["expires"] = draft["expires"].strip()
        return rule_from_doc(doc)

    def suppressions_view(request: Request, session: Session, draft: dict[str, str], status: int = 200,
                          simulation: list[dict[str, Any]] | None = None, error: str | None = None) -> Response:
        return render(request, "suppressions.html", session, status=status, rules=rule_rows(), draft=draft,
                      simulation=simulation, error=error)

    @app.get("/suppressions", include_in_schema=False)
    def suppressions_page(request: Request, similar: str = "") -> Response:
        session = signed_in(request)
        if not isinstance(session, Session):
            return session
        draft = {"alert_type": "", "match": "", "reason": "", "expires": ""}
        if similar:
            doc = service.reader.get_alert(similar[:200])
            if doc is not None:
                lines = [f"{k}={v}" for k, v in sorted((doc.get("entities") or {}).items())
                         if isinstance(v, str) and v and "\n" not in v and k not in VOLATILE_ENTITIES]
                draft.update(alert_type=doc["alert_type"], match="\n".join(lines))
        return suppressions_view(request, session, draft)

    @app.post("/suppressions", include_in_schema=False)
    async def suppressions_post(request: Request) -> Response:
        """`step=simulate` shows which active alerts the draft would dismiss; `step=save` keeps it."""
        session = session_of(request)
        form = await form_of(request)
        if session is None:
            return refuse(request, None, 401, "error.signed_out")
        if not csrf_ok(request, form, session):
            return refuse(request, session, 403, "error.csrf")
        draft = draft_from(form)
        try:
            rule = rule_from_draft(draft)
        except ConfigError as exc:
            return suppressions_view(request, session, draft, 400, error=str(exc))
        if first(form, "step", 20) != "save":
            hits = await asyncio.to_thread(lambda: simulate(service.reader.db(), rule))
            return suppressions_view(request, session, draft, simulation=hits)
        if not session.principal.may("admin"):
            return refuse(request, session, 403, "error.admin_only")

        def save() -> None:
            with service.worker.lock:
                rule_id, created = save_rule(service.store.db, rule, session.principal.name)
                service.worker.api_rules.append((rule_id, rule, created, session.principal.name))
        await asyncio.to_thread(save)
        return redirect("/suppressions")

    @app.post("/suppressions/{rule_id}/{verb}", include_in_schema=False)
    async def suppression_change(rule_id: str, verb: str, request: Request) -> Response:
        guard = await action_guard(request)
        if isinstance(guard, Response):
            return guard
        session = guard[0]
        if verb not in ("expire", "delete"):
            return refuse(request, session, 404, "error.bad_action")

        def change() -> bool:
            with service.worker.lock, service.store.db as db:
                if verb == "delete":
                    cur = db.execute("DELETE FROM suppression_rules WHERE id = ?", (rule_id,))
                    service.worker.api_rules = [r for r in service.worker.api_rules if r[0] != rule_id]
                    return bool(cur.rowcount)
                for i, (rid, rule, created, who) in enumerate(service.worker.api_rules):
                    if rid == rule_id:
                        ended = dataclasses.replace(rule, expires=time.time())
                        body = orjson.dumps({"alert_type": ended.alert_type, "match": ended.match,
                                             "reason": ended.reason, "expires": ended.expires})
                        db.execute("UPDATE suppression_rules SET body = ? WHERE id = ?", (body, rule_id))
                        service.worker.api_rules[i] = (rid, ended, created, who)
                        return True
                return False
        if not await asyncio.to_thread(change):
            return refuse(request, session, 404, "error.no_rule")
        return redirect("/suppressions")

    # -- detections and sources -----------------------------------------------------------------
    @app.get("/detections", include_in_schema=False)
    def detections_page(request: Request) -> Response:
        session = signed_in(request)
        if not isinstance(session, Session):
            return session
        from cloudward.detections import all_classes

        cards = []
        for cls in all_classes():
            card = cls.card
            settings = service.config.detection(card.id)
            samples = [{"name": s.name, "format": s.format, "expect": s.expect,
                        "data": _clip(s.data if isinstance(s.data, str) else _json_text(s.data))} for s in card.samples]
            cards.append({"card": card, "enabled": settings.enabled, "severity": settings.severity or card.severity,
                          "params": {**card.params, **settings.params}, "samples": samples})
        return render(request, "detections.html", session, cards=cards, json_text=_json_text)

    @app.get("/sources", include_in_schema=False)
    def sources_page(request: Request) -> Response:
        session = signed_in(request)
        if not isinstance(session, Session):
            return session
        return render(request, "sources.html", session, sources=source_rows())


def _entity_rows(entities: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(name, values) with every value a string, for links that filter the list by it."""
    rows = []
    for key, value in sorted(entities.items()):
        values = value if isinstance(value, list) else [value]
        rows.append((key, [v if isinstance(v, str) else _json_text(v) for v in values if v is not None]))
    return rows


#: a sample shown on the detections page is cut here (some are long corpora); `rules show` has them whole
SAMPLE_CHARS = 4000


def _clip(text: str) -> str:
    return text if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS] + "\n…"
