"""The ingest worker: one thread owns the engine and the store's write connection.

Requests hand batches to a bounded queue (full: the request is answered 429, nothing is accepted and
dropped). The worker takes what is queued, feeds it to the engine, lets event time advance to the
newest event, and commits in one SQLite transaction the alerts that changed, the detection state rows
that changed, the redelivery keys (audit ID + stage) of the events it ran, the per-source counters
and the outbox rows for the sinks. Only then is each request answered 2xx: a `kill -9` at any moment
loses nothing that was acknowledged, and a batch sent again after a crash changes nothing.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import math
import queue
import sys
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from cloudward.alerts import Alert
from cloudward.engine import Engine, RecentIds, state_to_rows
from cloudward.inputs import ScanStats
from cloudward.parsers._k8s import audit_line_decoder, make_event
from cloudward.parsers.base import RecordRef
from cloudward.server.audit_body import AuditBatch
from cloudward.store import Store

ALERT_UPSERT = (
    "INSERT INTO alerts VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
    "severity=excluded.severity, status=CASE WHEN alerts.status='active' THEN excluded.status "
    "ELSE alerts.status END, first_seen=excluded.first_seen, last_seen=excluded.last_seen, "
    "count=excluded.count, body=excluded.body, seen_events=excluded.seen_events"
)
#: jobs one commit takes at most (group commit: one fsync for many requests under load)
MAX_GROUP = 64
#: window of the events/s figure per source
RATE_WINDOW = 60.0
#: agents' last health reports (`cloudward agent --to`): kept next to the sources they feed
AGENT_HEALTH_SCHEMA = ("CREATE TABLE IF NOT EXISTS agent_health (host TEXT PRIMARY KEY, received REAL NOT NULL, "
                       "body BLOB NOT NULL)")
#: the open streams of clients that ship a file in batches (`tail --to`): where the next batch starts and
#: the decoder's unfinished record, committed with the batch that left it so
STREAMS_SCHEMA = ("CREATE TABLE IF NOT EXISTS ingest_streams (key TEXT PRIMARY KEY, display TEXT NOT NULL, "
                  "next_offset INTEGER NOT NULL, body BLOB NOT NULL)")
#: commits with new redelivery keys between two prunings of the stored ones
PRUNE_EVERY = 200
#: open client streams kept at most; past it the least recently fed is ended (its held record decoded)
MAX_STREAMS = 4096
#: bytes the open client streams' decoders may hold for a restart, together (each keeps up to the engine's
#: `MAX_REPLAY_BYTES` of its file); past it the least recently fed are ended
MAX_STREAM_BYTES = 256 * 1024 * 1024


class RecordingRecentIds(RecentIds):
    """The engine's redelivery memory, also listing the keys added since the last `take_added`."""

    def __init__(self, size: int = 500_000) -> None:
        super().__init__(size)
        self.added: list[Any] = []

    def seen(self, key: Any) -> bool:
        if type(key) is tuple and len(key) == 2 and type(key[1]) is str:
            # one shared string per stage (a handful of values), not one per event: the memory holds many
            key = (key[0], sys.intern(key[1]))
        if super().seen(key):
            return True
        self.added.append(key)
        return False

    def take_added(self) -> list[Any]:
        added, self.added = self.added, []
        return added


@dataclasses.dataclass
class Job:
    source: str
    #: parsed audit events (dicts), or None
    records: list[dict[str, Any]] | None = None
    #: /k8s-audit: the raw events the prefilter kept (and the count it skipped), or None
    audit: AuditBatch | None = None
    data: bytes = b""
    fmt: str | None = None
    defaults: dict[str, str] = dataclasses.field(default_factory=dict)
    display: str = ""
    #: a client's key for the batch (file identity + offset range): a batch already committed is skipped
    batch_key: str = ""
    #: the stream (`display`) ends with this batch; `tail` keeps a followed file's stream open across reads
    final: bool = True
    #: a client's stream this batch continues (`tail --to`: its id and the file identity), "" for none;
    #: `offset` is where the batch starts in the file, `path` names the stream in evidence
    stream: str = ""
    offset: int = 0
    path: str = ""
    future: concurrent.futures.Future[dict[str, Any]] = dataclasses.field(default_factory=concurrent.futures.Future)


@dataclasses.dataclass
class ClientStream:
    """A file a client ships in batches, decoded as one engine stream (`display`)."""

    display: str
    next_offset: int


@dataclasses.dataclass
class SourceStats:
    last_event: float | None = None
    last_received: float = 0.0
    events: int = 0
    rejected: int = 0
    reasons: Counter[str] = dataclasses.field(default_factory=Counter)
    recent: deque[tuple[float, int]] = dataclasses.field(default_factory=deque)

    def rate(self, now: float) -> float:
        while self.recent and self.recent[0][0] < now - RATE_WINDOW:
            self.recent.popleft()
        return sum(n for _, n in self.recent) / RATE_WINDOW

    def to_dict(self, name: str, now: float) -> dict[str, Any]:
        from cloudward.timeutil import format_time
        return {"source": name, "last_event": format_time(self.last_event) if self.last_event else None,
                "last_received": format_time(self.last_received) if self.last_received else None,
                "events": self.events, "events_per_second": round(self.rate(now), 3),
                "rejected": self.rejected, "reject_reasons": dict(self.reasons)}


def _drain_counts(counts: ScanStats, into: ScanStats) -> None:
    """Add `counts` to `into` and zero `counts` in place (parsers hold a reference to it)."""
    into.merge(counts)
    for name in ("files", "lines", "events", "skipped", "ignored", "rejected", "uninspectable", "duplicates",
                 "bytes_read"):
        setattr(counts, name, 0)
    counts.rejections.clear()
    counts.reject_reasons.clear()
    counts.formats.clear()


class IngestWorker:
    def __init__(self, engine: Engine, store: Store, *, max_queue: int = 64, redelivery_keys: int = 100_000,
                 on_commit: Callable[[list[Alert], Any], None] | None = None,
                 after_commit: Callable[[list[Alert]], None] | None = None, metrics: Any = None) -> None:
        self.engine = engine
        self.store = store
        self.queue: queue.Queue[Job | None] = queue.Queue(maxsize=max_queue)
        #: called inside the commit's transaction (the outbox adds its rows), and after it
        self.on_commit = on_commit
        self.after_commit = after_commit
        self.metrics = metrics
        self.sources: dict[str, SourceStats] = {}
        self._saved_rows: dict[tuple[str, str], bytes] = {}
        self._sequence = 0
        self._fed_changes: list[Alert] = []
        self._thread = threading.Thread(target=self._loop, name="cloudward-ingest", daemon=True)
        self.ready = threading.Event()
        self.lock = threading.Lock()  # held while the engine and its book change (readers of the book wait)
        #: suppression rules made through the API: (id, rule, created, who)
        self.api_rules: list[tuple[str, Any, float, str]] = []
        #: host -> the last health report of the agent there ({"host", "received", "status"})
        self.agents: dict[str, dict[str, Any]] = {}
        #: engine stream -> the counts its decoder writes (see `_feed_new`)
        self._stream_counts: dict[str, ScanStats] = {}
        #: client stream key -> its stream, least recently fed first
        self.streams: OrderedDict[str, ClientStream] = OrderedDict()
        #: streams changed since the last commit (None: ended)
        self._streams_changed: dict[str, ClientStream | None] = {}
        self._recent = RecordingRecentIds(redelivery_keys)
        self._commits = 0
        engine._recent = self._recent  # the engine's redelivery memory, recording what the store must keep
        self._load()

    # -- startup -----------------------------------------------------------------------------
    def _load(self) -> None:
        db = self.store.db
        # the newest keys the memory can hold (older ones would be forgotten at once)
        rows = db.execute("SELECT key FROM redelivery ORDER BY rowid DESC LIMIT ?", (2 * self._recent.size,))
        keys = [tuple(orjson.loads(k)) for (k,) in rows]
        keys.reverse()
        self._recent.merge(keys)
        self._recent.take_added()
        for name, last_event, last_received, events, rejected, reasons in db.execute(
                "SELECT source, last_event, last_received, events, rejected, reasons FROM sources"):
            self.sources[name] = SourceStats(last_event, last_received, events, rejected,
                                             Counter(orjson.loads(reasons)))
        from cloudward.server.suppressions import load_rules
        self.api_rules = load_rules(db)
        with db:
            db.execute(AGENT_HEALTH_SCHEMA)
        for host, received, body in db.execute("SELECT host, received, body FROM agent_health"):
            self.agents[host] = {"host": host, "received": received, "status": orjson.loads(body)}
        for analytic, key, body in self._state_rows():
            self._saved_rows[(analytic, key)] = body
        with db:
            db.execute(STREAMS_SCHEMA)
        for key, display, next_offset, body in db.execute(
                "SELECT key, display, next_offset, body FROM ingest_streams ORDER BY rowid"):
            self.streams[key] = ClientStream(display, next_offset)
            saved_ctx = self.engine.ctx
            # the replayed bytes were counted when they came: these counts start from zero
            self.engine.ctx = dataclasses.replace(saved_ctx, stats=self._stream_counts.setdefault(display, ScanStats()))
            try:
                self._fed_changes += self.engine.restore_stream(display, orjson.loads(body))
            finally:
                self.engine.ctx = saved_ctx
            _drain_counts(self._stream_counts[display], ScanStats())

    # -- agents' collector health -------------------------------------------------------------
    def report_agent(self, host: str, status: dict[str, Any], now: float) -> dict[str, Any]:
        """Keep what an agent says about its collectors (and commit it: health survives a restart)."""
        entry = {"host": host, "received": now, "status": status}
        with self.lock, self.store.db as db:
            db.execute(AGENT_HEALTH_SCHEMA)
            db.execute("INSERT INTO agent_health VALUES (?,?,?) ON CONFLICT(host) DO UPDATE SET "
                       "received=excluded.received, body=excluded.body", (host, now, orjson.dumps(status)))
            self.agents[host] = entry
        return entry

    def start(self) -> None:
        self._thread.start()
        self.ready.set()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive():
            self.queue.put(None)
            self._thread.join(timeout)

    # -- requests ----------------------------------------------------------------------------
    def submit(self, job: Job) -> concurrent.futures.Future[dict[str, Any]]:
        """Queue `job`; raises `queue.Full` when the engine is this far behind."""
        self.queue.put_nowait(job)
        if self.metrics is not None:
            self.metrics.queue_depth.set(self.queue.qsize())
        return job.future

    # -- the loop ----------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            job = self.queue.get()
            if job is None:
                return
            jobs = [job]
            stop = False
            while len(jobs) < MAX_GROUP:
                try:
                    more = self.queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                jobs.append(more)
            if self.metrics is not None:
                self.metrics.queue_depth.set(self.queue.qsize())
            self.process(jobs)
            if stop:
                return

    def process(self, jobs: list[Job]) -> None:
        """Feed `jobs`, commit, and answer their futures (the worker thread, or a runner without one)."""
        started = time.monotonic()
        engine = self.engine
        results: list[dict[str, Any] | BaseException] = []
        touched: set[str] = set()
        now = time.time()
        with self.lock:
            duplicates_before = engine.stats.duplicates
            try:
                for job in jobs:
                    try:
                        results.append(self._feed(job, now))
                        touched.add(job.source)
                    except Exception as exc:  # one bad batch must not stop the others
                        results.append(exc)
                # run everything received (the service alerts as events arrive); feed and advance both
                # hand back what changed, and drain the book as they do
                newest = engine._newest
                changed_by_id = {a.id: a for a in self._fed_changes}
                self._fed_changes = []
                if newest != -math.inf:
                    changed_by_id.update((a.id, a) for a in engine.advance(newest))
                engine.book.apply_suppression([*engine.config.suppress, *(r[1] for r in self.api_rules)])
                changed_by_id.update((a.id, a) for a in engine.book.drain_changed())
                changed = list(changed_by_id.values())
                duplicates = engine.stats.duplicates - duplicates_before
                self._commit(changed, touched, now)
            except BaseException as exc:
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                raise
        changed_ids = {a.id for a in changed}
        for job, result in zip(jobs, results, strict=True):
            if isinstance(result, BaseException):
                job.future.set_exception(result)
            else:
                result["duplicates_in_commit"] = duplicates
                result["alerts_changed"] = sorted(changed_ids) if len(jobs) == 1 else result.get("alerts_changed", [])
                job.future.set_result(result)
        if self.metrics is not None:
            self.metrics.batch_seconds.observe(time.monotonic() - started)
            for alert in changed:
                self.metrics.alerts_changed.labels(alert.alert_type, alert.severity).inc()

    def _feed(self, job: Job, now: float) -> dict[str, Any]:
        if job.batch_key:
            key = ("batch", job.batch_key)
            if key in self._recent.current or key in self._recent.previous:
                return {"accepted": 0, "skipped": 0, "rejected": 0, "rejections": [], "duplicate_batch": True}
        result = self._feed_new(job, now)
        if job.batch_key:
            # only a batch that was fed is remembered: one that failed may be sent again
            self._recent.seen(("batch", job.batch_key))
        return result

    def _feed_new(self, job: Job, now: float) -> dict[str, Any]:
        engine = self.engine
        stats = ScanStats()
        before = engine.stats.events
        newest_before = engine._newest
        self._sequence += 1
        display = job.display or f"{job.source}#{self._sequence}"
        if job.audit is not None:
            self._feed_audit(job.audit, job, display, stats)
        elif job.records is not None:
            cluster = job.defaults.get("cluster") or engine.ctx.cluster
            ctx = dataclasses.replace(engine.ctx, stats=stats, cluster=cluster)
            events = []
            # the scan's raw-bytes prefilter, on parsed records: an event whose verb or resource no
            # enabled card reads cannot change an alert (counted as skipped, like `scan` does)
            verbs = engine.interest.audit_verbs
            resources = engine.interest.audit_resources
            # lines some detection needs whatever their verb (Sigma rules' literals): tested on the record
            # written back as compact JSON, the form the scan's raw test reads
            raw_needed = engine.interest.audit_raw
            for i, record in enumerate(job.records):
                verb = record.get("verb")
                skip = verbs is not None and type(verb) is str and verb and verb not in verbs
                if not skip and resources is not None:
                    ref_obj = record.get("objectRef")
                    skip = type(ref_obj) is dict and type(ref_obj.get("resource")) is str \
                        and ref_obj["resource"] not in resources
                if skip and raw_needed is not None:
                    text = orjson.dumps(record)
                    skip = raw_needed(text, 0, len(text)) < 0
                if skip:
                    stats.skipped += 1
                    continue
                _append_audit_event(events, record, RecordRef(display, 1, i), ctx)
            self._fed_changes += engine.feed(events)
            stats.formats["k8s-audit"] += len(events)
        else:
            saved_ctx = engine.ctx
            try:
                final = job.final
                if job.stream:
                    display = self._client_stream(job)
                # a stream's decoder keeps the context it was made with, its parsers that context's counts:
                # each open stream has its own, drained into the batch's after every batch
                counts = self._stream_counts.get(display) if display in engine._streams else None
                if counts is None:
                    counts = self._stream_counts[display] = ScanStats()
                engine.ctx = dataclasses.replace(saved_ctx, stats=counts)
                self._fed_changes += engine.feed_bytes(display, job.data, fmt=job.fmt, defaults=job.defaults,
                                                       final=final)
                if not final:  # a followed file read to its current end: sniff a short one now
                    self._fed_changes += engine.settle_stream(display)
            finally:
                engine.ctx = saved_ctx
                for name in [d for d in self._stream_counts if d not in engine._streams or d == display]:
                    _drain_counts(self._stream_counts[name], stats)
                    if name not in engine._streams:
                        del self._stream_counts[name]
        events = engine.stats.events - before
        engine.stats.merge(dataclasses.replace(stats, events=0))
        src_skipped = stats.skipped
        src = self.sources.setdefault(job.source, SourceStats())
        src.last_received = now
        src.events += events + src_skipped
        src.rejected += stats.rejected
        src.reasons.update(stats.reject_reasons)
        src.recent.append((now, events + src_skipped))
        src.rate(now)  # drops what is out of the window: the deque stays bounded without readers
        if engine._newest != newest_before and engine._newest != -math.inf:
            src.last_event = max(src.last_event or -math.inf, engine._newest)
        if self.metrics is not None:
            for fmt, n in stats.formats.items():
                self.metrics.events_in.labels(job.source, fmt).inc(n)
            if stats.rejected:
                self.metrics.rejected.labels(job.source).inc(stats.rejected)
        return {"accepted": events, "skipped": stats.skipped, "rejected": stats.rejected,
                "rejections": [{"where": r.where, "reason": r.reason} for r in stats.rejections[:20]]}

    def _feed_audit(self, batch: AuditBatch, job: Job, display: str, stats: ScanStats) -> None:
        """Decode the events the raw prefilter kept, with the typed decoder `scan` uses (orjson and
        `make_event` for what it declines), and feed them; a bad event is rejected, the rest run."""
        engine = self.engine
        cluster = job.defaults.get("cluster") or engine.ctx.cluster
        ctx = dataclasses.replace(engine.ctx, stats=stats, cluster=cluster)
        typed = audit_line_decoder(ctx)
        stats.skipped += batch.skipped
        events = []
        for index, line in batch.kept:
            ref = RecordRef(display, 1, index)
            event = typed(line, ref) if typed is not None else None
            if event is not None:
                event.origin = str(ref)  # an item of the batch, as `make_event` names it
                events.append(event)
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                ctx.reject(str(ref), f"malformed JSON: {exc}")
                continue
            if type(record) is not dict:
                ctx.reject(str(ref), "EventList item is not an object")
                continue
            _append_audit_event(events, record, ref, ctx)
        self._fed_changes += engine.feed(events)
        stats.formats["k8s-audit"] += len(events)

    def _client_stream(self, job: Job) -> str:
        """The engine stream a client's batch continues: the open one when the batch starts where the last
        one ended; else (a file that started over, a gap after lost state) that one is ended and a new one
        begins here. What an ended stream still held is decoded with its own counts (drained into the
        batch's by `_feed_new`)."""
        engine = self.engine
        st = self.streams.get(job.stream)
        if st is not None and job.offset < st.next_offset < job.offset + len(job.data) \
                and job.data[st.next_offset - job.offset - 1] == 0x0A:
            # a client that stopped after the 2xx, before saving its offset, sends those lines again with
            # the ones that followed: only the new ones are read
            job.data = job.data[st.next_offset - job.offset:]
            job.offset = st.next_offset
        if st is not None and st.next_offset != job.offset:
            self._end_client_stream(job.stream)
            st = None
        if st is None:
            display = job.path or job.stream
            taken = {s.display for s in self.streams.values()}
            if display in taken or display in engine._streams:
                display = f"{display}#{hashlib.sha256(job.stream.encode()).hexdigest()[:12]}"
            st = self.streams[job.stream] = ClientStream(display, job.offset)
            while len(self.streams) > MAX_STREAMS:
                self._end_client_stream(next(iter(self.streams)))
        self.streams.move_to_end(job.stream)
        held = {key: self._held_bytes(s.display) for key, s in self.streams.items() if key != job.stream}
        total = sum(held.values()) + self._held_bytes(st.display) + len(job.data)
        for key in list(held):
            if total <= MAX_STREAM_BYTES:
                break
            total -= held[key]
            self._end_client_stream(key)
        st.next_offset = job.offset + len(job.data)
        self._streams_changed[job.stream] = st
        if job.final:
            del self.streams[job.stream]
            self._streams_changed[job.stream] = None
        return st.display

    def _held_bytes(self, display: str) -> int:
        """Bytes an open stream's decoder keeps to replay after a restart (`Engine.stream_state`)."""
        st = self.engine._streams.get(display)
        replay = getattr(st.decoder, "replay", b"") if st is not None else b""
        return len(replay)

    def _end_client_stream(self, key: str) -> None:
        st = self.streams.pop(key)
        self._fed_changes += self.engine.close_stream(st.display)
        self._streams_changed[key] = None

    # -- persistence -------------------------------------------------------------------------
    def _state_rows(self) -> list[tuple[str, str, bytes]]:
        """Card and shared state as (analytic, key, serialized body), without the alert book (the
        alerts table holds it) or held events (the service runs everything it receives)."""
        engine = self.engine
        cards = {}
        for det in engine.detections:
            body = det.state()
            if body:
                cards[det.card.id] = body
        shared = {name: obj.state() for name, obj in engine._stateful_shared().items()}
        return [(a, k, orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS))
                for a, k, v in state_to_rows({"cards": cards, "shared": shared})]

    def _commit(self, changed: list[Alert], touched: Iterable[str], now: float) -> None:
        alert_rows = []
        for a in changed:
            body = orjson.dumps(a.to_dict(), default=str)
            alert_rows.append((a.id, a.alert_type, a.severity, a.status, orjson.dumps(a.resource).decode(),
                               a.first_seen, a.last_seen, a.count, body, orjson.dumps(sorted(a.seen_events))))
        state_rows = [(a, k, now, body) for a, k, body in self._state_rows()
                      if self._saved_rows.get((a, k)) != body]
        keys = [(orjson.dumps(list(k)).decode(), now) for k in self._recent.take_added()]
        stream_rows, streams_ended = [], []
        for key, st in self._streams_changed.items():
            body = self.engine.stream_state(st.display) if st is not None else None
            if body is None:
                streams_ended.append((key,))
            else:
                stream_rows.append((key, st.display, st.next_offset, orjson.dumps(body)))
        self._streams_changed = {}
        source_rows = []
        for name in touched:
            s = self.sources[name]
            source_rows.append((name, s.last_event, s.last_received, s.events, s.rejected,
                                orjson.dumps(dict(s.reasons))))
        db = self.store.db
        with db:
            if alert_rows:
                db.executemany(ALERT_UPSERT, alert_rows)
            if state_rows:
                db.executemany("INSERT INTO state_rows VALUES (?,?,?,?) ON CONFLICT(analytic, key) DO UPDATE SET "
                               "updated=excluded.updated, state=excluded.state", state_rows)
            if keys:
                db.executemany("INSERT OR IGNORE INTO redelivery VALUES (?,?)", keys)
                self._commits += 1
                if self._commits % PRUNE_EVERY == 0:
                    # keys the memory has forgotten (it keeps 2x `size`, rows are in insertion order) go too
                    db.execute("DELETE FROM redelivery WHERE rowid <= (SELECT MAX(rowid) FROM redelivery) - ?",
                               (2 * self._recent.size,))
            if streams_ended:
                db.executemany("DELETE FROM ingest_streams WHERE key = ?", streams_ended)
            if stream_rows:
                db.executemany("INSERT INTO ingest_streams VALUES (?,?,?,?) ON CONFLICT(key) DO UPDATE SET "
                               "display=excluded.display, next_offset=excluded.next_offset, body=excluded.body",
                               stream_rows)
            if source_rows:
                db.executemany("INSERT INTO sources VALUES (?,?,?,?,?,?) ON CONFLICT(source) DO UPDATE SET "
                               "last_event=excluded.last_event, last_received=excluded.last_received, "
                               "events=excluded.events, rejected=excluded.rejected, reasons=excluded.reasons",
                               source_rows)
            if self.on_commit is not None:
                self.on_commit(changed, db)
        for a, k, _, body in state_rows:
            self._saved_rows[(a, k)] = body
        if self.after_commit is not None:
            self.after_commit(changed)


def _append_audit_event(events: list[Any], record: dict[str, Any], ref: Any, ctx: Any) -> None:
    """One audit record as an event, or rejected with its place and reason (never raised)."""
    try:
        events.append(make_event(record, ref, ctx, cluster=ctx.cluster))
    except ValueError as exc:
        ctx.reject(str(ref), f"invalid k8s-audit record: {exc}")
    except (TypeError, KeyError, AttributeError) as exc:
        ctx.reject(str(ref), f"invalid k8s-audit record: {type(exc).__name__}")
