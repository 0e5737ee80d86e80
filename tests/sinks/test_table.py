"""Terminal layout at 80 columns: ids, alert types and resource names are never cut; Korean wraps; pipes are
plain and honour COLUMNS."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from cloudward import detections as registry
from cloudward.detections.kubernetes._samples import audit, container, pod
from cloudward.pipeline import scan_text
from cloudward.sinks.table import _write, print_listing

CLOUDWARD = str(Path(sys.executable).parent / "cloudward")
LONG_NS = "payments-settlement-reconciliation-batch"


def _tty(width: int = 80) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=width, force_terminal=True, color_system=None, highlight=False), buf


def _joined(text: str) -> str:
    """The output with line breaks and layout padding removed: a wrapped word reads whole again."""
    return "".join(ch for ch in text if ch not in " \n│┃")


def test_rules_list_at_80_columns_shows_every_alert_type_whole():
    con, buf = _tty(80)
    cards = [c.card for c in registry.all_classes()]
    print_listing(con, ["Alert type", "Title", "Severity"], [[c.id, c.title, c.severity] for c in cards])
    out = buf.getvalue()
    assert "…" not in out
    assert all(max(len(line) for line in out.splitlines()) <= 80 for _ in [0])
    for c in cards:
        assert c.id in out.splitlines() or c.id in out, c.id


def test_scan_table_at_80_columns_never_cuts_a_type_or_resource_and_korean_wraps():
    ev = audit("create", "pods", pod("p" * 70, [container("c", "nginx", privileged=True)], namespace=LONG_NS),
               namespace=LONG_NS)
    alerts, _ = scan_text(json.dumps(ev) + "\n", config=None)
    for width in (80, 130):
        for korean in (False, True):
            con, buf = _tty(width)
            _write(con, alerts, korean)
            out = buf.getvalue()
            assert "…" not in out, (width, korean)
            joined = _joined(out)
            assert "K8S_PrivilegedContainer" in joined
            description = alerts[0].description_ko if korean else alerts[0].description
            assert _joined(description) in joined, (width, korean)


def test_alerts_list_piped_is_plain_honours_columns_and_keeps_whole_ids(tmp_path):
    ev = audit("create", "pods", pod("web", [container("c", "nginx", privileged=True)], namespace=LONG_NS),
               namespace=LONG_NS)
    log = tmp_path / "a.log"
    log.write_text(json.dumps(ev) + "\n")
    db = tmp_path / "s.db"
    env = {**os.environ, "COLUMNS": "60"}
    subprocess.run([CLOUDWARD, "scan", str(log), "--store", str(db), "-q"], check=True, capture_output=True)
    r = subprocess.run([CLOUDWARD, "alerts", "list", "--store", str(db)], capture_output=True, env=env, timeout=60)
    out = r.stdout.decode()
    (doc,) = [json.loads(x) for x in subprocess.run(
        [CLOUDWARD, "alerts", "list", "--store", str(db), "-o", "jsonl"], capture_output=True).stdout.splitlines()]
    assert doc["id"] in out and "K8S_PrivilegedContainer" in out and "kubernetes" in out
    assert "┃" not in out and "\x1b" not in out  # plain: no boxes, no colours
    assert max(len(line) for line in out.splitlines()) <= 60
    assert all(line == line.rstrip() for line in out.splitlines())


def _on_a_terminal(*args: str, columns: int = 80) -> str:
    """Run cloudward with its stdout on a pseudo-terminal (so it lays out for a person) and return what it wrote."""
    import pty

    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen([CLOUDWARD, *args], stdout=follower, stderr=subprocess.DEVNULL,
                                env={**os.environ, "COLUMNS": str(columns)})
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(timeout=60)
    finally:
        os.close(leader)
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", b"".join(chunks).decode().replace("\r", ""))


def test_rules_show_on_an_80_column_terminal_wraps_korean_never_cuts():
    out = _on_a_terminal("rules", "show", "K8S_SensitiveMount", "--lang", "ko")
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    card = registry.by_id("K8S_SensitiveMount").card
    assert _joined(card.description_ko) in _joined(out)


def test_rules_list_on_an_80_column_terminal_keeps_every_alert_type_whole():
    out = _on_a_terminal("rules", "list")
    assert "…" not in out
    lines = out.splitlines()
    for cls in registry.all_classes():
        assert cls.card.id in lines, cls.card.id  # a heading line of its own, whole
