"""The earlier entry point, kept as a facade over `cloudward.engine.Engine`.

`Pipeline(...).run_input/run_paths/feed/finish/learn_paths` keep their meaning: inputs are decoded and
fed to one engine; what `run_input` and `feed` hand it is held until `finish` (inputs are not in
event-time order), the files of one `run_paths` call run as the scan goes, like `cloudward scan`.
New runners use the engine directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from cloudward.alerts import Alert, AlertBook
from cloudward.config import Config
from cloudward.datalists import DataLists
from cloudward.detections.base import Detection
from cloudward.engine import MUTATING_VERBS, Engine, RecentIds
from cloudward.enrich import Enricher
from cloudward.events import Event
from cloudward.inputs import InputFile, ScanStats
from cloudward.parsers.base import ParseContext
from cloudward.runners.scan import feed_paths, finish
from cloudward.store import Store

__all__ = ["MUTATING_VERBS", "Pipeline", "RecentIds", "scan_text"]


class Pipeline:
    def __init__(
        self,
        config: Config | None = None,
        *,
        only: set[str] | None = None,
        store: Store | None = None,
        enrich_options: dict[str, Any] | None = None,
        raise_errors: bool = False,
    ) -> None:
        self.engine = Engine(config, only=only, store=store, enrich_options=enrich_options,
                             raise_errors=raise_errors)
        self.engine.hold = True
        self.store = store

    # the engine's parts, under the names callers use
    @property
    def config(self) -> Config:
        return self.engine.config

    @property
    def data(self) -> DataLists:
        return self.engine.data

    @property
    def detections(self) -> list[Detection]:
        return self.engine.detections

    @property
    def enrichers(self) -> list[Enricher]:
        return self.engine.enrichers

    @property
    def book(self) -> AlertBook:
        return self.engine.book

    @property
    def ctx(self) -> ParseContext:
        return self.engine.ctx

    @property
    def stats(self) -> ScanStats:
        return self.engine.stats

    @stats.setter
    def stats(self, value: ScanStats) -> None:
        self.engine.stats = value
        self.engine.ctx.stats = value

    @property
    def allowed(self) -> int:
        return self.engine.allowed

    @property
    def detection_errors(self) -> int:
        return self.engine.detection_errors

    @property
    def learning(self) -> bool:
        return self.engine.learning

    @property
    def unread_inputs(self) -> list[str]:
        return self.engine.unread_inputs

    # -- inputs ------------------------------------------------------------------------------
    def run_paths(self, paths: Iterable[str], fmt: str | None = None,
                  on_input: Callable[[InputFile], None] | None = None) -> None:
        # files of one call are read in the order of their first events and run as the scan goes
        # (see `runners.scan.feed_paths`); single inputs handed to `run_input` are held until `finish`
        engine = self.engine
        engine.hold = False
        try:
            feed_paths(engine, paths, fmt, on_input, ordered=True)
        finally:
            engine.hold = True

    def run_input(self, src: InputFile, fmt: str | None = None) -> None:
        """Decode one input and feed its events; unreadable inputs are rejected, never raised."""
        self.engine.feed(self.engine.decode_input(src, fmt))

    def feed(self, event: Event) -> None:
        self.engine.feed((event,))

    def learn_paths(self, paths: Iterable[str], fmt: str | None = None) -> None:
        """Feed earlier logs so baselines learn from them; nothing they contain alerts."""
        self.engine.set_learning(True)
        try:
            self.run_paths(paths, fmt)
            self.engine.advance(None)
        finally:
            self.engine.set_learning(False)

    # -- end ---------------------------------------------------------------------------------
    def finish(self, min_severity: str = "informational") -> list[Alert]:
        """Run every event in time order, apply suppression, persist, and return the alerts (oldest first)."""
        return finish(self.engine, self.store, min_severity)

def scan_text(text: str | bytes, fmt: str | None = None, *, config: Config | None = None,
              only: set[str] | None = None, display: str = "<sample>", raise_errors: bool = True,
              enrich_options: dict[str, Any] | None = None) -> tuple[list[Alert], ScanStats]:
    """Run `text` through a fresh engine (tests, samples, `rules test`)."""
    pipe = Pipeline(config, only=only, raise_errors=raise_errors, enrich_options=enrich_options)
    data = text.encode() if isinstance(text, str) else text
    pipe.run_input(InputFile.from_bytes(data, display), fmt)
    return pipe.finish(), pipe.stats
