"""The detection registry, filled by discovery: every module under `cloudward.detections.<area>`
whose name does not start with `_` holds one card (a `Detection` subclass with a `card`)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import cache

from cloudward.config import Config, ConfigError
from cloudward.datalists import DataLists
from cloudward.detections.base import Card, Detection, Sample, snake_case

__all__ = ["Card", "Detection", "Sample", "all_classes", "build", "by_id", "snake_case"]

AREAS = ("kubernetes", "appservice", "node")


@cache
def all_classes() -> tuple[type[Detection], ...]:
    found: list[type[Detection]] = []
    for area in AREAS:
        package = importlib.import_module(f"{__name__}.{area}")
        for info in pkgutil.iter_modules(package.__path__):
            if info.name.startswith("_"):
                continue
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            classes = [
                obj for _, obj in inspect.getmembers(module, inspect.isclass)
                if issubclass(obj, Detection) and obj.__module__ == module.__name__ and hasattr(obj, "card")
            ]
            if len(classes) != 1:
                raise TypeError(f"{module.__name__} must define exactly one card, found {len(classes)}")
            found.append(classes[0])
    ids = [c.card.id for c in found]
    if len(ids) != len(set(ids)):
        raise TypeError("two cards share an alert type")
    return tuple(sorted(found, key=lambda c: c.card.id))


def by_id(alert_type: str) -> type[Detection] | None:
    for cls in all_classes():
        if cls.card.id == alert_type:
            return cls
    return None


def build(config: Config, only: set[str] | None = None, data: DataLists | None = None) -> list[Detection]:
    """Instances of every enabled card (or just `only`), configured; unknown ids are an error."""
    known = {c.card.id for c in all_classes()}
    unknown = sorted(a for a in set(config.detections) - known if not a.startswith(SIGMA_PREFIX))
    if unknown:
        raise ConfigError(f"{config.source}: unknown detections {', '.join(unknown)}")
    if only is not None and (bad := sorted(a for a in only - known if not a.startswith(SIGMA_PREFIX))):
        raise ConfigError(f"unknown detections {', '.join(bad)}")
    data = data or DataLists(config)
    shared: dict[type, object] = {}
    out = []
    for cls in all_classes():
        if only is not None and cls.card.id not in only:
            continue
        settings = config.detection(cls.card.id)
        if settings.enabled:
            out.append(cls(settings, data, shared))
    out.extend(_sigma_detections(config, data, only))
    return out


# -- Sigma rules (cloudward.sigma): [sigma] paths and `scan --sigma`; their alert types are SIGMA_<rule id>
SIGMA_PREFIX = "SIGMA_"


def _sigma_detections(config: Config, data: DataLists, only: set[str] | None) -> list[Detection]:
    from cloudward import sigma

    return sigma.detections(config, data, only)
