"""`cloudward tail`: follow files and globs like `tail -F`, in-process (own store) or shipping to `serve`.

Each file is known by its identity: device + inode, checked against a hash of its first bytes (an
inode reused by a new file is a new file). What was read is kept per identity as an offset:

- rename-and-create: the renamed file keeps its inode (it is still read to its end when a glob
  names it); the new file is a new identity, read from its start;
- copytruncate: the copy is a new inode whose first bytes match a known identity, so it continues at
  that identity's offset; the truncated original (smaller than its offset) starts again at 0;
- a `.gz` rotation whose decompressed first bytes match an identity not read to its end continues
  at that offset; a `.gz` still being written (truncated stream) waits for the next pass.

Only whole lines are read. In-process, offsets commit in the same transaction as the alerts and
state they caused; with `--to`, a batch is posted with the key `identity:start-end` (the service
skips a key it committed) and its offset is saved only after the 2xx, so a restart neither skips
nor repeats a line.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import os
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

HEAD_BYTES = 1024
#: most bytes read from one file in one pass (one batch)
MAX_BATCH_BYTES = 4 * 1024 * 1024

#: `tail`'s open streams: the bytes of each followed file's unfinished record (`Engine.stream_state`)
STREAMS_SCHEMA = "CREATE TABLE IF NOT EXISTS tail_streams (identity TEXT PRIMARY KEY, stream TEXT NOT NULL, body BLOB)"
OFFSETS_SCHEMA = """
CREATE TABLE IF NOT EXISTS tail_offsets (
    identity TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    offset INTEGER NOT NULL,
    head_len INTEGER NOT NULL,
    head_hash TEXT NOT NULL,
    updated REAL NOT NULL
)
"""


def head_hash(data: bytes) -> str:
    return hashlib.sha256(data[:HEAD_BYTES]).hexdigest()


@dataclass
class Record:
    identity: str
    path: str
    offset: int
    head_len: int
    head_hash: str


@dataclass
class Chunk:
    """Whole lines of one file: `data` is bytes [start, end) of its (decompressed) content."""

    record: Record
    start: int
    end: int
    data: bytes
    #: the file's identity starts over (truncated, or a new file on a reused inode)
    fresh: bool = False

    @property
    def key(self) -> str:
        return f"{self.record.identity}:{self.start}-{self.end}"


def load_records(db: sqlite3.Connection) -> dict[str, Record]:
    db.execute(OFFSETS_SCHEMA)
    return {r[0]: Record(*r) for r in db.execute(
        "SELECT identity, path, offset, head_len, head_hash FROM tail_offsets")}


def save_records(db: sqlite3.Connection, records: Iterable[Record]) -> None:
    """Inside the caller's transaction."""
    now = time.time()
    db.executemany("INSERT INTO tail_offsets VALUES (?,?,?,?,?,?) ON CONFLICT(identity) DO UPDATE SET "
                   "path=excluded.path, offset=excluded.offset, head_len=excluded.head_len, "
                   "head_hash=excluded.head_hash, updated=excluded.updated",
                   [(r.identity, r.path, r.offset, r.head_len, r.head_hash, now) for r in records])


def expand(patterns: Iterable[str]) -> list[str]:
    found: set[str] = set()
    for pattern in patterns:
        if glob.has_magic(pattern):
            found.update(p for p in glob.glob(pattern) if os.path.isfile(p))
        elif os.path.isfile(pattern):
            found.add(pattern)
    return sorted(found)


def _content(path: str) -> bytes | None:
    """The file's bytes (decompressed for .gz); None when a .gz is not complete yet."""
    if path.endswith(".gz"):
        try:
            with open(path, "rb") as f:
                raw = f.read()
            return gzip.decompress(raw)
        except (EOFError, zlib.error, gzip.BadGzipFile, OSError):
            return None
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


class Follower:
    """Decides, for every file the patterns match, what is new since the last committed pass."""

    def __init__(self, patterns: list[str], records: dict[str, Record]) -> None:
        self.patterns = patterns
        self.records = records
        #: identities the last pass found
        self.present: set[str] = set()
        #: the last pass left whole lines unread in some file (its batch was full): pass again at once
        self.backlog = False

    def scan(self) -> list[Chunk]:
        self.present = set()
        self.backlog = False
        known = dict(self.records)  # decisions against what was committed, before this pass changes it
        by_head: dict[tuple[int, str], Record] = {(r.head_len, r.head_hash): r for r in known.values()}
        chunks = []
        for path in expand(self.patterns):
            try:
                st = os.stat(path)
            except OSError:
                continue
            identity = f"{st.st_dev}:{st.st_ino}"
            content = _content(path)
            if content is None:
                continue
            self.present.add(identity)
            record = known.get(identity)
            fresh = False
            if record is not None and (len(content) < record.offset
                                       or head_hash(content[:record.head_len]) != record.head_hash):
                record = Record(identity, path, 0, 0, head_hash(b""))  # truncated, or a new file on a reused inode
                fresh = True
            if record is None:
                # a copy (copytruncate) or a compressed rotation of a file we know continues where it was
                base = None
                for length in sorted({r.head_len for r in known.values()}, reverse=True):
                    if length and len(content) >= length:
                        base = by_head.get((length, head_hash(content[:length])))
                        if base is not None and base.identity != identity:
                            break
                        base = None
                offset = base.offset if base is not None and base.offset <= len(content) else 0
                record = Record(identity, path, offset, min(len(content), offset), head_hash(content[:offset]))
            end = content.rfind(b"\n", record.offset, record.offset + MAX_BATCH_BYTES) + 1
            if end > record.offset and content.find(b"\n", end) >= 0:
                self.backlog = True
            new = Record(identity, path, record.offset, record.head_len, record.head_hash)
            if end > record.offset:
                head_len = min(end, HEAD_BYTES)
                new = Record(identity, path, end, head_len, head_hash(content[:head_len]))
                chunks.append(Chunk(new, record.offset, end, content[record.offset:end], fresh))
            elif record.identity not in self.records or self.records[identity] != record:
                chunks.append(Chunk(new, record.offset, record.offset, b"", fresh))
        return chunks

    def committed(self, chunks: Iterable[Chunk]) -> None:
        for chunk in chunks:
            self.records[chunk.record.identity] = chunk.record


# -- in-process ----------------------------------------------------------------------------------
class LocalTail:
    """Follow into an engine with its own store (alerts, state and offsets commit together)."""

    def __init__(self, config: Any, store_path: str, patterns: list[str], fmt: str | None = None) -> None:
        from cloudward.engine import Engine
        from cloudward.server.outbox import Outbox, open_sinks
        from cloudward.server.worker import IngestWorker
        from cloudward.store import Store

        self.store = Store(store_path)
        self.fmt = fmt
        self.outbox = Outbox(store_path, open_sinks(config))
        self._pending: list[Chunk] = []
        #: file identity -> its engine stream (named by the path it was first read under): one decoder
        #: per followed file, so a record that spans reads (W3C #Fields, multi-line JSON, an auditd
        #: event's records) is decoded whole
        self.streams: dict[str, str] = {}
        self._closed: set[str] = set()

        def on_commit(changed: Any, db: sqlite3.Connection) -> None:
            self.outbox.enqueue(changed, db)
            save_records(db, [c.record for c in self._pending])
            # each open stream's unfinished record commits with the offset past it: a restart resumes it
            rows = []
            for identity, name in self.streams.items():
                body = self.engine.stream_state(name)
                if body is not None:
                    rows.append((identity, name, orjson.dumps(body)))
            db.executemany("DELETE FROM tail_streams WHERE identity = ?", [(i,) for i in self._closed])
            db.executemany("INSERT INTO tail_streams VALUES (?,?,?) ON CONFLICT(identity) DO UPDATE SET "
                           "stream=excluded.stream, body=excluded.body", rows)

        self.engine = Engine(config, store=self.store)
        self.worker = IngestWorker(self.engine, self.store, on_commit=on_commit,
                                   after_commit=self.outbox.after_commit)
        self.follower = Follower(patterns, load_records(self.store.db))
        db = self.store.db
        db.execute(STREAMS_SCHEMA)
        for identity, name, body in db.execute("SELECT identity, stream, body FROM tail_streams").fetchall():
            self.streams[identity] = name
            self.engine.restore_stream(name, orjson.loads(body))
        self.store.db.commit()

    def _stream_name(self, chunk: Chunk) -> str:
        name = self.streams.get(chunk.record.identity)
        if name is None:
            name = chunk.record.path
            if name in self.streams.values():  # a renamed file still followed holds this path's name
                name = f"{name}#{chunk.record.identity}"
            self.streams[chunk.record.identity] = name
        return name

    def poll(self) -> int:
        """One pass; returns the number of bytes read."""
        from cloudward.server.worker import Job

        chunks = self.follower.scan()
        jobs = []
        closed = set()
        # a file gone from the patterns ends its stream; so does a file that starts over
        for identity in [i for i in self.streams if i not in self.follower.present]:
            closed.add(identity)
        for chunk in chunks:
            if chunk.fresh and chunk.record.identity in self.streams:
                closed.add(chunk.record.identity)
        for identity in closed:
            name = self.streams.pop(identity)
            jobs.append(Job(source=f"tail {name.split('#', 1)[0]}", fmt=self.fmt, display=name, final=True))
        for chunk in chunks:
            if chunk.data:
                jobs.append(Job(source=f"tail {chunk.record.path}", data=chunk.data, fmt=self.fmt,
                                display=self._stream_name(chunk), final=False))
        if not chunks and not jobs:
            return 0
        self._pending = chunks
        self._closed = closed
        self.worker.process(jobs)
        for job in jobs:
            job.future.result()
        self.follower.committed(chunks)
        self._pending = []
        self._closed = set()
        return sum(len(c.data) for c in chunks)

    def deliver(self) -> None:
        """Send what the outbox holds (a pass of the delivery loop, in this thread)."""
        import sqlite3 as _sqlite3
        db = _sqlite3.connect(self.store.path, timeout=30)
        try:
            self.outbox.deliver_due(db, dict(self.outbox.delivering))
        finally:
            db.close()

    def close(self) -> None:
        self.outbox.stop()
        self.store.close()


# -- shipping to serve -----------------------------------------------------------------------------
#: `tail --to`'s own id (one per state file) and the files whose stream `serve` holds open
REMOTE_SCHEMA = ("CREATE TABLE IF NOT EXISTS tail_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
                 "CREATE TABLE IF NOT EXISTS remote_streams (identity TEXT PRIMARY KEY, path TEXT NOT NULL)")


class RemoteTail:
    """Post new lines to a `cloudward serve`; offsets saved (in `state_path`) only after a 2xx.

    Each followed file is one stream at the service, as it is in-process: a batch names its stream (this
    tail's id and the file's identity) and where it starts in the file, so `serve` decodes it with the
    decoder that read the batches before (a W3C `#Fields` header, an auditd event whose records span two
    batches). Shipping bytes rather than decoding here keeps one decoder and one set of cards, in the
    service: a batch that does not start where the stream's last one ended (the service lost it, the file
    started over) begins a new stream there. A file gone from the patterns ends its stream."""

    def __init__(self, url: str, token: str, state_path: str, patterns: list[str], fmt: str | None = None,
                 params: dict[str, str] | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.endpoint = url.rstrip("/") + (f"/ingest/{urllib.parse.quote(fmt)}" if fmt else "/ingest")
        if params:
            self.endpoint += "?" + urllib.parse.urlencode(params)
        self.token = token
        Path(state_path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(state_path)
        self.db.execute("PRAGMA journal_mode=WAL")
        for statement in REMOTE_SCHEMA:
            self.db.execute(statement)
        self.follower = Follower(patterns, load_records(self.db))
        row = self.db.execute("SELECT value FROM tail_meta WHERE key = 'id'").fetchone()
        if row is None:
            row = (uuid.uuid4().hex,)
            self.db.execute("INSERT INTO tail_meta VALUES ('id', ?)", row)
        self.tail_id: str = row[0]
        self.open_streams: dict[str, str] = dict(self.db.execute("SELECT identity, path FROM remote_streams"))
        self.db.commit()
        self.sleep = sleep

    def post(self, chunk: Chunk, attempts: int = 8, *, end: bool = False) -> None:
        delay = 0.5
        headers = {"Authorization": f"Bearer {self.token}", "Content-Encoding": "gzip", "Content-Type": "text/plain",
                   "X-Cloudward-Batch": chunk.key + (":end" if end else ""),
                   "X-Cloudward-Stream": f"{self.tail_id}/{chunk.record.identity}",
                   "X-Cloudward-Offset": str(chunk.start),
                   "X-Cloudward-Path": urllib.parse.quote(chunk.record.path, safe="/ ")}
        if end:
            headers["X-Cloudward-Stream-End"] = "1"
        for attempt in range(attempts):
            req = urllib.request.Request(self.endpoint, data=gzip.compress(chunk.data), method="POST",
                                         headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    resp.read()
                    return
            except urllib.error.HTTPError as exc:
                if exc.code in (400, 401, 403, 404, 413):
                    raise RuntimeError(f"{self.endpoint} refused the batch: {exc.code} {exc.read()[:300]!r}") from None
                retry = exc.headers.get("Retry-After")
                wait = float(retry) if retry and retry.isdigit() else delay
            except (urllib.error.URLError, OSError):
                wait = delay
            if attempt == attempts - 1:
                break
            self.sleep(wait)
            delay = min(delay * 2, 30.0)
        raise RuntimeError(f"{self.endpoint}: not reachable after {attempts} attempts")

    def poll(self) -> int:
        chunks = self.follower.scan()
        total = 0
        for chunk in chunks:
            if chunk.data:
                self.post(chunk)
                total += len(chunk.data)
            with self.db:
                save_records(self.db, [chunk.record])
                if chunk.data and chunk.record.identity not in self.open_streams:
                    self.open_streams[chunk.record.identity] = chunk.record.path
                    self.db.execute("INSERT OR REPLACE INTO remote_streams VALUES (?,?)",
                                    (chunk.record.identity, chunk.record.path))
            self.follower.committed([chunk])
        # a file no pattern finds any more: the service decodes what its stream still holds
        for identity in [i for i in self.open_streams if i not in self.follower.present]:
            record = self.follower.records.get(identity)
            if record is not None:
                self.post(Chunk(record, record.offset, record.offset, b""), end=True)
            with self.db:
                self.db.execute("DELETE FROM remote_streams WHERE identity = ?", (identity,))
            del self.open_streams[identity]
        return total

    def close(self) -> None:
        self.db.close()
