"""Terminal layout at 80 columns: ids, alert types and resource names are never cut; Korean wraps; pipes are
plain and honour COLUMNS."""

from __future__ import annotations

import io
import json
import os
import shutil
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


def test_rules_list_on_an_80_column_terminal_in_korean(tmp_path):
    script = shutil.which("script")
    assert script, "util-linux `script` is needed to run the command on a terminal"
    r = subprocess.run([script, "-qc", f"{CLOUDWARD} rules show K8S_SensitiveMount --lang ko", "/dev/null"],
                       capture_output=True, env={**os.environ, "COLUMNS": "80"}, timeout=60)
    out = r.stdout.decode()
    assert "…" not in out
    card = registry.by_id("K8S_SensitiveMount").card
    assert _joined(card.description_ko) in _joined(out.replace("\r", "").replace("\x1b[1m", "").replace("\x1b[0m", ""))
