"""Sigma rules as detections in the real pipeline: the alert contract, deduplication by the log source's
entities, per-rule configuration (severity, enabled, allow), running next to the cards, and the Kubernetes
parser interest the rules' pinned verbs and resources give."""

from __future__ import annotations

import io

import orjson
from sigma_helpers import K8S, WEB, alert_types, combined, scan, write_rule

from cloudward.config import from_dict
from cloudward.pipeline import Pipeline, scan_text
from cloudward.sigma.detection import SigmaRules, sigma_detections
from cloudward.sinks import outputs

TRAVERSAL = WEB / "web_path_traversal_exploitation_attempt.yml"
TRAVERSAL_ID = "SIGMA_7745c2ea-24a5-4290-b680-04359cb84b35"


def test_alert_contract_of_a_sigma_alert():
    alerts = scan(combined("/cgi-bin/../../../etc/passwd", status=400), [TRAVERSAL],
                  extra={"license": "DRL 1.1"})
    out = io.BytesIO()
    outputs()["jsonl"](alerts, out, {})
    doc = orjson.loads(out.getvalue().splitlines()[0])
    assert doc["alert_type"] == TRAVERSAL_ID and doc["title"] == "Path Traversal Exploitation Attempts"
    assert doc["severity"] == "medium" and doc["tactics"] == ["InitialAccess"] and doc["techniques"] == ["T1190"]
    assert doc["source"] == "http" and doc["resource"]["type"] == "site"
    ents = doc["entities"]
    assert ents["source_ip"] == "203.0.113.9" and ents["rule_license"] == "DRL 1.1"
    assert "Florian Roth" in ents["rule_author"] and ents["rule_references"]
    assert doc["evidence"][0]["event_id"].endswith(":1") and doc["description"].startswith("Detects path traversal")
    assert doc["title_ko"] and "영어 원문" in doc["description_ko"] and doc["remediation_ko"]


def test_dedup_by_rule_and_log_source_entities():
    lines = (combined("/a/../../../etc/passwd", second=1) + combined("/b/../../../etc/shadow", second=2)
             + combined("/c/../../../etc/hosts", ip="198.51.100.4", second=3))
    alerts = scan(lines, [TRAVERSAL])
    assert sorted((a.entities["source_ip"], a.count) for a in alerts) == [("198.51.100.4", 1), ("203.0.113.9", 2)]


def test_allow_severity_and_enabled_per_rule():
    line = combined("/cgi-bin/../../../etc/passwd")
    paths = {"paths": [str(TRAVERSAL)]}
    allowed = from_dict({"sigma": paths, "detections": {TRAVERSAL_ID: {"allow": [{"source_ip": "203.0.113.*"}]}}})
    assert scan_text(line, config=allowed, only={"SIGMA_*"})[0] == []
    raised = from_dict({"sigma": paths, "detections": {TRAVERSAL_ID: {"severity": "high"}}})
    assert [a.severity for a in scan_text(line, config=raised, only={"SIGMA_*"})[0]] == ["high"]
    off = from_dict({"sigma": paths, "detections": {TRAVERSAL_ID: {"enabled": False}}})
    assert scan_text(line, config=off, only={"SIGMA_*"})[0] == []


def test_sigma_rules_run_next_to_the_cards():
    """A web shell in an upload folder: the card and a Sigma rule both see it, in one run."""
    config = from_dict({"sigma": {"paths": [str(TRAVERSAL)]}})
    lines = (combined("/wp-content/uploads/2026/11/x.php?cmd=id", status=200)
             + combined("/cgi-bin/../../../etc/passwd", second=2))
    alerts, stats = scan_text(lines, config=config)
    types = alert_types(alerts)
    assert "AppServices_PhpInUploadFolder" in types and TRAVERSAL_ID in types and stats.rejected == 0


def test_kubernetes_rules_ask_the_parser_for_their_lines_only(tmp_path):
    """Pinned verbs and resources and the other rules' literals become a raw-line test; a rule with no
    literal at all makes every event count."""
    for name in ("kubernetes_audit_exec_into_container.yml", "kubernetes_audit_secrets_enumeration.yml",
                 "kubernetes_audit_unauthorized_unauthenticated_actions.yml"):
        (tmp_path / name).write_text((K8S / name).read_text())
    pipe = Pipeline(from_dict({"sigma": {"paths": [str(tmp_path)]}}), only={"SIGMA_*"})
    assert pipe.engine.interest.audit_verbs == frozenset() and pipe.engine.interest.audit_raw is not None
    write_rule(tmp_path, """title: Server errors
id: 7c3a4a52-2f0e-4a7e-9f63-3c1b8f0d2a11
logsource: {product: kubernetes, service: audit}
detection:
  selection: {responseStatus.code|gte: 500}
  condition: selection
level: low
""", "errors.yml")
    pipe = Pipeline(from_dict({"sigma": {"paths": [str(tmp_path)]}}), only={"SIGMA_*"})
    assert pipe.engine.interest.audit_verbs is None


def test_groups_subscribe_to_their_event_kinds():
    config = from_dict({"sigma": {"paths": [str(TRAVERSAL), str(K8S)]}})
    dets = sigma_detections(Pipeline(config).detections)
    kinds = sorted(k.__name__ for d in dets for k in d.kinds)
    assert kinds == ["HttpRequest", "K8sAudit"]


def test_nothing_loaded_still_reports(tmp_path):
    path = write_rule(tmp_path, "title: P\nid: 3f000000-0000-4000-8000-000000000001\nlogsource: {category: proxy}\n"
                                "detection: {sel: {c-useragent: x}, condition: sel}\n")
    dets = sigma_detections(Pipeline(from_dict({"sigma": {"paths": [str(path)]}})).detections)
    assert len(dets) == 1 and isinstance(dets[0], SigmaRules) and dets[0].kinds == ()
    assert dets[0].ruleset.counts()["unsupported"] == 1


def test_the_same_file_line_twice_counts_once():
    """A redelivered record (same file:line) is one contribution, as for the cards."""
    config = from_dict({"sigma": {"paths": [str(TRAVERSAL)]}})
    pipe = Pipeline(config, only={"SIGMA_*"})
    from cloudward.inputs import InputFile

    for _ in range(2):
        pipe.run_input(InputFile.from_bytes(combined("/a/../../../etc/passwd").encode(), "access.log"))
    assert [a.count for a in pipe.finish()] == [1]


def test_iis_w3c_logs_read_the_same_fields():
    """W3C logs keep stem and query in separate columns: `cs-uri-query` is still the whole target."""
    header = ("#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n"
              "#Fields: date time s-sitename s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
              "cs(User-Agent) cs(Referer) cs-host sc-status sc-substatus sc-win32-status sc-bytes time-taken\n")

    def line(stem: str, query: str, second: int) -> str:
        return (f"2026-11-02 09:15:{second:02d} SHOP 10.0.0.4 GET {stem} {query} 443 - 198.51.100.23 "
                f"Mozilla/5.0+(X11) - shop.example.net 200 0 0 4523 31\n")

    sqli = WEB / "web_sql_injection_in_access_logs.yml"
    text = (header + line("/item", "id=1%20UNION%20SELECT%20password", 1)
            + line("/cgi-bin/", "f=../../../etc/passwd", 2) + line("/index.html", "-", 3))
    alerts = scan(text, [TRAVERSAL, sqli])
    assert alert_types(alerts) == {TRAVERSAL_ID, "SIGMA_5513deaf-f49a-46c2-a6c8-3f111b5cb453"}
    assert {a.entities["source_ip"] for a in alerts} == {"198.51.100.23"}


def _listings(n: int) -> str:
    """`list secrets` (and a few deletions) by three users in two namespaces, from changing addresses, some
    without one (one user's first findings all without, its later ones with): one alert per rule, user and
    namespace, most findings repeats of it, of two shapes."""
    lines = []
    for i in range(n):
        ev = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
              "auditID": f"00000000-0000-4000-8000-{i:012d}", "stage": "ResponseComplete",
              "requestURI": "/api/v1/secrets", "verb": "list" if i % 7 else "delete",
              "user": {"username": f"user{i % 3}"}, "userAgent": "kubectl/v1.29.2",
              "objectRef": {"resource": "secrets", "namespace": ("shop", "")[i % 5 == 0], "apiVersion": "v1"},
              "responseStatus": {"metadata": {}, "code": 200},
              "stageTimestamp": f"2026-11-05T10:{i // 600 % 60:02d}:{i // 10 % 60:02d}.{i % 10}00000Z"}
        if i % 4 and (i % 3 != 2 or i > n // 2):  # user2's first findings have no address, the later ones do
            ev["sourceIPs"] = [f"198.51.100.{i % 9}"]
        lines.append(orjson.dumps(ev).decode())
    return "\n".join(lines) + "\n"


def test_repeated_sigma_matches_give_the_alerts_of_the_full_path(monkeypatch):
    """Sigma findings carry a shape (`Finding.shape`) and their rule's parameters and references; the book's
    repeat path, which checks a shape's entities once, leaves every alert (contract, entity order, latest
    parameters, remembered ids) as the full path does."""
    import cloudward.alerts as alerts_mod

    config = from_dict({"sigma": {"paths": [str(K8S)]}, "output": {"evidence_limit": 3}})
    text = _listings(900)

    def run() -> list:
        alerts, _ = scan_text(text, "k8s-audit", config=config, only={"SIGMA_*"})
        return sorted((orjson.dumps(a.to_dict(), option=orjson.OPT_SORT_KEYS), orjson.dumps(a.entity_order),
                       a.last_order, orjson.dumps(a.last_params), sorted(a.seen_events)) for a in alerts)

    fast = run()
    monkeypatch.setattr(alerts_mod.AlertBook, "_add_repeat", lambda *a: alerts_mod._FULL_PATH)
    assert fast == run() and len(fast) >= 6
    counts = sorted(orjson.loads(row[0])["count"] for row in fast)
    assert sum(counts) > 700 and counts[-1] > 100



def _folding_cases(n: int) -> str:
    """`_listings` plus what makes a repeat take the full path: events out of time order (earlier than the alert's
    latest), a second stage of an audit ID already counted (a redelivery the book ignores), a user without
    namespace or name, and matches of two rules at once (`create pods` with a host path in a system namespace)."""
    lines = _listings(n).splitlines()
    extra = []
    for i in range(0, n, 13):
        ev = orjson.loads(lines[i])
        ev["stage"] = "ResponseStarted"  # the same audit ID again: already in the alert's remembered ids
        extra.append(ev)
    for i in range(0, n, 11):
        ev = orjson.loads(lines[i])
        ev["auditID"] = f"00000000-0000-4000-9000-{i:012d}"
        ev["stageTimestamp"] = "2026-11-05T09:59:59.000000Z"  # before every other finding of its alert
        extra.append(ev)
    for i in range(40):
        pod = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": f"p{i}", "namespace": "kube-system"},
               "spec": {"containers": [{"name": "c", "image": "alpine:3.19"}],
                        "volumes": [{"name": "root", "hostPath": {"path": "/"}}]}}
        extra.append({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Request",
                      "auditID": f"00000000-0000-4000-a000-{i:012d}", "stage": "ResponseComplete",
                      "verb": "create", "user": {"username": ("", "ops")[i % 2]},
                      "objectRef": {"resource": "pods", "namespace": "kube-system", "apiVersion": "v1"},
                      "responseStatus": {"code": 201}, "requestObject": pod,
                      "stageTimestamp": f"2026-11-05T10:20:{i % 60:02d}.000000Z"})
    return "\n".join([*lines, *(orjson.dumps(e).decode() for e in extra)]) + "\n"


def test_folded_sigma_matches_give_the_alerts_of_built_findings(monkeypatch):
    """A single Sigma match repeating an alert the book follows is folded into it without a `Finding`
    (`SigmaRules.evaluate_folding`, `AlertBook.add_repeat`); every alert (contract, entity order, latest
    parameters, remembered ids) is the one the findings give, with shipped and configured entities and dedup
    (lists, numbers, the rule's own entities, a name no entity has), a rule with an allow list, and the cases
    that take the full path."""
    import cloudward.alerts as alerts_mod
    import cloudward.engine as engine_mod

    text = _folding_cases(900)
    def mapping(entities: dict[str, str], dedup: list[str]) -> dict:
        return {"kubernetes_audit": {"entities": entities, "dedup": dedup}}

    shipped = {"user": "attr:user", "namespace": "attr:namespace", "source_ip": "fn:first_source_ip"}
    allow = {"SIGMA_58d31a75-a4f8-4c40-985b-373d58162ca2": {"allow": [{"user": "user1"}]}}
    # (config, whether repeats are folded): a list entity gives no shape, so its findings are always built
    configs = [
        ({"sigma": {"paths": [str(K8S)]}, "output": {"evidence_limit": 3}}, True),
        ({"sigma": {"paths": [str(K8S)], "field_mappings": mapping(
            {**shipped, "code": "attr:code", "name": "attr:name"},
            ["user", "rule_id", "nothing", "code", "namespace"])},
          "output": {"evidence_limit": 2}, "detections": allow}, True),
        ({"sigma": {"paths": [str(K8S)], "field_mappings": mapping({**shipped, "groups": "attr:groups"}, ["user"])},
          "output": {"evidence_limit": 2}}, False),
    ]
    folded = [0]
    add_repeat = alerts_mod.AlertBook.add_repeat

    def counting(self, *args):
        done = add_repeat(self, *args)
        folded[0] += done is not alerts_mod._FULL_PATH
        return done

    monkeypatch.setattr(alerts_mod.AlertBook, "add_repeat", counting)

    def run(config: dict) -> list:
        alerts, _ = scan_text(text, "k8s-audit", config=from_dict(config), only={"SIGMA_*"})
        return sorted((orjson.dumps(a.to_dict(), option=orjson.OPT_SORT_KEYS), orjson.dumps(a.entity_order),
                       a.last_order, orjson.dumps(a.last_params), sorted(a.seen_events)) for a in alerts)

    for config, folds in configs:
        folded[0] = 0
        fast = run(config)
        assert folded[0] > 300 if folds else folded[0] == 0  # most repeats were folded
        with monkeypatch.context() as m:
            m.setattr(engine_mod.Engine, "_folding_book", lambda self: None)  # every match a Finding
            assert fast == run(config)
            m.setattr(alerts_mod.AlertBook, "_add_repeat", lambda *a: alerts_mod._FULL_PATH)  # and the full path
            assert fast == run(config)
        types = {orjson.loads(row[0])["alert_type"] for row in fast}
        assert len(types) >= 4 and len(fast) >= 8
