"""`cloudward spark-scan` on Spark local[2] gives the alerts of a local scan, field by field."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cloudward.config import Config
from cloudward.runners.scan import ScanRunner, finish

pyspark = pytest.importorskip("pyspark", reason="pyspark is installed by `make` (the dev extra)")

DATA = Path(__file__).parents[1] / "data"
SAMPLES = Path(__file__).parents[2] / "src" / "cloudward" / "samples"
#: audit (Falco's trace files, the bundled AKS/EKS/GKE samples), web (combined, W3C, App Service JSON, FTP)
#: and host (auditd, Tetragon, Falco, docker) logs in one run
MIXED = [DATA / "k8s", DATA / "web", DATA / "host", SAMPLES]


@pytest.fixture(scope="module")
def spark():
    if shutil.which("java") is None:
        pytest.fail("spark-scan tests need a Java runtime (Java 17): apt-get install -y openjdk-17-jre-headless")
    from cloudward import spark as job

    session = job.session("local[2]")
    yield session
    session.stop()


def _local(paths):
    runner = ScanRunner(Config(), workers=1)
    return [a.to_dict() for a in runner.run([str(p) for p in paths])], runner.engine.stats


def test_spark_job_gives_the_alerts_of_a_local_scan(spark, tmp_path):
    from cloudward import spark as job

    local, local_stats = _local(MIXED)
    engine = job.run(spark, [str(p) for p in MIXED], Config())
    alerts = [a.to_dict() for a in finish(engine, None)]
    assert {a["alert_type"][:4] for a in local} >= {"K8S_", "AppS", "K8S."}  # audit, web and host alerts
    assert [a["id"] for a in alerts] == [a["id"] for a in local]
    for mine, theirs in zip(alerts, local, strict=True):
        for field in theirs:
            assert mine[field] == theirs[field], (theirs["alert_type"], field)
    stats = engine.stats
    for name in ("files", "lines", "events", "skipped", "rejected", "duplicates", "uninspectable"):
        assert getattr(stats, name) == getattr(local_stats, name), name
    assert stats.formats == local_stats.formats

    out = tmp_path / "alerts"
    job.write_alerts(spark, alerts, str(out))
    parts = sorted(out.glob("part-*"))
    assert parts and (out / "_SUCCESS").exists()
    written = [json.loads(line) for p in parts for line in p.read_text().splitlines()]
    assert sorted(written, key=lambda a: a["id"]) == sorted(local, key=lambda a: a["id"])

    pq = tmp_path / "alerts.parquet"
    job.write_alerts(spark, alerts, str(pq), "parquet")
    rows = spark.read.parquet(str(pq)).select("id", "alert_type", "count").collect()
    assert sorted((r.id, r.alert_type, r["count"]) for r in rows) == sorted(
        (a["id"], a["alert_type"], a["count"]) for a in local)


def test_spark_scan_command_writes_json_lines_part_files(tmp_path):
    # the command as a user runs it, in its own process (its own Spark session on local[2])
    out = tmp_path / "out"
    cloudward = Path(__import__("sys").executable).with_name("cloudward")
    proc = subprocess.run([str(cloudward), "spark-scan", str(DATA / "web"), "--output", str(out),
                           "--master", "local[2]", "-q"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = [json.loads(line) for p in sorted(out.glob("part-*")) for line in p.read_text().splitlines()]
    local, _ = _local([DATA / "web"])
    assert sorted(a["id"] for a in written) == sorted(a["id"] for a in local)
    assert proc.stdout == ""
