"""The SQLite store (WAL mode): alerts, their status, and the state of stateful detections.

Alerts are kept with the ids of the events that made them, so scanning the same input again, or a
later run seeing a redelivered event, does not raise counts. Detection state (learned baselines,
open windows) is saved per card so `scan --store`, `tail` and `serve` keep it across restarts.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from cloudward.alerts import Alert
from cloudward.migrations import migrate
from cloudward.timeutil import parse_time

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY,
    alert_type TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    resource TEXT NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    count INTEGER NOT NULL,
    body BLOB NOT NULL,
    seen_events BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_by_type ON alerts(alert_type, last_seen);
CREATE TABLE IF NOT EXISTS detection_state (
    alert_type TEXT PRIMARY KEY,
    updated REAL NOT NULL,
    state BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS state_rows (
    analytic TEXT NOT NULL,
    key TEXT NOT NULL,
    updated REAL NOT NULL,
    state BLOB NOT NULL,
    PRIMARY KEY (analytic, key)
);
CREATE TABLE IF NOT EXISTS status_log (
    alert_id TEXT NOT NULL,
    at REAL NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL
);
"""


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        migrate(self.db, self.path)  # serve's tables and the schema version (cloudward.migrations)

    def close(self) -> None:
        self.db.close()

    # -- alerts ------------------------------------------------------------------------------
    def load_alert(self, alert_id: str) -> Alert | None:
        row = self.db.execute("SELECT body, seen_events, status FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        if row is None:
            return None
        alert = _alert_from_body(orjson.loads(row[0]), set(orjson.loads(row[1])))
        alert.status = row[2]  # the column is the truth: `alerts dismiss` changes only it
        return alert

    def save_alerts(self, alerts: Iterable[Alert]) -> None:
        rows = []
        for a in alerts:
            body = orjson.dumps(a.to_dict(), default=str)
            rows.append((a.id, a.alert_type, a.severity, a.status, orjson.dumps(a.resource).decode(),
                         a.first_seen, a.last_seen, a.count, body, orjson.dumps(sorted(a.seen_events))))
        with self.db:
            self.db.executemany(
                "INSERT INTO alerts VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
                "severity=excluded.severity, status=CASE WHEN alerts.status='active' THEN excluded.status "
                "ELSE alerts.status END, first_seen=excluded.first_seen, last_seen=excluded.last_seen, "
                "count=excluded.count, body=excluded.body, seen_events=excluded.seen_events",
                rows,
            )

    def list_alerts(self, *, alert_type: str | None = None, status: str | None = None,
                    limit: int = 1000) -> list[dict[str, Any]]:
        sql = "SELECT body, status FROM alerts WHERE 1=1"
        args: list[Any] = []
        if alert_type:
            sql += " AND alert_type = ?"
            args.append(alert_type)
        if status:
            sql += " AND status = ?"
            args.append(status)
        sql += " ORDER BY last_seen DESC LIMIT ?"
        args.append(limit)
        out = []
        for body, st in self.db.execute(sql, args):
            doc = orjson.loads(body)
            doc["status"] = st
            out.append(doc)
        return out

    def get_alert(self, alert_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT body, status FROM alerts WHERE id = ? OR id LIKE ?",
                              (alert_id, alert_id + "%")).fetchone()
        if row is None:
            return None
        doc = orjson.loads(row[0])
        doc["status"] = row[1]
        return doc

    def set_status(self, alert_id: str, status: str, reason: str = "") -> bool:
        with self.db:
            cur = self.db.execute("UPDATE alerts SET status = ? WHERE id = ? OR id LIKE ?",
                                  (status, alert_id, alert_id + "%"))
            if cur.rowcount:
                self.db.execute("INSERT INTO status_log VALUES (?,?,?,?)", (alert_id, time.time(), status, reason))
        return cur.rowcount > 0

    def status_of(self, alert_id: str) -> str | None:
        row = self.db.execute("SELECT status FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return row[0] if row else None

    # -- detection state ---------------------------------------------------------------------
    def load_state(self, alert_type: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT state FROM detection_state WHERE alert_type = ?", (alert_type,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def save_state(self, alert_type: str, state: dict[str, Any]) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO detection_state VALUES (?,?,?) ON CONFLICT(alert_type) DO UPDATE SET "
                "updated=excluded.updated, state=excluded.state",
                (alert_type, time.time(), orjson.dumps(state)),
            )


def load_state_rows(store: Store) -> list[tuple[str, str, Any]]:
    """Every (analytic, partition key, state) row the engine saved."""
    return [(a, k, orjson.loads(v)) for a, k, v in
            store.db.execute("SELECT analytic, key, state FROM state_rows ORDER BY analytic, key")]


def save_state_rows(store: Store, rows: Iterable[tuple[str, str, Any]]) -> None:
    """Upsert engine state one row per (analytic, partition key): a writer replaces only the keys it holds."""
    now = time.time()
    with store.db:
        store.db.executemany(
            "INSERT INTO state_rows VALUES (?,?,?,?) ON CONFLICT(analytic, key) DO UPDATE SET "
            "updated=excluded.updated, state=excluded.state",
            [(a, k, now, orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS)) for a, k, v in rows],
        )


def _alert_from_body(doc: dict[str, Any], seen: set[str]) -> Alert:
    return Alert(
        id=doc["id"], alert_type=doc["alert_type"], title=doc["title"], title_ko=doc.get("title_ko", ""),
        severity=doc["severity"], tactics=doc["tactics"], techniques=doc["techniques"], source=doc["source"],
        first_seen=parse_time(doc["first_seen"]), last_seen=parse_time(doc["last_seen"]), count=doc["count"],
        resource=doc["resource"], entities=doc["entities"], description=doc["description"],
        description_ko=doc.get("description_ko", ""), remediation=doc["remediation"],
        remediation_ko=doc.get("remediation_ko", []), evidence=doc["evidence"], status=doc.get("status", "active"),
        suppression=doc.get("suppression"), seen_events=seen,
    )
