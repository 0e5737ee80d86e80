"""The streaming form of the Spark job: Structured Streaming micro-batches feeding one checkpointed engine.

    file source (binaryFile: path, content)      record source (stream, value, seq — Kafka, rate, …)
        executors: `decode_contents`                  driver: `Engine.feed_bytes` per stream, in seq order
        (stateless, the batch job's decoding)         (a stream's decoder keeps W3C headers, open records)
                      └──────────────► driver: one Engine ◄──────────────┘
          feed in event-time order, advance to the watermark, alerts that changed → batch-<id>.jsonl
          engine state → <state>/engine-state.json (with the batch id) after every micro-batch

Why the detection stage sits on the driver: a stream's micro-batches are small, and every stateful card
needs its key's events in time order across batches; one engine holding the keyed state (restored from
its checkpoint after a restart) gives exactly the alerts of `cloudward scan` over the same input when the
input arrives within the allowed lateness (`[engine] allowed_lateness`). Decoding, the costly part of a
file, still runs on the executors.

Exactly-once effects: Spark may run a micro-batch again after a failure (its offsets were written, its
commit was not). The state file names the last batch whose alerts and state were written; a batch with
that id or an older one is skipped, and a batch's alert file is written (atomically) before the state, so
a batch run twice writes the same file twice and feeds the engine once.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from cloudward.alerts import Alert
from cloudward.config import Config
from cloudward.engine import Engine
from cloudward.inputs import InputFile, Rejection, ScanStats
from cloudward.state import event_from_state

STATE_FILE = "engine-state.json"
#: Spark's own offsets and commits, under the state folder
SPARK_CHECKPOINTS = "spark"


def local_path(uri: str) -> str:
    """binaryFile's `path` column as `scan` names the same file (`file:/a/b.log` → `/a/b.log`)."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    return uri


def decode_contents(rows: Iterable[Any], config: Config, only: set[str] | None,
                    intel: list[str]) -> Iterator[tuple[str, Any, Any]]:
    """Executor stage of the file source: decode each (path, content) row as `scan` decodes the file.

    Yields ("event", order key, event state) for every event and ("stats", path, counts) per file."""
    from cloudward.runners import workers
    from cloudward.spark import _worker_engine

    _worker_engine(config, only, intel)
    engine: Engine = workers._WORKER["engine"]
    for row in rows:
        path = local_path(row[0])
        workers._reset(engine)
        src = InputFile(path, display=path, data=bytes(row[1]), max_line_bytes=config.max_line_bytes,
                        max_decompressed_bytes=config.max_decompressed_bytes,
                        max_compression_ratio=config.max_compression_ratio)
        engine.feed(engine.decode_input(src))
        del engine.unread_inputs[:]
        state = engine.checkpoint()
        stats = engine.stats
        workers._reset(engine)
        for key, body in state["buffer"]:
            yield "event", tuple(key), body
        yield "stats", path, stats


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class StreamJob:
    """The driver's side of a streaming query: one engine, its state written after every micro-batch.

    `output` receives `batch-<id>.jsonl`, the alerts each micro-batch created or changed (the alert
    contract of `scan -o jsonl`; an alert that changes again appears again, with its new count)."""

    def __init__(self, config: Config, state_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str],
                 *, only: set[str] | None = None, intel: list[str] | None = None) -> None:
        self.config = config
        self.only = only
        self.intel = list(intel or [])
        self.state_dir = Path(state_dir)
        self.output_dir = Path(output_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.engine, self.committed = load_engine(self.state_dir, config, only=only, intel=self.intel)
        #: micro-batches run (and skipped as already committed) by this job object
        self.batches = 0
        self.skipped_batches = 0

    # -- the two sources -------------------------------------------------------------------------
    def take_decoded(self, batch_id: int, rows: Iterable[tuple[str, Any, Any]]) -> list[Alert]:
        """One micro-batch of the file source: the executors' `decode_contents` output."""
        if self._already(batch_id):
            return []
        events: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        stats: list[tuple[str, ScanStats]] = []
        for kind, key, body in rows:
            if kind == "event":
                events.append((key, body))
            else:
                stats.append((key, body))
        engine = self.engine
        # counts as the one-process scan keeps them: per file, in the order `scan` lists a folder
        for _path, counts in sorted(stats, key=lambda item: item[0]):
            engine.stats.merge(counts)
        events.sort(key=lambda item: item[0][:5])
        counted = engine.stats.events
        changed = {a.id: a for a in engine.feed(event_from_state(body) for _key, body in events)}
        engine.stats.events = counted  # decoding counted them already
        return self._finish_batch(batch_id, changed)

    def take_records(self, batch_id: int, rows: Iterable[Any], *, lines: bool = True) -> list[Alert]:
        """One micro-batch of the record source: rows of (stream, value, seq), `value` the next bytes of
        `stream` (with `lines`, each value is one or more whole lines and a missing final newline is added,
        as Kafka records and syslog messages carry one line without it)."""
        if self._already(batch_id):
            return []
        engine = self.engine
        changed: dict[str, Alert] = {}
        for stream, value, _seq in sorted(rows, key=lambda row: (str(row[0]), row[2])):
            data = value.encode("utf-8") if isinstance(value, str) else bytes(value or b"")
            if lines and data and not data.endswith(b"\n"):
                data += b"\n"
            changed.update((a.id, a) for a in engine.feed_bytes(str(stream), data))
        return self._finish_batch(batch_id, changed)

    # -- commit ----------------------------------------------------------------------------------
    def _already(self, batch_id: int) -> bool:
        self.batches += 1
        if batch_id <= self.committed:
            self.skipped_batches += 1
            return True
        return False

    def _finish_batch(self, batch_id: int, changed: dict[str, Alert]) -> list[Alert]:
        engine = self.engine
        newest = engine._newest
        if newest != float("-inf"):
            # the watermark: what is older than the allowed lateness runs now and windows close
            changed.update((a.id, a) for a in engine.advance(newest - engine.settings.allowed_lateness))
        engine.book.apply_suppression()
        changed.update((a.id, a) for a in engine.book.drain_changed())
        alerts = sorted(changed.values(), key=lambda a: (a.first_seen, a.id))
        text = "".join(json.dumps(a.to_dict(), ensure_ascii=False, sort_keys=True) + "\n" for a in alerts)
        _write_atomically(self.output_dir / f"batch-{batch_id:08d}.jsonl", text)
        save_engine(self.state_dir, engine, batch_id)
        self.committed = batch_id
        return alerts

    def alerts(self) -> list[Alert]:
        """What a scan ending now would report (open windows closed), from the last committed state."""
        return current_alerts(self.state_dir, self.config, only=self.only, intel=self.intel)


_COUNTS = ("files", "lines", "events", "skipped", "ignored", "rejected", "uninspectable", "duplicates", "bytes_read")


def save_engine(state_dir: Path, engine: Engine, batch_id: int) -> None:
    stats = engine.stats
    counts = {name: getattr(stats, name) for name in _COUNTS}
    counts["reject_reasons"] = dict(stats.reject_reasons)
    counts["formats"] = dict(stats.formats)
    counts["rejections"] = [[r.where, r.reason] for r in stats.rejections]
    body = {"batch": batch_id, "engine": engine.checkpoint(), "stats": counts}
    _write_atomically(state_dir / STATE_FILE, json.dumps(body, separators=(",", ":")))


def load_engine(state_dir: str | os.PathLike[str], config: Config, *, only: set[str] | None = None,
                intel: list[str] | None = None) -> tuple[Engine, int]:
    """A fresh engine with the committed state restored, and the id of the batch it was committed with
    (-1 when there is none yet)."""
    engine = Engine(config, only=only, enrich_options={"intel": list(intel or [])})
    path = Path(state_dir) / STATE_FILE
    if not path.exists():
        return engine, -1
    body = json.loads(path.read_text(encoding="utf-8"))
    engine.restore(body["engine"])
    stats = body.get("stats")
    if stats:
        engine.stats = _stats_from(stats)
        engine.ctx.stats = engine.stats
    return engine, int(body["batch"])


def _stats_from(body: dict[str, Any]) -> ScanStats:
    stats = ScanStats()
    for name, value in body.items():
        if name in ("reject_reasons", "formats"):
            getattr(stats, name).update(value)
        elif name == "rejections":
            stats.rejections.extend(Rejection(where, reason) for where, reason in value)
        elif hasattr(stats, name):
            setattr(stats, name, value)
    return stats


def current_alerts(state_dir: str | os.PathLike[str], config: Config, *, only: set[str] | None = None,
                   intel: list[str] | None = None) -> list[Alert]:
    """The alerts of the committed state as `scan` would end: open streams decoded to their end, every
    held event run, windows closed, suppression applied. The state on disk is not changed."""
    from cloudward.runners.scan import finish

    engine, _batch = load_engine(state_dir, config, only=only, intel=intel)
    for stream in list(engine._streams):
        engine.close_stream(stream)
    return finish(engine, None)


def committed_stats(state_dir: str | os.PathLike[str], config: Config) -> ScanStats:
    """The decoding counts (files, lines, events, rejects) of the committed state."""
    engine, _batch = load_engine(state_dir, config)
    return engine.stats


# -- the queries ---------------------------------------------------------------------------------
def start_file_stream(spark: Any, source: str, job: StreamJob, *, max_files_per_trigger: int | None = None,
                      trigger: dict[str, Any] | None = None, glob: str | None = None) -> Any:
    """A streaming query over the files that appear under `source` (each file read once, whole)."""
    config, only, intel = job.config, job.only, job.intel
    from pyspark.sql.types import BinaryType, LongType, StringType, StructField, StructType, TimestampType

    # binaryFile's fixed schema (a streaming source must be given it)
    schema = StructType([StructField("path", StringType()), StructField("modificationTime", TimestampType()),
                         StructField("length", LongType()), StructField("content", BinaryType())])
    reader = spark.readStream.format("binaryFile").schema(schema)
    if max_files_per_trigger:
        reader = reader.option("maxFilesPerTrigger", str(max_files_per_trigger))
    if glob:
        reader = reader.option("pathGlobFilter", glob)
    frame = reader.load(source).select("path", "content")

    def handle(batch: Any, batch_id: int) -> None:
        if batch_id <= job.committed:  # run again after a failure: its effects are written already
            job.take_decoded(batch_id, ())
            return
        rows = batch.rdd.mapPartitions(lambda part: decode_contents(part, config, only, intel)).collect()
        job.take_decoded(batch_id, rows)

    return _start(frame, handle, job, trigger)


def start_record_stream(frame: Any, job: StreamJob, *, trigger: dict[str, Any] | None = None,
                        lines: bool = True) -> Any:
    """A streaming query over a frame of (stream, value, seq) records, e.g. Kafka's
    `selectExpr("CAST(topic AS STRING) || '/' || CAST(partition AS STRING) AS stream", "value",
    "offset AS seq")`."""

    def handle(batch: Any, batch_id: int) -> None:
        if batch_id <= job.committed:
            job.take_records(batch_id, ())
            return
        job.take_records(batch_id, batch.select("stream", "value", "seq").collect(), lines=lines)

    return _start(frame, handle, job, trigger)


def _start(frame: Any, handle: Callable[[Any, int], None], job: StreamJob, trigger: dict[str, Any] | None) -> Any:
    writer = frame.writeStream.foreachBatch(handle).option(
        "checkpointLocation", str(job.state_dir / SPARK_CHECKPOINTS))
    if trigger:
        writer = writer.trigger(**trigger)
    return writer.start()
