"""Output sinks, found by discovery: a module here defining `OUTPUTS` (name -> writer) adds to them.

A writer takes the alerts of a run and a binary stream; summaries and progress never go to that
stream (stdout stays machine-readable for jsonl/json/ocsf).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from functools import cache
from typing import Any, BinaryIO

from cloudward.alerts import Alert

Writer = Callable[[list[Alert], BinaryIO, dict[str, Any]], None]


@cache
def outputs() -> dict[str, Writer]:
    found: dict[str, Writer] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.update(getattr(module, "OUTPUTS", {}))
    return found
