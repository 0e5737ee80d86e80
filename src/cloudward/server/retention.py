"""`[server] retention_days`: closed alerts (dismissed, resolved), their history, delivered outbox rows and
redelivery keys older than N days are deleted; open alerts are kept whatever their age."""

from __future__ import annotations

import sqlite3
import time


def apply_retention(db: sqlite3.Connection, days: int, now: float | None = None) -> dict[str, int]:
    """Delete what is older than `days`; returns rows deleted per table. `days` 0 keeps everything."""
    if days <= 0:
        return {}
    cutoff = (now if now is not None else time.time()) - days * 86400
    counts = {}
    with db:
        old = [r[0] for r in db.execute("SELECT id FROM alerts WHERE status != 'active' AND last_seen < ?", (cutoff,))]
        db.executemany("DELETE FROM status_log WHERE alert_id = ?", [(i,) for i in old])
        db.executemany("DELETE FROM alerts WHERE id = ?", [(i,) for i in old])
        counts["alerts"] = len(old)
        counts["outbox"] = db.execute("DELETE FROM outbox WHERE delivered IS NOT NULL AND delivered < ?",
                                      (cutoff,)).rowcount
        counts["redelivery"] = db.execute("DELETE FROM redelivery WHERE at < ?", (cutoff,)).rowcount
    return counts
