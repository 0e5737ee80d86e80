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


# -- the alert workflow and a store under bad conditions ----------------------------------------
import os  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from cloudward.store import AmbiguousId  # noqa: E402

CLOUDWARD = str(Path(sys.executable).parent / "cloudward")


def cli(*args, **kw):
    return subprocess.run([CLOUDWARD, *args], capture_output=True, timeout=60, **kw)


def _two_alert_store(db: Path) -> list[str]:
    """A store of 40 alerts: some ids share their first character (ids are hex: 16 values)."""
    lines = [json.dumps(audit("create", "pods", pod(f"p{i}", [container("c", "nginx", privileged=True)]),
                              audit_id=f"a{i}")) for i in range(40)]
    store = Store(db)
    pipe = Pipeline(store=store, raise_errors=True)
    pipe.run_input(InputFile.from_bytes("\n".join(lines).encode(), "t.log"))
    alerts = pipe.finish()
    store.close()
    return sorted(a.id for a in alerts)


def test_empty_and_ambiguous_ids_are_refused_with_the_matches_listed(tmp_path):
    db = tmp_path / "s.db"
    ids = _two_alert_store(db)
    prefix = next(p for p in (i[0] for i in ids) if sum(x.startswith(p) for x in ids) > 1)
    r = cli("alerts", "dismiss", "", "--store", str(db))
    assert r.returncode == 2 and b"empty alert id" in r.stderr
    r = cli("alerts", "dismiss", prefix, "--store", str(db))
    assert r.returncode == 2 and b"ambiguous" in r.stderr
    assert all(i.encode() in r.stderr for i in ids if i.startswith(prefix)) or b"more" in r.stderr
    r = cli("alerts", "show", prefix, "--store", str(db))
    assert r.returncode == 2 and b"ambiguous" in r.stderr
    assert cli("alerts", "dismiss", "%", "--store", str(db)).returncode == 2  # not a wildcard
    store = Store(db)
    assert {d["status"] for d in store.list_alerts()} == {"active"}
    with pytest.raises(AmbiguousId):
        store.set_status(prefix, "dismissed")
    store.close()


def test_dismiss_reopen_and_the_status_history(tmp_path):
    db = tmp_path / "s.db"
    target = _two_alert_store(db)[0]
    assert cli("alerts", "dismiss", target[:20], "--store", str(db), "--reason", "lab cluster",
               "--by", "alice").returncode == 0
    r = cli("alerts", "reopen", target, "--store", str(db), "--reason", "not a lab after all")
    assert r.returncode == 0 and r.stdout.decode().strip() == f"reopened {target}"
    doc = json.loads(cli("alerts", "show", target[:20], "--store", str(db)).stdout)
    assert doc["status"] == "active"
    history = doc["status_history"]
    assert [(h["status"], h["by"], h["reason"]) for h in history] == [
        ("dismissed", "alice", "lab cluster"), ("active", _os_user(), "not a lab after all")]
    assert all(h["at"].endswith("Z") for h in history)


def _os_user() -> str:
    import getpass

    return getpass.getuser()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_or_truncated_store_is_a_clear_error(tmp_path, damage):
    db = tmp_path / "s.db"
    _two_alert_store(db)
    data = db.read_bytes()
    if damage == "garbage":
        db.write_bytes(b"this is not a database at all" * 100)
    else:
        db.write_bytes(data[: len(data) // 3])
    for args in (["alerts", "list"], ["alerts", "show", "ab"], ["alerts", "dismiss", "ab"]):
        r = cli(*args, "--store", str(db))
        assert r.returncode == 2, (args, r.stderr)
        assert b"Traceback" not in r.stderr and b"store" in r.stderr, r.stderr
    log = tmp_path / "a.log"
    log.write_text(priv("web-5cdcc99dbf-zzzzz", "z") + "\n")
    r = cli("scan", str(log), "--store", str(db), "-q")
    assert r.returncode == 2 and b"Traceback" not in r.stderr, r.stderr


@pytest.fixture
def shared_tmp():
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="cloudward-ro-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def _as_nobody(*args):
    if os.geteuid() != 0:
        return cli(*args)
    setpriv = shutil.which("setpriv")
    assert setpriv, "running as root: setpriv (util-linux) is needed to read the store as another user"
    return subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", CLOUDWARD, *args],
                          capture_output=True, timeout=60)


def test_read_only_store_can_be_listed_and_shown_but_not_changed(shared_tmp):
    db = shared_tmp / "s.db"
    target = _two_alert_store(db)[0]
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
    db.chmod(0o644)  # owned by root: read-only for nobody, in a folder nobody cannot write
    r = _as_nobody("alerts", "list", "--store", str(db), "-o", "jsonl")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 40
    r = _as_nobody("alerts", "show", target, "--store", str(db))
    assert r.returncode == 0 and json.loads(r.stdout)["id"] == target
    r = _as_nobody("alerts", "dismiss", target, "--store", str(db))
    assert r.returncode == 2 and b"read-only" in r.stderr and b"Traceback" not in r.stderr, r.stderr
    log = shared_tmp / "a.log"
    log.write_text(priv("web-5cdcc99dbf-zzzzz", "z") + "\n")
    log.chmod(0o644)
    r = _as_nobody("scan", str(log), "--store", str(db), "-q")
    assert r.returncode == 2 and b"read-only" in r.stderr and b"Traceback" not in r.stderr, r.stderr


WEB_LINE = ('203.0.113.9 - - [02/Nov/2026:09:15:{s:02d} +0000] "GET /wp-content/uploads/2026/11/x.php?cmd={c} '
            'HTTP/1.1" 200 512 "-" "curl/8.0"\n')


def test_a_rotated_log_scanned_again_counts_nothing_twice(tmp_path):
    db = tmp_path / "s.db"
    log = tmp_path / "access.log"
    log.write_text(WEB_LINE.format(s=1, c="id") + WEB_LINE.format(s=2, c="ls"))

    def scan(path):
        r = cli("scan", str(path), "--store", str(db), "--site", "shop", "-o", "jsonl", "-q")
        assert r.returncode == 0, r.stderr
        return [json.loads(x) for x in r.stdout.splitlines()]

    assert [a["count"] for a in scan(log)] == [2]
    log.rename(tmp_path / "access.log.1")  # logrotate's rename
    assert [a["count"] for a in scan(tmp_path / "access.log.1")] == [2]
    log.write_text(WEB_LINE.format(s=3, c="uname"))  # the new log: its lines are new
    (a,) = scan(log)
    assert a["count"] == 3
    # the contract is unchanged: evidence names the file and line it was read from
    assert [e["event_id"] for e in a["evidence"]] == [f"{tmp_path}/access.log:1", f"{tmp_path}/access.log:2"]
    assert all(e["origin"] == e["event_id"] for e in a["evidence"])


def test_a_status_change_from_the_command_line_is_in_the_service_history(tmp_path):
    from cloudward.server.queries import Reader

    db = tmp_path / "s.db"
    target = _two_alert_store(db)[0]
    assert cli("alerts", "dismiss", target, "--store", str(db), "--reason", "lab", "--by", "alice").returncode == 0
    doc = Reader(str(db)).get_alert(target)
    assert [(h["status"], h["who"], h["reason"]) for h in doc["history"]] == [("dismissed", "alice", "lab")]
