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


def filter_sql(flt: AlertFilter) -> tuple[list[str], list[Any]]:
    """The WHERE conditions (joined by AND) and their arguments that select the alerts `flt` names."""
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
    return where, args


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
        where, args = filter_sql(flt)
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
                "SELECT at, status, actor, reason FROM status_log WHERE alert_id = ? ORDER BY at, rowid",
                (alert_id,))]
        return doc


#: the orders a page of alerts can be sorted in (console): name -> ORDER BY
SORTS = {"newest": "last_seen DESC, id DESC", "oldest": "last_seen ASC, id ASC",
         "severity": "CASE severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 WHEN 'low' THEN 2 ELSE 3 END, "
                     "last_seen DESC, id DESC",
         "count": "count DESC, last_seen DESC, id DESC", "type": "alert_type ASC, last_seen DESC, id DESC"}


def alert_page(db: sqlite3.Connection, flt: AlertFilter, sort: str = "newest", page: int = 1,
               per_page: int = 50) -> dict[str, Any]:
    """One numbered page of the alerts `flt` selects in the order `sort` names, and the total."""
    if sort not in SORTS:
        raise QueryError(f"sort: expected one of {', '.join(SORTS)}")
    if not 1 <= per_page <= MAX_LIMIT or page < 1:
        raise QueryError(f"per_page: expected 1 to {MAX_LIMIT}, page: 1 or more")
    where, args = filter_sql(flt)
    cond = " AND ".join(where)
    total = db.execute(f"SELECT count(*) FROM alerts WHERE {cond}", args).fetchone()[0]
    rows = db.execute(f"SELECT body, status FROM alerts WHERE {cond} ORDER BY {SORTS[sort]} LIMIT ? OFFSET ?",
                      [*args, per_page, (page - 1) * per_page]).fetchall()
    items = []
    for body, status in rows:
        doc = orjson.loads(body)
        doc["status"] = status
        items.append(doc)
    return {"items": items, "total": total, "page": page, "pages": max(1, -(-total // per_page))}


# -- summaries for the web console (cloudward.console) ----------------------------------------------
#: the product families, by the type of the affected resource
FAMILIES = {"cluster": "kubernetes", "host": "hosts", "site": "web"}


def counts_by(db: sqlite3.Connection, status: str | None = "active") -> dict[str, dict[str, int]]:
    """Alert counts by severity and by family (of the resource type), optionally of one status."""
    where, args = ("WHERE status = ?", [status]) if status else ("", [])
    severity = {s: 0 for s in SEVERITIES}
    for sev, n in db.execute(f"SELECT severity, count(*) FROM alerts {where} GROUP BY severity", args):
        severity[sev] = n
    family = {f: 0 for f in FAMILIES.values()}
    for kind, n in db.execute(f"SELECT json_extract(resource, '$.type'), count(*) FROM alerts {where} "
                              "GROUP BY 1", args):
        name = FAMILIES.get(kind or "", "other")
        family[name] = family.get(name, 0) + n
    return {"severity": severity, "family": family}


def over_time(db: sqlite3.Connection, since: float, until: float, bucket: float) -> list[tuple[float, dict[str, int]]]:
    """Alerts by the bucket of their last activity (last_seen) from `since` to `until`, per severity;
    every bucket is present, empty ones too, so a chart has no gaps."""
    if bucket <= 0 or until <= since:
        raise QueryError("over_time: expected since < until and a positive bucket")
    n = int((until - since) // bucket) + 1
    out = [(since + i * bucket, {s: 0 for s in SEVERITIES}) for i in range(n)]
    rows = db.execute("SELECT CAST((last_seen - ?) / ? AS INTEGER), severity, count(*) FROM alerts "
                      "WHERE last_seen >= ? AND last_seen < ? GROUP BY 1, 2",
                      (since, bucket, since, since + n * bucket))
    for index, sev, count in rows:
        if 0 <= index < n and sev in out[index][1]:
            out[index][1][sev] += count
    return out


def top_resources(db: sqlite3.Connection, limit: int = 8) -> list[dict[str, Any]]:
    """The resources with the most active alerts, with their highest severity."""
    rows = db.execute("SELECT json_extract(resource, '$.type'), json_extract(resource, '$.name'), count(*), "
                      "group_concat(DISTINCT severity) FROM alerts WHERE status = 'active' GROUP BY 1, 2 "
                      "ORDER BY 3 DESC, 2 LIMIT ?", (limit,))
    out = []
    for kind, name, n, sevs in rows:
        known = [s for s in (sevs or "").split(",") if s in SEVERITIES] or ["informational"]
        out.append({"type": kind or "", "name": name or "", "count": n, "worst": max(known, key=severity_rank)})
    return out


def time_span(db: sqlite3.Connection) -> tuple[float, float] | None:
    """The first and last activity of any alert (None for an empty store)."""
    row = db.execute("SELECT min(first_seen), max(last_seen) FROM alerts").fetchone()
    return (row[0], row[1]) if row and row[0] is not None else None


#: entities whose shared value makes two alerts related (the same pod, source IP, host)
RELATING_ENTITIES = ("pod", "source_ip", "host", "container_id")


def related_alerts(db: sqlite3.Connection, doc: dict[str, Any], window: float = 86400.0,
                   limit: int = 50) -> list[dict[str, Any]]:
    """Other alerts active within `window` seconds of this one that carry one of its relating entity values
    under the same entity name; each with `related_by`: (name, value)."""
    entities = doc.get("entities") or {}
    pairs = []
    for key in RELATING_ENTITIES:
        value = entities.get(key)
        values = value if isinstance(value, list) else [value]
        pairs += [(key, v) for v in values if isinstance(v, str) and v]
    if not pairs:
        return []
    first = parse_time(doc.get("first_seen", "")) or 0.0
    last = parse_time(doc.get("last_seen", "")) or first
    out: dict[str, dict[str, Any]] = {}
    for key, value in pairs:
        rows = db.execute(
            "SELECT body, status FROM alerts WHERE id != ? AND last_seen >= ? AND first_seen <= ? AND EXISTS "
            "(SELECT 1 FROM json_each(CAST(body AS TEXT), '$.entities') AS e WHERE e.key = ? AND (e.value = ? OR "
            "(e.type = 'array' AND EXISTS (SELECT 1 FROM json_each(e.value) AS v WHERE v.value = ?)))) "
            "ORDER BY last_seen DESC LIMIT ?", (doc.get("id", ""), first - window, last + window, key, value, value,
                                                limit))
        for body, status in rows:
            other = orjson.loads(body)
            if other["id"] not in out:
                other["status"] = status
                other["related_by"] = (key, value)
                out[other["id"]] = other
    return sorted(out.values(), key=lambda d: d.get("last_seen", ""), reverse=True)[:limit]
