"""Retention: closed alerts, delivered outbox rows and redelivery keys past N days go; open alerts stay."""

from __future__ import annotations

from pathlib import Path

from cloudward.server.retention import apply_retention
from cloudward.store import Store

DAY = 86400.0


def test_retention_deletes_old_closed_alerts_only(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    db = store.db
    now = 100 * DAY
    rows = [("old-closed", "resolved", now - 40 * DAY), ("old-open", "active", now - 40 * DAY),
            ("new-closed", "dismissed", now - 2 * DAY)]
    with db:
        for alert_id, status, seen in rows:
            db.execute("INSERT INTO alerts VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (alert_id, "T", "low", status, "{}", seen, seen, 1, b"{}", b"[]"))
            db.execute("INSERT INTO status_log (alert_id, at, status, reason, actor) VALUES (?,?,?,?,?)",
                       (alert_id, seen, status, "", "admin"))
        db.execute("INSERT INTO redelivery VALUES ('[\"a\",\"b\"]', ?)", (now - 31 * DAY,))
        db.execute("INSERT INTO redelivery VALUES ('[\"c\",\"d\"]', ?)", (now - DAY,))
        db.execute("INSERT INTO outbox VALUES ('hook','old-open',1,x'7b7d',1,0,'',?)", (now - 35 * DAY,))
        db.execute("INSERT INTO outbox VALUES ('hook','old-open',2,x'7b7d',3,0,'down',NULL)")
    assert apply_retention(db, 0, now) == {}
    assert apply_retention(db, 30, now) == {"alerts": 1, "outbox": 1, "redelivery": 1}
    assert sorted(r[0] for r in db.execute("SELECT id FROM alerts")) == ["new-closed", "old-open"]
    assert sorted(r[0] for r in db.execute("SELECT alert_id FROM status_log")) == ["new-closed", "old-open"]
    assert db.execute("SELECT revision FROM outbox").fetchall() == [(2,)]  # undelivered rows stay
    store.close()
