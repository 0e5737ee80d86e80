"""A `/k8s-audit` body split into raw events and prefiltered before decoding (`server.audit_body`), then fed
by the worker: the same alerts as `scan` reading the same events as audit-log lines, with the cards and with
Sigma's audit rules (whose raw literals widen the prefilter), and a resent batch changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from cloudward.config import Config, from_dict
from cloudward.engine import Engine
from cloudward.parsers._k8s import verb_line_filter
from cloudward.pipeline import scan_text
from cloudward.server.audit_body import AuditBodyError, AuditFilter, split_audit_body
from cloudward.server.worker import IngestWorker, Job
from cloudward.store import Store

SIGMA_K8S = Path(__file__).parents[1] / "data" / "sigma" / "sigmahq" / "rules" / "application" / "kubernetes" / "audit"
#: a rule pinning no verb or resource: only its literal widens the prefilter to a read no card wants
SCANNER_RULE = """title: Secret scanner user agent on the Kubernetes API
id: 0b6f2a9e-5d1c-4c9a-9e8b-2f4d6a1c3e55
status: test
logsource:
    product: kubernetes
    service: audit
detection:
    selection:
        userAgent|contains: trufflehog
    condition: selection
level: high
"""


def audit_event(i: int, verb: str, resource: str, *, code: int = 200, agent: str = "kubectl/v1.29.2",
                subresource: str = "", body: dict[str, Any] | None = None) -> dict[str, Any]:
    """One audit.k8s.io/v1 Event in the API server's key order."""
    ref: dict[str, Any] = {"resource": resource, "namespace": "shop", "name": f"obj-{i}", "apiVersion": "v1"}
    if subresource:
        ref["subresource"] = subresource
    second = f"{i // 60 % 60:02d}:{i % 60:02d}"
    ev: dict[str, Any] = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse" if body else "Metadata",
        "auditID": f"5d0f3c1e-0000-4000-8000-{i:012d}", "stage": "ResponseComplete",
        "requestURI": f"/api/v1/namespaces/shop/{resource}/obj-{i}", "verb": verb,
        "user": {"username": f"dev{i % 7}@example.com", "groups": ["system:authenticated"]},
        "sourceIPs": [f"198.51.100.{i % 250}"], "userAgent": agent, "objectRef": ref,
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": f"2026-11-05T10:{second}.000000Z",
        "stageTimestamp": f"2026-11-05T10:{second}.020000Z",
    }
    if body is not None:
        ev["requestObject"] = body
    return ev


PRIVILEGED_POD = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "debug", "namespace": "shop"},
                  "spec": {"containers": [{"name": "sh", "image": "alpine:3.19",
                                           "securityContext": {"privileged": True}}],
                           "volumes": [{"name": "root", "hostPath": {"path": "/"}}]}}
ORDINARY = [("get", "configmaps"), ("watch", "pods"), ("list", "pods"), ("get", "leases"), ("update", "leases"),
            ("get", "secrets"), ("create", "events")]


def mixed_batch() -> list[dict[str, Any]]:
    """Mostly reads no card wants, with a few events cards or Sigma rules want among them."""
    events = [audit_event(i, *ORDINARY[i % len(ORDINARY)]) for i in range(1, 380)]
    wanted = [
        audit_event(1001, "create", "pods", code=201, body=PRIVILEGED_POD),
        audit_event(1002, "create", "pods", code=201, subresource="exec"),
        audit_event(1003, "delete", "secrets"),
        audit_event(1004, "list", "secrets"),
        # a read no card wants, but a Sigma rule's literal (the scanner's user agent) is in its bytes
        audit_event(1005, "get", "nodes", agent="trufflehog/3.63.2"),
    ]
    return events[:150] + wanted[:3] + events[150:300] + wanted[3:] + events[300:]


def envelope(items: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items})


def feed_batch(tmp_path: Path, config: Config, body: bytes, times: int = 1) -> tuple[list[dict[str, Any]], Any]:
    """Post `body` `times` to a worker over a real store, in-process; (results, engine)."""
    store = Store(tmp_path / "cw.db")
    engine = Engine(config, store=store)
    worker = IngestWorker(engine, store)
    flt = AuditFilter.for_interest(engine.ctx.interest)
    results = []
    for _ in range(times):
        job = Job(source="k8s-audit", audit=split_audit_body(body, flt))
        worker.process([job])
        results.append(job.future.result())
    return results, engine


def summary(alerts: list[Any]) -> list[tuple[str, int, list[tuple[str, Any]]]]:
    return sorted((a.alert_type, a.count, sorted((k, str(v)) for k, v in a.entities.items())) for a in alerts)


@pytest.mark.parametrize("sigma", [False, True], ids=["cards", "cards+sigma"])
def test_a_batch_alerts_as_scan_does_and_a_resent_batch_changes_nothing(tmp_path: Path, sigma: bool) -> None:
    items = mixed_batch()
    rule = tmp_path / "scanner.yml"
    rule.write_text(SCANNER_RULE)
    config = from_dict({"sigma": {"paths": [str(SIGMA_K8S), str(rule)]}} if sigma else {}, "test")
    lines = b"".join(orjson.dumps(e) + b"\n" for e in items)
    want, stats = scan_text(lines, "json", config=config)
    assert stats.skipped > 300 and want
    (first, again), engine = feed_batch(tmp_path, config, envelope(items), times=2)
    assert summary(engine.book.alerts.values()) == summary(want)
    assert first["accepted"] + first["skipped"] == len(items) and first["rejected"] == 0
    # the same events skipped unread as the scan skips, but for the first line, which the scan reads to pick
    # the dialect (here a watch of pods no card wants)
    assert first["skipped"] == stats.skipped + 1
    if sigma:  # the user agent made the get of nodes read, though no card wants it
        assert "SIGMA_0b6f2a9e-5d1c-4c9a-9e8b-2f4d6a1c3e55" in {a.alert_type for a in want}
    # sent again: every event run is a redelivery, nothing changes
    assert again["alerts_changed"] == [] and again["duplicates_in_commit"] == first["accepted"]
    assert summary(engine.book.alerts.values()) == summary(want)


def test_only_the_wanted_events_of_a_batch_are_kept(tmp_path: Path) -> None:
    items = mixed_batch()
    engine = Engine(Config())
    flt = AuditFilter.for_interest(engine.ctx.interest)
    batch = split_audit_body(envelope(items), flt)
    line_needed = verb_line_filter(engine.ctx.interest)
    assert line_needed is not None
    expected = [i for i, e in enumerate(items) if line_needed(orjson.dumps(e), 0, len(orjson.dumps(e)))]
    assert [i for i, _ in batch.kept] == expected
    # the privileged pod (index 150) is among them, as its own bytes; the cards want no read
    assert (150, orjson.dumps(items[150])) in batch.kept
    assert not any(items[i]["verb"] in ("get", "watch") for i, _ in batch.kept)
    assert batch.total == len(items) and batch.skipped == len(items) - len(batch.kept)


def test_one_event_an_array_and_a_pretty_printed_list(tmp_path: Path) -> None:
    flt = AuditFilter.for_interest(Engine(Config()).ctx.interest)
    pod = audit_event(7, "create", "pods", code=201, body=PRIVILEGED_POD)
    read = audit_event(8, "get", "configmaps")
    single = split_audit_body(b"  " + orjson.dumps(pod, option=orjson.OPT_INDENT_2) + b"\n", flt)
    assert single.total == 1 and [i for i, _ in single.kept] == [0] and b"\n" not in single.kept[0][1]
    arrayed = split_audit_body(orjson.dumps([read, pod]), flt)
    assert (arrayed.total, arrayed.skipped, [i for i, _ in arrayed.kept]) == (2, 1, [1])
    pretty = split_audit_body(orjson.dumps({"kind": "EventList", "items": [read, pod, read]},
                                           option=orjson.OPT_INDENT_2), flt)
    assert (pretty.total, pretty.skipped, [i for i, _ in pretty.kept]) == (3, 2, [1])
    assert orjson.loads(pretty.kept[0][1]) == pod


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"kind": "EventList", "items": [', "not JSON"),
    (b'{"kind":"EventList","items":[{"verb":"get"},]}', "not JSON"),
    (b'{"kind":"EventList","items":[{"verb":"get","x":"\xff"}]}', "invalid UTF-8"),
    (b'{"kind":"EventList","items":[{"verb":"get"}]} trailing', "not JSON"),
    (b"", "not JSON"),
    (b'{"kind": "Pod"}', "EventList, Event or array"),
    (b'"a string"', "EventList, Event or array"),
    (b'{"kind":"EventList","items":{"verb":"get"}}', "EventList, Event or array"),
    (b'{"kind":"EventList","items":[{"verb":"get"}, 3]}', "must be a JSON object"),
    (b'[{"verb":"get"}, "x"]', "must be a JSON object"),
])
def test_a_malformed_body_is_refused_with_its_reason(body: bytes, reason: str) -> None:
    flt = AuditFilter.for_interest(Engine(Config()).ctx.interest)
    with pytest.raises(AuditBodyError, match=reason):
        split_audit_body(body, flt)


def test_a_bad_event_kept_by_the_prefilter_is_rejected_and_the_rest_run(tmp_path: Path) -> None:
    pod = audit_event(9, "create", "pods", code=201, body=PRIVILEGED_POD)
    no_verb = {k: v for k, v in audit_event(10, "create", "pods").items() if k != "verb"}
    (result,), engine = feed_batch(tmp_path, Config(), envelope([no_verb, pod]))
    assert result["rejected"] == 1 and result["accepted"] == 1
    assert result["rejections"][0]["where"].endswith(":1[0]") and "verb" in result["rejections"][0]["reason"]
    assert any(a.alert_type == "K8S_PrivilegedContainer" for a in engine.book.alerts.values())
