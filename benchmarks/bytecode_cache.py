"""Run the measured scans from bytecode, as an installed Cloudward runs.

`pip install` byte-compiles a package; an editable checkout writes `__pycache__` on its first run. A shell
with PYTHONDONTWRITEBYTECODE set (some CI and sandbox images set it) never writes it, so every scan of such a
checkout compiles the sources it imports again: 0.2 to 0.6 s of CPU per scan (the Kubernetes cards, the Sigma
loader), which a benchmark would count as scan time. Each benchmark calls `prepare` once, with every other
tree it measures, before its first timed run.
"""

from __future__ import annotations

import compileall
import os
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def prepare(sources: Iterable[str | Path | None] = ()) -> None:
    """Byte-compile this checkout's `src/` and every other source folder in `sources` (a baseline tree's
    `src/`; empty entries are ignored), and drop PYTHONDONTWRITEBYTECODE from this process's environment, so
    the benchmark's child processes cache what compileall could not reach on first use, like a user's."""
    for folder in [ROOT / "src", *(Path(s) for s in sources if s)]:
        if folder.is_dir():
            compileall.compile_dir(str(folder), quiet=1)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
