"""Enrichers, found by discovery: every module here defining `build(config)` that returns an
`Enricher` (or None when not configured) adds context to events before detection."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, ClassVar

from cloudward.config import Config
from cloudward.events import Event


class Enricher:
    """Adds context to events of `kinds` in place (threat-intel hits, container metadata...)."""

    kinds: ClassVar[tuple[type[Event], ...]] = ()
    name: ClassVar[str] = ""

    def enrich(self, event: Any) -> None:
        raise NotImplementedError

    def prepare(self, paths: list[str]) -> None:
        """Called with a run's input paths before any is parsed (to load context files first)."""


def build_all(config: Config, **options: Any) -> list[Enricher]:
    out: list[Enricher] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        build: Callable[..., Enricher | None] | None = getattr(module, "build", None)
        if build is not None and (enricher := build(config, **options)) is not None:
            out.append(enricher)
    # an enricher may read what another filled in (container context reads the container id that
    # process ancestry found): lower `order` runs first
    return sorted(out, key=lambda e: getattr(e, "order", 50))
