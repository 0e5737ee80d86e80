"""The running agent: starts the collectors (the best available, fallbacks only where a better one
cannot work), evaluates their events in small batches, writes every alert the moment it is raised,
spools events for `--to`, keeps a status file for `--status`, and stops cleanly on SIGTERM/SIGINT —
collectors undo what they changed on the host (the audit rules) on the way out."""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from cloudward.agent.collectors import Batch, Collector, registry
from cloudward.agent.detect import Detector
from cloudward.agent.settings import AgentSettings
from cloudward.agent.spool import Spool
from cloudward.alerts import Alert
from cloudward.config import Config
from cloudward.parsers.base import ParseContext
from cloudward.sinks import outputs

#: how long the better collector gets to report healthy before its fallback is started instead
_FALLBACK_WAIT = 3.0


def _log(message: str) -> None:
    sys.stderr.write(f"cloudward agent: {message}\n")
    sys.stderr.flush()


class Agent:
    def __init__(self, config: Config, settings: AgentSettings, *, output: str = "jsonl",
                 out: BinaryIO | None = None, to_url: str = "", token: str = "", lang: str = "en") -> None:
        self.config = config
        self.settings = settings
        self.host = config.host or socket.gethostname()
        self.out = out if out is not None else sys.stdout.buffer
        writer = outputs().get(output)
        if writer is None:
            raise ValueError(f"unknown output {output!r}")
        self.writer = writer
        self.lang = lang
        self.detector = Detector(config)
        self.lock = threading.Lock()
        #: status() updates rates; the metrics endpoint and the main loop both call it
        self.status_lock = threading.Lock()
        self.stop_event = threading.Event()
        self.collectors: dict[str, Collector] = {}
        self.started = time.time()
        self.alerts_written = 0
        self.dropped_batches = 0
        self.spool: Spool | None = None
        self.poster: Any = None
        self.pending_records: dict[str, list[bytes]] = {}
        #: the local event log: every normalized event as a JSON line (what was seen, for audits and tests)
        self.events_out: BinaryIO | None = open(settings.events_file, "ab") if settings.events_file else None
        self.rates: dict[str, float] = {}
        self._last_counts: dict[str, int] = {}
        self._last_rate_time = time.time()
        if to_url:
            from cloudward.agent.poster import Poster

            self.spool = Spool(settings.spool_dir, settings.spool_max_bytes)
            self.poster = Poster(self.spool, to_url, token, timeout=settings.post_timeout, ca_file=settings.ca_file,
                                 max_backoff=settings.retry_max_seconds, host=self.host, health=self.locked_status)

    # -- collectors -------------------------------------------------------------------------
    def _emit(self, batch: Batch) -> None:
        """Evaluate a collector's batch in the collector's own thread (one lock around detection):
        no hand-over between threads on the busy path, and an alert is written the moment it is raised."""
        with self.lock:
            self.process(batch)

    def start_collectors(self) -> None:
        available = registry()
        wanted = [name for name in self.settings.collectors if name in available]
        for name in wanted:
            cls = available[name]
            ctx = ParseContext(host=self.host)
            collector = cls(self.settings, ctx)
            collector.keep_records = self.spool is not None
            self.collectors[name] = collector
            better = [b for b in cls.replaced_by if b in self.collectors]
            if better and self._healthy_soon(better):
                collector.health.set("standby", f"not needed: {', '.join(better)} is healthy")
                continue
            if collector.start(self._emit):
                _log(f"collector {name} started")
            else:
                _log(f"collector {name} unavailable: {collector.health.detail}")

    def _healthy_soon(self, names: list[str]) -> bool:
        deadline = time.time() + _FALLBACK_WAIT
        while time.time() < deadline:
            states = [self.collectors[n].health.state for n in names]
            if "ok" in states:
                return True
            if all(s in ("unavailable", "stopped", "degraded") for s in states):
                return False
            time.sleep(0.02)
        return False

    # -- main loop ----------------------------------------------------------------------------
    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop_event.set())
        # what exists now (cards, data lists, parsers) lives as long as the agent: keep it out of the
        # cyclic collector's way, so each collection only walks what the event stream allocated
        gc.collect()
        gc.freeze()
        self.start_collectors()
        if self.poster is not None:
            self.poster.start()
        if self.settings.metrics_port:
            from cloudward.agent.metrics import serve_metrics

            serve_metrics(self.settings.metrics_port, self.locked_status)
            _log(f"metrics on http://127.0.0.1:{self.settings.metrics_port}/metrics")
        self.write_status()
        last_status = time.time()
        try:
            while not self.stop_event.wait(self.settings.batch_seconds):
                if self.spool is not None or self.events_out is not None:
                    with self.lock:
                        if self.spool is not None:
                            self.flush_spool()
                        if self.events_out is not None:
                            self.events_out.flush()
                now = time.time()
                if now - last_status >= 1.0:
                    self.write_status()
                    last_status = now
        finally:
            self.shutdown()
        return 0

    def process(self, batch: Batch) -> None:
        """Evaluate one batch, write the alerts it changed, keep its records for the spool (lock held)."""
        events = batch.events
        changed = self.detector.feed(events)
        if self.events_out is not None and events:
            self.events_out.write(b"".join(event_json(ev) for ev in events))
        if changed:
            self.write_alerts(changed)
        if self.spool is not None and batch.records:
            lines = self.pending_records.setdefault(batch.format, [])
            for rec in batch.records:
                lines.append(rec if isinstance(rec, bytes) else json.dumps(rec, separators=(",", ":")).encode())
            if len(lines) >= self.settings.batch_events:
                self.flush_spool()

    def write_alerts(self, alerts: list[Alert]) -> None:
        self.writer(alerts, self.out, {"lang": self.lang})
        self.out.flush()
        self.alerts_written += len(alerts)

    def flush_spool(self) -> None:
        """Write what waits for the spool as batches of at most `batch_events` records (lock held)."""
        assert self.spool is not None
        wrote = False
        for fmt, lines in self.pending_records.items():
            for i in range(0, len(lines), self.settings.batch_events):
                self.spool.append(fmt, lines[i : i + self.settings.batch_events])
                wrote = True
        self.pending_records.clear()
        if wrote and self.poster is not None:
            self.poster.wake.set()

    def shutdown(self) -> None:
        for collector in reversed(list(self.collectors.values())):
            collector.stop()
        with self.lock:
            changed = self.detector.finish()
            if changed:
                self.write_alerts(changed)
            if self.spool is not None:
                self.flush_spool()
        if self.poster is not None:
            self.poster.drain()
            self.poster.stop()
        self.write_status(final=True)
        if self.events_out is not None:
            self.events_out.close()
        _log(f"stopped: {self.detector.events} events, {self.alerts_written} alert updates written")

    # -- status -------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        now = time.time()
        span = max(now - self._last_rate_time, 1e-3)
        collectors: dict[str, Any] = {}
        for name, c in self.collectors.items():
            st = c.status()
            count = st["events"]
            if span >= 1.0 or name not in self.rates:
                self.rates[name] = (count - self._last_counts.get(name, 0)) / span
                self._last_counts[name] = count
            st["events_per_second"] = round(self.rates[name], 1)
            collectors[name] = st
        if span >= 1.0:
            self._last_rate_time = now
        out: dict[str, Any] = {
            "pid": os.getpid(), "host": self.host, "started": self.started, "updated": now,
            "collectors": collectors, "events": self.detector.events, "alerts_written": self.alerts_written,
            "dropped_batches": self.dropped_batches,
            "rejected_records": self.detector.rejected,
        }
        if self.spool is not None:
            batches, size = self.spool.depth()
            out["spool"] = {"batches": batches, "bytes": size, "dropped_batches": self.spool.dropped_batches}
        if self.poster is not None:
            s = self.poster.stats
            out["delivery"] = {"sent_batches": s.sent_batches, "failed_attempts": s.failed_attempts,
                               "rejected_batches": s.rejected_batches, "last_error": s.last_error}
        return out

    def locked_status(self) -> dict[str, Any]:
        with self.status_lock:
            return self.status()

    def write_status(self, final: bool = False) -> None:
        path = Path(self.settings.status_file)
        data = self.locked_status()
        if final:
            data["stopped"] = time.time()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(data, indent=2, default=str))
            os.replace(tmp, path)
        except OSError as exc:
            if not final:
                _log(f"cannot write status file {path}: {exc}")


_EVENT_FIELDS = ("event_id", "time", "host", "pid", "ppid", "executable", "argv", "command_line", "cwd", "user", "uid",
                 "euid", "auid", "parent_executable", "container_id", "container_name", "image", "privileged",
                 "destination_ip", "destination_port", "action", "runtime", "origin")


#: per event class: its encoder, generated on first use (see `_encoder`)
_ENCODERS: dict[type, Callable[[Any], bytes]] = {}
_ALWAYS = frozenset(("pid", "time"))
_EMPTY = (None, "", [], 0)


def _encoder(event: Any) -> Callable[[Any], bytes]:
    """The event log's encoder for one event class, generated from the fields it has: straight-line code
    that reads each field once and keeps it unless it is empty (`_EMPTY`: None, "", [], 0 — and so also
    False and 0.0, as `in` compares by equality), in `_EVENT_FIELDS` order after `kind`; `pid` and
    `time` are always kept. The same bytes as `event_json_generic` (tested), without a generic loop."""
    kind = type(event)
    names = [n for n in _EVENT_FIELDS if hasattr(event, n)]  # (as the first event of its class has them)
    lines = ["def encode(e):", f"    d = {{'kind': {kind.__name__!r}}}"]
    for n in names:
        if n in _ALWAYS:
            lines.append(f"    d[{n!r}] = e.{n}")
        else:
            lines += [f"    v = e.{n}", "    if v not in _EMPTY:", f"        d[{n!r}] = v"]
    lines.append("    return dumps(d, default=str) + b'\\n'")
    scope: dict[str, Any] = {"_EMPTY": _EMPTY, "dumps": orjson.dumps}
    exec(compile("\n".join(lines), f"<event_json {kind.__name__}>", "exec"), scope)  # (our own text, from field names)
    encode: Callable[[Any], bytes] = scope["encode"]
    return encode


def event_json(event: Any) -> bytes:
    """One normalized event as a JSON line (its raw record left out)."""
    encode = _ENCODERS.get(type(event))
    if encode is None:
        encode = _ENCODERS[type(event)] = _encoder(event)
    return encode(event)


def event_json_generic(event: Any) -> bytes:
    """`event_json` by a loop over the fields (the reference the generated encoders are tested against)."""
    doc: dict[str, Any] = {"kind": type(event).__name__}
    for n in _EVENT_FIELDS:
        if hasattr(event, n):
            v = getattr(event, n)
            if v not in _EMPTY or n in _ALWAYS:
                doc[n] = v
    return orjson.dumps(doc, default=str) + b"\n"


def probe(settings: AgentSettings) -> dict[str, str]:
    """Without a running agent: whether each collector could run here, and if not why."""
    out = {}
    for name, cls in registry().items():
        if name not in settings.collectors:
            out[name] = "disabled in configuration"
            continue
        why = cls(settings, ParseContext()).available()
        out[name] = why or "available"
    return out


def read_status(settings: AgentSettings) -> dict[str, Any] | None:
    path = Path(settings.status_file)
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    pid = data.get("pid")
    alive = False
    if isinstance(pid, int) and "stopped" not in data:
        try:
            os.kill(pid, 0)
            alive = True
        except OSError:
            alive = False
    data["running"] = alive
    return data
