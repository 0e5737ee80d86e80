"""`cloudward spark-scan` on Spark local[2] gives the alerts of a local scan, field by field."""

from __future__ import annotations

import json
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
    parquet = sorted(pq.glob("part-*.parquet"))
    assert parquet and all(p.read_bytes()[:4] == b"PAR1" for p in parquet)


def test_spark_scan_command_writes_json_lines_part_files(spark, tmp_path):
    # the command as a user runs it; in this process its session is the fixture's (JVM start-up is slow),
    # and the command stops it, so this test runs last
    from click.testing import CliRunner

    from cloudward.cli import main

    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["spark-scan", str(DATA / "web"), "--output", str(out), "--master", "local[2]",
                                       "-q"])
    assert result.exit_code == 0, result.output
    written = [json.loads(line) for p in sorted(out.glob("part-*")) for line in p.read_text().splitlines()]
    local, _ = _local([DATA / "web"])
    assert sorted(a["id"] for a in written) == sorted(a["id"] for a in local)
    assert result.stdout == ""
    again = CliRunner().invoke(main, ["spark-scan", str(DATA / "web"), "--output", str(out)])
    assert again.exit_code == 2 and "exists already" in again.output
