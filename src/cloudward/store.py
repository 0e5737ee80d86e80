"""The SQLite store (WAL mode): alerts, their status, and the state of stateful detections.

Alerts are kept with the ids of the events that made them, so scanning the same input again, or a
later run seeing a redelivered event, does not raise counts. Detection state (learned baselines,
open windows) is saved per card so `scan --store`, `tail` and `serve` keep it across restarts.
"""

from __future__ import annotations

import getpass
import os
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
    reason TEXT NOT NULL,
    actor TEXT NOT NULL DEFAULT ''
);
"""
STATUSES = ("active", "dismissed", "resolved")


class StoreError(Exception):
    """The store cannot be used as asked (damaged, not a store, read-only); the message says which and where."""


class AmbiguousId(StoreError):
    """An alert id prefix that names no alert, or several."""

    def __init__(self, given: str, matches: list[str]) -> None:
        self.given = given
        self.matches = matches
        if not given:
            msg = "an empty alert id names no alert; give the id or a unique prefix of it"
        elif not matches:
            msg = f"no alert {given!r} in the store"
        else:
            shown = ", ".join(matches[:10]) + (f" and {len(matches) - 10} more" if len(matches) > 10 else "")
            msg = f"alert id prefix {given!r} is ambiguous: it matches {len(matches)} alerts ({shown})"
        super().__init__(msg)


def current_user() -> str:
    """Who is at the keyboard, for the status log (`--by` overrides it)."""
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers running as an arbitrary uid)
        return f"uid {os.getuid()}"


class Store:
    """`readonly=True` opens for reading only: nothing is created or switched (WAL needs a writable folder),
    so a store on a read-only mount or owned by another user can still be listed and shown."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = str(path)
        self.readonly = readonly
        try:
            if readonly:
                self.db = self._connect_readonly()
            else:
                if self.path != ":memory:":
                    Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(self.path, check_same_thread=False)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.executescript(SCHEMA)
                self._migrate()
                migrate(self.db, self.path)  # serve's tables and the schema version (cloudward.migrations)
            self._check()
        except sqlite3.DatabaseError as exc:
            raise self._error(exc) from None
        except OSError as exc:
            raise StoreError(f"store {self.path}: {exc.strerror or exc}") from None

    def _connect_readonly(self) -> sqlite3.Connection:
        uri = Path(self.path).resolve().as_uri()
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError:
            # a WAL store whose folder we cannot write (no -shm can be made): read it as a fixed file
            db.close()
            return sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False)

    def _check(self) -> None:
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "alerts" not in tables:
            raise StoreError(f"{self.path} is not a Cloudward store (it has no alerts table)")

    def _migrate(self) -> None:
        columns = {r[1] for r in self.db.execute("PRAGMA table_info(status_log)")}
        if "actor" not in columns:  # stores made before the status log recorded who
            with self.db:
                self.db.execute("ALTER TABLE status_log ADD COLUMN actor TEXT NOT NULL DEFAULT ''")

    def _error(self, exc: sqlite3.DatabaseError) -> StoreError:
        text = str(exc)
        if "readonly" in text or "read-only" in text:
            return StoreError(f"store {self.path} is read-only: {text} (scanning and changing alert status "
                              f"need write access; alerts list/show can read it)")
        if isinstance(exc, sqlite3.OperationalError) and "unable to open" in text:
            return StoreError(f"cannot open store {self.path}: {text}")
        return StoreError(f"store {self.path} is damaged or not a Cloudward store: {text}")

    def guarded(self, what: str) -> _Guard:
        """Turns SQLite errors inside the `with` block into a StoreError naming the store and `what`."""
        return _Guard(self, what)

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

    def matching_ids(self, prefix: str) -> list[str]:
        """Ids equal to, or starting with, `prefix` (taken literally: `%` and `_` are not wildcards)."""
        if not prefix:
            return []
        exact = self.db.execute("SELECT id FROM alerts WHERE id = ?", (prefix,)).fetchone()
        if exact is not None:
            return [exact[0]]
        rows = self.db.execute("SELECT id FROM alerts WHERE substr(id, 1, ?) = ? ORDER BY id",
                               (len(prefix), prefix)).fetchall()
        return [r[0] for r in rows]

    def resolve(self, prefix: str) -> str:
        """The one alert id `prefix` names; raises AmbiguousId for an empty, unknown or ambiguous prefix."""
        ids = self.matching_ids(prefix)
        if len(ids) != 1:
            raise AmbiguousId(prefix, ids)
        return ids[0]

    def get_alert(self, alert_id: str) -> dict[str, Any] | None:
        """One alert by id or unique prefix, with its status history; None when no alert matches.
        Raises AmbiguousId when the prefix matches several or is empty."""
        ids = self.matching_ids(alert_id)
        if not ids and alert_id:
            return None
        full = self.resolve(alert_id)
        row = self.db.execute("SELECT body, status FROM alerts WHERE id = ?", (full,)).fetchone()
        doc = orjson.loads(row[0])
        doc["status"] = row[1]
        doc["status_history"] = self.history(full)
        return doc

    def history(self, alert_id: str) -> list[dict[str, Any]]:
        """Status changes of one alert, oldest first: when, to what, by whom and why."""
        from cloudward.timeutil import format_time

        rows = self.db.execute("SELECT at, status, actor, reason FROM status_log WHERE alert_id = ? ORDER BY at",
                               (alert_id,)).fetchall()
        return [{"at": format_time(at), "status": st, "by": actor, "reason": reason} for at, st, actor, reason in rows]

    def set_status(self, alert_id: str, status: str, reason: str = "", by: str | None = None) -> bool:
        """Set the status of the one alert `alert_id` (an id or unique prefix) names, and log who did it.
        Returns False when no alert matches; raises AmbiguousId for an empty or ambiguous prefix."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
        ids = self.matching_ids(alert_id)
        if not ids and alert_id:
            return False
        full = self.resolve(alert_id)
        with self.db:
            self.db.execute("UPDATE alerts SET status = ? WHERE id = ?", (status, full))
            self.db.execute("INSERT INTO status_log (alert_id, at, status, reason, actor) VALUES (?,?,?,?,?)",
                            (full, time.time(), status, reason, by if by is not None else current_user()))
        return True

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


class _Guard:
    def __init__(self, store: Store, what: str) -> None:
        self.store = store
        self.what = what

    def __enter__(self) -> Store:
        return self.store

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if isinstance(exc, sqlite3.DatabaseError):
            err = self.store._error(exc)
            raise StoreError(f"{self.what}: {err}") from None
        return False


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
