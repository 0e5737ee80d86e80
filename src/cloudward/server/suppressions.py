"""Suppression rules made through the API: the same shape as the configuration's `[[suppress]]`
(alert type, entity conditions, optional expiry, reason), kept in the store."""

from __future__ import annotations

import sqlite3
import time
import uuid
from typing import Any

import orjson

from cloudward.alerts import entity_matches
from cloudward.config import ConfigError, SuppressRule, _expiry
from cloudward.timeutil import format_time

RULE_KEYS = ("alert_type", "match", "reason", "expires")


def rule_from_doc(doc: Any) -> SuppressRule:
    """Validate a rule a client sent; raises ConfigError naming the key."""
    if not isinstance(doc, dict):
        raise ConfigError("a rule must be a JSON object")
    unknown = sorted(set(doc) - set(RULE_KEYS))
    if unknown:
        raise ConfigError(f"unknown keys {', '.join(unknown)} (known: {', '.join(RULE_KEYS)})")
    alert_type = doc.get("alert_type", "*")
    match = doc.get("match", {})
    if not isinstance(alert_type, str) or not alert_type:
        raise ConfigError("alert_type: expected an alert type or *")
    if not isinstance(match, dict) or not match:
        raise ConfigError("match: expected a non-empty object of entity conditions")
    reason = doc.get("reason", "")
    if not isinstance(reason, str):
        raise ConfigError("reason: expected a string")
    return SuppressRule(alert_type=alert_type, match=dict(match), reason=reason[:2000],
                        expires=_expiry(doc.get("expires"), "expires"))


def rule_doc(rule_id: str, rule: SuppressRule, created: float, who: str) -> dict[str, Any]:
    return {"id": rule_id, "alert_type": rule.alert_type, "match": rule.match, "reason": rule.reason,
            "expires": format_time(rule.expires) if rule.expires else None, "created": format_time(created),
            "who": who}


def load_rules(db: sqlite3.Connection) -> list[tuple[str, SuppressRule, float, str]]:
    out = []
    rows = db.execute("SELECT id, body, created, who FROM suppression_rules ORDER BY created")
    for rule_id, body, created, who in rows:
        doc = orjson.loads(body)
        out.append((rule_id, SuppressRule(doc["alert_type"], doc["match"], doc.get("reason", ""), doc.get("expires")),
                    created, who))
    return out


def save_rule(db: sqlite3.Connection, rule: SuppressRule, who: str) -> tuple[str, float]:
    rule_id = uuid.uuid4().hex[:16]
    now = time.time()
    body = orjson.dumps({"alert_type": rule.alert_type, "match": rule.match, "reason": rule.reason,
                         "expires": rule.expires})
    with db:
        db.execute("INSERT INTO suppression_rules VALUES (?,?,?,?)", (rule_id, body, now, who))
    return rule_id, now


def simulate(db: sqlite3.Connection, rule: SuppressRule, limit: int = 100_000) -> list[dict[str, Any]]:
    """The active alerts `rule` would dismiss."""
    hits = []
    for body, in db.execute("SELECT body FROM alerts WHERE status = 'active' LIMIT ?", (limit,)):
        doc = orjson.loads(body)
        if rule.alert_type in ("*", doc.get("alert_type")) and entity_matches(rule.match, doc.get("entities") or {}):
            hits.append({"id": doc["id"], "alert_type": doc["alert_type"], "title": doc.get("title"),
                         "resource": doc.get("resource")})
    return hits
