"""Store schema versions: each migration upgrades the SQLite store by one version.

The version lives in the `schema_version` table. A store without it was written before versioning
(version 1: the tables of `store.SCHEMA`); it is upgraded in place. A store of a version newer than
this program knows is refused: an older Cloudward must not half-understand a newer store.
"""

from __future__ import annotations

import sqlite3
import time


class StoreVersionError(RuntimeError):
    """The store was written by a newer Cloudward."""


#: version -> SQL that brings a store of version-1 to it
MIGRATIONS: dict[int, str] = {
    2: """
    CREATE TABLE IF NOT EXISTS api_tokens (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        hash TEXT NOT NULL,
        created REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS redelivery (
        key TEXT PRIMARY KEY,
        at REAL NOT NULL
    );
    CREATE INDEX IF NOT EXISTS redelivery_by_time ON redelivery(at);
    CREATE TABLE IF NOT EXISTS outbox (
        sink TEXT NOT NULL,
        alert_id TEXT NOT NULL,
        revision INTEGER NOT NULL,
        body BLOB NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_try REAL NOT NULL,
        last_error TEXT NOT NULL DEFAULT '',
        delivered REAL,
        PRIMARY KEY (sink, alert_id, revision)
    );
    CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(delivered, next_try);
    CREATE TABLE IF NOT EXISTS notified (
        sink TEXT NOT NULL,
        alert_id TEXT NOT NULL,
        at REAL NOT NULL,
        revision INTEGER NOT NULL,
        PRIMARY KEY (sink, alert_id)
    );
    CREATE TABLE IF NOT EXISTS status_history (
        alert_id TEXT NOT NULL,
        at REAL NOT NULL,
        status TEXT NOT NULL,
        who TEXT NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS status_history_by_alert ON status_history(alert_id, at);
    CREATE TABLE IF NOT EXISTS suppression_rules (
        id TEXT PRIMARY KEY,
        body BLOB NOT NULL,
        created REAL NOT NULL,
        who TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS sources (
        source TEXT PRIMARY KEY,
        last_event REAL,
        last_received REAL NOT NULL,
        events INTEGER NOT NULL,
        rejected INTEGER NOT NULL,
        reasons BLOB NOT NULL
    );
    """,
    # one status log for every writer: `alerts dismiss` (store.status_log) and the API and console
    3: """
    INSERT INTO status_log (alert_id, at, status, reason, actor)
        SELECT alert_id, at, status, reason, who FROM status_history;
    DROP TABLE status_history;
    CREATE INDEX IF NOT EXISTS status_log_by_alert ON status_log(alert_id, at);
    """,
}
LATEST = max(MIGRATIONS)


def current_version(db: sqlite3.Connection) -> int:
    has_table = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'").fetchone()
    if not has_table:
        return 1
    row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 1


def migrate(db: sqlite3.Connection, path: str = "") -> int:
    """Bring the store to `LATEST`; returns the version it had. Refuses a newer store."""
    found = current_version(db)
    if found > LATEST:
        raise StoreVersionError(
            f"the store {path or '(memory)'} has schema version {found}, newer than the {LATEST} this "
            f"Cloudward knows: upgrade Cloudward, or point it at another store")
    if found == LATEST:
        return found
    with db:
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied REAL NOT NULL)")
        for version in range(found + 1, LATEST + 1):
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("INSERT INTO schema_version VALUES (?, ?)", (version, time.time()))
    return found
