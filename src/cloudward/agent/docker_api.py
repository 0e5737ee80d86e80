"""A small Docker Engine API client over its unix socket: JSON requests and the event stream."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None = 10.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class DockerError(OSError):
    pass


class DockerAPI:
    def __init__(self, socket_path: str, timeout: float = 10.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def get(self, path: str) -> Any:
        conn = UnixHTTPConnection(self.socket_path, self.timeout)
        try:
            conn.request("GET", path, headers={"Host": "docker"})
            resp = conn.getresponse()
            body = resp.read(64 << 20)
            if resp.status == 404:
                return None
            if resp.status >= 400:
                raise DockerError(f"GET {path}: HTTP {resp.status}")
            return json.loads(body)
        except (http.client.HTTPException, ValueError) as exc:
            raise DockerError(f"GET {path}: {exc}") from None
        finally:
            conn.close()

    def version(self) -> dict[str, Any]:
        return self.get("/version") or {}

    def containers(self) -> list[dict[str, Any]]:
        return self.get("/containers/json?all=1") or []

    def inspect_container(self, container_id: str) -> dict[str, Any] | None:
        return self.get(f"/containers/{quote(container_id, safe='')}/json")  # type: ignore[no-any-return]

    def inspect_exec(self, exec_id: str) -> dict[str, Any] | None:
        return self.get(f"/exec/{quote(exec_id, safe='')}/json")  # type: ignore[no-any-return]

    def events(self, since: int | None = None, poll: float = 0.5) -> Iterator[dict[str, Any] | None]:
        """Container events as they happen; yields None every `poll` seconds of silence (to check for stop)."""
        filters = quote(json.dumps({"type": ["container"]}))
        path = f"/events?filters={filters}" + (f"&since={since}" if since else "")
        conn = UnixHTTPConnection(self.socket_path, timeout=self.timeout)
        try:
            conn.request("GET", path, headers={"Host": "docker"})
            resp = conn.getresponse()
            if resp.status != 200:
                raise DockerError(f"GET /events: HTTP {resp.status}")
            assert conn.sock is not None
            conn.sock.settimeout(poll)
            buf = b""
            while True:
                try:
                    chunk = resp.read1(65536)
                except TimeoutError:
                    yield None
                    continue
                if not chunk:
                    return  # the daemon went away
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        try:
                            record = json.loads(line)
                        except ValueError:
                            continue
                        if isinstance(record, dict):
                            yield record
                if len(buf) > 1 << 20:
                    buf = b""  # a runaway line; the daemon never sends one this long
        except (http.client.HTTPException, ConnectionError) as exc:
            raise DockerError(f"event stream: {exc}") from None
        finally:
            conn.close()
