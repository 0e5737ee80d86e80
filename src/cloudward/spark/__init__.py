"""`cloudward spark-scan`: the same detections on Apache Spark, with the alerts of a local scan.

    inputs ─► tasks (files; byte ranges of big line-oriented files)                      driver
    mapPartitions: decode + raw-line prefilters (stateless)    ─► (scope, order key, event)
    repartitionAndSortWithinPartitions by scope, sorted by the engine's order key (event time first)
    mapPartitions: one Engine per scope, events in time order  ─► alert book state, counts
    driver: `AlertBook.merge` of every scope's book, suppression ─► JSON-lines (or Parquet) part files

The shuffle key (`scope_of`) is the coarsest state any card of an event's family keeps, so every keyed
state of that family lives in one engine: Kubernetes audit events by cluster (owner chains, kube-system
baselines and redelivery ids never cross clusters); web and FTP requests together (the cross-site
scanner needs every site of one source address, the site baselines every address of one site, the
theme-injection card a site's FTP uploads next to its HTTP calls: no single finer key serves all three);
host telemetry together (process trees are per host, but container context joins `docker inspect`
snapshots that carry no host name to execs that do). Alerts of different scopes meet in the driver's
alert book, which deduplicates and aggregates them with the same logic as one engine.
"""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from cloudward.config import Config
from cloudward.engine import Engine
from cloudward.events import Event, FtpEvent, HttpRequest, K8sAudit
from cloudward.inputs import ScanStats, expand_paths
from cloudward.runners.workers import Task, plan, run_task
from cloudward.state import event_from_state

OUTPUT_FORMATS = ("jsonl", "parquet")
#: the shuffle key of the decoding counts, which ride along with the events (one Spark job in all)
COUNTS = "~counts"


def scope_of(event: Event) -> str:
    """The shuffle key of an event (see the module's docstring for why these are the keys)."""
    kind = type(event)
    if kind is K8sAudit:
        return f"audit:{event.cluster}"  # type: ignore[attr-defined]
    if kind is HttpRequest or kind is FtpEvent:
        return "web"
    return "host"


def _scope_of_state(body: dict[str, Any]) -> str:
    kind = body.get("kind")
    if kind == "K8sAudit":
        return f"audit:{body.get('cluster') or ''}"
    if kind in ("HttpRequest", "FtpEvent"):
        return "web"
    return "host"


def _worker_engine(config: Config, only: set[str] | None, intel: list[str]) -> None:
    from cloudward.runners import workers

    # every Spark task unpickles its own copy of the closure's config: compare by content, so a reused
    # Python worker builds the engine (detections, data lists: ~0.5 s) once, not once per task
    fingerprint = pickle.dumps((config, sorted(only) if only is not None else None, intel))
    if "engine" not in workers._WORKER or workers._WORKER.get("fingerprint") != fingerprint:
        workers._worker_init(config, only, intel)
        workers._WORKER["fingerprint"] = fingerprint


def decode_partition(tasks: Iterable[Task], config: Config, only: set[str] | None,
                     intel: list[str]) -> Iterator[tuple[Any, Any]]:
    """Stateless stage: decode tasks; yields ((scope, order key), event state) and (None, counts)."""
    _worker_engine(config, only, intel)
    for task in tasks:
        state, stats, _, _ = run_task(task)
        for key, body in state["buffer"]:
            yield (_scope_of_state(body), tuple(key)), body
        yield (COUNTS, (task.path, task.start)), stats


def detect_partition(rows: Iterable[tuple[Any, Any]], config: Config, only: set[str] | None,
                     intel: list[str]) -> Iterator[tuple[dict[str, Any], dict[str, int], ScanStats]]:
    """Stateful stage: rows sorted by (scope, order key); one engine per scope runs them in time order
    and hands back its alert book and counts."""
    engine: Engine | None = None
    scope = None

    def done(engine: Engine) -> tuple[dict[str, Any], dict[str, int], ScanStats]:
        engine.advance(None)
        return (engine.book.state(), {"allowed": engine.allowed, "late": engine.late,
                                      "detection_errors": engine.detection_errors}, engine.stats)

    for (row_scope, _key), body in rows:
        if row_scope == COUNTS:
            yield {}, {}, body
            continue
        if row_scope != scope:
            if engine is not None:
                yield done(engine)
            engine = Engine(config, only=only, enrich_options={"intel": intel})
            scope = row_scope
        engine.feed((event_from_state(body),))
    if engine is not None:
        yield done(engine)


def _partition_of(key: Any) -> int:
    from pyspark.rdd import portable_hash

    return portable_hash(key[0])


def run(spark: Any, paths: list[str], config: Config, *, only: set[str] | None = None,
        intel: list[str] | None = None, partitions: int | None = None) -> Engine:
    """The Spark job; returns the driver's engine holding every alert and count (not yet finished)."""
    sc = spark.sparkContext
    intel = list(intel or [])
    parallelism = partitions or sc.defaultParallelism
    local = [p for p in paths if "://" not in p]
    tasks = plan(list(expand_paths(local)), parallelism, max_line_bytes=config.max_line_bytes)
    if len(local) != len(paths):
        raise ValueError("spark-scan reads local or mounted paths here; object-store URIs need the "
                         "binaryFiles form documented in README 'Scaling out'")
    decoded = sc.parallelize(tasks, max(1, min(len(tasks), parallelism * 4))).mapPartitions(
        lambda part: decode_partition(part, config, only, intel))
    books = (decoded.repartitionAndSortWithinPartitions(parallelism, partitionFunc=_partition_of)
             .mapPartitions(lambda part: detect_partition(part, config, only, intel))
             .collect())
    driver = Engine(config, only=only, enrich_options={"intel": intel})
    driver.hold = True
    # decoding counts first (lines, events, rejects of the inputs), then what running the cards added
    for _book, counters, stats in books:
        if not counters:
            driver.stats.merge(stats)
    for book, counters, stats in books:
        if not counters:
            continue
        driver.book.merge(book)
        driver.allowed += counters["allowed"]
        driver.late += counters["late"]
        driver.detection_errors += counters["detection_errors"]
        # decoding counted events, lines and rejects; the detection stage adds what running found
        driver.stats.duplicates += stats.duplicates
        driver.stats.uninspectable += stats.uninspectable
        driver.stats.rejected += stats.rejected
        driver.stats.reject_reasons.update(stats.reject_reasons)
        driver.stats.rejections.extend(stats.rejections)
    return driver


def session(master: str | None = None, app_name: str = "cloudward-spark-scan") -> Any:
    """A Spark session (local[*] when no master is given) whose Python workers run this interpreter."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    # under spark-submit (a gateway is already running) the master is spark-submit's; else local[*]
    if master or not os.environ.get("PYSPARK_GATEWAY_PORT"):
        builder = builder.master(master or "local[*]")
    builder = (builder.config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "8"))
    return builder.getOrCreate()


def write_alerts(spark: Any, alerts: list[dict[str, Any]], output: str, fmt: str = "jsonl") -> None:
    """The alerts as JSON-lines part files (or Parquet) under `output` (created; must not exist)."""
    import orjson

    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; choose from {', '.join(OUTPUT_FORMATS)}")
    lines = [orjson.dumps(a).decode("utf-8") for a in alerts]
    rdd = spark.sparkContext.parallelize(lines, max(1, min(len(lines), spark.sparkContext.defaultParallelism)))
    if fmt == "jsonl":
        rdd.saveAsTextFile(output)
    else:
        spark.read.json(rdd).write.parquet(output)
