"""The whole SigmaHQ snapshot: every webserver, Kubernetes and Linux process-creation rule loads and is either
evaluated or reported (never dropped), and the rule cards carry the rule's metadata."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sigma_helpers import EMERGING, RULES, SNAPSHOT, write_rule

from cloudward.config import Config, from_dict
from cloudward.sigma import build
from cloudward.sigma.ruleset import RuleInfo, attack_tags, parse_audit_record


def _rule_files(*folders: Path) -> dict[str, dict]:
    out = {}
    for folder in folders:
        for f in sorted(folder.rglob("*.yml")):
            doc = yaml.safe_load(f.read_text())
            out[str(doc["id"])] = doc
    return out


def _accounted(ruleset) -> tuple[set[str], set[str]]:
    evaluated = {r.card.id.removeprefix("SIGMA_") for r in ruleset.rules}
    reported = {p.rule_id for p in ruleset.problems}
    return evaluated, reported


@pytest.fixture(scope="module")
def snapshot():
    return build(Config(), [SNAPSHOT])


def test_every_snapshot_rule_is_evaluated_or_reported(snapshot):
    ruleset = snapshot
    evaluated, reported = _accounted(ruleset)
    docs = _rule_files(SNAPSHOT)
    assert len(docs) == 342
    assert evaluated | reported == set(docs) and not evaluated & reported
    assert all(p.reason and p.path.endswith(".yml") for p in ruleset.problems)
    counts = ruleset.counts()
    assert counts["evaluated"] == 309 and counts["unsupported"] == 33 and counts["invalid"] == 0


def test_webserver_kubernetes_and_linux_process_creation_rules(snapshot):
    ruleset = snapshot
    evaluated, reported = _accounted(ruleset)
    docs = _rule_files(RULES / "web", RULES / "application", RULES / "linux" / "process_creation", EMERGING)
    web = {i for i, d in docs.items() if d["logsource"].get("category") == "webserver"}
    k8s = {i for i, d in docs.items() if d["logsource"].get("product") == "kubernetes"}
    proc = {i for i, d in docs.items() if d["logsource"].get("category") == "process_creation"}
    assert (len(web), len(k8s), len(proc)) == (86, 16, 122)
    for group in (web, k8s, proc):
        assert group <= evaluated | reported
    assert k8s <= evaluated and proc <= evaluated
    # one webserver rule reads the request's content type, which access logs do not carry
    unsupported_web = {p.rule_id: p.reason for p in ruleset.problems if p.rule_id in web}
    assert len(unsupported_web) == 1 and "cs-content-type" in next(iter(unsupported_web.values()))
    # proxy and error-log rules have no Cloudward event kind: reported, with the log source named
    proxy = [p for p in ruleset.problems if "category: proxy" in p.reason]
    assert len(proxy) == 29
    groups = {g.name: g.stats() for g in ruleset.groups}
    assert groups["webserver"]["rules"] == 85 and groups["kubernetes_audit"]["rules"] == 16
    assert groups["webserver"]["always_evaluated"] == 0  # every webserver rule is behind the literal prefilter


def test_rule_cards_carry_rule_metadata():
    ruleset = build(Config(), [RULES / "application" / "kubernetes"])
    card = next(r.card for r in ruleset.rules if r.card.title == "Container With A hostPath Mount Created")
    assert card.id == "SIGMA_402b955c-8fe0-4a8c-b635-622b4ac5f902"
    assert card.severity == "low" and card.techniques == ("T1611",) and card.tactics == ("PrivilegeEscalation",)
    assert card.data_source == "AUDIT" and card.references and card.false_positives
    assert "Leo Tsaousis" in card.looks_at and card.title_ko == card.title
    assert "한국어 설명이 없어" in card.description_ko and len(card.remediation) == len(card.remediation_ko)


def test_rules_reported_unsupported(tmp_path):
    text = """
title: Proxy rule
id: 1d000000-0000-4000-8000-000000000001
logsource: {category: proxy}
detection: {sel: {c-useragent: x}, condition: sel}
---
title: Unknown field
id: 1d000000-0000-4000-8000-000000000002
logsource: {category: webserver}
detection: {sel: {cs-cookie|contains: session}, condition: sel}
---
title: Placeholder without values
id: 1d000000-0000-4000-8000-000000000003
logsource: {category: webserver}
detection: {sel: {c-ip|expand: '%scanners%'}, condition: sel}
---
title: Backreference (pySigma checks regular expressions with RE2 too)
id: 1d000000-0000-4000-8000-000000000004
logsource: {category: webserver}
detection: {sel: {cs-uri-query|re: '(a)\\1'}, condition: sel}
---
title: Undefined selection
id: 1d000000-0000-4000-8000-000000000005
logsource: {category: webserver}
detection: {sel: {cs-method: GET}, condition: sel and other}
---
title: Timestamp part
id: 1d000000-0000-4000-8000-000000000007
logsource: {category: webserver}
detection: {sel: {sc-status|minute: 5}, condition: sel}
---
title: Fine
id: 1d000000-0000-4000-8000-000000000006
logsource: {category: webserver}
detection: {sel: {cs-method: TRACE}, condition: sel}
"""
    ruleset = build(Config(), [write_rule(tmp_path, text)])
    problems = {p.rule_id[-1]: p for p in ruleset.problems}
    assert [r.card.id[-1] for r in ruleset.rules] == ["6"]
    assert {k: p.kind for k, p in problems.items()} == {"1": "unsupported", "2": "unsupported", "3": "unsupported",
                                                       "4": "invalid", "5": "invalid", "7": "unsupported"}
    assert "category: proxy" in problems["1"].reason and "cs-cookie" in problems["2"].reason
    assert "%scanners%" in problems["3"].reason and "(a)\\1" in problems["4"].reason
    assert "other" in problems["5"].reason and "timestamp" in problems["7"].reason


def test_disabled_rule_and_severity_override(tmp_path):
    path = write_rule(tmp_path, "title: T\nid: 2e000000-0000-4000-8000-000000000001\nlogsource: {category: "
                                "webserver}\ndetection: {sel: {cs-method: TRACE}, condition: sel}\nlevel: low\n")
    config = from_dict({"detections": {"SIGMA_2e000000-0000-4000-8000-000000000001": {"severity": "high"}}})
    assert build(config, [path]).rules[0].severity == "high"
    config = from_dict({"detections": {"SIGMA_2e000000-0000-4000-8000-000000000001": {"enabled": False}}})
    assert build(config, [path]).rules == []


def test_attack_tags_to_tactics_and_techniques():
    Rule = RuleInfo(id="x", title="t", tags=(
        ("attack", "initial-access"), ("attack", "t1190"), ("attack", "command-and-control"),
        ("attack", "t1059.004"), ("attack", "g0032"), ("cve", "2021-44228")))

    assert attack_tags(Rule) == (("InitialAccess", "CommandAndControl"), ("T1190", "T1059.004"))


def test_audit_record_fields():
    rec = parse_audit_record('type=EXECVE msg=audit(1795931000.000:7): argc=3 a0="ls" a1=2D6C61 a2="/tmp dir"')
    assert rec["type"] == "EXECVE" and rec["a0"] == "ls" and rec["a1"] == "-la"
    rec = parse_audit_record('type=SYSCALL msg=audit(1.0:1): syscall=59 exe="/usr/bin/dd" key="k"\x1dUID="root"')
    assert rec["exe"] == "/usr/bin/dd" and rec["key"] == "k" and rec["UID"] == "root"


def test_pin_index_selects_the_rules_a_full_evaluation_matches():
    """The Kubernetes group is indexed by verb and resource (most of its rules pin both): the candidates it
    picks hold every rule that matches, on events of every verb and resource the rules name and others."""
    from cloudward.events import K8sAudit
    from cloudward.sigma.compiler import EventValues

    ruleset = build(Config(), [RULES / "application" / "kubernetes"])
    group = next(g for g in ruleset.groups if K8sAudit in g.mapping.kinds)
    assert group._pin_fields == ("objectRef.resource", "verb")
    pods = {"kind": "Pod", "spec": {"containers": [{"name": "c", "image": "a", "securityContext": {
        "capabilities": {"add": ["NET_ADMIN"]}}}], "volumes": [{"name": "v", "hostPath": {"path": "/"}}]}}
    matched = set()
    for verb in ("create", "CREATE", "delete", "list", "patch", "get", "update"):
        for resource in ("pods", "secrets", "events", "deployments", "selfsubjectrulesreviews", "jobs",
                         "rolebindings", "Secrets", "leases"):
            for code in (200, 403):
                ev = K8sAudit(time=1.0, event_id=f"{verb}:{resource}:{code}", verb=verb, resource=resource,
                              code=code, namespace="kube-system", subresource="exec", api_group="batch",
                              request_object=pods if resource == "pods" else None)
                values = EventValues(ev, group.getters)
                full = {r.card.id for r in group.rules if r.matches(EventValues(ev, group.getters))}
                picked = {group.rules[i].card.id for i in group.candidates(ev, values)}
                assert full <= picked, (verb, resource, code)
                assert {r.card.id for r, _ in group.match(ev)} == full
                matched |= full
    assert len(matched) >= 10
    # a word where the response code is an integer never matches, so that rule is never a candidate
    enumeration = next(i for i, r in enumerate(group.rules) if r.rule.title.endswith("Enumeration Activity"))
    assert enumeration not in group._pinned and enumeration not in group._loose_always


def test_raw_keyed_candidates_and_rules_decided_by_their_pins():
    """The Kubernetes group looks candidates up by the raw verb, resource and response code; the rules whose
    condition is only their verb and resource pins match without a second evaluation. Every event's matches
    equal evaluating every rule, including values the cache must not confuse (`1` and `True`, a list where a
    string is expected, other cases) and after the cache has been filled past its bound."""
    from cloudward.events import K8sAudit
    from cloudward.sigma import ruleset as ruleset_mod
    from cloudward.sigma.compiler import EventValues

    ruleset = build(Config(), [RULES / "application" / "kubernetes"])
    group = next(g for g in ruleset.groups if K8sAudit in g.mapping.kinds)
    assert group._key_fields == ("objectRef.resource", "verb", "responseStatus.code")
    decided = {group.rules[i].rule.title for i in group._decided}
    assert "Kubernetes Secrets Enumeration" in decided and "Deployment Deleted From Kubernetes Cluster" in decided
    assert not any("Exec" in t or "Privileged" in t or "Hostpath" in t.title() for t in decided)

    def full(ev: K8sAudit) -> list[str]:
        return [r.card.id for r in group.rules if r.matches(EventValues(ev, group.getters))]

    cases = []
    for verb in ("list", "LIST", "liſt", "delete", "create", "patch", ["list"], True, 1):
        for resource in ("secrets", "Secrets", "deployments", "events", "pods", "jobs", ("secrets",), None):
            for code in (200, 401, 403, True, 403.0, "403", 0):
                cases.append(K8sAudit(time=1.0, event_id="x", verb=verb, resource=resource, code=code,  # type: ignore[arg-type]
                                      namespace="kube-system", subresource="exec", api_group="batch"))
    for _ in range(2):  # the second pass answers from the cache
        for ev in cases:
            assert [r.card.id for r, _ in group.match(ev)] == full(ev), (ev.verb, ev.resource, ev.code)
    saved = ruleset_mod._PIN_CACHE_MAX
    ruleset_mod._PIN_CACHE_MAX = 3
    group._raw_cache.clear()
    group._attr_cache.clear()
    try:
        for ev in cases:
            assert [r.card.id for r, _ in group.match(ev)] == full(ev)
        assert len(group._raw_cache) <= 3 and len(group._attr_cache) <= 3
    finally:
        ruleset_mod._PIN_CACHE_MAX = saved


def test_by_pins_only_for_exact_matches_on_distinct_fields(tmp_path):
    """`by_pins` marks conditions the pins decide: exact values, `or` over one field, `and` over distinct
    fields; not `contains`, not `not`, not two pins on one field (a list value could meet them separately)."""
    def compiled(detection: str):
        path = write_rule(tmp_path, f"""
title: t
id: 5b1d6a3e-0f3c-4a55-9a65-0c7b2b7f3a10
logsource: {{product: kubernetes, service: audit}}
detection:
{detection}
level: low
""")
        (rule,) = build(Config(), [path]).rules
        return rule.condition

    assert compiled("    sel: {verb: [create, delete], objectRef.resource: secrets}\n    condition: sel").by_pins
    assert compiled("    a: {verb: list}\n    b: {verb: get}\n    condition: a or b").by_pins
    assert not compiled("    sel: {verb|contains: lis}\n    condition: sel").by_pins
    assert not compiled("    sel: {verb: list}\n    f: {user.username: x}\n    condition: sel and not f").by_pins
    assert not compiled("    a: {user.groups: x}\n    b: {user.groups: y}\n    condition: a and b").by_pins
    assert not compiled("    a: {verb: list}\n    b: {objectRef.resource: secrets}\n    condition: a or b").by_pins


def test_rules_picked_by_the_pin_index_test_only_what_the_index_did_not():
    """A rule pinned beyond the index's verb and resource (`apiGroup: apps`, `objectRef.namespace: kube-system`)
    and nothing else is tested on those other fields alone once the index picked it, and a rule whose condition
    is an `and` of pins and other tests (`hostPath: '*'`) on its other tests alone: every event's matches equal
    evaluating every rule, with values in other cases, `ſ`, lists, absent and wrong types, bodies with and
    without the keys."""
    from cloudward.events import K8sAudit
    from cloudward.sigma.compiler import EventValues

    ruleset = build(Config(), [RULES / "application" / "kubernetes"])
    group = next(g for g in ruleset.groups if K8sAudit in g.mapping.kinds)
    residual = {group.rules[i].rule.title for i, c in enumerate(group._checks)
                if c is not None and c is not group.rules[i].condition.pred}
    assert any("Sidecar" in t for t in residual) and any("System Namespace" in t for t in residual)
    assert any("Hostpath" in t.title() for t in residual) and any("Privileged" in t for t in residual)
    host = {"kind": "Pod", "spec": {"containers": [{"name": "c", "image": "a"}],
                                    "volumes": [{"name": "v", "hostPath": {"path": "/"}}]}}
    caps = {"kind": "Pod", "spec": {"containers": [{"name": "c", "image": "a", "securityContext": {
        "capabilities": {"add": ["NET_ADMIN"]}}}]}}

    def full(ev: K8sAudit) -> list[str]:
        return [r.card.id for r in group.rules if r.matches(EventValues(ev, group.getters))]

    matched = 0
    for verb, resource in (("patch", "deployments"), ("create", "pods"), ("PATCH", "Deployments")):
        for group_name in ("apps", "APPS", "", "batch", "appſ", None, ["batch", "apps"], ["batch"], 1):
            for namespace in ("kube-system", "KUBE-SYSTEM", "kube-ſystem", "default", "", ["kube-system"]):
                for body in (None, host, caps):
                    ev = K8sAudit(time=1.0, event_id="x", verb=verb, resource=resource, code=201,  # type: ignore[arg-type]
                                  namespace=namespace, api_group=group_name, request_object=body)
                    got = [r.card.id for r, _ in group.match(ev)]
                    assert got == full(ev), (verb, group_name, namespace, body)
                    matched += len(got)
    assert matched >= 40


def test_an_and_keeps_its_pins_on_other_fields_when_the_index_picked_it(tmp_path):
    """A rule that pins verb, resource and namespace and asks for a body key too: once the pin index picked it,
    the namespace pin and the body test are still tested (only the index's own fields are not)."""
    from cloudward.events import K8sAudit
    from cloudward.sigma.compiler import EventValues

    for i, extra in enumerate(("objectRef.namespace: kube-system", "objectRef.namespace: shop")):
        write_rule(tmp_path, f"""
title: Host path pod in a namespace {i}
id: 6c1d6a3e-0f3c-4a55-9a65-0c7b2b7f3a1{i}
logsource: {{product: kubernetes, service: audit}}
detection:
    selection:
        verb: create
        objectRef.resource: pods
        {extra}
        hostPath: '*'
    condition: selection
level: low
""", f"rule{i}.yml")
    write_rule(tmp_path, """
title: Pod deleted
id: 6c1d6a3e-0f3c-4a55-9a65-0c7b2b7f3a19
logsource: {product: kubernetes, service: audit}
detection:
    selection: {verb: delete, objectRef.resource: pods}
    condition: selection
level: low
""", "rule9.yml")
    ruleset = build(Config(), [tmp_path])
    group = next(g for g in ruleset.groups if K8sAudit in g.mapping.kinds)
    assert group._pin_fields == ("objectRef.resource", "verb")
    host = {"kind": "Pod", "spec": {"containers": [{"name": "c", "image": "a"}],
                                    "volumes": [{"name": "v", "hostPath": {"path": "/"}}]}}
    seen = set()
    for namespace in ("kube-system", "shop", "default", "KUBE-SYSTEM"):
        for body in (None, host):
            for verb in ("create", "delete"):
                ev = K8sAudit(time=1.0, event_id="x", verb=verb, resource="pods", code=201, namespace=namespace,
                              request_object=body)
                got = [r.card.id for r, _ in group.match(ev)]
                assert got == [r.card.id for r in group.rules if r.matches(EventValues(ev, group.getters))]
                seen.update(got)
    assert len(seen) == 3


def test_decided_answers_as_match_where_the_pin_key_decides():
    """`RuleGroup.decided` (the folding path's first look) is False only where `match` finds nothing and a rule only
    where `match` finds exactly that rule, checked on the events of the pin-key tests (verbs, resources and codes
    in other cases, lists, wrong types; bodies, api groups, namespaces), before and after the key cache is filled;
    and it decides the usual events (`list secrets`) without `match`."""
    from cloudward.events import K8sAudit

    ruleset = build(Config(), [RULES / "application" / "kubernetes"])
    group = next(g for g in ruleset.groups if K8sAudit in g.mapping.kinds)
    host = {"kind": "Pod", "spec": {"containers": [{"name": "c", "image": "a"}],
                                    "volumes": [{"name": "v", "hostPath": {"path": "/"}}]}}
    cases = []
    for verb in ("list", "LIST", "liſt", "delete", "create", "patch", ["list"], True, 1):
        for resource in ("secrets", "Secrets", "deployments", "pods", ("secrets",), None):
            for code in (200, 403, True, "403"):
                for namespace, api_group, body in (("kube-system", "apps", host), ("shop", "", None)):
                    cases.append(K8sAudit(time=1.0, event_id="x", verb=verb, resource=resource,  # type: ignore[arg-type]
                                          code=code, namespace=namespace, api_group=api_group, request_object=body))
    answers = {True: 0, False: 0, "rule": 0}
    for _ in range(2):  # the first pass fills the key cache `decided` reads
        for ev in cases:
            decided = group.decided(ev)
            hits = [r for r, _ in group.match(ev)]
            if decided is False:
                assert hits == [], (ev.verb, ev.resource, ev.code)
            elif decided is not True:
                assert hits == [decided], (ev.verb, ev.resource, ev.code)
            answers["rule" if decided not in (True, False) else decided] += 1
    assert answers["rule"] >= 8 and answers[False] >= 30
    listing = K8sAudit(time=1.0, event_id="y", verb="list", resource="secrets", code=200)
    group.match(listing)
    assert group.decided(listing).rule.title == "Kubernetes Secrets Enumeration"  # type: ignore[union-attr]
