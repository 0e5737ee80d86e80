"""A small stand-in for `cloudward serve`'s ingest endpoint, run by the spool tests in a subprocess:
`POST /ingest/{format}` (x-ndjson, bearer token), batches kept once per Idempotency-Key.

usage: python ingest_receiver.py PORT TOKEN OUT_DIR [CERT KEY]
"""

from __future__ import annotations

import json
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PORT, TOKEN, OUT = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.send_error(401)
            return
        parts = self.path.split("/")
        if len(parts) != 3 or parts[1] != "ingest" or self.headers.get("Content-Type") != "application/x-ndjson":
            self.send_error(400)
            return
        key = self.headers.get("Idempotency-Key", "")
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with LOCK:
            seen = OUT / "keys.txt"
            keys = set(seen.read_text().split()) if seen.exists() else set()
            with (OUT / "requests.jsonl").open("a") as fh:
                fh.write(json.dumps({"key": key, "format": parts[2], "duplicate": key in keys}) + "\n")
            if key not in keys:
                with seen.open("a") as fh:
                    fh.write(key + "\n")
                with (OUT / f"batch-{key}.{parts[2]}.ndjson").open("wb") as fh:
                    fh.write(body)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
if len(sys.argv) > 5:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
(OUT / "ready").write_text("ok")
server.serve_forever()
