"""The `cloudward serve` HTTP application (FastAPI): ingestion, the REST API, health and metrics.

Every ingest path ends in the one engine the `IngestWorker` owns; a request is answered 2xx only after
what it caused is committed. Readers use their own SQLite connections (WAL)."""

from __future__ import annotations

import asyncio
import queue
import time
import urllib.parse
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from cloudward import __version__, parsers
from cloudward.config import Config, ConfigError
from cloudward.engine import Engine
from cloudward.server.audit_body import AuditBodyError, AuditFilter, split_audit_body
from cloudward.server.metrics import Metrics
from cloudward.server.outbox import Outbox, open_sinks
from cloudward.server.queries import AlertFilter, QueryError, Reader
from cloudward.server.retention import apply_retention
from cloudward.server.settings import ServerSettings
from cloudward.server.suppressions import rule_doc, rule_from_doc, save_rule, simulate
from cloudward.server.syslog import SyslogListener, SyslogSettings
from cloudward.server.tokens import Principal, TokenBook, load_tokens
from cloudward.server.worker import IngestWorker, Job
from cloudward.store import Store
from cloudward.textsafe import terminal_safe

RETRY_AFTER_SECONDS = 1
STATUS_ACTIONS = {"dismiss": "dismissed", "resolve": "resolved", "reactivate": "active"}
#: query parameters that name where ingested events come from
ORIGIN_PARAMS = ("site", "host", "cluster")


@dataclass
class Service:
    config: Config
    settings: ServerSettings
    store: Store
    engine: Engine
    worker: IngestWorker
    reader: Reader
    tokens: TokenBook
    metrics: Metrics
    outbox: Outbox
    syslog: SyslogSettings | None = None
    #: tokens generated on this start, (name, role, token): printed once, never again
    fresh_tokens: list[tuple[str, str, str]] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def close(self) -> None:
        self.worker.stop()
        self.outbox.stop()
        self.store.close()


def build_service(config: Config, settings: ServerSettings) -> Service:
    """Open the store (migrating it), load the engine's state from it, and the tokens."""
    store = Store(settings.db)
    apply_retention(store.db, settings.retention_days)
    metrics = Metrics()
    engine = Engine(config, store=store)
    outbox = Outbox(settings.db, open_sinks(config), metrics)
    worker = IngestWorker(engine, store, max_queue=settings.max_queue, metrics=metrics,
                          redelivery_keys=settings.redelivery_keys,
                          on_commit=outbox.enqueue, after_commit=outbox.after_commit)
    book, fresh = load_tokens(store.db, settings.tokens)
    return Service(config=config, settings=settings, store=store, engine=engine, worker=worker,
                   reader=Reader(settings.db), tokens=book, metrics=metrics, outbox=outbox, fresh_tokens=fresh,
                   syslog=SyslogSettings.from_config(config))


def _problem(status: int, reason: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail=reason, headers=headers)


def create_app(service: Service) -> FastAPI:
    settings = service.settings
    metrics = service.metrics
    # the scan's raw prefilter for audit events, for the detections this engine runs
    audit_filter = AuditFilter.for_interest(service.engine.ctx.interest)

    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        service.worker.start()
        service.outbox.start()
        listener = None
        if service.syslog is not None:
            listener = SyslogListener(service.syslog, service.worker)
            await listener.start()
        yield
        if listener is not None:
            await listener.stop()
        await asyncio.to_thread(service.worker.stop)
        await asyncio.to_thread(service.outbox.stop)

    app = FastAPI(title="Cloudward", version=__version__, openapi_url="/api/v1/openapi.json", docs_url=None,
                  redoc_url=None, lifespan=lifespan)

    def need(action: str) -> Callable[[Request], Principal]:
        def check(request: Request) -> Principal:
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise _problem(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
            who = service.tokens.identify(token.strip())
            if who is None:
                raise _problem(401, "unknown token", {"WWW-Authenticate": "Bearer"})
            if not who.may(action):
                raise _problem(403, f"the {who.role} role may not {action}")
            return who
        return check

    ingest_role = Depends(need("ingest"))
    read_role = Depends(need("read"))
    admin_role = Depends(need("admin"))

    async def read_body(request: Request) -> bytes:
        limit = settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            metrics.requests_refused.labels("413").inc()
            raise _problem(413, f"body of {declared} bytes is over the limit of {limit}")
        chunks = []
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                metrics.requests_refused.labels("413").inc()
                raise _problem(413, f"body is over the limit of {limit} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)
        encoding = request.headers.get("content-encoding", "").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            decoder = zlib.decompressobj(wbits=31)
            try:
                out = decoder.decompress(body, limit + 1)
            except zlib.error as exc:
                raise _problem(400, f"body is not valid gzip: {exc}") from None
            if len(out) > limit or decoder.unconsumed_tail:
                metrics.requests_refused.labels("413").inc()
                raise _problem(413, f"body decompresses to more than the limit of {limit} bytes")
            if not decoder.eof:
                raise _problem(400, "body is truncated gzip")
            body = out
        elif encoding not in ("", "identity"):
            raise _problem(415, "Content-Encoding must be gzip or identity")
        return body

    async def run_job(job: Job) -> JSONResponse:
        try:
            future = service.worker.submit(job)
        except queue.Full:
            metrics.requests_refused.labels("429").inc()
            raise _problem(429, "the engine is behind; send this batch again later",
                           {"Retry-After": str(RETRY_AFTER_SECONDS)}) from None
        try:
            result = await asyncio.wrap_future(future)
        except Exception as exc:
            raise _problem(503, f"the batch was not committed: {type(exc).__name__}") from None
        return JSONResponse(result)

    def origin_defaults(request: Request) -> dict[str, str]:
        out = {}
        for name in ORIGIN_PARAMS:
            value = request.query_params.get(name)
            if value:
                out[name] = value[:256]
        return out

    # -- ingestion ---------------------------------------------------------------------------
    @app.post("/k8s-audit", summary="Kubernetes audit webhook (audit.k8s.io EventList, Event or array)")
    async def k8s_audit(request: Request, _: Principal = ingest_role) -> JSONResponse:
        body = await read_body(request)
        try:
            batch = split_audit_body(body, audit_filter)
        except AuditBodyError as exc:
            raise _problem(400, str(exc)) from None
        if len(body) > settings.max_event_bytes and batch.total == 1:
            raise _problem(413, f"one event of {len(body)} bytes is over the limit of {settings.max_event_bytes}")
        defaults = origin_defaults(request)
        source = "k8s-audit" + (f" cluster={defaults['cluster']}" if "cluster" in defaults else "")
        return await run_job(Job(source=source, audit=batch, defaults=defaults,
                                 batch_key=idempotency_key(request)))

    async def ingest_bytes(request: Request, fmt: str | None, who: Principal) -> JSONResponse:
        if fmt is not None and parsers.by_name(fmt) is None:
            raise _problem(404, f"unknown format {terminal_safe(fmt, 80)!r}; known: {', '.join(parsers.names())}")
        body = await read_body(request)
        _check_line_lengths(body, settings.max_event_bytes)
        defaults = origin_defaults(request)
        source = f"ingest/{fmt or 'sniffed'}" + "".join(f" {k}={v}" for k, v in sorted(defaults.items()))
        stream = client_stream(request, who)
        if body and not body.endswith(b"\n") and stream is None:
            body += b"\n"
        batch_key = idempotency_key(request)
        job = Job(source=source, data=body, fmt=fmt, defaults=defaults, batch_key=batch_key)
        if stream is not None:
            job.stream, job.offset, job.path, job.final = stream
        return await run_job(job)

    @app.post("/ingest", summary="Any format Cloudward reads, sniffed; newline-delimited, gzip allowed")
    async def ingest_sniffed(request: Request, who: Principal = ingest_role) -> JSONResponse:
        return await ingest_bytes(request, None, who)

    @app.post("/ingest/{fmt}", summary="One named format (see `cloudward formats`)")
    async def ingest_format(fmt: str, request: Request, who: Principal = ingest_role) -> JSONResponse:
        return await ingest_bytes(request, fmt, who)

    # -- reading -----------------------------------------------------------------------------
    @app.get("/healthz", summary="200 once the engine is ready (no token)")
    def healthz() -> JSONResponse:
        if not service.worker.ready.is_set():
            return JSONResponse({"status": "starting"}, status_code=503)
        return JSONResponse({"status": "ok", "version": __version__, "queue": service.worker.queue.qsize()})

    @app.get("/metrics", summary="Prometheus metrics (no token)")
    def metrics_endpoint() -> Response:
        metrics.queue_depth.set(service.worker.queue.qsize())
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/api/v1/alerts", summary="Alerts, newest first, filtered, with cursor paging")
    def list_alerts(limit: int = 100, cursor: str | None = None, severity: str | None = None,
                    type: str | None = None, status: str | None = None, resource: str | None = None,
                    entity: str | None = None, source_ip: str | None = None, q: str | None = None,
                    since: str | None = None, until: str | None = None,
                    _: Principal = read_role) -> JSONResponse:
        flt = AlertFilter(severity=severity, alert_type=type, status=status, resource=resource, entity=entity,
                          source_ip=source_ip, text=q, since=since, until=until)
        try:
            return JSONResponse(service.reader.list_alerts(flt, limit, cursor))
        except QueryError as exc:
            raise _problem(400, str(exc)) from None

    @app.get("/api/v1/alerts/{alert_id}", summary="One alert with its evidence and status history")
    def get_alert(alert_id: str, _: Principal = read_role) -> JSONResponse:
        doc = service.reader.get_alert(alert_id)
        if doc is None:
            raise _problem(404, "no such alert")
        return JSONResponse(doc)

    @app.get("/api/v1/sources", summary="Every source: last event time, events/s, rejected records and why")
    def sources(_: Principal = read_role) -> JSONResponse:
        now = time.time()
        with service.worker.lock:
            items = [s.to_dict(name, now) for name, s in sorted(service.worker.sources.items())]
            agents = [agent_health_doc(e, now) for _, e in sorted(service.worker.agents.items())]
        return JSONResponse({"items": items, "agents": agents})

    @app.post("/api/v1/agents/{host}/health", summary="An agent's collectors' health (`cloudward agent --to`)")
    async def agent_health(host: str, request: Request, _: Principal = ingest_role) -> JSONResponse:
        doc = await _json_object(request)
        status = clean_agent_status(doc)
        name = terminal_safe(host, 256)
        entry = await asyncio.to_thread(service.worker.report_agent, name, status, time.time())
        return JSONResponse(agent_health_doc(entry, time.time()))

    # -- status changes ----------------------------------------------------------------------
    def change_status(ids: list[str], action: str, reason: str, who: Principal) -> dict[str, Any]:
        status = STATUS_ACTIONS.get(action)
        if status is None:
            raise _problem(400, f"action: expected one of {', '.join(STATUS_ACTIONS)}")
        changed, missing = [], []
        now = time.time()
        db = service.store.db
        with service.worker.lock, db:
            for alert_id in ids:
                cur = db.execute("UPDATE alerts SET status = ? WHERE id = ?", (status, alert_id))
                if not cur.rowcount:
                    missing.append(alert_id)
                    continue
                db.execute("INSERT INTO status_log (alert_id, at, status, reason, actor) VALUES (?,?,?,?,?)",
                           (alert_id, now, status, reason, who.name))
                for alert in service.engine.book.alerts.values():
                    if alert.id == alert_id:
                        alert.status = status
                        if status == "active":
                            alert.suppression = None
                changed.append(alert_id)
        return {"changed": changed, "missing": missing, "status": status}

    @app.post("/api/v1/alerts/{alert_id}/{action}", summary="dismiss, resolve or reactivate one alert")
    async def status_one(alert_id: str, action: str, request: Request, who: Principal = admin_role) -> JSONResponse:
        reason = await _reason(request)
        result = await asyncio.to_thread(change_status, [alert_id], action, reason, who)
        if result["missing"]:
            raise _problem(404, "no such alert")
        return JSONResponse(result)

    @app.post("/api/v1/alerts:bulk", summary="dismiss, resolve or reactivate many alerts: "
                                             '{"ids": [...], "action": "...", "reason": "..."}')
    async def status_bulk(request: Request, who: Principal = admin_role) -> JSONResponse:
        doc = await _json_object(request)
        ids = doc.get("ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids) or len(ids) > 10_000:
            raise _problem(400, "ids: expected a non-empty list of alert ids (at most 10000)")
        reason = doc.get("reason", "")
        if not isinstance(reason, str):
            raise _problem(400, "reason: expected a string")
        result = await asyncio.to_thread(change_status, ids, str(doc.get("action", "")), reason[:2000], who)
        return JSONResponse(result)

    async def _json_object(request: Request) -> dict[str, Any]:
        body = await request.body()
        if len(body) > 1024 * 1024:
            raise _problem(413, "body over 1 MiB")
        try:
            doc = orjson.loads(body or b"{}")
        except orjson.JSONDecodeError as exc:
            raise _problem(400, f"body is not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise _problem(400, "body must be a JSON object")
        return doc

    async def _reason(request: Request) -> str:
        doc = await _json_object(request)
        reason = doc.get("reason", "")
        if not isinstance(reason, str):
            raise _problem(400, "reason: expected a string")
        return reason[:2000]

    # -- suppression rules -------------------------------------------------------------------
    @app.get("/api/v1/suppressions", summary="Suppression rules made through the API")
    def list_rules(_: Principal = read_role) -> JSONResponse:
        with service.worker.lock:
            rules = list(service.worker.api_rules)
        return JSONResponse({"items": [rule_doc(*r) for r in rules]})

    @app.post("/api/v1/suppressions", summary="Create a rule: alert_type, match, reason, expires (like [[suppress]])")
    async def create_rule(request: Request, who: Principal = admin_role) -> JSONResponse:
        doc = await _json_object(request)
        try:
            rule = rule_from_doc(doc)
        except ConfigError as exc:
            raise _problem(400, str(exc)) from None

        def save() -> dict[str, Any]:
            with service.worker.lock:
                rule_id, created = save_rule(service.store.db, rule, who.name)
                service.worker.api_rules.append((rule_id, rule, created, who.name))
            return rule_doc(rule_id, rule, created, who.name)
        return JSONResponse(await asyncio.to_thread(save), status_code=201)

    @app.delete("/api/v1/suppressions/{rule_id}", summary="Delete a rule")
    def delete_rule(rule_id: str, _: Principal = admin_role) -> JSONResponse:
        with service.worker.lock, service.store.db as db:
            cur = db.execute("DELETE FROM suppression_rules WHERE id = ?", (rule_id,))
            service.worker.api_rules = [r for r in service.worker.api_rules if r[0] != rule_id]
        if not cur.rowcount:
            raise _problem(404, "no such rule")
        return JSONResponse({"deleted": rule_id})

    @app.post("/api/v1/suppressions:simulate", summary="Which active alerts a rule would dismiss")
    async def simulate_rule(request: Request, _: Principal = read_role) -> JSONResponse:
        doc = await _json_object(request)
        try:
            rule = rule_from_doc(doc)
        except ConfigError as exc:
            raise _problem(400, str(exc)) from None
        hits = await asyncio.to_thread(lambda: simulate(service.reader.db(), rule))
        return JSONResponse({"would_dismiss": hits, "count": len(hits)})

    # -- the web console at / (cloudward.console), changing statuses through the API's own function
    from cloudward.console import mount_console
    mount_console(app, service, change_status=change_status)
    return app


#: collector states that mean it is not collecting (the agent's `--status` words)
FAILED_STATES = ("unavailable", "degraded", "stopped")
#: an agent reports about every few seconds; one silent this long is shown as stale
AGENT_STALE_SECONDS = 60.0


def clean_agent_status(doc: dict[str, Any]) -> dict[str, Any]:
    """The parts of an agent's status the service keeps, bounded and with text made safe."""
    collectors: dict[str, Any] = {}
    raw = doc.get("collectors")
    if not isinstance(raw, dict):
        raise _problem(400, "collectors: expected an object of collector name -> status")
    for name, st in list(raw.items())[:32]:
        if not isinstance(st, dict):
            continue
        entry: dict[str, Any] = {"state": terminal_safe(str(st.get("state", "")), 32),
                                 "detail": terminal_safe(str(st.get("detail", "")), 500)}
        for key in ("events", "misses", "events_per_second"):
            value = st.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                entry[key] = value
        collectors[terminal_safe(str(name), 64)] = entry
    out: dict[str, Any] = {"collectors": collectors}
    for key in ("spool", "delivery"):
        value = doc.get(key)
        if isinstance(value, dict):
            out[key] = {terminal_safe(str(k), 64): (v if isinstance(v, int | float) else terminal_safe(str(v), 500))
                        for k, v in list(value.items())[:16]}
    return out


def agent_health_doc(entry: dict[str, Any], now: float) -> dict[str, Any]:
    from cloudward.timeutil import format_time

    collectors = entry["status"].get("collectors", {})
    failed = sorted(n for n, st in collectors.items() if st.get("state") in FAILED_STATES)
    stale = now - entry["received"] > AGENT_STALE_SECONDS
    return {"source": f"agent host={entry['host']}", "host": entry["host"],
            "last_report": format_time(entry["received"]), "stale": stale, "healthy": not failed and not stale,
            "failed_collectors": failed, **entry["status"]}


def idempotency_key(request: Request) -> str:
    """The client's key for a batch: `Idempotency-Key` (the agent's spooled batch id), else
    `X-Cloudward-Batch` (`tail --to`: file identity + offset range). A batch whose key was committed is
    answered 2xx again and changes nothing (kept with the redelivery keys, so across restarts too)."""
    key = request.headers.get("idempotency-key") or request.headers.get("x-cloudward-batch") or ""
    return key.strip()[:512]


def client_stream(request: Request, who: Principal) -> tuple[str, int, str, bool] | None:
    """(stream key, offset, path, ends) of a batch that continues a client's stream (`tail --to`:
    `X-Cloudward-Stream` = its id and the file identity, `X-Cloudward-Offset` where the batch starts in the
    file, `X-Cloudward-Path` the file's path, `X-Cloudward-Stream-End: 1` the file is gone); None for a
    batch decoded on its own. The key is the token's name and the client's value: clients cannot continue
    each other's streams."""
    name = request.headers.get("x-cloudward-stream", "").strip()
    if not name:
        return None
    offset = request.headers.get("x-cloudward-offset", "").strip()
    if not offset.isdigit() or len(offset) > 18:
        raise _problem(400, "X-Cloudward-Offset: expected the batch's start offset in the file (digits)")
    path = terminal_safe(urllib.parse.unquote(request.headers.get("x-cloudward-path", "")), 512)
    ends = request.headers.get("x-cloudward-stream-end", "").strip() == "1"
    return f"{who.name}/{name[:512]}", int(offset), path, ends


def _check_line_lengths(body: bytes, limit: int) -> None:
    if len(body) <= limit:
        return
    start = 0
    n = len(body)
    while start < n:
        end = body.find(b"\n", start)
        if end < 0:
            end = n
        if end - start > limit:
            raise _problem(413, f"a line of {end - start} bytes is over the per-event limit of {limit}")
        start = end + 1
