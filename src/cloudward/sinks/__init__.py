"""Sinks, found by discovery: a module here defining `SINKS` (type name -> `Sink` class) adds to them.

A sink is streaming: `open(options)` once, `send(changed alerts)` as often as the engine reports
changes (a scan sends once, at the end; a long-running runner after every batch), `close()` at the
end. Several run at once, from `[[sinks]]` tables in the configuration (`type = "jsonl_file"`,
`path = "alerts.jsonl"`); `--output NAME` is the shortcut for one sink on stdout. Summaries and
progress never go to a sink's stream (stdout stays machine-readable for jsonl/json/ocsf).

Modules may also define `OUTPUTS` (name -> writer of a whole list), the earlier shape; every writer is
offered as a sink that writes what it was sent when it closes.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import Any, BinaryIO, ClassVar

from cloudward.alerts import Alert
from cloudward.config import Config, ConfigError, severity_rank

Writer = Callable[[list[Alert], BinaryIO, dict[str, Any]], None]

#: keys every sink table takes (a sink adds its own in `options`)
COMMON_KEYS: dict[str, str] = {
    "type": "the sink's type (see `SINKS` of the modules in cloudward/sinks)",
    "path": "a file to write to instead of stdout (required by file sinks)",
    "min_severity": "send only alerts at or above this severity",
    "lang": "en or ko, for sinks that write text for people",
}


class Sink:
    """Base of every sink. Subclasses set `type` and implement `send` (and `open`/`close` as needed)."""

    type: ClassVar[str] = ""
    #: extra keys this sink reads from its table: key -> meaning
    options: ClassVar[dict[str, str]] = {}

    def __init__(self, stream: BinaryIO | None = None) -> None:
        #: where to write when no `path` is given (stdout for `--output`)
        self.stream = stream
        self.settings: dict[str, Any] = {}
        self.min_rank = 0

    def open(self, config: Mapping[str, Any]) -> None:
        self.settings = dict(config)
        self.min_rank = severity_rank(str(self.settings.get("min_severity", "informational")))
        path = self.settings.get("path")
        if path:
            self.stream = open(str(path), "ab")  # closed in close()
            self._owned = True
        elif self.stream is None:
            self.stream = sys.stdout.buffer

    def wanted(self, alerts: Iterable[Alert]) -> list[Alert]:
        return [a for a in alerts if severity_rank(a.severity) >= self.min_rank]

    def send(self, alerts: list[Alert]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if self.stream is not None:
            self.stream.flush()
            if getattr(self, "_owned", False):
                self.stream.close()


class WriterSink(Sink):
    """A whole-list writer (table, json, ocsf) as a sink: keeps the latest version of each alert it is
    sent and writes them, oldest first, when it closes."""

    def __init__(self, writer: Writer, stream: BinaryIO | None = None) -> None:
        super().__init__(stream)
        self.writer = writer
        self.latest: dict[str, Alert] = {}

    def send(self, alerts: list[Alert]) -> None:
        for a in self.wanted(alerts):
            self.latest[a.id] = a

    def close(self) -> None:
        alerts = sorted(self.latest.values(), key=lambda a: (a.first_seen, a.alert_type, a.id))
        assert self.stream is not None
        self.writer(alerts, self.stream, {"lang": self.settings.get("lang", "en")})
        super().close()


@cache
def _modules() -> tuple[Any, ...]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            found.append(importlib.import_module(f"{__name__}.{info.name}"))
    return tuple(found)


@cache
def outputs() -> dict[str, Writer]:
    found: dict[str, Writer] = {}
    for module in _modules():
        found.update(getattr(module, "OUTPUTS", {}))
    return found


@cache
def sink_types() -> dict[str, type[Sink]]:
    found: dict[str, type[Sink]] = {}
    for module in _modules():
        found.update(getattr(module, "SINKS", {}))
    return found


def make_sink(kind: str, stream: BinaryIO | None = None) -> Sink | None:
    """A sink of type `kind`: a streaming sink, or a whole-list writer wrapped as one."""
    cls = sink_types().get(kind)
    if cls is not None:
        return cls(stream)
    writer = outputs().get(kind)
    return WriterSink(writer, stream) if writer is not None else None


def known_types() -> list[str]:
    return sorted(set(sink_types()) | set(outputs()))


def from_config(config: Config) -> list[tuple[Sink, dict[str, Any]]]:
    """The `[[sinks]]` of the configuration, validated, each with its table (not yet opened)."""
    tables = config.raw.get("sinks", [])
    if not isinstance(tables, list):
        raise ConfigError(f"{config.source}: sinks must be an array of tables ([[sinks]])")
    out: list[tuple[Sink, dict[str, Any]]] = []
    for i, table in enumerate(tables):
        where = f"{config.source}: sinks[{i}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{where} must be a table")
        kind = table.get("type")
        if not isinstance(kind, str):
            raise ConfigError(f"{where}.type: expected one of {', '.join(known_types())}")
        sink = make_sink(kind)
        if sink is None:
            raise ConfigError(f"{where}.type: unknown sink {kind!r}; known: {', '.join(known_types())}")
        unknown = sorted(set(table) - set(COMMON_KEYS) - set(sink.options))
        if unknown:
            raise ConfigError(f"{where} has unknown keys {', '.join(unknown)}")
        for key in ("path", "min_severity", "lang"):
            if key in table and not isinstance(table[key], str):
                raise ConfigError(f"{where}.{key}: expected a string, got {table[key]!r}")
        if "min_severity" in table and table["min_severity"] not in ("informational", "low", "medium", "high"):
            raise ConfigError(f"{where}.min_severity: expected informational, low, medium or high")
        if getattr(sink, "needs_path", False) and not table.get("path"):
            raise ConfigError(f"{where}.path: a {kind} sink needs a path")
        out.append((sink, dict(table)))
    return out
