"""The agent's one seam to the detection pipeline.

Everything the agent asks of detection goes through `Detector`: feed a batch of normalized events,
get back the alerts that batch created or changed; at the end, close the windows. Today it drives
`cloudward.pipeline.Pipeline`; switching to the streaming engine means changing this module only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cloudward.alerts import Alert
from cloudward.config import Config
from cloudward.events import Event
from cloudward.pipeline import Pipeline
from cloudward.store import Store


class Detector:
    def __init__(self, config: Config, *, intel: list[str] | None = None, store: Store | None = None) -> None:
        options: dict[str, Any] = {}
        if intel:
            options["intel"] = list(intel)
        self.pipeline = Pipeline(config, store=store, enrich_options=options)
        self.events = 0

    def feed(self, events: Iterable[Event]) -> list[Alert]:
        """Evaluate `events` (in order); the alerts created or changed by them, suppression applied."""
        feed = self.pipeline.feed
        n = 0
        for event in events:
            feed(event)
            n += 1
        self.events += n
        changed = self.pipeline.book.drain_changed()
        if changed:
            self.pipeline.book.apply_suppression()
        return changed

    def finish(self) -> list[Alert]:
        """Close open windows (and save to the store); the alerts that changed on the way."""
        self.pipeline.finish()
        return self.pipeline.book.drain_changed()

    @property
    def rejected(self) -> int:
        return self.pipeline.stats.rejected
