"""The agent's one seam to detection: the streaming engine (`cloudward.engine.Engine`).

Everything the agent asks of detection goes through `Detector`: feed a batch of normalized events, get
back the alerts that batch created or changed; at the end, close the windows.

The agent's collectors are live: the kernel, dockerd and /proc hand over events as they happen, so
after each batch the watermark moves to the newest event time seen (minus `lateness`, 0 by default)
and the batch runs at once, in event-time order (without the engine's ordering buffer when the batch is
in order already, which gives the same result: `Engine.feed_live`). A record that arrives after newer ones (a slow
collector) still runs, at once, and is counted by the engine as late.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cloudward.alerts import Alert
from cloudward.config import Config
from cloudward.engine import Engine
from cloudward.events import Event
from cloudward.runners.scan import finish
from cloudward.store import Store


class Detector:
    def __init__(self, config: Config, *, intel: list[str] | None = None, store: Store | None = None,
                 lateness: float = 0.0) -> None:
        options: dict[str, Any] = {}
        if intel:
            options["intel"] = list(intel)
        self.engine = Engine(config, store=store, enrich_options=options)
        self.store = store
        self.lateness = lateness
        self.events = 0
        self._newest = float("-inf")

    def feed(self, events: Iterable[Event]) -> list[Alert]:
        """Evaluate `events`; the alerts created or changed by them, suppression applied."""
        batch = list(events)
        self.events += len(batch)
        for event in batch:
            if event.time > self._newest:
                self._newest = event.time
        if self._newest != float("-inf"):
            # feed, then advance to the newest time: at once, without the ordering buffer, where that gives
            # the same result (a live source's batches come in time order; see `Engine.feed_live`)
            changed = self.engine.feed_live(batch, self._newest - self.lateness)
        else:
            changed = self.engine.feed(batch)
        if changed:
            self.engine.book.apply_suppression()
        return changed

    def finish(self) -> list[Alert]:
        """Close open windows (and save to the store); the alerts that changed on the way."""
        engine = self.engine
        changed = engine.advance(None)
        finish(engine, self.store)  # runs nothing more; applies suppression and saves alerts and state
        return changed

    @property
    def rejected(self) -> int:
        return self.engine.stats.rejected
