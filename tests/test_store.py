"""Alerts and card state persist in SQLite; redelivery across runs changes nothing; dismissal sticks."""

from __future__ import annotations

import json

from cloudward.config import from_dict
from cloudward.detections.kubernetes._samples import audit, container, pod, workload
from cloudward.inputs import InputFile
from cloudward.pipeline import Pipeline
from cloudward.store import Store


def run(store_path, text, config=None):
    store = Store(store_path)
    pipe = Pipeline(config, store=store, raise_errors=True)
    pipe.run_input(InputFile.from_bytes(text.encode(), "t.log"))
    alerts = pipe.finish()
    store.close()
    return alerts


def priv(name, audit_id):
    return json.dumps(audit("create", "pods", pod(name, [container("c", "nginx", privileged=True)],
                                                  owner=("ReplicaSet", "web-5cdcc99dbf")), audit_id=audit_id))


def test_counts_accumulate_across_runs_without_double_counting(tmp_path):
    db = tmp_path / "c.db"
    (a,) = run(db, priv("web-5cdcc99dbf-aaaaa", "1"))
    assert a.count == 1
    (a,) = run(db, priv("web-5cdcc99dbf-aaaaa", "1") + "\n" + priv("web-5cdcc99dbf-bbbbb", "2"))
    assert a.count == 2  # event 1 was already counted in the first run
    store = Store(db)
    assert store.list_alerts()[0]["count"] == 2
    assert store.set_status(a.id[:10], "dismissed", "known agent")
    store.close()
    (a,) = run(db, priv("web-5cdcc99dbf-ccccc", "3"))
    assert a.count == 3 and a.status == "dismissed"


def test_learned_baseline_survives_restarts(tmp_path):
    db = tmp_path / "c.db"
    cfg = from_dict({"detections": {"K8S_KubeSystemContainer": {"learning_period": "1d"}}})

    def ds(name, image, when):
        return json.dumps(audit("create", "daemonsets", workload("DaemonSet", name, [container("c", image)],
                                                                 namespace="kube-system"),
                                namespace="kube-system", when=when))

    assert run(db, ds("agent", "acme.io/agent:1", "2026-11-01T00:00:00Z"), cfg) == []
    later = ds("agent2", "acme.io/agent:2", "2026-11-05T00:00:00Z") + "\n" + ds(
        "evil", "evil.io/x:1", "2026-11-05T00:01:00Z")
    alerts = run(db, later, cfg)
    assert [a.entities["workload"] for a in alerts] == ["DaemonSet/evil"]
