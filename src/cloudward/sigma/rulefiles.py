"""Rule files and what loading them reported, without pySigma (the compiled-rule cache reads these too)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RULE_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class Problem:
    """A rule that did not load (`invalid`) or that Cloudward will not evaluate (`unsupported`)."""

    path: str
    kind: str
    reason: str
    rule_id: str = ""
    title: str = ""

    def line(self) -> str:
        who = f" {self.title!r}" if self.title else ""
        rid = f" ({self.rule_id})" if self.rule_id else ""
        return f"{self.path}:{who}{rid} {self.kind}: {self.reason}"


@dataclass
class LoadedRules:
    rules: list[Any] = field(default_factory=list)
    correlations: list[Any] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: int = 0


def rule_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[Problem]]:
    """Rule files under `paths` (folders are walked, hidden entries skipped), in a stable order."""
    out: list[Path] = []
    problems: list[Problem] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in RULE_SUFFIXES
                              and not any(part.startswith(".") for part in f.relative_to(p).parts)))
        elif p.is_file():
            out.append(p)
        else:
            problems.append(Problem(str(p), "invalid", "no such file or folder"))
    return out, problems


def rule_path(rule: Any) -> str:
    return str(rule.custom_attributes.get("_cloudward_path", "") or getattr(rule.source, "path", "") or "")
