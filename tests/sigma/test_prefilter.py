"""The Sigma raw-line prefilters: lines neither the cards nor the rules need stay unparsed, and every line a
rule matches is still read - checked against matching every event of the same input parsed without any
prefilter, on web lines and Kubernetes audit events in their real formats (with escapes and case-folding
specials an attacker could use to slip past a naive byte test)."""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from pathlib import Path

import orjson
import pytest
from sigma_helpers import EMERGING, K8S, RULES, combined

from cloudward.config import from_dict
from cloudward.datalists import shipped
from cloudward.events import K8sAudit
from cloudward.inputs import InputFile
from cloudward.parsers import _k8s, by_name
from cloudward.parsers.base import ParseContext
from cloudward.pipeline import scan_text
from cloudward.sigma import build
from cloudward.sigma.compiler import EventValues
from cloudward.sigma.detection import SigmaRules
from cloudward.sigma.prefilter import UNSAFE, AuditPinTest, code_values, never_matches, safe_run

WEB_RULES = [RULES / "web", EMERGING]


def every_event_matches(text: str, fmt: str, rule_paths: list) -> Counter[str]:
    """Rule -> matches over every event of `text`, parsed with no prefilter at all."""
    ruleset = build(from_dict({}), [str(p) for p in rule_paths])
    src = InputFile.from_bytes(text.encode(), "<sample>")
    src.open()
    try:
        events = list(by_name(fmt).parse(src, ParseContext()))
    finally:
        src.close()
    out: Counter[str] = Counter()
    for ev in events:
        for group in ruleset.groups:
            if group.records:
                out.update(rule.card.id for rule, _ in group.match(ev))
            elif group.applies(ev):  # every rule evaluated: no literal filter, no pin index
                values = EventValues(ev, group.getters)
                out.update(rule.card.id for rule in group.rules if rule.matches(values))
    return out


def scanned_matches(text: str, fmt: str, rule_paths: list, only: set[str] | None) -> tuple[Counter[str], int]:
    config = from_dict({"sigma": {"paths": [str(p) for p in rule_paths]}})
    alerts, stats = scan_text(text, fmt, config=config, only=only)
    assert stats.rejected == 0, stats.rejections[:3]
    got: Counter[str] = Counter()
    for a in alerts:
        if a.alert_type.startswith("SIGMA_"):
            got[a.alert_type] += a.count
    return got, stats.skipped


def test_casefold_list_is_pythons_case_folding():
    want = [chr(c) for c in range(128, 0x20000) if any(ord(x) < 128 for x in chr(c).casefold())]
    assert list(shipped("casefold_to_ascii")) == want
    # the file must keep the Kelvin sign itself, not its canonical equivalent (ASCII K)
    assert "\u212a" in shipped("casefold_to_ascii") and unicodedata.normalize("NFC", "\u212a") == "K"


def test_literals_are_cut_where_a_format_writes_a_value_differently():
    assert safe_run("union select", UNSAFE["HttpRequest"]) == "select"  # W3C writes the space as +
    assert safe_run('x"onload=', UNSAFE["HttpRequest"]) == "onload="    # an escaped quote in the line
    assert safe_run("cmd.php?x=", UNSAFE["HttpRequest"]) == "cmd.php"   # W3C: query in its own column
    assert safe_run("<script>alert", UNSAFE["K8sAudit"]) == "script"    # JSON writes < as \u003c


def _ordinary_web(n: int) -> str:
    pages = ["/", "/products/12", "/static/app.js", "/index.html", "/search?q=shoes", "/cart"]
    return "".join(combined(pages[i % len(pages)], ip=f"192.0.2.{i % 250 + 1}", second=i % 60,
                            agent="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
                            if i % 7 == 0 else "Mozilla/5.0 (X11; Linux x86_64)") for i in range(n))


WEB_ATTACKS = [
    combined("/cgi-bin/../../../etc/passwd", status=400, ip="203.0.113.1"),
    combined("/?x=${jndi:ldap://198.51.100.9/a}", ip="203.0.113.2"),
    combined("/item?id=1%20UNION%20SELECT%20password%20FROM%20users", ip="203.0.113.3"),
    combined("/", agent="sqlmap/1.7.2#stable (https://sqlmap.org)", ip="203.0.113.4"),
    # tool names with a long s and with the "st" ligature, which Sigma's case folding reads as "s" and "st"
    combined("/", agent="\u017fqlmap/1.7.2", ip="203.0.113.5"),
    combined("/", agent="gobu\ufb06er/3.6", ip="203.0.113.7"),
    # a keyword behind an escaped quote in the referer
    combined("/", referer='https://x/\\"${jndi:ldap://198.51.100.9/b}', ip="203.0.113.6"),
]


def test_web_prefilter_reads_every_line_a_rule_matches_and_skips_the_rest():
    text = _ordinary_web(400) + "".join(WEB_ATTACKS) + _ordinary_web(200)
    want = every_event_matches(text, "combined", WEB_RULES)
    assert len(want) >= 4
    got, skipped = scanned_matches(text, "combined", WEB_RULES, {"SIGMA_*"})
    assert got == want
    assert skipped > 400  # ordinary lines are not parsed for the rules
    # next to the cards, the same Sigma matches
    got_with_cards, _ = scanned_matches(text, "combined", WEB_RULES, None)
    assert got_with_cards == want


def test_cards_alerts_do_not_change_when_sigma_rules_are_added():
    probes = ["/.env", "/.git/config", "/wp-config.php.bak", "/phpinfo.php", "/.aws/credentials", "/backup.sql",
              "/config.php.old", "/.htpasswd", "/server-status", "/admin/.env", "/db.sql", "/.ssh/id_rsa"]
    scan_burst = "".join(combined(p, status=404, ip="203.0.113.9", second=10 + i, agent="curl/8.4.0")
                         for i, p in enumerate(probes * 3))
    text = _ordinary_web(300) + "".join(WEB_ATTACKS) + scan_burst + _ordinary_web(100)
    plain, _ = scan_text(text, "combined")
    config = from_dict({"sigma": {"paths": [str(p) for p in WEB_RULES]}})
    both, _ = scan_text(text, "combined", config=config)
    cards = sorted((a.alert_type, a.count, sorted(a.entities.items())) for a in plain)
    assert cards and cards == sorted((a.alert_type, a.count, sorted(a.entities.items())) for a in both
                                     if not a.alert_type.startswith("SIGMA_"))


def _audit(i: int, verb: str, resource: str, code: int = 200, *, subresource: str = "", uri: str = "",
           agent: str = "kubectl/v1.29.2", obj: dict | None = None) -> str:
    ref = {"resource": resource, "namespace": "shop", "name": f"x{i}", "apiVersion": "v1"}
    if subresource:
        ref["subresource"] = subresource
    ev = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
          "auditID": f"00000000-0000-4000-8000-{i:012d}", "stage": "ResponseComplete",
          "requestURI": uri or f"/api/v1/namespaces/shop/{resource}/x{i}", "verb": verb,
          "user": {"username": f"user{i}@example.com", "groups": ["system:authenticated"]},
          "sourceIPs": [f"198.51.100.{i % 250}"], "userAgent": agent, "objectRef": ref,
          "responseStatus": {"metadata": {}, "code": code},
          "requestReceivedTimestamp": f"2026-11-05T10:{i // 60 % 60:02d}:{i % 60:02d}.000000Z",
          "stageTimestamp": f"2026-11-05T10:{i // 60 % 60:02d}:{i % 60:02d}.100000Z"}
    if obj is not None:
        ev["requestObject"] = obj
    return orjson.dumps(ev).decode() + "\n"


def test_audit_prefilter_reads_every_event_a_rule_matches_and_skips_the_rest():
    ordinary = [("get", "configmaps"), ("watch", "pods"), ("get", "pods"), ("create", "events"),
                ("update", "leases"), ("get", "secrets")]
    lines = [_audit(i, *ordinary[i % len(ordinary)]) for i in range(1, 400)]
    host_pod = {"kind": "Pod", "spec": {"containers": [{"name": "c", "image": "alpine"}],
                                        "volumes": [{"name": "r", "hostPath": {"path": "/"}}]}}
    attacks = [
        _audit(1001, "create", "pods", 201, subresource="exec",
               uri="/api/v1/namespaces/shop/pods/x/exec?command=%2Fbin%2Fsh"),
        _audit(1002, "get", "secrets", 403),
        _audit(1003, "delete", "secrets"),
        _audit(1004, "list", "secrets"),
        _audit(1005, "create", "pods", 201, obj=host_pod),
        _audit(1006, "get", "nodes", 200, agent="trufflehog/3.0"),
        # the user agent's letters written as JSON escapes: the raw bytes do not hold "trufflehog"
        _audit(1007, "get", "nodes", 200, agent="TRUFFLEHOG").replace("TRUFFLEHOG", "\\u0074rufflehog"),
        _audit(1008, "delete", "events"),  # only a delete of events is wanted, not the ordinary creates
    ]
    text = "".join(lines[:200] + attacks + lines[200:])
    want = every_event_matches(text, "json", [K8S])
    assert len(want) >= 5
    got, skipped = scanned_matches(text, "json", [K8S], {"SIGMA_*"})
    assert got == want
    assert skipped > 300
    got_with_cards, _ = scanned_matches(text, "json", [K8S], None)
    assert got_with_cards == want


# -- the accelerated audit pass (verb-and-resource pairs and response codes in `_speedups.audit_lines`) ----
CORPUS = Path(__file__).resolve().parents[1] / "data" / "k8s" / "falco-trace-files"

#: verbs and resources as attackers or odd clients may write them: case variants, a Unicode long s (which
#: Sigma's case folding reads as "s"), and the ordinary ones
_VERBS = ["get", "list", "watch", "create", "delete", "patch", "update", "CREATE", "Delete", "liſt", "LIST",
          "deletecollection", "replace"]
_RESOURCES = ["pods", "secrets", "events", "deployments", "leases", "configmaps", "serviceaccounts", "jobs",
              "cronjobs", "rolebindings", "clusterrolebindings", "Pods", "ſecrets", "SECRETS",
              "selfsubjectrulesreviews", "mutatingwebhookconfigurations", "nodes"]
_CODES = [200, 200, 200, 201, 401, 403, 404, 4010, 500]
_GROUPS = {"deployments": "apps", "jobs": "batch", "cronjobs": "batch", "rolebindings": "rbac.authorization.k8s.io",
           "clusterrolebindings": "rbac.authorization.k8s.io", "selfsubjectrulesreviews": "authorization.k8s.io",
           "mutatingwebhookconfigurations": "admissionregistration.k8s.io"}


def _generated_audit(seed: int, n: int) -> str:
    """`n` audit lines in the API server's compact layout, with the variants a byte test could get wrong:
    response codes written with whitespace or inside other objects, keys and values spelled with JSON escapes,
    a decoy verb, and hostPath pods and shells in request URIs."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        verb, resource = rnd.choice(_VERBS), rnd.choice(_RESOURCES)
        obj = None
        if resource.lower() == "pods" and rnd.random() < 0.3:
            obj = {"kind": "Pod", "spec": {"containers": [{"name": "c", "image": "alpine", "securityContext": {
                "capabilities": {"add": ["SYS_ADMIN"]}} if rnd.random() < 0.5 else {}}],
                "volumes": [{"name": "r", "hostPath": {"path": "/"}}] if rnd.random() < 0.5 else []}}
        uri = f"/api/v1/namespaces/shop/{resource}/x{i}"
        if rnd.random() < 0.05:
            uri += rnd.choice(["/exec?command=%2Fbin%2Fsh", "/exec?command=/usr/bin/curl", "?watch=1"])
        line = _audit(i, verb, resource, rnd.choice(_CODES), uri=uri, obj=obj,
                      subresource=rnd.choice(["", "", "exec", "status"]),
                      agent=rnd.choice(["kubectl/v1.29.2", "trufflehog/3.0", "kube-controller-manager/v1.29.2"]))
        if resource.lower() in _GROUPS and rnd.random() < 0.8:
            line = line.replace('"apiVersion":"v1"}', f'"apiGroup":"{_GROUPS[resource.lower()]}","apiVersion":"v1"}}')
        variant = rnd.random()
        if variant < 0.04:  # not the compact form: whitespace around the code's colon
            line = re.sub(r'"code":(\d+)', r'"code": \1', line)
        elif variant < 0.08:  # a key spelled with an escape
            line = line.replace('"code":', '"\\u0063ode":').replace('"verb":', '"\\u0076erb":')
        elif variant < 0.12:  # a decoy verb key inside the request body
            line = line.replace('"stage":', '"requestObject":{"verb":"get"},"stage":', 1)
        elif variant < 0.16:  # a value spelled with an escape
            line = line.replace(f'"resource":"{resource}"', f'"resource":"\\u00{ord(resource[0]):02x}{resource[1:]}"')
        elif variant < 0.20:  # a Status object in the response with its own code
            line = line[:-2] + ',"responseObject":{"kind":"Status","code":403}}\n'
        out.append(line)
    return "".join(out)


def _corpus() -> str:
    """The audit events of the Falco trace files (one of their records is deliberately not an event)."""
    lines = [ln for p in sorted(CORPUS.glob("*.json")) for ln in p.read_text().splitlines() if ln.strip()]
    return "".join(ln + "\n" for ln in lines if "verb" in orjson.loads(ln))


def _card_alerts(alerts: list) -> list:
    return sorted((a.alert_type, a.id, a.count, orjson.dumps(a.entities, option=orjson.OPT_SORT_KEYS),
                   [e["event_id"] for e in a.evidence]) for a in alerts if not a.alert_type.startswith("SIGMA_"))


@pytest.mark.parametrize("accelerated", [True, False])
@pytest.mark.parametrize("source", ["generated", "corpus"])
def test_audit_pin_table_reads_every_event_a_rule_matches(monkeypatch, accelerated: bool, source: str) -> None:
    if accelerated and not _k8s.ACCELERATED:
        pytest.skip("the C accelerator is not built")
    monkeypatch.setattr(_k8s, "ACCELERATED", accelerated)
    text = _generated_audit(15, 1500) if source == "generated" else _corpus()
    want = every_event_matches(text, "json", [K8S])
    assert len(want) >= (10 if source == "generated" else 4)
    got, skipped = scanned_matches(text, "json", [K8S], {"SIGMA_*"})
    assert got == want
    if source == "generated":
        assert skipped > 300  # the prefilter still skips: lines no rule pins, with no code asked for
    got_with_cards, _ = scanned_matches(text, "json", [K8S], None)
    assert got_with_cards == want
    # and the cards' alerts are the same with and without the rules
    config = from_dict({"sigma": {"paths": [str(K8S)]}})
    assert _card_alerts(scan_text(text, "json")[0]) == _card_alerts(scan_text(text, "json", config=config)[0])


def test_a_rule_that_pins_a_response_code_to_a_word_needs_no_line() -> None:
    ruleset = build(from_dict({}), [str(K8S)])
    group = next(g for g in ruleset.groups if K8sAudit in g.mapping.kinds)
    never = [r.rule.title for r in group.rules if never_matches(r, group.mapping, "K8sAudit")]
    assert never == ["Kubernetes Potential Enumeration Activity"]  # `responseStatus.code: 'ALLOW'`
    codes = {r.rule.title: code_values(r, group.mapping) for r in group.rules}
    assert codes["Kubernetes Unauthorized or Unauthenticated Access"] == {"401", "403"}
    assert codes["Kubernetes Secrets Enumeration"] is None
    test = SigmaRules(group, ruleset).audit_interest[2]
    assert isinstance(test, AuditPinTest) and test.literal_test is None  # no RE2 pass at all
    verbs, resources, code_table = test.c_table
    assert dict(zip(verbs, resources, strict=True))[b"list"] == (b"secrets",) and code_table == (b"401", b"403")
