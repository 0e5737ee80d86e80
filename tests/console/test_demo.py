"""`cloudward demo` ends with the command that opens its alerts in the console; that command works."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from serving import READER


def test_demo_prints_a_serve_command_whose_console_shows_the_demo_alerts(make_server: Any) -> None:
    demo = subprocess.run([sys.executable, "-m", "cloudward", "demo", "-o", "jsonl"], capture_output=True,
                          timeout=300)
    assert demo.returncode == 0, demo.stderr[-2000:]
    alerts = [line for line in demo.stdout.splitlines() if line.strip()]
    err = demo.stderr.decode()
    found = re.search(r"cloudward serve --db (\S+)", err)
    assert found and "http://127.0.0.1:8765/" in err, err[-1000:]
    srv = make_server()
    srv.db = Path(found.group(1))
    srv.start()
    listed = srv.request("GET", "/api/v1/alerts?limit=1000", token=READER).json()["items"]
    assert len(listed) == len(alerts) > 10
    assert srv.request("GET", "/login").status == 200
