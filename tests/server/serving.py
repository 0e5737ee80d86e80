"""Helpers for the service tests: a real `cloudward serve` (uvicorn) on 127.0.0.1 and a random free port,
stopped by pid; realistic audit events."""

from __future__ import annotations

import gzip
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from cloudward.detections.kubernetes._samples import audit, container, pod
from cloudward.detections.kubernetes.k8s_cluster_admin_binding import _binding

ADMIN = "admin-token-0123456789abcdef"
INGEST = "ingest-token-0123456789abcdef"
READER = "reader-token-0123456789abcdef"
TOKENS = {"admin": ADMIN, "ingest": INGEST, "reader": READER}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Server:
    root: Path
    config: Path
    db: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    output: list[str] = field(default_factory=list)
    #: for a server with TLS: the client side (CA, and a client certificate when one is required)
    tls: Any = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self, *extra: str) -> Server:
        self.port = self.port or free_port()
        log = open(self.root / "serve.out", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cloudward", "serve", "--config", str(self.config), "--db", str(self.db),
             "--listen", f"127.0.0.1:{self.port}", *extra],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited with {self.proc.returncode}: {self.log()}")
            try:
                if self.request("GET", "/healthz").status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"serve did not become healthy: {self.log()}")

    def log(self) -> str:
        return (self.root / "serve.out").read_text(errors="replace")

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def request(self, method: str, path: str, body: bytes | dict[str, Any] | list[Any] | None = None, *,
                token: str | None = None, headers: dict[str, str] | None = None, gzipped: bool = False) -> Reply:
        data = body if isinstance(body, bytes) or body is None else orjson.dumps(body)
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        if gzipped and data is not None:
            data = gzip.compress(data)
            hdrs["Content-Encoding"] = "gzip"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.tls) as resp:
                return Reply(resp.status, dict(resp.headers), resp.read())
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, dict(exc.headers), exc.read())


def write_config(path: Path, server_keys: str = "", rest: str = "") -> None:
    """A configuration with the three test tokens; `server_keys` go into [server], `rest` after it."""
    lines = ["[server]", server_keys, ""]
    for name, token in TOKENS.items():
        lines += ["[[server.tokens]]", f'name = "{name}"', f'role = "{name}"', f'secret = "{token}"', ""]
    path.write_text("\n".join(lines) + "\n" + rest)


def privileged_pod_event(name: str = "debug-shell", when: str = "2026-11-02T09:15:27.401327Z") -> dict[str, Any]:
    return audit("create", "pods", pod(name, [container("shell", "alpine:3.19", privileged=True)]), when=when)


def cluster_admin_event(name: str = "ci-admin", when: str = "2026-11-02T09:16:01.000000Z") -> dict[str, Any]:
    return audit("create", "clusterrolebindings",
                 _binding(name, [{"kind": "ServiceAccount", "name": "ci", "namespace": "build"}]), when=when)


def read_event(i: int, when: str = "2026-11-02T09:15:00.000000Z") -> dict[str, Any]:
    return audit("get", "configmaps", None, name=f"cm-{i}", user="system:node:node-1", level="Metadata",
                 when=when, audit_id=f"00000000-0000-4000-8000-{i:012d}")


def event_list(items: list[dict[str, Any]], version: str = "v1") -> dict[str, Any]:
    return {"kind": "EventList", "apiVersion": f"audit.k8s.io/{version}", "metadata": {}, "items": items}


class Receiver:
    """A small real HTTP server (thread) that records what it is POSTed; answers `status`."""

    def __init__(self, port: int = 0, status: int = 200) -> None:
        import http.server
        import threading

        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.status = status
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port or free_port()), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_for(self, n: int, timeout: float = 20.0) -> list[tuple[str, dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.requests

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Any]:
    servers: list[Server] = []

    def make(server_keys: str = "", rest: str = "", *, tokens: bool = True, name: str = "srv") -> Server:
        root = tmp_path / name
        root.mkdir(exist_ok=True)
        config = root / "cloudward.toml"
        if tokens:
            write_config(config, server_keys, rest)
        else:
            config.write_text(rest)
        srv = Server(root=root, config=config, db=root / "cloudward.db")
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.stop()


@pytest.fixture
def server(make_server: Any) -> Server:
    return make_server().start()
