"""`cloudward scan --sigma`, `rules list --sigma` and `rules test --sigma`, run as a user would run them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sigma_helpers import K8S, WEB, combined

CLOUDWARD = str(Path(sys.executable).parent / "cloudward")
TRAVERSAL = WEB / "web_path_traversal_exploitation_attempt.yml"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([CLOUDWARD, *args], capture_output=True, timeout=120, cwd=cwd)


def _log(tmp_path: Path) -> Path:
    p = tmp_path / "access.log"
    p.write_text(combined("/cgi-bin/../../../etc/passwd") + combined("/index.html", second=2))
    return p


def test_scan_with_sigma_paths_and_config(tmp_path):
    log = _log(tmp_path)
    r = run("scan", str(log), "--sigma", str(TRAVERSAL), "-o", "jsonl")
    assert r.returncode == 0, r.stderr
    docs = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert [d["alert_type"] for d in docs] == ["SIGMA_7745c2ea-24a5-4290-b680-04359cb84b35"]
    assert b"Sigma: 1 rule(s) evaluated from 1 file(s); 0 unsupported, 0 invalid" in r.stderr
    # the same from [sigma] paths, relative to the configuration file
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "t.yml").write_text(TRAVERSAL.read_text())
    (tmp_path / "cloudward.toml").write_text('[sigma]\npaths = ["rules"]\nlicense = "DRL 1.1"\n')
    r = run("scan", str(log), "-c", str(tmp_path / "cloudward.toml"), "-o", "jsonl", cwd=Path("/"))
    docs = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert len(docs) == 1 and docs[0]["entities"]["rule_license"] == "DRL 1.1", r.stderr


def test_scan_reports_problems_and_a_bad_section_is_a_usage_error(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("title: [broken")
    r = run("scan", str(_log(tmp_path)), "--sigma", str(bad), "-o", "jsonl")
    assert r.returncode == 0 and b"1 invalid" in r.stderr and b"bad.yml" in r.stderr
    (tmp_path / "c.toml").write_text('[sigma]\npaths = "rules"\n')
    r = run("scan", str(_log(tmp_path)), "-c", str(tmp_path / "c.toml"))
    assert r.returncode == 2 and b"sigma.paths: expected a list" in r.stderr


def test_rules_list_shows_sigma_rules_next_to_cards():
    r = run("rules", "list", "-o", "json", "--sigma", str(K8S))
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    kinds = {row["kind"] for row in rows}
    sigma_rows = [row for row in rows if row["kind"] == "sigma"]
    assert kinds == {"card", "sigma"} and len(sigma_rows) == 16
    assert any(row["id"] == "K8S_PrivilegedContainer" for row in rows)
    assert all(row["source"] == "AUDIT" and row["id"].startswith("SIGMA_") for row in sigma_rows)


def test_rules_test_sigma_shows_matches_and_why(tmp_path):
    r = run("rules", "test", "--sigma", str(WEB.parent), str(_log(tmp_path)))
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr
    assert "access.log:1" in out and "SIGMA_7745c2ea-24a5-4290-b680-04359cb84b35" in out
    assert "matched (일치): selection" in out and "access.log:2" not in out
    quiet = tmp_path / "quiet.log"
    quiet.write_text(combined("/index.html"))
    assert run("rules", "test", "--sigma", str(TRAVERSAL), str(quiet)).returncode == 1
    assert run("rules", "test", "--sigma", str(TRAVERSAL)).returncode == 2


def test_rules_show_a_sigma_rule():
    r = run("rules", "show", "SIGMA_402b955c-8fe0-4a8c-b635-622b4ac5f902", "--sigma", str(K8S))
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr
    assert "Container With A hostPath Mount" in out and "T1611" in out and "References:" in out
    missing = run("rules", "show", "SIGMA_00000000-0000-4000-8000-000000000000", "--sigma", str(K8S))
    assert missing.returncode == 2 and b"no Sigma rule" in missing.stderr


def test_a_kubernetes_scan_with_rules_sets_up_its_cards_only_and_reports_plainly(tmp_path, fresh_cli):
    """The Sigma report is plain lines (no rich loaded for it, nothing wrapped on a pipe, a rule file's name
    terminal-safe), and with rules configured the cards are still set up as the input needs them."""
    rules = tmp_path / "rules"
    rules.mkdir()
    for rule in sorted(K8S.glob("*.yml"))[:3]:
        (rules / rule.name).write_text(rule.read_text())
    (rules / "bad\x1b[31m.yml").write_text("title: [broken")
    log = tmp_path / "audit.log"
    log.write_text(json.dumps({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": "a1",
        "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/default/pods/p", "verb": "get",
        "user": {"username": "alice"}, "sourceIPs": ["10.0.0.1"], "responseStatus": {"code": 200},
        "objectRef": {"resource": "pods", "namespace": "default", "name": "p", "apiVersion": "v1"},
        "requestReceivedTimestamp": "2026-11-02T09:15:27.000000Z",
        "stageTimestamp": "2026-11-02T09:15:27.100000Z"}) + "\n")
    done = fresh_cli("scan", str(log), "--sigma", str(rules), "--output", "jsonl", "--no-progress")
    assert done.code == 0, done.stderr
    lines = done.stderr.splitlines()
    assert ("Sigma: 3 rule(s) evaluated from 4 file(s); 0 unsupported, 1 invalid "
            "(규칙 3개 평가, 0개 미지원, 1개 오류)") in lines
    problem = next(line for line in lines if "bad" in line)
    assert problem.startswith("  ") and "\x1b" not in done.stderr
    assert not done.loaded("rich", "cloudward.detections.appservice", "cloudward.detections.node")
    assert done.loaded("cloudward.detections.kubernetes")
