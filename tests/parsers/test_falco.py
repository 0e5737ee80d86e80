"""Falco alerts imported into the alert contract (real Falco output from falcosecurity/falco)."""

from __future__ import annotations

from pathlib import Path

import orjson

from cloudward.events import ExternalAlert, ProcessExec
from cloudward.inputs import InputFile
from cloudward.parsers.base import ParseContext
from cloudward.parsers.falco import alert_type
from cloudward.parsers.json_records import JsonRecords
from cloudward.pipeline import Pipeline

DATA = Path(__file__).parents[1] / "data" / "host" / "falco" / "single_rule_with_cat_write.json"


def test_corpus_lines_become_alerts_and_processes():
    ctx = ParseContext()
    events = list(JsonRecords().parse(InputFile(str(DATA)), ctx))
    assert ctx.stats.rejected == 0 and ctx.stats.formats["falco"] == 8
    alerts = [e for e in events if isinstance(e, ExternalAlert)]
    procs = [e for e in events if isinstance(e, ProcessExec)]
    assert len(alerts) == 8 and len(procs) == 8
    a = alerts[0]
    assert a.alert_type == "FALCO_open_from_cat" and a.severity == "medium"
    assert a.entities["host"] == "test-falco-hostname" and a.entities["command_line"] == "cat /dev/null"
    assert a.event_id.endswith("single_rule_with_cat_write.json:1")
    assert procs[0].command_line == "cat /dev/null"


def test_pipeline_folds_repeats_into_one_alert_with_falco_evidence():
    pipe = Pipeline()
    pipe.run_paths([str(DATA)])
    alerts = [a for a in pipe.finish() if a.alert_type.startswith("FALCO_")]
    assert len(alerts) == 1
    out = alerts[0].to_dict()
    assert out["count"] == 8 and out["title"] == "open_from_cat" and out["source"] == "process"
    assert out["evidence"][0]["raw"]["rule"] == "open_from_cat"
    assert out["resource"] == {"type": "host", "name": "test-falco-hostname"}


def test_alert_type_names_and_mitre_tags():
    assert alert_type("Terminal shell in container") == "FALCO_Terminal_shell_in_container"
    assert alert_type("Read sensitive file untrusted (v2)") == "FALCO_Read_sensitive_file_untrusted__v2_"
    record = {"rule": "Terminal shell in container", "priority": "Notice", "source": "syscall",
              "output": "A shell was spawned in a container", "time": "2026-11-02T09:15:27.401Z",
              "tags": ["container", "shell", "mitre_execution", "T1059"],
              "output_fields": {"container.id": "3ad7b26ded6d", "container.name": "web", "proc.cmdline": "bash",
                                "proc.name": "bash", "evt.type": "execve", "user.name": "root",
                                "container.image.repository": "nginx", "container.image.tag": "1.27",
                                "k8s.ns.name": "shop", "k8s.pod.name": "web-0"}}
    ctx = ParseContext()
    events = list(JsonRecords().parse(InputFile.from_bytes(orjson.dumps(record), "f.json"), ctx))
    alert, proc = events
    assert alert.severity == "low" and alert.tactics == ["Execution"] and alert.techniques == ["T1059"]
    assert alert.entities["image"] == "nginx:1.27" and alert.entities["pod"] == "web-0"
    assert proc.container_id == "3ad7b26ded6d" and proc.namespace == "shop"
