"""`table`: alerts as a readable table for people at a terminal (rich)."""

from __future__ import annotations

import io
from typing import Any, BinaryIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cloudward.alerts import Alert
from cloudward.textsafe import terminal_safe

SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan", "informational": "dim"}


def write_table(alerts: list[Alert], out: BinaryIO, options: dict[str, Any]) -> None:
    korean = options.get("lang") == "ko"
    stream = io.TextIOWrapper(out, encoding="utf-8", errors="replace", write_through=True)
    # a pipe or file gets 120 columns rather than rich's 80, so descriptions stay readable
    width = options.get("width") or (None if out.isatty() else 120)
    console = Console(file=stream, width=width, highlight=False, soft_wrap=False)
    if not alerts:
        console.print("No alerts." if not korean else "경고가 없습니다.")
        stream.detach()
        return
    table = Table(show_lines=True, title="Cloudward alerts" if not korean else "Cloudward 경고", expand=True)
    table.add_column("Severity", no_wrap=True)
    table.add_column("Alert", ratio=1)
    table.add_column("Count", justify="right", no_wrap=True)
    table.add_column("Last seen (UTC)", no_wrap=True)
    for a in alerts:
        title = a.title_ko if korean and a.title_ko else a.title
        description = a.description_ko if korean and a.description_ko else a.description
        cell = Text(terminal_safe(title, 200), style="bold")
        cell.append(f"  {a.alert_type}", style="dim")
        if a.status != "active":
            cell.append(f"  ({a.status})", style="magenta")
        cell.append("\n" + terminal_safe(f"{a.resource.get('type')}: {a.resource.get('name')}", 80), style="dim")
        cell.append("\n" + terminal_safe(description, 600))
        last = a.to_dict()["last_seen"]
        table.add_row(
            Text(a.severity, style=SEVERITY_STYLE.get(a.severity, "")),
            cell,
            str(a.count),
            last[:19].replace("T", " ") if last else "-",
        )
    console.print(table)
    stream.detach()


OUTPUTS = {"table": write_table}
