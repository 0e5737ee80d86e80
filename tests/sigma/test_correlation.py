"""Correlation rules over the stream (event_count, value_count, temporal, temporal_ordered), keyed by
group-by and windowed by timespan on event time, and their keyed state: update, merge, advance, serialization."""

from __future__ import annotations

from sigma_helpers import alert_types, combined, scan, write_rule

from cloudward.sigma.correlation import CorrelationState

BASES = """
title: Not found
id: 6a1c0000-0000-4000-8000-000000000001
name: not_found
logsource: {category: webserver}
detection:
  sel: {sc-status: 404}
  condition: sel
level: low
---
title: Login post
id: 6a1c0000-0000-4000-8000-000000000002
name: login_post
logsource: {category: webserver}
detection:
  sel: {cs-method: POST, cs-uri-stem: /wp-login.php}
  condition: sel
level: low
---
title: Admin page
id: 6a1c0000-0000-4000-8000-000000000003
name: admin_page
logsource: {category: webserver}
detection:
  sel: {cs-uri-stem|startswith: /wp-admin/}
  condition: sel
level: low
"""


def _corr(body: str, rid: str = "7b2d0000-0000-4000-8000-000000000009") -> str:
    return f"---\ntitle: Correlation\nid: {rid}\nlevel: high\ncorrelation:\n{body}"


CORR = "SIGMA_7b2d0000-0000-4000-8000-000000000009"


def _lines(specs):
    return "".join(combined(t, method=m, status=s, ip=ip, second=sec) for (t, m, s, ip, sec) in specs)


def test_event_count_per_group_in_window(tmp_path):
    rule = write_rule(tmp_path, BASES + _corr(
        "  type: event_count\n  rules: [not_found]\n  group-by: [c-ip]\n  timespan: 1m\n  condition: {gte: 5}\n"))
    five = [(f"/missing{i}", "GET", 404, "198.51.100.1", i) for i in range(5)]
    four = [(f"/missing{i}", "GET", 404, "198.51.100.2", i) for i in range(4)]
    alerts = scan(_lines(five + four), [rule])
    assert alert_types(alerts) == {CORR}  # base rules of a correlation do not alert on their own
    assert alerts[0].count == 1 and alerts[0].entities["c-ip"] == "198.51.100.1"
    assert len(alerts[0].evidence) == 5 and alerts[0].severity == "high"


def test_event_count_outside_timespan_does_not_fire(tmp_path):
    rule = write_rule(tmp_path, BASES + _corr(
        "  type: event_count\n  rules: [not_found]\n  group-by: [c-ip]\n  timespan: 10s\n  condition: {gte: 3}\n"))
    spread = [(f"/m{i}", "GET", 404, "198.51.100.1", i * 8) for i in range(5)]  # 8 s apart: 2 per 10 s
    assert scan(_lines(spread), [rule]) == []


def test_value_count_distinct_values(tmp_path):
    rule = write_rule(tmp_path, BASES + _corr(
        "  type: value_count\n  rules: [not_found]\n  group-by: [c-ip]\n  timespan: 5m\n"
        "  condition: {gte: 3, field: cs-uri-stem}\n"))
    same_page = [("/same", "GET", 404, "198.51.100.1", i) for i in range(6)]
    probing = [(p, "GET", 404, "198.51.100.3", i) for i, p in enumerate(["/.env", "/.git/config", "/backup.sql"])]
    alerts = scan(_lines(same_page + probing), [rule])
    assert [a.entities["c-ip"] for a in alerts] == ["198.51.100.3"]


def test_temporal_any_order_and_generate(tmp_path):
    rule = write_rule(tmp_path, BASES + _corr(
        "  type: temporal\n  rules: [login_post, admin_page]\n  group-by: [c-ip]\n  timespan: 5m\n"
        "  generate: true\n"))
    both = [("/wp-admin/index.php", "GET", 200, "198.51.100.4", 1), ("/wp-login.php", "POST", 302, "198.51.100.4", 2)]
    only_admin = [("/wp-admin/index.php", "GET", 200, "198.51.100.5", 3)]
    alerts = scan(_lines(both + only_admin), [rule])
    types = alert_types(alerts)
    assert CORR in types
    corr = next(a for a in alerts if a.alert_type == CORR)
    assert corr.entities["c-ip"] == "198.51.100.4"
    # generate: true keeps the base rules' own alerts
    assert "SIGMA_6a1c0000-0000-4000-8000-000000000003" in types


def test_temporal_ordered_needs_the_order(tmp_path):
    rule = write_rule(tmp_path, BASES + _corr(
        "  type: temporal_ordered\n  rules: [login_post, admin_page]\n  group-by: [c-ip]\n  timespan: 5m\n"))
    ordered = [("/wp-login.php", "POST", 302, "198.51.100.6", 1), ("/wp-admin/", "GET", 200, "198.51.100.6", 2)]
    reversed_ = [("/wp-admin/", "GET", 200, "198.51.100.7", 1), ("/wp-login.php", "POST", 302, "198.51.100.7", 2)]
    alerts = scan(_lines(ordered + reversed_), [rule])
    assert [a.entities["c-ip"] for a in alerts if a.alert_type == CORR] == ["198.51.100.6"]


def test_lt_condition_is_judged_when_the_window_closes(tmp_path):
    rule = write_rule(tmp_path, BASES + _corr(
        "  type: event_count\n  rules: [not_found]\n  group-by: [c-ip]\n  timespan: 1m\n  condition: {lt: 2}\n"))
    lines = [("/a", "GET", 404, "198.51.100.8", 1), ("/b", "GET", 404, "198.51.100.9", 1),
             ("/c", "GET", 404, "198.51.100.9", 2)]
    alerts = scan(_lines(lines), [rule])
    assert [a.entities["c-ip"] for a in alerts] == ["198.51.100.8"]


def test_unsupported_correlation_forms_are_reported(tmp_path):
    from cloudward.config import Config
    from cloudward.sigma import build

    text = BASES + _corr("  type: value_sum\n  rules: [not_found]\n  group-by: [c-ip]\n  timespan: 1m\n"
                         "  condition: {gte: 2, field: sc-bytes}\n")
    ruleset = build(Config(), [write_rule(tmp_path, text)])
    assert [(p.kind, p.reason) for p in ruleset.problems] == [("unsupported", "correlation type value_sum is not "
                                                                              "evaluated")]
    missing = BASES + _corr("  type: event_count\n  rules: [nope]\n  timespan: 1m\n  condition: {gte: 2}\n")
    ruleset = build(Config(), [write_rule(tmp_path, missing, "m.yml")])
    assert ruleset.problems[0].kind == "invalid" and "nope" in ruleset.problems[0].reason


def test_state_update_merge_advance_serialize():
    whole = CorrelationState(60)
    left, right = CorrelationState(60), CorrelationState(60)
    events = [(10.0, 0, "/a"), (20.0, 0, "/b"), (30.0, 1, "/c"), (35.0, 0, "/d")]
    key = CorrelationState.partition_key(["198.51.100.1"])
    for i, (t, base, v) in enumerate(events):
        whole.update(key, t, base, v)
        (left if i % 2 else right).update(key, t, base, v)
    left.merge(right)
    assert left.entries == whole.entries
    left.merge(CorrelationState.from_dict(right.to_dict()))  # merging the same entries again changes nothing
    assert left.entries == whole.entries
    restored = CorrelationState.from_dict(whole.to_dict())
    assert restored.entries == whole.entries and restored.timespan == 60
    # late events keep time order; entries older than a timespan before the newest are dropped
    restored.update(key, 15.0, 1, "/late")
    assert [e[0] for e in restored.entries[key]] == [10.0, 15.0, 20.0, 30.0, 35.0]
    restored.update(key, 100.0, 0, "/e")
    assert [e[0] for e in restored.entries[key]] == [100.0]
    closed = restored.advance(200.0)
    assert closed == [(key, [[100.0, 0, "/e"]])] and restored.entries == {}
