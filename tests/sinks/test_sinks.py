"""Streaming sinks: open/send/close, several at once from `[[sinks]]`, `--output` as the stdout shortcut."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cloudward.config import ConfigError, from_dict
from cloudward.pipeline import scan_text
from cloudward.sinks import WriterSink, from_config, known_types, make_sink
from cloudward.sinks.json_lines import JsonLinesFileSink, JsonLinesSink

CLOUDWARD = str(Path(sys.executable).with_name("cloudward"))
SAMPLE = Path(__file__).parents[2] / "src" / "cloudward" / "samples" / "k8s" / "audit.log"


def _alerts():
    alerts, _ = scan_text(SAMPLE.read_bytes(), display="audit.log")
    assert len(alerts) >= 2
    return alerts


def test_the_existing_writers_and_the_file_sink_are_registered():
    assert {"table", "json", "jsonl", "ocsf", "jsonl_file"} <= set(known_types())
    assert isinstance(make_sink("jsonl"), JsonLinesSink)
    assert isinstance(make_sink("table"), WriterSink) and make_sink("nope") is None


def test_jsonl_file_sink_appends_each_send(tmp_path):
    alerts = _alerts()
    path = tmp_path / "out" / "alerts.jsonl"
    path.parent.mkdir()
    sink = JsonLinesFileSink()
    sink.open({"type": "jsonl_file", "path": str(path), "min_severity": "high"})
    sink.send(alerts[:1])
    sink.send(alerts)  # a streaming runner sends what changed, batch after batch
    sink.close()
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    high = [a for a in alerts if a.severity == "high"]
    assert len(lines) == len(high) + (alerts[0].severity == "high")
    assert {d["id"] for d in lines} == {a.id for a in high}


def test_a_writer_sink_writes_the_latest_version_once_at_close():
    alerts = _alerts()
    out = io.BytesIO()
    sink = make_sink("json", out)
    sink.open({"type": "json"})
    sink.send(alerts)
    sink.send(alerts[:1])
    assert out.getvalue() == b""
    sink.close()
    assert [d["id"] for d in json.loads(out.getvalue())] == [a.id for a in alerts]


def test_sink_tables_are_validated():
    with pytest.raises(ConfigError, match=r"sinks\[0\]\.type: unknown sink 'kafka'"):
        from_config(from_dict({"sinks": [{"type": "kafka"}]}, "cw.toml"))
    with pytest.raises(ConfigError, match=r"sinks\[0\]\.path: a jsonl_file sink needs a path"):
        from_config(from_dict({"sinks": [{"type": "jsonl_file"}]}, "cw.toml"))
    with pytest.raises(ConfigError, match=r"sinks\[1\] has unknown keys colour"):
        from_config(from_dict({"sinks": [{"type": "json"}, {"type": "table", "colour": "red"}]}, "cw.toml"))


def test_scan_writes_stdout_and_every_configured_sink(tmp_path):
    config = tmp_path / "cw.toml"
    file_sink = tmp_path / "alerts.jsonl"
    ocsf = tmp_path / "alerts.ocsf"
    config.write_text(f'[[sinks]]\ntype = "jsonl_file"\npath = "{file_sink}"\nmin_severity = "high"\n\n'
                      f'[[sinks]]\ntype = "ocsf"\npath = "{ocsf}"\n')
    r = subprocess.run([CLOUDWARD, "scan", str(SAMPLE), "-o", "jsonl", "-q", "-c", str(config)],
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    everything = [json.loads(x) for x in r.stdout.splitlines()]
    high = [json.loads(x) for x in file_sink.read_text().splitlines()]
    assert high and {d["id"] for d in high} == {d["id"] for d in everything if d["severity"] == "high"}
    assert len(ocsf.read_text().splitlines()) == len(everything)
    bad = tmp_path / "bad.toml"
    bad.write_text('[[sinks]]\ntype = "kafka"\n')
    r = subprocess.run([CLOUDWARD, "scan", str(SAMPLE), "-q", "-c", str(bad)], capture_output=True, timeout=120)
    assert r.returncode == 2 and b"unknown sink" in r.stderr
