"""Ships spooled batches to a central `cloudward serve`: `POST {url}/ingest/{format}` with
`Content-Type: application/x-ndjson`, `Authorization: Bearer <token>` and the batch id as
`Idempotency-Key`, oldest batch first, retried with exponential backoff (with jitter) while the server
is down or answers 5xx/429. A 2xx acknowledges the batch (it leaves the spool); another 4xx means the
server will never take it (bad token, unknown format): the batch is set aside in `rejected/` and
reported, so one bad batch does not block the rest. Between batches the collectors' health is posted
to `{url}/api/v1/agents/{host}/health`, so a collector that cannot work shows in `serve`'s sources.
"""

from __future__ import annotations

import http.client
import json
import random
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from cloudward.agent.spool import Spool, SpooledBatch


@dataclass
class PosterStats:
    sent_batches: int = 0
    failed_attempts: int = 0
    rejected_batches: int = 0
    last_error: str = ""
    last_success: float = 0.0


class Poster:
    def __init__(self, spool: Spool, url: str, token: str, *, timeout: float = 10.0, ca_file: str = "",
                 min_backoff: float = 0.5, max_backoff: float = 60.0, host: str = "",
                 health: Callable[[], dict[str, Any]] | None = None, health_seconds: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http"):
            raise ValueError(f"--to must be an https:// URL, got {url!r}")
        self.spool = spool
        self.scheme = parts.scheme
        self.server = parts.hostname or ""
        self.port = parts.port
        self.base = parts.path.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=ca_file or None) if parts.scheme == "https" else None
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        #: the agent's host: sent as `?host=` (the events' source in `serve`) and names its health reports
        self.host = host
        self.query = f"?{urlencode({'host': host})}" if host else ""
        #: the agent's status; its collectors' health is posted to `serve` every `health_seconds`
        self.health = health
        self.health_seconds = health_seconds
        self._health_sent = 0.0
        self._health_states: dict[str, str] = {}
        self.stats = PosterStats()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self.context is not None:
            return http.client.HTTPSConnection(self.server, self.port, timeout=self.timeout, context=self.context)
        return http.client.HTTPConnection(self.server, self.port, timeout=self.timeout)

    def send(self, batch: SpooledBatch) -> int:
        """POST one batch; the HTTP status (0 when the server could not be reached)."""
        conn = self._connection()
        try:
            conn.request("POST", f"{self.base}/ingest/{batch.format}{self.query}", body=batch.body(), headers={
                "Content-Type": "application/x-ndjson", "Authorization": f"Bearer {self.token}",
                "Idempotency-Key": batch.batch_id,
            })
            resp = conn.getresponse()
            resp.read(1 << 16)
            return resp.status
        except (OSError, http.client.HTTPException) as exc:
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            return 0
        finally:
            conn.close()

    def report_health(self, force: bool = False) -> int:
        """POST the collectors' health to `{url}/api/v1/agents/{host}/health` when it is due (every
        `health_seconds`, or at once when a collector's state changed); the HTTP status, 0 if not sent."""
        if self.health is None or not self.host:
            return 0
        status = self.health()
        states = {name: str(c.get("state", "")) for name, c in status.get("collectors", {}).items()}
        due = force or states != self._health_states or time.monotonic() - self._health_sent >= self.health_seconds
        if not due:
            return 0
        doc = {"collectors": status.get("collectors", {}), "spool": status.get("spool", {}),
               "delivery": status.get("delivery", {})}
        conn = self._connection()
        try:
            conn.request("POST", f"{self.base}/api/v1/agents/{quote(self.host, safe='')}/health",
                         body=json.dumps(doc, default=str), headers={
                             "Content-Type": "application/json", "Authorization": f"Bearer {self.token}"})
            resp = conn.getresponse()
            resp.read(1 << 16)
        except (OSError, http.client.HTTPException) as exc:
            self.stats.last_error = f"health report: {type(exc).__name__}: {exc}"
            return 0
        finally:
            conn.close()
        if 200 <= resp.status < 300:
            self._health_sent = time.monotonic()
            self._health_states = states
        return resp.status

    def drain(self) -> bool:
        """Send every pending batch in order; False when the server is unreachable or refuses for now."""
        for batch in self.spool.pending():
            if self.stopping.is_set():
                return False
            if not batch.path.exists():
                continue
            status = self.send(batch)
            if 200 <= status < 300:
                self.spool.acknowledge(batch)
                self.stats.sent_batches += 1
                self.stats.last_success = time.time()
                continue
            if status == 0 or status >= 500 or status in (408, 429):
                if status:
                    self.stats.last_error = f"HTTP {status}"
                self.stats.failed_attempts += 1
                return False
            self.stats.last_error = f"HTTP {status} for batch {batch.batch_id}; set aside"
            self.stats.rejected_batches += 1
            aside = batch.path.parent / "rejected"
            aside.mkdir(exist_ok=True)
            batch.path.rename(aside / batch.path.name)
        return True

    def run(self) -> None:
        backoff = self.min_backoff
        while not self.stopping.is_set():
            if self.drain():
                self.report_health()
                backoff = self.min_backoff
                self.wake.wait(1.0)
                self.wake.clear()
            else:
                self.stopping.wait(backoff * (0.5 + random.random() / 2))
                backoff = min(self.max_backoff, backoff * 2)

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, name="poster", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout)
