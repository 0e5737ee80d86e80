"""A bounded on-disk spool of event batches waiting for delivery.

Each batch is one file `<seq>-<batch id>.<format>.ndjson`, written to a temporary name, fsynced and
renamed, so a crash leaves either the whole batch or nothing. The batch id is chosen when the batch
is written and never changes, so a batch re-sent after an outage or an agent restart carries the same
id and the receiver can drop the repeat (`Idempotency-Key`). A batch is removed only after the server
acknowledged it. Beyond `max_bytes` the oldest batches are dropped, and counted.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

_SUFFIX = ".ndjson"


@dataclass(frozen=True)
class SpooledBatch:
    path: Path
    seq: int
    batch_id: str
    format: str

    def body(self) -> bytes:
        return self.path.read_bytes()


class Spool:
    def __init__(self, directory: str | Path, max_bytes: int = 256 << 20) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.max_bytes = max_bytes
        self.dropped_batches = 0
        for stale in self.dir.glob("*.tmp"):  # a write the last run did not finish: never acknowledged
            stale.unlink(missing_ok=True)
        pending = self.pending()
        self.next_seq = pending[-1].seq + 1 if pending else 1

    def append(self, fmt: str, lines: list[bytes]) -> SpooledBatch:
        """Write one batch durably; returns it."""
        if not fmt.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"bad format name {fmt!r}")
        batch_id = uuid.uuid4().hex
        seq = self.next_seq
        self.next_seq += 1
        name = f"{seq:012d}-{batch_id}.{fmt}{_SUFFIX}"
        tmp = self.dir / (name + ".tmp")
        data = b"".join(line.rstrip(b"\n") + b"\n" for line in lines)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        final = self.dir / name
        os.replace(tmp, final)
        self._fsync_dir()
        self._enforce_limit()
        return SpooledBatch(final, seq, batch_id, fmt)

    def pending(self) -> list[SpooledBatch]:
        """Batches not yet acknowledged, oldest first."""
        out = []
        for path in self.dir.iterdir():
            name = path.name
            if not name.endswith(_SUFFIX):
                continue
            head, _, rest = name.partition("-")
            batch_id, _, fmt_part = rest.partition(".")
            if not head.isdigit() or not batch_id:
                continue
            out.append(SpooledBatch(path, int(head), batch_id, fmt_part[: -len(_SUFFIX)]))
        out.sort(key=lambda b: b.seq)
        return out

    def acknowledge(self, batch: SpooledBatch) -> None:
        batch.path.unlink(missing_ok=True)
        self._fsync_dir()

    def depth(self) -> tuple[int, int]:
        """(batches, bytes) waiting."""
        pending = self.pending()
        return len(pending), sum(_size(b.path) for b in pending)

    def _enforce_limit(self) -> None:
        pending = self.pending()
        total = sum(_size(b.path) for b in pending)
        while total > self.max_bytes and len(pending) > 1:
            oldest = pending.pop(0)
            total -= _size(oldest.path)
            oldest.path.unlink(missing_ok=True)
            self.dropped_batches += 1

    def _fsync_dir(self) -> None:
        try:
            fd = os.open(self.dir, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
