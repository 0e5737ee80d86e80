"""The web benchmark's log generator, for tests that need realistic multi-site traffic."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "web_bench.py"
_spec = importlib.util.spec_from_file_location("cloudward_web_bench", _PATH)
assert _spec is not None and _spec.loader is not None
web_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(web_bench)


def write_sites(folder: Path, lines: int, fmt: str = "combined") -> None:
    web_bench.generate(folder, lines, fmt)
