"""Collectors, found by discovery: each module here defines `COLLECTOR`, a `Collector` subclass.

A collector watches one source (the kernel audit stream, the process connector, the Docker Engine
API...) in its own thread and hands `Batch`es to the agent: the records it read in a format the file
parsers know (so they can be shipped to `serve` and replayed by `scan`), and the events those
parsers made of them. Each keeps its own health, shown by `cloudward agent --status`.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from cloudward.agent.settings import AgentSettings
from cloudward.events import Event
from cloudward.parsers.base import ParseContext


@dataclass
class Batch:
    """What one collector read: `records` in `format` (text lines or JSON objects) and their events."""

    collector: str
    format: str
    records: list[Any] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


@dataclass
class Health:
    #: starting | ok | degraded | unavailable | standby | stopped
    state: str = "starting"
    detail: str = ""
    events: int = 0
    misses: int = 0
    since: float = field(default_factory=time.time)

    def set(self, state: str, detail: str = "") -> None:
        if state != self.state or detail != self.detail:
            self.state, self.detail, self.since = state, detail, time.time()


Emit = Callable[[Batch], None]


class Collector:
    name: ClassVar[str] = ""
    #: collectors that make this one unnecessary when they are healthy (the fallback's betters)
    replaced_by: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: AgentSettings, ctx: ParseContext) -> None:
        self.settings = settings
        self.ctx = ctx
        self.health = Health()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.extra: dict[str, Any] = {}
        #: hand on the records read (for the spool); the agent turns it off when nothing ships them
        self.keep_records = True

    # -- for subclasses -------------------------------------------------------------------
    def available(self) -> str:
        """'' when the collector can run here, else why not (checked before it starts)."""
        return ""

    def run(self, emit: Emit) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Undo what the collector changed on the host (audit rules); called once, after `run` ends."""

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, emit: Emit) -> bool:
        why = self.available()
        if why:
            self.health.set("unavailable", why)
            return False

        def body() -> None:
            try:
                self.run(emit)
            except Exception as exc:  # a collector failing must not take the agent down
                self.health.set("unavailable", f"stopped by an error: {type(exc).__name__}: {exc}")
            finally:
                try:
                    self.close()
                finally:
                    if self.health.state not in ("unavailable", "degraded"):
                        self.health.set("stopped")

        self.thread = threading.Thread(target=body, name=f"collector-{self.name}", daemon=True)
        self.thread.start()
        return True

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.interrupt()
        if self.thread is not None:
            self.thread.join(timeout)

    def interrupt(self) -> None:
        """Wake `run` out of a blocking read."""

    def status(self) -> dict[str, Any]:
        h = self.health
        return {"state": h.state, "detail": h.detail, "events": h.events, "misses": h.misses,
                "since": h.since, **self.extra}


def registry() -> dict[str, type[Collector]]:
    out: dict[str, type[Collector]] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        cls = getattr(module, "COLLECTOR", None)
        if cls is not None:
            out[cls.name] = cls
    return out
