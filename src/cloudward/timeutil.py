"""Times and durations: events carry float epoch seconds; output is RFC 3339 UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


#: epoch seconds of "YYYY-MM-DDTHH:MM" prefixes already seen: logs repeat the same minute thousands of times
_MINUTES: dict[str, float] = {}


def _fast_utc(value: str) -> float | None:
    """"2026-11-02T09:15:27.401327Z" without datetime: the minute from a cache, the seconds as a float."""
    if len(value) < 20 or value[-1] != "Z" or value[10] != "T" or value[16] != ":":
        return None
    minute = value[:16]
    base = _MINUTES.get(minute)
    if base is None:
        try:
            base = datetime.fromisoformat(minute + ":00+00:00").timestamp()
        except ValueError:
            return None
        if len(_MINUTES) > 100_000:
            _MINUTES.clear()
        _MINUTES[minute] = base
    try:
        seconds = float(value[17:-1])
    except ValueError:
        return None
    return base + seconds if 0.0 <= seconds < 61.0 else None


def parse_time(value: object) -> float:
    """Seconds since the epoch from an RFC 3339 / ISO 8601 string or a number; 0.0 when unreadable.

    Strings without a zone are taken as UTC. Numbers above 1e11 are milliseconds (CloudWatch),
    above 1e14 microseconds, above 1e17 nanoseconds (Falco's evt.time).
    """
    if isinstance(value, str):
        if not value:
            return 0.0
        fast = _fast_utc(value)
        if fast is not None:
            return fast if fast > 0 else 0.0
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            return 0.0
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        ts = dt.timestamp()
        # Go's zero time (0001-01-01T00:00:00Z: Docker's StartedAt of a container never started) and anything
        # else before the epoch means "no time", not a date 2000 years ago
        return ts if ts > 0 else 0.0
    if isinstance(value, bool):
        return 0.0
    if isinstance(value, (int, float)):
        v = float(value)
        if v > 1e17:
            return v / 1e9
        if v > 1e14:
            return v / 1e6
        if v > 1e11:
            return v / 1e3
        return v
    return 0.0


def format_time(ts: float) -> str:
    """RFC 3339 UTC with millisecond precision, or an empty string for an unknown time."""
    if not ts:
        return ""
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_duration(value: str | int | float) -> float:
    """Seconds from "30s", "15m", "12h", "7d", "2w", "250ms" (a bare number means seconds)."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"not a duration: {value!r} (write a number and a unit: 30s, 15m, 12h, 7d)")
    return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
