"""The run summary on stderr: alert counts per type and severity, and what was read, skipped and refused."""

from __future__ import annotations

import os
import sys
from collections import Counter
from typing import TYPE_CHECKING, TextIO

from cloudward.alerts import Alert
from cloudward.config import SEVERITIES
from cloudward.textsafe import terminal_safe
from cloudward.timeutil import format_time

if TYPE_CHECKING:
    from cloudward.inputs import ScanStats
    from cloudward.pipeline import Pipeline

AUDIT_POLICY_HINT = (
    "log pods, workloads, services, RBAC objects at RequestResponse level — see examples/audit-policy.yaml"
)
#: rejected lines listed one by one in the summary; all are counted
SHOWN_REJECTIONS = 10


def reading_summary(stats: ScanStats) -> list[str]:
    """What became of the lines read, in plain words: records recognized, and of those how many the
    detections inspected, how many the prefilter skipped unparsed, how many carried nothing; rejects
    are listed after this."""
    recognized = stats.events + stats.skipped + stats.ignored
    out = [f"Recognized {recognized:,} record(s): {stats.events:,} inspected by the detections"]
    if stats.skipped:
        out[0] += (f", {stats.skipped:,} skipped by the prefilter (their raw bytes showed no enabled detection "
                   "needs them, so they were not parsed)")
    if stats.ignored:
        out[0] += (f", {stats.ignored:,} ignored (lines of programs no parser reads, or messages that carry "
                   "nothing to inspect)")
    out[0] += "."
    return out


#: ANSI colours of the summary's styled lines, on a terminal only
_STYLES = {"yellow": "33", "magenta": "35", "red": "31", "bold red": "1;31", "bold": "1"}


class SummaryWriter:
    """Writes the summary's lines to a text stream (stderr by default), coloured only on a terminal and not
    under NO_COLOR or TERM=dumb. Plain writes, not rich: an empty or quiet scan should not pay for loading
    rich; only the alerts-by-type table is drawn with it."""

    def __init__(self, stream: TextIO | None = None, *, color: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if color is None:
            isatty = getattr(self.stream, "isatty", None)
            color = bool(isatty and isatty()) and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
        self.color = color

    def print(self, text: str, style: str | None = None) -> None:
        code = _STYLES.get(style or "") if self.color else None
        self.stream.write(f"\x1b[{code}m{text}\x1b[0m\n" if code else text + "\n")

    def print_table(self, table: object) -> None:
        from rich.console import Console

        self.stream.flush()
        Console(file=self.stream, highlight=False, force_terminal=self.color, no_color=not self.color).print(table)


def print_summary(out: SummaryWriter, pipe: Pipeline, alerts: list[Alert], seconds: float) -> None:
    """The run summary. Every text that came from input (rule names, rejection reasons) is made terminal-safe
    here, since the lines are written as they are."""
    stats = pipe.stats
    if alerts:
        from rich.table import Table

        counts: Counter[tuple[str, str]] = Counter((a.alert_type, a.severity) for a in alerts)
        table = Table(title="Alerts by type and severity", title_justify="left")
        table.add_column("Alert type")
        shown = [s for s in reversed(SEVERITIES) if any(sev == s for _, sev in counts)]
        for sev in shown:
            table.add_column(sev, justify="right")
        table.add_column("total", justify="right")
        for alert_type in sorted({t for t, _ in counts}):
            row = [str(counts.get((alert_type, s), "")) for s in shown]
            table.add_row(alert_type, *row, str(sum(counts[(alert_type, s)] for s in SEVERITIES)))
        out.print_table(table)
    rate = stats.lines / seconds if seconds > 0 else 0.0
    out.print(
        f"Read {stats.files} input(s), {stats.lines:,} lines in {seconds:.2f}s ({rate:,.0f} lines/s); "
        f"{len(alerts)} alert(s)."
    )
    for line in reading_summary(stats):
        out.print(line)
    if stats.formats:
        out.print("Formats: " + ", ".join(f"{k} {v:,}" for k, v in sorted(stats.formats.items()) if v))
    if stats.duplicates:
        out.print(f"Ignored {stats.duplicates:,} redelivered events (same audit ID and stage).")
    if stats.uninspectable:
        out.print(
            f"{stats.uninspectable:,} mutating Kubernetes requests were logged without a body (Metadata level) "
            f"and could not be inspected: {AUDIT_POLICY_HINT}.", style="yellow")
    engine = getattr(pipe, "engine", pipe)
    if getattr(engine, "late", 0):
        settings = engine.settings
        spilled = (f"; the reorder buffer filled up {engine.spills:,} time(s) (max_held_events = "
                   f"{settings.max_held_events:,})" if engine.spills else "")
        out.print(
            f"{engine.late:,} event(s) ran out of time order: they came after events more than the allowed "
            f"lateness ({settings.allowed_lateness:g} s) newer had already run{spilled}. Windowed alerts may "
            f"differ from an ordered run; raise [engine] max_held_events when many files overlap in time.",
            style="yellow")
    # cards an engine never set up (it read nothing) held nothing back
    for det in engine.detections_set_up():
        if det.held_back:
            period = det.params.get("learning_period", "")
            out.print(
                f"{det.card.id}: {det.held_back:,} finding(s) held back by its learning period "
                f"(learning_period = {period}) until {format_time(det.held_until)}; what it saw meanwhile "
                f"became its baseline.", style="yellow")
    if pipe.allowed:
        out.print(f"{pipe.allowed:,} findings matched allow rules and were not raised.")
    for rule, n in sorted(pipe.book.suppressed.items()):
        out.print(f"Suppressed {n} alert(s) by rule: {terminal_safe(rule)}", style="magenta")
    if stats.rejected:
        reasons = ", ".join(f"{terminal_safe(k)} {v:,}" for k, v in stats.reject_reasons.most_common(6))
        out.print(f"Rejected {stats.rejected:,} record(s): {reasons}", style="red")
        for r in stats.rejections[:SHOWN_REJECTIONS]:
            out.print(f"  {terminal_safe(r.where, 200)}: {terminal_safe(r.reason, 300)}")
        if stats.rejected > SHOWN_REJECTIONS:
            out.print(f"  ... and {stats.rejected - SHOWN_REJECTIONS:,} more (--output-rejects FILE lists all "
                      f"kept, up to {len(stats.rejections)})")
