"""`cloudward scan`: a finite set of files (or stdin) through one engine, then the sinks.

Files of one scan are not in event-time order (rotated logs read newest first, one site's day after
another's), so the runner holds every event until its last input is read and then lets the engine run
them in time order (`Engine.hold`); the alerts are the same whatever order the files were named in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from cloudward.alerts import Alert
from cloudward.config import Config
from cloudward.engine import Engine
from cloudward.inputs import InputFile, expand_paths
from cloudward.sinks import Sink
from cloudward.store import Store, save_state_rows


def feed_paths(engine: Engine, paths: Iterable[str], fmt: str | None = None,
               on_input: Callable[[InputFile], None] | None = None) -> None:
    """Decode every file under `paths` (`-` is stdin) into `engine`."""
    # context inputs (docker inspect snapshots) are decoded once, like any input: their events carry no
    # time, so the engine runs them first and the container-context enricher learns from them before
    # any process event, whichever order the files came in
    for path in expand_paths(list(paths)):
        src = InputFile(path, max_line_bytes=engine.config.max_line_bytes)
        if on_input is not None:
            on_input(src)
        engine.feed(engine.decode_input(src, fmt))


def finish(engine: Engine, store: Store | None, min_severity: str = "informational") -> list[Alert]:
    """End of input: run what is held, apply suppression, persist alerts and state rows."""
    engine.advance(None)
    engine.book.apply_suppression()
    if store is not None:
        store.save_alerts(engine.book.alerts.values())
        save_state_rows(store, engine.state_rows())
    return engine.alerts(min_severity)


class ScanRunner:
    def __init__(self, config: Config, *, only: set[str] | None = None, store: Store | None = None,
                 intel: list[str] | None = None, sinks: list[tuple[Sink, dict[str, Any]]] | None = None) -> None:
        self.engine = Engine(config, only=only, store=store, enrich_options={"intel": list(intel or [])})
        self.engine.hold = True
        self.store = store
        self.sinks = sinks or []

    def learn(self, paths: Iterable[str], fmt: str | None = None) -> None:
        """`--baseline-from`: baselines learn from these; nothing in them alerts, and their counts are dropped."""
        engine = self.engine
        engine.set_learning(True)
        try:
            feed_paths(engine, paths, fmt)
            engine.advance(None)
        finally:
            engine.set_learning(False)
        engine.stats = type(engine.stats)()
        engine.ctx.stats = engine.stats

    def run(self, paths: Iterable[str], fmt: str | None = None, *, min_severity: str = "informational",
            on_input: Callable[[InputFile], None] | None = None) -> list[Alert]:
        feed_paths(self.engine, paths, fmt, on_input)
        return finish(self.engine, self.store, min_severity)

    def deliver(self, alerts: list[Alert]) -> None:
        """Open every sink, send the alerts, close them (each sink filters by its own `min_severity`)."""
        opened: list[Sink] = []
        try:
            for sink, table in self.sinks:
                sink.open(table)
                opened.append(sink)
            for sink in opened:
                sink.send(alerts)
        finally:
            for sink in opened:
                sink.close()
