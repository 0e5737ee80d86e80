"""The Structured Streaming job gives the alerts of `cloudward scan` over the same input, across
micro-batches, restarts and replayed batches."""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from pathlib import Path

import pytest

from cloudward.config import Config
from cloudward.runners.scan import ScanRunner

pytest.importorskip("pyspark", reason="pyspark is installed by `make` (the dev extra)")

from cloudward.spark import streaming

DATA = Path(__file__).parents[1] / "data"
AVAILABLE_NOW = {"availableNow": True}


def _mixed_files() -> list[Path]:
    """Web (combined, W3C, App Service JSON, FTP), audit (Falco's trace files) and host (auditd, docker
    events and inspect snapshots) inputs, one folder's worth."""
    files = sorted((DATA / "web" / "mixed").glob("[!.]*"))
    files += sorted((DATA / "k8s" / "falco-trace-files").glob("*.json"))[:12]
    files += sorted((DATA / "host" / "recorded").glob("*"))
    return [f for f in files if f.is_file()]


def _lenient() -> Config:
    """Input that arrives in any order: nothing is late, so nothing runs before the end."""
    config = Config()
    config.raw["engine"] = {"allowed_lateness": "36500d"}
    return config


def _scan(config: Config, paths: list[Path]) -> tuple[list[dict], object]:
    runner = ScanRunner(config, workers=1)
    alerts = [a.to_dict() for a in runner.run([str(p) for p in paths])]
    return alerts, runner.engine.stats


def _assert_same(mine: list[dict], theirs: list[dict]) -> None:
    assert [a["id"] for a in mine] == [a["id"] for a in theirs]
    for a, b in zip(mine, theirs, strict=True):
        for field in b:
            assert a[field] == b[field], (b["alert_type"], field)


def _copy(files: list[Path], folder: Path, start: float) -> None:
    # the file source takes files oldest first: modification times give the arrival order
    for i, f in enumerate(files):
        target = folder / f.name
        shutil.copy(f, target)
        os.utime(target, (start + i, start + i))


def test_file_stream_over_micro_batches_and_a_restart_gives_the_scan_alerts(spark, tmp_path):
    files = _mixed_files()
    source, state, out = tmp_path / "in", tmp_path / "state", tmp_path / "out"
    source.mkdir()
    config = _lenient()
    half = len(files) // 2
    _copy(files[:half], source, 1_700_000_000)

    job = streaming.StreamJob(config, state, out)
    streaming.start_file_stream(spark, str(source), job, max_files_per_trigger=4,
                                trigger=AVAILABLE_NOW).awaitTermination()
    assert job.batches >= 2 and job.committed == job.batches - 1
    before = job.alerts()

    # a new job object, as after a driver restart: the engine comes back from its state file and Spark's
    # checkpoint hands it only the files it has not committed
    _copy(files[half:], source, 1_700_001_000)
    again = streaming.StreamJob(config, state, out)
    assert again.committed == job.committed
    streaming.start_file_stream(spark, str(source), again, max_files_per_trigger=4,
                                trigger=AVAILABLE_NOW).awaitTermination()
    assert again.committed > job.committed

    local, local_stats = _scan(config, [source])
    assert {a["alert_type"][:4] for a in local} >= {"K8S_", "AppS", "K8S."}
    _assert_same([a.to_dict() for a in again.alerts()], local)
    stats = streaming.committed_stats(state, config)
    for name in ("files", "lines", "events", "skipped", "rejected", "duplicates", "uninspectable"):
        assert getattr(stats, name) == getattr(local_stats, name), name
    assert stats.formats == local_stats.formats
    assert len(before) < len(local)  # the first half did not already hold everything

    # Spark runs a committed micro-batch again after a failure: it must change nothing
    committed = json.loads((state / streaming.STATE_FILE).read_text())
    rows = [("event", (0.0, "x", 1, "", "x", "", 1), {})]
    assert again.take_decoded(again.committed, rows) == [] and again.skipped_batches == 1
    assert json.loads((state / streaming.STATE_FILE).read_text()) == committed


def _site_lines(rng: random.Random, site: int, day: int) -> list[tuple[int, str]]:
    pages = ["/", "/products/1", "/blog/2026/11/post-2/", "/static/site.css", "/images/p3.webp"]
    probes = ["/.env", "/.git/config", "/phpinfo.php", "/wp-config.php.bak", "/actuator/env", "/backup.sql"]
    out = []
    for _ in range(150):
        t = day * 86400 + rng.randrange(0, 86400)
        out.append((t, _combined(f"10.0.{rng.randrange(256)}.{rng.randrange(1, 255)}", t, rng.choice(pages), 200)))
    # the same scanner every day, at a different hour: one window a day, which closes while the stream runs
    base = day * 86400 + 3600 * (2 + 5 * day)
    for k, probe in enumerate(rng.sample(probes, 4)):
        t = base + k * 5 + site * 2
        out.append((t, _combined("203.0.113.77", t, probe, 404)))
    return out


def _combined(ip: str, t: int, path: str, status: int) -> str:
    day, rest = divmod(t, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return (f'{ip} - - [{2 + day:02d}/Nov/2026:{h:02d}:{m:02d}:{s:02d} +0000] "GET {path} HTTP/1.1" {status} 153 '
            f'"-" "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0"\n')


def test_windows_close_while_the_stream_runs_with_the_default_lateness(spark, tmp_path):
    # three sites' logs rotated daily, arriving a day at a time: the cross-site scanner's window of one
    # day closes on the next day's events, so its alert is written before the stream ends
    rng = random.Random(7)
    days = 3
    made = tmp_path / "made"
    made.mkdir()
    files = []
    for day in range(days):
        for site in range(3):
            lines = sorted(_site_lines(rng, site, day))
            path = made / f"site{site}.example.com.access.log.{days - day}"
            path.write_text("".join(line for _, line in lines))
            files.append(path)
    source, state, out = tmp_path / "in", tmp_path / "state", tmp_path / "out"
    source.mkdir()
    _copy(files, source, 1_700_000_000)
    config = Config()
    job = streaming.StreamJob(config, state, out)
    streaming.start_file_stream(spark, str(source), job, max_files_per_trigger=3,
                                trigger=AVAILABLE_NOW).awaitTermination()
    assert job.committed == days - 1

    local, _ = _scan(config, [source])
    scans = [a for a in local if a["alert_type"] == "AppServices_ScanSensitivePage"]
    assert scans and sum(a["count"] for a in scans) >= days
    _assert_same([a.to_dict() for a in job.alerts()], local)
    written = [json.loads(line) for p in sorted(out.glob("batch-*.jsonl")) for line in p.read_text().splitlines()]
    early = [a for a in written if a["alert_type"] == "AppServices_ScanSensitivePage"]
    assert early, "no window closed before the end of the stream"
    assert all(a["id"] in {s["id"] for s in scans} for a in early)


def test_record_stream_from_the_rate_source_keeps_stream_state_across_batches_and_restarts(spark, tmp_path):
    # a W3C log fed one line per record: its #Fields header, read in the first micro-batch, decodes the
    # lines of every later one, also after the query is stopped and started again from its checkpoint
    from pyspark.sql import functions as F

    log = DATA / "web" / "mixed" / "u_ex261102.log"
    lines = log.read_text(encoding="utf-8").splitlines()
    stream_name = str(log)
    state, out = tmp_path / "state", tmp_path / "out"

    def query(job):
        frame = (spark.readStream.format("rate").option("rowsPerSecond", "10").option("numPartitions", "1").load()
                 .where(F.col("value") < len(lines))
                 .select(F.lit(stream_name).alias("stream"),
                         F.element_at(F.array(*[F.lit(x) for x in lines]), (F.col("value") + 1).cast("int"))
                         .alias("value"),
                         F.col("value").alias("seq")))
        return streaming.start_record_stream(frame, job, trigger={"processingTime": "300 milliseconds"})

    def run_until(job, upto: int) -> None:
        q = query(job)
        deadline = time.monotonic() + 90
        try:
            while streaming.committed_stats(state, Config()).lines < upto:
                assert time.monotonic() < deadline, "the rate source did not deliver in 90 s"
                q.awaitTermination(0.3)
                assert q.exception() is None, q.exception()
        finally:
            q.stop()  # (mid-stream: Spark's checkpoint and the state file say where to go on)

    run_until(streaming.StreamJob(Config(), state, out), len(lines) // 3)
    assert streaming.committed_stats(state, Config()).lines < len(lines)
    run_until(streaming.StreamJob(Config(), state, out), len(lines))

    local, local_stats = _scan(Config(), [log])
    assert local, "the W3C sample raises an alert"
    final = streaming.StreamJob(Config(), state, out)
    _assert_same([a.to_dict() for a in final.alerts()], local)
    stats = streaming.committed_stats(state, Config())
    assert (stats.lines, stats.rejected) == (local_stats.lines, local_stats.rejected)


def test_spark_stream_command_once_writes_batches_and_the_final_alerts(spark, tmp_path):
    # the command as a user runs it; it stops its session (the fixture's), so this test runs last
    from click.testing import CliRunner

    from cloudward.cli import main

    source = tmp_path / "in"
    source.mkdir()
    files = sorted((DATA / "web" / "mixed").glob("[!.]*"))
    _copy(files, source, 1_700_000_000)
    out, state, final = tmp_path / "out", tmp_path / "state", tmp_path / "final.jsonl"
    result = CliRunner().invoke(main, ["spark-stream", str(source), "--output", str(out), "--state", str(state),
                                       "--master", "local[2]", "--once", "--max-files-per-trigger", "2",
                                       "--final-output", str(final)])
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("batch-*.jsonl"))) == (len(files) + 1) // 2
    local, _ = _scan(Config(), [source])
    _assert_same([json.loads(line) for line in final.read_text().splitlines()], local)
    assert "micro-batches" in result.stderr
