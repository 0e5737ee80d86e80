"""`table`: alerts laid out for people — and the layout rules every listing on a terminal follows.

Nothing is ever cut: ids, alert types, resource names and descriptions (Korean included) wrap to the
width, folding a word only when it is longer than a whole line. On a wide terminal (120 columns or more)
listings are boxed tables; on a narrow terminal, and whenever output is piped or redirected, each record
is a plain block — a heading line and indented `label  value` lines — wrapped to `COLUMNS` (120 when
unset for pipes), without colours or box drawing.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from cloudward.alerts import Alert
from cloudward.textsafe import terminal_safe

SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan", "informational": "dim"}
#: a terminal at least this wide gets boxed tables; narrower ones get plain blocks
TABLE_MIN_WIDTH = 120
#: width for piped output when COLUMNS is not set
PIPED_WIDTH = 120

if TYPE_CHECKING:  # rich loads when something is laid out: sink discovery (every scan) imports this module
    from rich.console import Console
    from rich.text import Text

    Cell = str | Text


def columns_from_env() -> int | None:
    try:
        value = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        return None
    return value if value >= 20 else None


def make_console(file: TextIO, *, isatty: bool, width: int | None = None) -> Console:
    """A console for `file`: a terminal's own width (or COLUMNS), else COLUMNS or PIPED_WIDTH, plain."""
    from rich.console import Console

    width = width or columns_from_env()
    if isatty:
        return Console(file=file, width=width, highlight=False, soft_wrap=False)
    return Console(file=file, width=width or PIPED_WIDTH, highlight=False, soft_wrap=False, no_color=True,
                   color_system=None, force_terminal=False, emoji=False)


def is_plain(console: Console) -> bool:
    return not console.is_terminal or console.width < TABLE_MIN_WIDTH


def _text(cell: Cell) -> Text:
    from rich.text import Text

    return cell if isinstance(cell, Text) else Text(cell)


def print_listing(console: Console, headers: Sequence[str], rows: Sequence[Sequence[Cell]],
                  title: str | None = None) -> None:
    """Rows as a boxed table (wide terminal) or as plain blocks headed by the first column."""
    from rich.table import Table

    if not is_plain(console):
        table = Table(title=title, title_justify="left")
        # the first column (an id or alert type) stays whole on one line while the width allows
        first = min(max((_text(r[0]).cell_len for r in rows), default=0), console.width // 3)
        table.add_column(headers[0], overflow="fold", min_width=max(first, len(headers[0])))
        for h in headers[1:]:
            table.add_column(h, overflow="fold")
        for row in rows:
            table.add_row(*(_text(c) for c in row))
        console.print(table)
        return
    with _PlainLines(console):
        _print_blocks(console, headers, rows, title)


class _PlainLines:
    """Piped output without the trailing blanks rich pads grid cells with."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.capture = console.capture() if not console.is_terminal else None

    def __enter__(self) -> None:
        if self.capture is not None:
            self.capture.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self.capture is not None:
            self.capture.__exit__(*exc)
            text = self.capture.get()
            self.console.file.write("".join(line.rstrip() + "\n" for line in text.splitlines()))


def _print_blocks(console: Console, headers: Sequence[str], rows: Sequence[Sequence[Cell]],
                  title: str | None) -> None:
    from rich.table import Table
    from rich.text import Text

    if title:
        console.print(Text(title, style="bold"))
    label_width = max((len(h) for h in headers[1:]), default=0)
    for row in rows:
        heading = _text(row[0]).copy()
        heading.stylize("bold")
        console.print(heading, overflow="fold")
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True, min_width=label_width + 2)
        grid.add_column(overflow="fold", ratio=1)
        for h, cell in zip(headers[1:], row[1:], strict=False):
            value = _text(cell)
            if value.plain:
                grid.add_row(Text("  " + h, style="dim"), value)
        console.print(grid)
        console.print()


def write_table(alerts: list[Alert], out: BinaryIO, options: dict[str, Any]) -> None:
    korean = options.get("lang") == "ko"
    if not alerts:  # nothing to lay out: no need to load rich
        out.write(("No alerts." if not korean else "경고가 없습니다.").encode() + b"\n")
        return
    stream = io.TextIOWrapper(out, encoding="utf-8", errors="replace", write_through=True)
    console = make_console(stream, isatty=out.isatty(), width=options.get("width"))
    try:
        _write(console, alerts, korean)
    finally:
        stream.detach()


def _write(console: Console, alerts: list[Alert], korean: bool) -> None:
    from rich.table import Table
    from rich.text import Text

    if not alerts:
        console.print("No alerts." if not korean else "경고가 없습니다.")
        return
    heading = "Cloudward alerts" if not korean else "Cloudward 경고"
    if is_plain(console):
        rows = []
        for a in alerts:
            title = a.title_ko if korean and a.title_ko else a.title
            head = Text.assemble((a.severity.upper(), SEVERITY_STYLE.get(a.severity, "")), "  ",
                                 terminal_safe(title), "  ", (a.alert_type, "dim"))
            if a.status != "active":
                head.append(f"  ({a.status})", style="magenta")
            description = a.description_ko if korean and a.description_ko else a.description
            last = a.to_dict()["last_seen"]
            rows.append([head, terminal_safe(f"{a.resource.get('type')}: {a.resource.get('name')}"), str(a.count),
                         last[:19].replace("T", " ") if last else "-", terminal_safe(description)])
        print_listing(console, ["Alert", "Resource", "Count", "Last seen (UTC)", "Description"], rows,
                      title=heading)
        return
    table = Table(show_lines=True, title=heading, expand=True)
    table.add_column("Severity", no_wrap=True)
    table.add_column("Alert", ratio=1, overflow="fold")
    table.add_column("Count", justify="right", no_wrap=True)
    table.add_column("Last seen (UTC)", no_wrap=True)
    for a in alerts:
        title = a.title_ko if korean and a.title_ko else a.title
        description = a.description_ko if korean and a.description_ko else a.description
        cell = Text(terminal_safe(title), style="bold")
        cell.append(f"  {a.alert_type}", style="dim")
        if a.status != "active":
            cell.append(f"  ({a.status})", style="magenta")
        cell.append("\n" + terminal_safe(f"{a.resource.get('type')}: {a.resource.get('name')}"), style="dim")
        cell.append("\n" + terminal_safe(description))
        last = a.to_dict()["last_seen"]
        table.add_row(
            Text(a.severity, style=SEVERITY_STYLE.get(a.severity, "")),
            cell,
            str(a.count),
            last[:19].replace("T", " ") if last else "-",
        )
    console.print(table)


OUTPUTS = {"table": write_table}
