"""Alert delivery from the service through the outbox to real receivers: an HTTP receiver (webhook,
Slack), a real Prometheus Alertmanager and a real rsyslogd receiving CEF."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from serving import INGEST, Receiver, cluster_admin_event, event_list, free_port, privileged_pod_event, read_event

ATTACK = [privileged_pod_event(), cluster_admin_event(), read_event(1)]
SECRET = "webhook-secret-for-tests"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def webhook_sinks(url: str, extra: str = "") -> str:
    return (f'[[sinks]]\ntype = "webhook"\nname = "hook"\nurl = "{url}/hook"\nsecret = "{SECRET}"\n'
            f'headers = {{ X-Team = "platform" }}\nextra = {{ team = "platform" }}\n{extra}\n'
            f'[[sinks]]\ntype = "slack"\nname = "chat"\nurl = "{url}/slack"\nmin_severity = "low"\n'
            'dashboard_url = "https://cw.example"\nexclude = ["K8S_ClusterAdminBinding"]\n')


def test_webhook_and_slack_receive_signed_filtered_alerts_once(make_server: Any, receiver: Receiver) -> None:
    srv = make_server(rest=webhook_sinks(receiver.url)).start()
    assert srv.request("POST", "/k8s-audit", event_list(ATTACK), token=INGEST).status == 200
    got = receiver.wait_for(3)
    time.sleep(0.5)
    hooks = [r for r in got if r[0] == "/hook"]
    slack = [r for r in got if r[0] == "/slack"]
    assert len(hooks) == 2 and len(slack) == 1, got
    for _, headers, body in hooks:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["x-cloudward-signature"] == expected
        assert headers["x-team"] == "platform"
        doc = orjson.loads(body)
        assert headers["idempotency-key"] == f"{doc['id']}:1"
        assert doc["team"] == "platform" and doc["alert_type"] in ("K8S_PrivilegedContainer", "K8S_ClusterAdminBinding")
    message = orjson.loads(slack[0][2])
    text = message["blocks"][0]["text"]["text"]
    assert "Privileged container" in text and "<https://cw.example/alerts/" in text and "debug-shell" in text
    # the same batch again, and an update of an existing alert inside the re-notify interval: no new message
    srv.request("POST", "/k8s-audit", event_list(ATTACK), token=INGEST)
    update = privileged_pod_event(when="2026-11-02T09:20:00.000000Z")
    srv.request("POST", "/k8s-audit", event_list([update]), token=INGEST)
    time.sleep(1.0)
    assert len(receiver.requests) == 3


def test_a_sink_down_during_a_crash_gets_each_alert_exactly_once_after_restart(make_server: Any) -> None:
    port = free_port()
    srv = make_server(rest=webhook_sinks(f"http://127.0.0.1:{port}").split("[[sinks]]\ntype = \"slack\"")[0]).start()
    assert srv.request("POST", "/k8s-audit", event_list(ATTACK), token=INGEST).status == 200
    time.sleep(0.5)  # delivery fails: nothing listens
    srv.kill9()
    receiver = Receiver(port)
    try:
        srv.start()
        got = receiver.wait_for(2)
        assert srv.request("POST", "/k8s-audit", event_list(ATTACK), token=INGEST).status == 200
        time.sleep(2.5)  # a retry of an already delivered row would arrive within this
        keys = sorted(h["idempotency-key"] for _, h, _ in got)
        assert len(keys) == 2 and len(set(keys)) == 2, keys
    finally:
        receiver.close()


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        pytest.fail("prometheus-alertmanager is not installed (apt-get install -y prometheus-alertmanager)")
    root = tmp_path / "am"
    root.mkdir()
    (root / "am.yml").write_text("route:\n  receiver: none\nreceivers:\n  - name: none\n")
    port = free_port()
    proc = subprocess.Popen([binary, f"--config.file={root / 'am.yml'}", f"--storage.path={root / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                            stdout=open(root / "log", "wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url + "/-/ready", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"alertmanager did not start: {(root / 'log').read_text()}")
                time.sleep(0.2)
        yield url
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(10)


def test_alertmanager_receives_the_alert(make_server: Any, alertmanager: str) -> None:
    srv = make_server(rest=f'[[sinks]]\ntype = "alertmanager"\nurl = "{alertmanager}"\n'
                           'extra = { cluster = "prod-east" }\n').start()
    assert srv.request("POST", "/k8s-audit", event_list(ATTACK), token=INGEST).status == 200
    deadline = time.monotonic() + 20
    names: set[str] = set()
    while time.monotonic() < deadline:
        alerts = json.loads(urllib.request.urlopen(alertmanager + "/api/v2/alerts", timeout=5).read())
        names = {a["labels"]["alertname"] for a in alerts}
        if len(names) >= 2:
            break
        time.sleep(0.2)
    assert names == {"K8S_PrivilegedContainer", "K8S_ClusterAdminBinding"}
    one = next(a for a in alerts if a["labels"]["alertname"] == "K8S_PrivilegedContainer")
    assert one["labels"]["severity"] == "low" and one["labels"]["cluster"] == "prod-east"
    assert one["labels"]["resource"] == "kubernetes" and one["annotations"]["title"]


@pytest.fixture
def rsyslog(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    binary = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    if not os.path.exists(binary):
        pytest.fail("rsyslogd is not installed (apt-get install -y rsyslog)")
    root = tmp_path / "rsyslog"
    (root / "work").mkdir(parents=True)
    port = free_port()
    out = root / "received.log"
    conf = root / "rsyslog.conf"
    conf.write_text(f'global(workDirectory="{root / "work"}")\n'
                    'module(load="imtcp")\n'
                    f'input(type="imtcp" address="127.0.0.1" port="{port}")\n'
                    'template(name="raw" type="string" string="%rawmsg%\\n")\n'
                    f'action(type="omfile" file="{out}" template="raw")\n')
    proc = subprocess.Popen([binary, "-n", "-f", str(conf), "-i", str(root / "pid")],
                            stdout=open(root / "log", "wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        import socket
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"rsyslogd did not start: {(root / 'log').read_text()}")
                time.sleep(0.1)
        yield port, out
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(10)


def test_rsyslog_receives_cef_with_escaped_values(make_server: Any, rsyslog: tuple[int, Path]) -> None:
    port, out = rsyslog
    srv = make_server(rest=f'[[sinks]]\ntype = "syslog"\naddress = "127.0.0.1:{port}"\nprotocol = "tcp"\n'
                           'hostname = "cw-test"\n').start()
    hostile = cluster_admin_event("evil|name=x\nforged")
    assert srv.request("POST", "/k8s-audit", event_list([privileged_pod_event(), hostile]), token=INGEST).status == 200
    deadline = time.monotonic() + 20
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = out.read_text().splitlines() if out.exists() else []
        if len(lines) >= 2:
            break
        time.sleep(0.2)
    assert len(lines) == 2, lines
    binding = next(line for line in lines if "K8S_ClusterAdminBinding" in line)
    assert binding.startswith("<165>1 ")
    assert " cw-test cloudward - K8S_ClusterAdminBinding [cloudward@32473 id=" in binding
    cef = binding[binding.index("CEF:0|"):]
    assert cef.startswith("CEF:0|Cloudward|Cloudward|")
    assert "|K8S_ClusterAdminBinding|" in cef and "|3|" in cef
    # the name's `=` and line break are escaped; it forged neither a key nor a message
    assert "evil|name\\=x\\nforged" in cef
    assert "src=203.0.113.24" in cef and "suser=alice@example.com" in cef
