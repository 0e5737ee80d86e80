"""Read side of the API: alert listing with filters and cursor paging, on a reader's own connection.

Alerts come newest first by (last_seen, id); the cursor is the (last_seen, id) of the last item of a
page, so pages stay stable while new alerts arrive."""

from __future__ import annotations

import base64
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any

import orjson

from cloudward.config import SEVERITIES, severity_rank
from cloudward.timeutil import format_time, parse_time

STATUSES = ("active", "dismissed", "resolved")
MAX_LIMIT = 1000


class QueryError(ValueError):
    """A filter or cursor a client sent is not valid (answered 400)."""


@dataclass
class AlertFilter:
    severity: str | None = None  # this severity or above
    alert_type: str | None = None
    status: str | None = None
    resource: str | None = None
    entity: str | None = None
    source_ip: str | None = None
    text: str | None = None
    since: str | None = None
    until: str | None = None


def encode_cursor(last_seen: float, alert_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([last_seen, alert_id])).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        last_seen, alert_id = orjson.loads(raw)
        return float(last_seen), str(alert_id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise QueryError("cursor: not a cursor this API returned") from None


def _time(value: str, name: str) -> float:
    try:
        when = parse_time(value)
    except (ValueError, TypeError):
        when = 0.0
    if not when:
        raise QueryError(f"{name}: expected an RFC 3339 time such as 2026-01-02T03:04:05Z")
    return when


class Reader:
    """One read-only SQLite connection per thread (WAL: readers never wait for the writer)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()

    def db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._local.db = db
        return db

    def list_alerts(self, flt: AlertFilter, limit: int = 100, cursor: str | None = None) -> dict[str, Any]:
        if not 1 <= limit <= MAX_LIMIT:
            raise QueryError(f"limit: expected 1 to {MAX_LIMIT}")
        where = ["1=1"]
        args: list[Any] = []
        text = "CAST(body AS TEXT)"
        if flt.severity:
            if flt.severity not in SEVERITIES:
                raise QueryError(f"severity: expected one of {', '.join(SEVERITIES)}")
            chosen = [s for s in SEVERITIES if severity_rank(s) >= severity_rank(flt.severity)]
            where.append(f"severity IN ({','.join('?' * len(chosen))})")
            args += chosen
        if flt.alert_type:
            where.append("alert_type = ?")
            args.append(flt.alert_type)
        if flt.status:
            if flt.status not in STATUSES:
                raise QueryError(f"status: expected one of {', '.join(STATUSES)}")
            where.append("status = ?")
            args.append(flt.status)
        if flt.resource:
            where.append("json_extract(resource, '$.name') = ?")
            args.append(flt.resource)
        if flt.entity:
            # any entity's value (a string, or a string in a list of them)
            where.append(f"EXISTS (SELECT 1 FROM json_tree({text}, '$.entities') AS t "
                         "WHERE t.atom = ? AND t.type = 'text')")
            args.append(flt.entity)
        if flt.source_ip:
            where.append(f"EXISTS (SELECT 1 FROM json_tree({text}, '$.entities') AS t "
                         "WHERE t.atom = ? AND t.type = 'text' AND (t.key LIKE '%ip%' OR t.path LIKE '%ip%'))")
            args.append(flt.source_ip)
        if flt.text:
            where.append(f"instr(lower({text}), lower(?)) > 0")
            args.append(flt.text)
        if flt.since:
            where.append("last_seen >= ?")
            args.append(_time(flt.since, "since"))
        if flt.until:
            where.append("first_seen <= ?")
            args.append(_time(flt.until, "until"))
        if cursor:
            last_seen, alert_id = decode_cursor(cursor)
            where.append("(last_seen < ? OR (last_seen = ? AND id < ?))")
            args += [last_seen, last_seen, alert_id]
        sql = (f"SELECT id, last_seen, body, status FROM alerts WHERE {' AND '.join(where)} "
               "ORDER BY last_seen DESC, id DESC LIMIT ?")
        rows = self.db().execute(sql, [*args, limit + 1]).fetchall()
        items = []
        for _, _, body, status in rows[:limit]:
            doc = orjson.loads(body)
            doc["status"] = status
            items.append(doc)
        nxt = encode_cursor(rows[limit - 1][1], rows[limit - 1][0]) if len(rows) > limit else None
        return {"items": items, "next": nxt}

    def get_alert(self, alert_id: str) -> dict[str, Any] | None:
        row = self.db().execute("SELECT body, status FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        if row is None:
            return None
        doc = orjson.loads(row[0])
        doc["status"] = row[1]
        doc["history"] = [
            {"at": format_time(at), "status": st, "who": who, "reason": reason}
            for at, st, who, reason in self.db().execute(
                "SELECT at, status, who, reason FROM status_history WHERE alert_id = ? ORDER BY at, rowid",
                (alert_id,))]
        return doc
