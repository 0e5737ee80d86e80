"""Reading values out of decoded JSON without trusting their types: a field that should be a string,
object, list or number and is something else reads as empty, never raises."""

from __future__ import annotations

from typing import Any


def text(v: Any) -> str:
    """A string, else ""."""
    return v if isinstance(v, str) else ""


def text_or_number(v: Any) -> str:
    """A string, or a number written as one (exports that type columns loosely), else ""."""
    if isinstance(v, str):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    return ""


def mapping(v: Any) -> dict[str, Any]:
    """An object, else {}."""
    return v if isinstance(v, dict) else {}


def strings(v: Any) -> list[str]:
    """The strings of a list, else []."""
    return [x for x in v if isinstance(x, str)] if isinstance(v, list) else []


def number(v: Any) -> int:
    """An integer, or a string of digits, else 0 (booleans are not numbers)."""
    if isinstance(v, bool):
        return 0
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.isdigit():
        return int(v)
    return 0
