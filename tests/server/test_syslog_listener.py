"""The syslog listener: message parsing, TCP framing, and a real rsyslogd forwarding an nginx log."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from serving import READER, Server, free_port

from cloudward.server.syslog import parse_message

SHOP = Path(__file__).resolve().parents[2] / "src" / "cloudward" / "samples" / "web" / "shop.example.com.access.log"


def test_rfc5424_and_rfc3164_messages() -> None:
    m = parse_message(b'<190>1 2026-11-02T09:15:27Z web-1 nginx 77 - [x@1 a="b\\]c" d="e"][y@2] 1.2.3.4 - - x\n')
    assert (m.hostname, m.app_name, m.body) == ("web-1", "nginx", b"1.2.3.4 - - x")
    m = parse_message(b"<165>1 2026-11-02T09:15:27Z - shop - - - \xef\xbb\xbfhello")
    assert (m.hostname, m.app_name, m.body) == ("", "shop", b"hello")
    m = parse_message(b"<190>Nov  2 09:15:27 web-1 nginx[12]: 1.2.3.4 - - [02/Nov/2026:09:15:27 +0000] x")
    assert (m.hostname, m.app_name, m.body) == ("web-1", "nginx", b"1.2.3.4 - - [02/Nov/2026:09:15:27 +0000] x")
    m = parse_message(b"<190>Nov  2 09:15:27 nginx: body text")  # nginx's own syslog: no hostname
    assert (m.app_name, m.body) == ("nginx", b"body text")
    assert parse_message(b"no priority") is None


def _wait_alerts(srv: Server, query: str, n: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    items: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        items = srv.request("GET", f"/api/v1/alerts?{query}", token=READER).json()["items"]
        if len(items) >= n:
            break
        time.sleep(0.2)
    return items


def test_tcp_newline_framing_names_the_site_from_the_app(make_server: Any) -> None:
    port = free_port()
    srv = make_server(f'syslog = {{ tcp = "127.0.0.1:{port}", sites = {{ nginx = "shop" }} }}').start()
    with socket.create_connection(("127.0.0.1", port)) as s:
        for raw in SHOP.read_bytes().splitlines():
            s.sendall(b"<190>Nov  2 09:15:27 web-1 nginx: " + raw + b"\n")
    items = _wait_alerts(srv, "type=AppServices_PhpInUploadFolder", 1)
    assert [a["resource"]["name"] for a in items] == ["shop"]


def test_rsyslogd_forwards_an_nginx_log_to_the_listener(make_server: Any, tmp_path: Path) -> None:
    binary = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    assert os.path.exists(binary), "rsyslogd is not installed (apt-get install -y rsyslog)"
    port = free_port()
    srv = make_server(f'syslog = {{ tcp = "127.0.0.1:{port}", format = "combined" }}').start()
    root = tmp_path / "rsyslog"
    (root / "work").mkdir(parents=True)
    log = root / "access.log"
    log.write_bytes(b"")
    conf = root / "rsyslog.conf"
    conf.write_text(
        f'global(workDirectory="{root / "work"}")\n'
        'module(load="imfile" mode="polling" PollingInterval="1")\n'
        f'input(type="imfile" File="{log}" Tag="blog" Facility="local7" Severity="info")\n'
        f'action(type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp" TCP_Framing="octet-counted" '
        'template="RSYSLOG_SyslogProtocol23Format")\n')
    proc = subprocess.Popen([binary, "-n", "-f", str(conf), "-i", str(root / "pid")],
                            stdout=open(root / "out", "wb"), stderr=subprocess.STDOUT)
    try:
        time.sleep(1.0)
        with log.open("ab") as f:
            f.write(SHOP.read_bytes())
        items = _wait_alerts(srv, "type=AppServices_PhpInUploadFolder", 1)
        assert [a["resource"]["name"] for a in items] == ["blog"], (root / "out").read_text()
        sources = {s["source"] for s in srv.request("GET", "/api/v1/sources", token=READER).json()["items"]}
        assert "syslog site=blog" in sources
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(10)


def test_udp_rfc5424_datagrams_with_the_hostname_as_site(make_server: Any) -> None:
    port = free_port()
    srv = make_server(f'syslog = {{ udp = "127.0.0.1:{port}", site_from = "hostname" }}').start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for raw in SHOP.read_bytes().splitlines():
            s.sendto(b"<190>1 2026-11-02T09:15:27Z shop-web-2 nginx - - - " + raw, ("127.0.0.1", port))
            time.sleep(0.001)  # loopback UDP drops what the socket buffer cannot hold
    items = _wait_alerts(srv, "type=AppServices_PhpInUploadFolder", 1)
    assert [a["resource"]["name"] for a in items] == ["shop-web-2"]
