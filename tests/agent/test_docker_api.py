"""The Docker event stream's HTTP/1.1 chunked framing, decoded on the socket, against a unix-socket
server that splits chunks at awkward places (one byte at a time, records across chunks)."""

from __future__ import annotations

import json
import socket
import tempfile
import threading
import time
from pathlib import Path

from cloudward.agent.docker_api import DockerAPI

EVENTS = [{"Type": "container", "Action": "create", "Actor": {"ID": "a" * 64}, "timeNano": 1},
          {"Type": "container", "Action": "start", "Actor": {"ID": "a" * 64}, "timeNano": 2},
          {"Type": "container", "Action": "exec_start: sh -c id", "Actor": {"ID": "b" * 64}, "timeNano": 3}]


def _serve(path: str, body_parts: list[bytes], pause: float = 0.0) -> threading.Thread:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def run() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in body_parts:
            conn.sendall(part)
            if pause:
                time.sleep(pause)
        conn.close()
        server.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _chunked(payload: bytes, size: int) -> bytes:
    out = b""
    for i in range(0, len(payload), size):
        piece = payload[i : i + size]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\n\r\n"


def test_records_split_across_chunks_and_reads() -> None:
    payload = b"".join(json.dumps(e).encode() + b"\n" for e in EVENTS)
    wire = _chunked(payload, 7)
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        path = str(Path(tmp) / "d.sock")
        _serve(path, [wire[i : i + 1] for i in range(len(wire))])
        got = [r for r in DockerAPI(path).events(poll=0.05) if r is not None]
    assert got == EVENTS


def test_a_quiet_stream_yields_none_to_let_the_caller_check_for_stop() -> None:
    payload = json.dumps(EVENTS[0]).encode() + b"\n"
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        path = str(Path(tmp) / "d.sock")
        _serve(path, [_chunked(payload, 1000)[:-5], b"0\r\n\r\n"], pause=0.3)
        seen = list(DockerAPI(path).events(poll=0.05))
    assert seen.count(None) >= 2 and [r for r in seen if r is not None] == [EVENTS[0]]
