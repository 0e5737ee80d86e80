"""Input formats, found by discovery: every module here that defines `FORMATS` adds to the registry."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from cloudward.parsers.base import Format, Head, JsonDialect


@cache
def _discover() -> tuple[tuple[Format, ...], tuple[JsonDialect, ...]]:
    formats: list[Format] = []
    dialects: list[JsonDialect] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for item in getattr(module, "FORMATS", ()):
            if isinstance(item, JsonDialect):
                dialects.append(item)
            elif isinstance(item, Format):
                formats.append(item)
            else:  # pragma: no cover - a programming error in a parser module
                raise TypeError(f"{module.__name__}.FORMATS holds {item!r}")
    dialects.sort(key=lambda d: (d.order, d.name))
    _check_unique([f.name for f in formats] + [d.name for d in dialects])
    return tuple(formats), tuple(dialects)


def _check_unique(names: list[str]) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ValueError(f"two input formats are named {n!r}")
        seen.add(n)


def formats() -> tuple[Format, ...]:
    return _discover()[0]


def dialects() -> tuple[JsonDialect, ...]:
    return _discover()[1]


def names() -> list[str]:
    return sorted([f.name for f in formats()] + [d.name for d in dialects()])


def sniff(head: Head) -> Format | None:
    """The format most confident about `head`, or None."""
    best: Format | None = None
    best_score = 0
    for fmt in formats():
        try:
            score = fmt.sniff(head)
        except Exception:  # a sniffer must never stop a scan; treat as "not mine"
            score = 0
        if score > best_score:
            best, best_score = fmt, score
    return best


def by_name(name: str) -> Format | JsonDialect | None:
    for item in (*formats(), *dialects()):
        if item.name == name:
            return item
    return None
