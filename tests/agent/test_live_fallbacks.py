"""The fallback collectors on the real kernel, each alone: the netlink process connector with /proc
enrichment (when audit cannot be had), and connections read from /proc/<pid>/net/tcp."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agent_harness import require_root, require_tool


def test_process_connector_sees_php_running_a_command(agent_factory: Any) -> None:
    require_root()
    php = require_tool("php")
    agent = agent_factory(agent='collectors = ["proc_connector"]')
    agent.wait_ready(("proc_connector",))
    since = time.monotonic()
    subprocess.run([php, "-r", 'system("sleep 0.3");'], check=True, timeout=20)
    took, alert = agent.wait_for("AppServices_SuspectPhp", since)
    assert took <= 2.0
    assert "sleep 0.3" in alert["entities"]["command_line"]
    status = agent.wait_status(lambda s: s["collectors"]["proc_connector"]["events"] > 0)
    assert status["collectors"]["proc_connector"]["state"] == "ok"
    assert "misses" in status["collectors"]["proc_connector"]


def test_proc_net_sees_a_connection_to_a_listed_address(agent_factory: Any, tmp_path: Path) -> None:
    require_root()
    feed = tmp_path / "feed.txt"
    feed.write_text("127.0.0.77 ; test C2 listener\n")
    agent = agent_factory(agent='collectors = ["proc_net"]\nproc_net_interval = 0.3',
                          tables=f'[intel]\nfeeds = ["{feed}"]\n')
    agent.wait_ready(("proc_net",))
    server = socket.socket()
    server.bind(("127.0.0.77", 0))
    server.listen(1)
    port = server.getsockname()[1]
    since = time.monotonic()
    code = f"import socket, time; s = socket.create_connection(('127.0.0.77', {port})); time.sleep(3)"
    client = subprocess.Popen([sys.executable, "-c", code])
    try:
        conn, _ = server.accept()
        _, alert = agent.wait_for("K8S.NODE_ThreatIntelConnection", since, timeout=3.0)
        conn.close()
    finally:
        client.kill()
        client.wait()
        server.close()
    assert alert["entities"]["destination_ip"] == "127.0.0.77"
    assert alert["entities"]["destination_port"] == port
    assert alert["entities"]["context"] == ["test C2 listener"]
    assert alert["entities"]["pid"] == client.pid


def test_tmp_binary_run_by_www_data_through_the_process_connector(agent_factory: Any) -> None:
    require_root()
    php = require_tool("php")
    agent = agent_factory(agent='collectors = ["proc_connector"]')
    agent.wait_ready(("proc_connector",))
    binary = Path("/tmp") / f"cw-connector-test-{time.monotonic_ns()}"
    shutil.copy("/bin/sleep", binary)
    try:
        since = time.monotonic()
        subprocess.run(["runuser", "-u", "www-data", "--", php, "-r", f'system("{binary} 0.3");'], check=True,
                       timeout=20)
        took, alert = agent.wait_for("AppServices_TmpFolderExecution", since,
                                     where=lambda a: a["entities"].get("executable") == str(binary))
    finally:
        binary.unlink()
    assert took <= 2.0 and alert["entities"]["user"] == "www-data"


def test_prometheus_metrics_pass_promtool(agent_factory: Any) -> None:
    require_root()
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    agent = agent_factory(agent=f'collectors = ["proc_connector", "host_config"]\nmetrics_port = {port}')
    agent.wait_ready(("proc_connector",))
    subprocess.run(["/bin/true"], check=True)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'cloudward_agent_events_total{collector="proc_connector"}' in text
    assert 'cloudward_agent_collector_state{collector="proc_connector",state="ok"} 1.0' in text
    promtool = require_tool("promtool")
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
