"""Deduplication, merging, suppression and allow rules."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from cloudward.config import from_dict
from cloudward.detections.kubernetes._samples import audit, container, pod
from cloudward.pipeline import scan_text
from cloudward.timeutil import parse_time


def priv(name, ns="default", when="2026-11-02T09:00:00Z", audit_id=None, owner=None, image="nginx"):
    return json.dumps(audit("create", "pods", pod(name, [container("c", image, privileged=True)], namespace=ns,
                                                  owner=owner), namespace=ns, when=when, audit_id=audit_id))


def test_repeats_raise_count_and_move_last_seen_and_ids_are_stable():
    rs = ("ReplicaSet", "web-5cdcc99dbf")
    text = "\n".join(priv(f"web-5cdcc99dbf-{s}", when=f"2026-11-02T09:0{i}:00Z", owner=rs)
                     for i, s in enumerate(["aaaaa", "bbbbb", "ccccc"]))
    a1, _ = scan_text(text)
    a2, _ = scan_text(text)
    (alert,) = a1
    assert alert.count == 3
    assert alert.first_seen == parse_time("2026-11-02T09:00:00Z")
    assert alert.last_seen == parse_time("2026-11-02T09:02:00Z")
    assert alert.entities["workload"] == "Deployment/web"
    assert a2[0].id == alert.id


def test_evidence_is_capped_but_count_is_not():
    config = from_dict({"output": {"evidence_limit": 2}})
    rs = ("ReplicaSet", "web-5cdcc99dbf")
    text = "\n".join(priv(f"web-5cdcc99dbf-{i:05d}", owner=rs, when=f"2026-11-02T09:{i:02d}:00Z") for i in range(7))
    (alert,), _ = scan_text(text, config=config)
    assert alert.count == 7
    assert len(alert.evidence) == 2


def test_list_entities_merge_across_events():
    rs = ("ReplicaSet", "web-5cdcc99dbf")
    text = priv("web-5cdcc99dbf-aaaaa", owner=rs, image="nginx:1") + "\n" + priv(
        "web-5cdcc99dbf-bbbbb", owner=rs, image="nginx:2", when="2026-11-02T09:05:00Z")
    (alert,), _ = scan_text(text)
    assert alert.entities["images"] == ["nginx:1", "nginx:2"]
    assert "nginx:1, nginx:2" in alert.description


def test_allow_rule_drops_findings_before_alerting():
    config = from_dict({"detections": {"K8S_PrivilegedContainer": {"allow": [{"namespace": "monitoring"}]}}})
    text = priv("a", ns="monitoring") + "\n" + priv("b", ns="shop")
    alerts, _ = scan_text(text, config=config)
    assert [a.entities["namespace"] for a in alerts] == ["shop"]


def test_suppression_dismisses_and_is_reported():
    config = from_dict({"suppress": [{"alert_type": "K8S_PrivilegedContainer", "match": {"image": "nginx*"},
                                      "reason": "ticket 42"},
                                     {"alert_type": "*", "match": {"namespace": "shop"}, "expires": "2000-01-01"}]})
    alerts, _ = scan_text(priv("a", ns="shop"), config=config)
    (alert,) = alerts
    assert alert.status == "dismissed"
    assert alert.to_dict()["suppression"]["reason"] == "ticket 42"


def test_disabled_detection_and_severity_override():
    config = from_dict({"detections": {"K8S_PrivilegedContainer": {"severity": "high"},
                                       "K8S_SensitiveMount": {"enabled": False}}})
    alerts, _ = scan_text(priv("a"), config=config)
    assert alerts[0].severity == "high"


def test_contract_keys():
    (alert,), _ = scan_text(priv("a"))
    doc = alert.to_dict()
    for key in ("id", "alert_type", "title", "severity", "tactics", "techniques", "source", "first_seen",
                "last_seen", "count", "resource", "entities", "description", "remediation", "evidence", "status"):
        assert key in doc
    assert doc["source"] == "k8s_audit"
    assert doc["first_seen"].endswith("Z")
    assert set(doc["evidence"][0]) >= {"event_id", "time", "summary", "raw"}


def test_render_leaves_out_phrases_whose_entity_is_unknown():
    from cloudward.alerts import render

    t = "[[On {host}, ]]the daemon listens on {bind}[[ (user {user})]]; it probed [[{site}||the site]]."
    assert render(t, {"host": "web-01", "bind": "tcp://x", "user": "root", "site": "shop"}) == \
        "On web-01, the daemon listens on tcp://x (user root); it probed shop."
    assert render(t, {"host": "unknown", "bind": "tcp://x", "user": "", "site": "unknown"}) == \
        "The daemon listens on tcp://x; it probed the site."
    assert render("[[{host}에서 ]]컨테이너 {c}", {"c": "x"}) == "컨테이너 x"
    assert render("{a} [[b {missing}]]c", {"a": "1"}) == "1 c"


def test_web_and_ftp_evidence_origin_is_file_and_line():
    from importlib import resources
    from pathlib import Path

    from cloudward.pipeline import Pipeline

    samples = Path(str(resources.files("cloudward").joinpath("samples")))
    pipe = Pipeline(enrich_options={"intel": [str(p) for p in (samples / "_intel").iterdir()]})
    pipe.run_paths([str(samples / "web")])
    alerts = pipe.finish()
    sources = {a.source for a in alerts}
    assert {"http", "ftp"} <= sources
    for a in alerts:
        if a.source in ("http", "ftp"):
            for e in a.evidence:
                path, _, line = e["origin"].rpartition(":")
                assert path.startswith(str(samples / "web")) and line.split("[")[0].isdigit(), (a.alert_type, e)


_BOOK_EVENTS = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 3), st.lists(st.integers(0, 30), max_size=4)),
                        min_size=1, max_size=30)


@given(findings=_BOOK_EVENTS, limit=st.integers(1, 6))
@settings(max_examples=150, deadline=None)
def test_evidence_entities_and_description_are_those_of_the_whole_set_of_findings(findings, limit):
    """The book keeps the `evidence_limit` earliest events of all findings (related events included),
    lists of entities by their earliest finding, and renders the description from the final state -
    the same as a book that sorted, merged and rendered after every finding."""
    from cloudward.alerts import AlertBook, Finding, _evidence_key, evidence_of, render
    from cloudward.config import Config
    from cloudward.detections.appservice.app_services_scan_sensitive_page import CARD
    from cloudward.events import HttpRequest

    def event(n: int) -> HttpRequest:
        return HttpRequest(event_id=f"a.log:{n}", time=1_800_000_000.0 + n * 0.5, raw="", site="s",
                           client_ip="203.0.113.9", path=f"/p{n % 7}")

    config = Config()
    config.evidence_limit = limit
    book = AlertBook(config)
    seen: dict[str, dict] = {}
    counted: set[str] = set()
    for n, reason, related in findings:
        ev = event(n)
        rel = tuple(event(r) for r in related)
        if ev.event_id not in counted:  # a finding on an event already counted is dropped whole
            counted.add(ev.event_id)
            for e in (*rel, ev):
                seen.setdefault(e.event_id, evidence_of(e))
        book.add(CARD, Finding(key="k", entities={"source_ip": ev.client_ip, "paths": [ev.path], "reason": str(reason)},
                               event=ev, related=rel, params={"reason": str(reason)}), "low")
    (alert,) = book.alerts.values()
    assert alert.evidence == sorted(seen.values(), key=_evidence_key)[:limit]
    assert alert.count == len(counted)
    assert alert.description == render(CARD.description, {**alert.entities, **alert.last_params})


# -- the repeat path of `AlertBook.add` (issue 15: Sigma's many matches of one alert) ------------------
def _path_value(v: int, n: int, kind: str) -> object:
    """A list entity's value: a string, or (mixed) values that are equal yet read differently (1, 1.0, True)."""
    if kind == "text":
        return f"/v{v}"
    return (f"/v{v}", v, float(v), v == 1)[n % 4]


_REPEATS = st.lists(st.tuples(st.integers(0, 80), st.integers(0, 1), st.integers(0, 2),
                              st.lists(st.integers(0, 3), max_size=3), st.booleans(), st.integers(0, 2)),
                    min_size=1, max_size=80)


@given(findings=_REPEATS, limit=st.integers(1, 3), shuffle=st.booleans(), max_values=st.integers(1, 3),
       value_kind=st.sampled_from(["text", "mixed"]))
@settings(max_examples=200, deadline=None)
def test_repeat_path_gives_the_alerts_of_the_full_path(findings, limit, shuffle, max_values, value_kind):
    """Findings mostly in time order (as the engine runs them), with times a fraction of a millisecond
    apart, redeliveries, scalar and list entities that change or repeat, related events and list entities
    past their cap: the book's cheap path for a repeat leaves every alert (contract, order keys, remembered
    ids) exactly as `add`'s full path does."""
    import random

    import cloudward.alerts as alerts_mod
    from cloudward.alerts import AlertBook, Finding
    from cloudward.config import Config
    from cloudward.detections.appservice.app_services_scan_sensitive_page import CARD
    from cloudward.events import HttpRequest

    def event(n: int) -> HttpRequest:
        # 0.13 ms apart: several events share a millisecond (whose ids sort either way), some cross one
        return HttpRequest(event_id=f"a.log:{n}", time=1_800_000_000.0 + n * 0.00013 if n % 13 else 0.0, raw="",
                           site="s", client_ip=f"203.0.113.{n % 3}", path=f"/p{n % 7}")

    rows = list(findings)
    if shuffle:
        random.Random(len(rows)).shuffle(rows)
    else:
        rows.sort(key=lambda r: r[0])

    def run(full: bool) -> list[dict]:
        config = Config()
        config.evidence_limit = limit
        book = AlertBook(config)
        if full:
            book._add_repeat = lambda *a: alerts_mod._FULL_PATH  # type: ignore[method-assign]
        for n, key, ip, values, related, sev in rows:
            ev = event(n)
            rel = (event(n + 100),) if related and n % 4 == 0 else ()
            book.add(CARD, Finding(key=f"k{key}", entities={"source_ip": f"198.51.100.{ip}", "site": "s",
                                                              "paths": [_path_value(v, n, value_kind)
                                                                        for v in values]},
                                   event=ev, related=rel, params={"n": str(n)},
                                   severity=("low", "medium", "high")[sev]), "low")
        return [{**a.to_dict(), "order": a.entity_order, "last": (a.last_order, a.last_params),
                 "seen": sorted(a.seen_events)} for a in book.sorted()]

    saved = alerts_mod.MAX_ENTITY_VALUES
    alerts_mod.MAX_ENTITY_VALUES = max_values
    try:
        assert run(full=False) == run(full=True)
    finally:
        alerts_mod.MAX_ENTITY_VALUES = saved


def test_repeat_in_the_same_millisecond_can_still_enter_the_evidence():
    """Evidence sorts by the time as written (to the millisecond), then origin: a later event in the same
    millisecond whose origin sorts first replaces the last item, so the repeat path must not skip it."""
    from cloudward.alerts import AlertBook, Finding
    from cloudward.config import Config
    from cloudward.detections.appservice.app_services_scan_sensitive_page import CARD
    from cloudward.events import HttpRequest

    config = Config()
    config.evidence_limit = 1
    book = AlertBook(config)
    for n, offset in ((9, 0.0001), (10, 0.00023), (11, 0.0035)):  # 9 and 10 in one millisecond; 11 after it
        ev = HttpRequest(event_id=f"a.log:{n}", time=1_800_000_000.0 + offset, raw="", site="s",
                         client_ip="203.0.113.9")
        book.add(CARD, Finding(key="k", entities={"source_ip": ev.client_ip}, event=ev), "low")
    (alert,) = book.alerts.values()
    assert [e["event_id"] for e in alert.evidence] == ["a.log:10"] and alert.count == 3


_SHAPED = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 1), st.integers(0, 2), st.integers(0, 3),
                             st.booleans()), min_size=1, max_size=60)


@given(findings=_SHAPED, limit=st.integers(1, 3), shuffle=st.booleans())
@settings(max_examples=200, deadline=None)
def test_repeat_path_with_shapes_gives_the_alerts_of_the_full_path(findings, limit, shuffle):
    """Findings that carry a `shape` (as Sigma's do: equal shapes, the same keys and the same tuple; scalars
    that differ, a key that appears only in later findings, another tuple under another shape): the repeat
    path that checks a shape's entities once leaves every alert as the full path does."""
    import random

    import cloudward.alerts as alerts_mod
    from cloudward.alerts import AlertBook, Finding
    from cloudward.config import Config
    from cloudward.detections.appservice.app_services_scan_sensitive_page import CARD
    from cloudward.events import HttpRequest

    refs = (("https://a", "https://b"), ("https://a", "https://c"))
    tokens = (object(), object())
    rows = list(findings)
    if shuffle:
        random.Random(len(rows)).shuffle(rows)
    else:
        rows.sort(key=lambda r: r[0])

    def run(full: bool) -> list[dict]:
        config = Config()
        config.evidence_limit = limit
        book = AlertBook(config)
        if full:
            book._add_repeat = lambda *a: alerts_mod._FULL_PATH  # type: ignore[method-assign]
        for n, key, ip, site, which in rows:
            ev = HttpRequest(event_id=f"a.log:{n}", time=1_800_000_000.0 + n * 0.00013, raw="", site="s",
                             client_ip=f"203.0.113.{n % 3}")
            entities: dict = {"source_ip": f"198.51.100.{ip}"}
            if site:  # a key the first findings of an alert may lack
                entities["site"] = f"s{site}"
            entities["refs"] = refs[which]
            shape = (tokens[which], tuple(entities))
            book.add(CARD, Finding(key=f"k{key}", entities=entities, event=ev, params={"n": str(n)}, shape=shape),
                     "low")
        return [{**a.to_dict(), "order": a.entity_order, "last": (a.last_order, a.last_params),
                 "seen": sorted(a.seen_events)} for a in book.sorted()]

    assert run(full=False) == run(full=True)
