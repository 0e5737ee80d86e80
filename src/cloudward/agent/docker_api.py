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
        """Container events as they happen; yields None every `poll` seconds of silence (to check for stop).

        Read off the socket directly (HTTP/1.1 chunked framing decoded here), so a quiet stream can be
        polled with a timeout without upsetting a half-read chunk.
        """
        filters = quote(json.dumps({"type": ["container"]}))
        path = f"/events?filters={filters}" + (f"&since={since}" if since else "")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: docker\r\nAccept: application/json\r\n\r\n".encode())
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    raise DockerError("event stream: connection closed before the response")
                buf += chunk
                if len(buf) > 1 << 16:
                    raise DockerError("event stream: response headers too long")
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or parts[1] != "200":
                raise DockerError(f"GET /events: {lines[0]}")
            chunked = any(ln.lower().startswith("transfer-encoding:") and "chunked" in ln.lower() for ln in lines)
            sock.settimeout(poll)
            body = b""  # decoded payload not yet split into lines
            ended = False
            while True:
                if chunked:
                    # take every complete chunk out of buf
                    while True:
                        eol = buf.find(b"\r\n")
                        if eol < 0:
                            break
                        try:
                            size = int(buf[:eol].split(b";", 1)[0], 16)
                        except ValueError:
                            raise DockerError("event stream: bad chunk framing") from None
                        if size == 0:
                            ended = True  # the last chunk: what came before it is still handed out below
                            break
                        if len(buf) < eol + 2 + size + 2:
                            break
                        body += buf[eol + 2 : eol + 2 + size]
                        buf = buf[eol + 2 + size + 2 :]
                else:
                    body, buf = body + buf, b""
                while b"\n" in body:
                    line, body = body.split(b"\n", 1)
                    if line.strip():
                        try:
                            record = json.loads(line)
                        except ValueError:
                            continue
                        if isinstance(record, dict):
                            yield record
                if ended:
                    return
                if len(body) > 1 << 20 or len(buf) > 8 << 20:
                    raise DockerError("event stream: runaway record")
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    yield None
                    continue
                if not chunk:
                    return  # the daemon went away
                buf += chunk
        finally:
            sock.close()
