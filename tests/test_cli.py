"""The installed `cloudward` command, run as a user would run it."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

from cloudward.detections.kubernetes._samples import audit, container, pod, workload

CLOUDWARD = str(Path(sys.executable).parent / "cloudward")
FALCO = Path(__file__).parent / "data" / "k8s" / "falco-trace-files"


def run(*args, stdin: bytes | None = None, cwd=None, env_columns: int | None = None):
    import os

    env = {**os.environ, "COLUMNS": str(env_columns)} if env_columns else None
    return subprocess.run([CLOUDWARD, *args], input=stdin, capture_output=True, cwd=cwd, timeout=120, env=env)


def miner_log(tmp_path):
    p = tmp_path / "audit.log"
    p.write_text(json.dumps(audit("create", "deployments", workload("Deployment", "m", [
        container("x", "xmrig/xmrig:6.21")]))) + "\n")
    return p


def test_jsonl_output_is_only_alerts_per_the_contract():
    r = run("scan", str(FALCO), "-o", "jsonl")
    assert r.returncode == 0, r.stderr
    docs = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert len(docs) == 6
    assert all(d["resource"]["type"] == "cluster" for d in docs)
    assert b"Alerts by type and severity" in r.stderr
    assert b"fal_01_003.json:1" in r.stderr


def test_fail_on_and_min_severity(tmp_path):
    log = miner_log(tmp_path)
    assert run("scan", str(log), "--fail-on", "high", "-q").returncode == 1
    r = run("scan", str(FALCO / "create_nginx_pod_privileged.json"), "--fail-on", "medium", "-q")
    assert r.returncode == 0
    r = run("scan", str(FALCO), "--min-severity", "medium", "-o", "jsonl", "-q")
    assert {json.loads(x)["severity"] for x in r.stdout.decode().splitlines()} == {"medium"}


def test_strict_and_rejects_file(tmp_path):
    bad = tmp_path / "bad.log"
    bad.write_text("{broken\n")
    rejects = tmp_path / "rejects.jsonl"
    assert run("scan", str(bad), "-q", "--allow-unread").returncode == 0
    assert run("scan", str(bad), "--strict", "-q", "--output-rejects", str(rejects)).returncode == 3
    (rec,) = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert rec["where"] == f"{bad}:1" and rec["reason"].startswith("malformed JSON")


def test_an_input_of_which_nothing_was_read_is_loud_and_fails(tmp_path):
    apache_errors = (b"[Tue Dec 01 10:00:00.123456 2026] [core:error] [pid 4242] [client 203.0.113.9:50122] "
                     b"AH00126: Invalid URI in request GET /%%32%65 HTTP/1.1\n") * 3
    r = run("scan", "-", "-q", stdin=apache_errors)
    assert r.returncode == 3
    assert b"nothing was read from 1 non-empty input(s): -" in r.stderr.replace(b"\n", b" ")
    r = run("scan", "-", "-o", "jsonl", "--allow-unread", stdin=apache_errors)
    assert r.returncode == 0 and r.stdout == b""
    assert b"unrecognized input format (text)" in r.stderr
    # a folder is one input: a README beside the logs is rejected, and the scan still succeeds
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "README.txt").write_text("These are the audit logs of the staging cluster.\n")
    (logs / "audit.log").write_bytes((FALCO / "attach_cluster_admin_role.json").read_bytes())
    r = run("scan", str(logs), "-o", "jsonl", "-q")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["alert_type"] == "K8S_ClusterAdminBinding"
    (logs / "audit.log").write_text("\x00\x01binary\n")
    assert run("scan", str(logs), "-q").returncode == 3
    empty = tmp_path / "empty.log"
    empty.write_text("\n\n")
    assert run("scan", str(empty), "-q").returncode == 0  # blank is not lost


def test_stdin_and_gzip(tmp_path):
    data = (FALCO / "attach_cluster_admin_role.json").read_bytes()
    r = run("scan", "-", "-o", "jsonl", "-q", stdin=data)
    assert json.loads(r.stdout)["alert_type"] == "K8S_ClusterAdminBinding"
    gz = tmp_path / "a.log.gz"
    gz.write_bytes(gzip.compress(data))
    r = run("scan", str(gz), "-o", "jsonl", "-q")
    assert json.loads(r.stdout)["alert_type"] == "K8S_ClusterAdminBinding"


def test_forced_format_and_unknown_format(tmp_path):
    r = run("scan", "--format", "gke-audit", str(FALCO / "attach_cluster_admin_role.json"), "-o", "jsonl")
    assert r.stdout == b"" and b"not a gke-audit record" in r.stderr
    r = run("scan", "--format", "nope", str(FALCO / "attach_cluster_admin_role.json"))
    assert r.returncode == 2 and b"unknown format" in r.stderr


def test_bad_config_is_a_usage_error(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[detections.K8S_Typo]\n")
    r = run("scan", "-c", str(cfg), str(FALCO))
    assert r.returncode == 2 and b"c.toml: detections.K8S_Typo: unknown alert type" in r.stderr


def test_table_output_neutralizes_terminal_escapes(tmp_path):
    ev = audit("create", "pods", pod("p", [container("c", "nginx", privileged=True)]),
               user="evil\x1b[2J\x1b]0;owned\x07\u202euser")
    p = tmp_path / "a.log"
    p.write_text(json.dumps(ev) + "\n")
    r = run("scan", str(p))
    assert r.returncode == 0
    out = r.stdout.decode()
    assert "Privileged container detected" in out
    assert "\x1b" not in out and "\u202e" not in out and "\\x1b[2J" in out


def test_rules_commands():
    r = run("rules", "list", "-o", "json")
    ids = {c["id"] for c in json.loads(r.stdout)}
    assert {"K8S_ClusterAdminBinding", "K8S_SensitiveMount", "K8S_ExposedDashboard"} <= ids
    r = run("rules", "show", "K8S_SensitiveMount")
    assert b"sensitive_host_paths" in r.stdout and b"Remediation" in r.stdout
    r = run("rules", "show", "K8S_SensitiveMount", "--lang", "ko")
    assert "민감한" in r.stdout.decode()
    r = run("rules", "test", "K8S_PrivilegedContainer", "K8S_ClusterAdminBinding")
    assert r.returncode == 0 and b"samples passed" in r.stdout
    assert run("rules", "show", "K8S_Nope").returncode == 2


def test_alerts_store_roundtrip(tmp_path):
    db = tmp_path / "cw.db"
    log = miner_log(tmp_path)
    assert run("scan", str(log), "--store", str(db), "-q").returncode == 0
    r = run("alerts", "list", "--store", str(db), "-o", "jsonl")
    (doc,) = [json.loads(x) for x in r.stdout.decode().splitlines()]
    assert doc["alert_type"] == "K8S_MaliciousContainerImage" and doc["status"] == "active"
    assert run("alerts", "dismiss", doc["id"][:8], "--store", str(db), "--reason", "lab cluster").returncode == 0
    r = run("alerts", "show", doc["id"], "--store", str(db))
    assert json.loads(r.stdout)["status"] == "dismissed"
    r = run("scan", str(log), "--store", str(db), "-o", "jsonl", "-q", "--fail-on", "low")
    assert json.loads(r.stdout)["status"] == "dismissed" and r.returncode == 0
    assert run("alerts", "list", "--store", str(tmp_path / "none.db")).returncode == 2


def test_demo_prints_alerts():
    r = run("demo")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "K8S_MaliciousContainerImage" in out and "K8S_ExposedDashboard" in out
    assert b"could not be inspected" in r.stderr


def test_ocsf_output():
    r = run("scan", str(FALCO / "attach_cluster_admin_role.json"), "-o", "ocsf", "-q")
    doc = json.loads(r.stdout)
    assert doc["class_uid"] == 2004 and doc["finding_info"]["analytic"]["uid"] == "K8S_ClusterAdminBinding"


def test_missing_input_is_a_usage_error(tmp_path):
    r = run("scan", str(tmp_path / "nope.log"))
    assert r.returncode == 2 and b"no such file or folder" in r.stderr


_CRASHING = """
import sys
from cloudward.runners import scan
from cloudward.cli import main

def finish(self, *args, **kwargs):
    raise RuntimeError("detector state is inconsistent")

scan.ScanRunner.run = finish  # an internal bug, injected
sys.argv = ["cloudward", *sys.argv[1:]]
main()
"""


def test_internal_error_exits_4_with_one_line_and_no_traceback(tmp_path):
    import os

    log = miner_log(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "CLOUDWARD_DEBUG"}
    r = subprocess.run([sys.executable, "-c", _CRASHING, "scan", str(log)], capture_output=True, env=env,
                       timeout=60)
    assert r.returncode == 4
    err = r.stderr.decode().strip().splitlines()
    assert err == ["cloudward: internal error: RuntimeError: detector state is inconsistent "
                   "(set CLOUDWARD_DEBUG=1 for the traceback)"]
    r = subprocess.run([sys.executable, "-c", _CRASHING, "scan", str(log)], capture_output=True,
                       env={**env, "CLOUDWARD_DEBUG": "1"}, timeout=60)
    assert r.returncode == 4 and b"Traceback (most recent call last)" in r.stderr


def test_exit_statuses_stay_distinct(tmp_path):
    log = miner_log(tmp_path)
    assert run("scan", str(log), "-q", "--fail-on", "high").returncode == 1
    assert run("scan", str(tmp_path / "nope.log"), "-q").returncode == 2
    bad = tmp_path / "bad.log"
    bad.write_text(log.read_text() + "{not json\n")
    assert run("scan", str(bad), "-q", "--strict").returncode == 3


def test_a_5000_digit_integer_does_not_stop_the_scan_of_other_files(tmp_path):
    doc = tmp_path / "a-big.json"
    doc.write_text(json.dumps({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "x", "verb": "get",
                               "n": "__BIG__"}, indent=2).replace('"__BIG__"', "9" * 5000))
    log = miner_log(tmp_path)
    # --allow-unread: the document held one record, rejected, so it alone would be an unread input (exit 3)
    r = run("scan", str(doc), str(log), "-o", "jsonl", "--allow-unread", "--output-rejects", str(tmp_path / "r.jsonl"))
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["alert_type"] for x in r.stdout.decode().splitlines()] == ["K8S_MaliciousContainerImage"]
    assert "number too large" in (tmp_path / "r.jsonl").read_text()


def test_summary_says_what_a_learning_period_held_back():
    root = Path(__file__).parents[1]
    r = run("scan", "-c", str(root / "examples" / "cloudward.toml"), str(root / "src/cloudward/samples/k8s"),
            "-o", "jsonl", env_columns=200)
    err = " ".join(r.stderr.decode().split())
    assert "K8S_KubeSystemContainer: 1 finding(s) held back by its learning period (learning_period = 7d) until " \
           "2026-11-09T" in err, err
    r = run("scan", str(root / "src/cloudward/samples/k8s"), "-o", "jsonl")
    assert b"held back" not in r.stderr


def test_an_empty_default_scan_loads_only_what_it_uses(tmp_path, fresh_cli):
    """Start-up is most of an empty or small scan: the default run (table output, summary on stderr) of an
    input with no alerts must not load rich, the store (sqlite3), OpenSSL (hashlib), TOML, difflib, html or
    the threat-intelligence feed parsers (RE2)."""
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    done = fresh_cli("scan", str(empty))
    assert done.code == 0, done.stderr
    assert not done.loaded("rich", "sqlite3", "hashlib", "tomllib", "difflib", "html", "re2", "yaml",
                           "cloudward.store", "cloudward.intel.feeds", "cloudward.sigma.loader")
    assert done.stdout == "No alerts.\n"
    assert "Read 1 input(s), 0 lines" in done.stderr
