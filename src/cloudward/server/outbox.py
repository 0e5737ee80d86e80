"""At-least-once alert delivery through the store's outbox table.

In the transaction that commits changed alerts, each delivering sink that wants an alert gets an
outbox row keyed (sink, alert id, revision) unless it was notified of that alert less than its
`renotify` interval ago (an update then changes the alert without a second message). A delivery
thread sends due rows; a failure is retried with exponential backoff (1 s doubling to 5 min), and rows
survive restarts, so a sink that is down loses nothing. The receiver gets `<alert id>:<revision>` as
its idempotency key. Sinks that write whole streams (jsonl files) are sent the changed alerts after
the commit."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from typing import Any

import orjson

from cloudward.alerts import Alert
from cloudward.config import Config
from cloudward.sinks import Sink
from cloudward.sinks import from_config as sinks_from_config
from cloudward.sinks._delivery import DeliverySink

MAX_BACKOFF = 300.0
BATCH = 100


def open_sinks(config: Config) -> list[tuple[str, Sink]]:
    """Every `[[sinks]]` table, opened, with its outbox name (`name`, or type#index)."""
    out = []
    for i, (sink, table) in enumerate(sinks_from_config(config)):
        sink.open(table)
        out.append((str(table.get("name") or f"{table['type']}#{i}"), sink))
    return out


class Outbox:
    def __init__(self, path: str, sinks: Sequence[tuple[str, Sink]], metrics: Any = None) -> None:
        self.path = path
        self.delivering = [(n, s) for n, s in sinks if isinstance(s, DeliverySink)]
        self.streaming = [(n, s) for n, s in sinks if not isinstance(s, DeliverySink)]
        self.metrics = metrics
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cloudward-outbox", daemon=True)

    # -- in the ingest transaction -----------------------------------------------------------
    def enqueue(self, changed: list[Alert], db: sqlite3.Connection) -> None:
        if not self.delivering or not changed:
            return
        now = time.time()
        rows, notified = [], []
        for alert in changed:
            doc = alert.to_dict()
            body = orjson.dumps(doc, default=str)
            for name, sink in self.delivering:
                assert isinstance(sink, DeliverySink)
                if not sink.wants(doc):
                    continue
                last = db.execute("SELECT at, revision FROM notified WHERE sink = ? AND alert_id = ?",
                                  (name, alert.id)).fetchone()
                if last is not None and now - last[0] < sink.renotify:
                    continue
                revision = (last[1] + 1) if last else 1
                rows.append((name, alert.id, revision, body, 0, now, "", None))
                notified.append((name, alert.id, now, revision))
        if rows:
            db.executemany("INSERT OR IGNORE INTO outbox VALUES (?,?,?,?,?,?,?,?)", rows)
            db.executemany("INSERT INTO notified VALUES (?,?,?,?) ON CONFLICT(sink, alert_id) DO UPDATE SET "
                           "at=excluded.at, revision=excluded.revision", notified)

    def after_commit(self, changed: list[Alert]) -> None:
        for _, sink in self.streaming:
            try:
                sink.send(changed)
                if sink.stream is not None:
                    sink.stream.flush()
            except OSError:
                pass
        if self.delivering and changed:
            self.wake.set()

    # -- delivery ----------------------------------------------------------------------------
    def start(self) -> None:
        if self.delivering:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()
        if self._thread.is_alive():
            self._thread.join(10)
        for _, sink in (*self.delivering, *self.streaming):
            try:
                sink.close()
            except OSError:
                pass

    def _loop(self) -> None:
        db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        by_name = dict(self.delivering)
        try:
            while not self._stop.is_set():
                next_due = self.deliver_due(db, by_name)
                wait = 5.0 if next_due is None else max(0.05, min(5.0, next_due - time.time()))
                self.wake.wait(wait)
                self.wake.clear()
        finally:
            db.close()

    def deliver_due(self, db: sqlite3.Connection, by_name: dict[str, Sink]) -> float | None:
        """Send the rows that are due; returns when the next one is due (None: none pending)."""
        now = time.time()
        rows = db.execute("SELECT sink, alert_id, revision, body, attempts FROM outbox WHERE delivered IS NULL "
                          "AND next_try <= ? ORDER BY next_try LIMIT ?", (now, BATCH)).fetchall()
        for name, alert_id, revision, body, attempts in rows:
            if self._stop.is_set():
                break
            sink = by_name.get(name)
            if sink is None:  # a sink removed from the configuration
                continue
            assert isinstance(sink, DeliverySink)
            try:
                sink.deliver(orjson.loads(body), f"{alert_id}:{revision}")
            except Exception as exc:
                delay = min(MAX_BACKOFF, 2.0 ** attempts)
                with db:
                    db.execute("UPDATE outbox SET attempts = attempts + 1, next_try = ?, last_error = ? "
                               "WHERE sink = ? AND alert_id = ? AND revision = ?",
                               (time.time() + delay, str(exc)[:500], name, alert_id, revision))
                if self.metrics is not None:
                    self.metrics.sink_failures.labels(name).inc()
                continue
            with db:
                db.execute("UPDATE outbox SET delivered = ?, attempts = attempts + 1 WHERE sink = ? AND alert_id = ? "
                           "AND revision = ?", (time.time(), name, alert_id, revision))
            if self.metrics is not None:
                self.metrics.sink_delivered.labels(name).inc()
        row = db.execute("SELECT MIN(next_try) FROM outbox WHERE delivered IS NULL").fetchone()
        return row[0] if row and row[0] is not None else None
