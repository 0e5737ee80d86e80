"""The syslog listener: message parsing, TCP framing, and a real rsyslogd forwarding an nginx log."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
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


def _pki(root: Path) -> Path:
    """A test CA, a server certificate for 127.0.0.1 and a client certificate it signed."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make test certificates")
    root.mkdir()

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=root, check=True, capture_output=True, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=syslog-test-ca")
    (root / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={name}")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "2", "-extfile", "san.ext")
    return root


def test_tls_octet_counted_rfc5425_with_client_certificates(make_server: Any, tmp_path: Path) -> None:
    # rsyslog's TLS drivers (lmnsd_gtls / lmnsd_ossl) are not installed on this machine (only lmnsd_ptcp),
    # so the sender is Python's ssl client speaking RFC 5425: octet-counted RFC 5424 frames inside TLS
    pki = _pki(tmp_path / "pki")
    port = free_port()
    srv = make_server(f'syslog = {{ tls = "127.0.0.1:{port}", tls_cert = "{pki / "server.crt"}", '
                      f'tls_key = "{pki / "server.key"}", tls_client_ca = "{pki / "ca.crt"}" }}').start()
    # a sender without a client certificate is refused in the handshake and nothing it sends is read
    anonymous = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with anonymous.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                frame = b"<190>1 2026-11-02T09:15:27Z intruder intruder - - - " + SHOP.read_bytes().splitlines()[0]
                for _ in range(50):
                    s.sendall(b"%d %s" % (len(frame), frame))
                    s.recv(1)  # the server's alert (no certificate) arrives as an error here
    client = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    client.load_cert_chain(str(pki / "client.crt"), str(pki / "client.key"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with client.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            # frames split across TLS records at arbitrary points: the framing, not the reads, delimits them
            stream = b"".join(b"%d %s" % (len(f), f) for f in
                              (b"<190>1 2026-11-02T09:15:27Z web-tls nginx 7 - - " + line
                               for line in SHOP.read_bytes().splitlines()))
            for i in range(0, len(stream), 777):
                s.sendall(stream[i:i + 777])
            # close_notify, and wait for the server's: closing with its session tickets unread would
            # make the kernel reset the connection and drop what the server had not read yet
            s.unwrap()
    items = _wait_alerts(srv, "type=AppServices_PhpInUploadFolder", 1, timeout=60)
    sources = {s["source"] for s in srv.request("GET", "/api/v1/sources", token=READER).json()["items"]}
    assert [a["resource"]["name"] for a in items] == ["nginx"], (sources, srv.log()[-2000:])
    assert "syslog site=nginx" in sources and "syslog site=intruder" not in sources


def test_tls_listener_needs_its_certificate() -> None:
    from cloudward.config import ConfigError, from_dict
    from cloudward.server.syslog import SyslogSettings

    with pytest.raises(ConfigError, match="tls_cert and tls_key"):
        SyslogSettings.from_config(from_dict({"server": {"syslog": {"tls": "127.0.0.1:6514"}}}))
    with pytest.raises(ConfigError, match=r"tls_kee"):
        from_dict({"server": {"syslog": {"tls": "127.0.0.1:6514", "tls_kee": "x"}}})
