"""Properties of the engine over every corpus in tests/data (and the bundled samples):

1. any permutation of the input files gives identical alerts;
3. input split in two, two engines, one's checkpoint merged into the other: the alerts of one engine;
4. a checkpoint at any point, restored (through JSON) into a fresh engine that goes on: the alerts of an
   uninterrupted run - also while the watermark releases events and windows hold pending requests.

"Identical" is the whole alert contract: ids, counts, first/last seen, entities, evidence, descriptions.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudward.config import from_dict
from cloudward.engine import Engine, EngineSettings, rows_to_state, state_to_rows
from cloudward.events import Event, HttpRequest, ProcessExec
from cloudward.inputs import InputFile
from cloudward.state import event_from_state, event_state

ROOT = Path(__file__).parent
DATA = ROOT / "data"
SAMPLES = ROOT.parent / "src" / "cloudward" / "samples"


def _files(folder: Path) -> list[tuple[str, bytes]]:
    return [(str(p.relative_to(ROOT.parent)), p.read_bytes()) for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith(".") and p.suffix in (".json", ".jsonl", ".log", ".xml")]


CORPORA: dict[str, list[tuple[str, bytes]]] = {
    "k8s falco trace files": _files(DATA / "k8s" / "falco-trace-files"),
    "web annotated + mixed": _files(DATA / "web"),
    "host recordings": _files(DATA / "host" / "recorded"),
    "tetragon": _files(DATA / "host" / "tetragon"),
    "falco": _files(DATA / "host" / "falco"),
    "samples": _files(SAMPLES / "k8s") + _files(SAMPLES / "web") + _files(SAMPLES / "host"),
}
PROFILE = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def contract(alerts: list[Any]) -> list[dict[str, Any]]:
    return sorted((a.to_dict() for a in alerts), key=lambda d: d["id"])


def scan(files: list[tuple[str, bytes]], engine: Engine | None = None) -> Engine:
    engine = engine or Engine(raise_errors=True)
    engine.hold = True
    for display, data in files:
        engine.feed_bytes(display, data, final=True)
    return engine


def whole(files: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    engine = scan(files)
    engine.advance(None)
    return contract(engine.alerts())


BASELINES = {name: whole(files) for name, files in CORPORA.items()}


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_every_corpus_alerts(name):
    assert BASELINES[name], f"{name} raises no alert: the properties below would prove nothing"


@pytest.mark.parametrize("name", sorted(CORPORA))
@PROFILE
@given(data=st.data())
def test_any_file_order_gives_the_same_alerts(name, data):
    files = CORPORA[name]
    order = data.draw(st.permutations(range(len(files))))
    assert whole([files[i] for i in order]) == BASELINES[name]


def test_reversed_web_logs_keep_the_cross_site_alert():
    # the case the issue names: reading samples/web in reverse order used to change this alert
    files = _files(SAMPLES / "web")
    forward, backward = whole(files), whole(files[::-1])
    cross = [a for a in forward if a["alert_type"] == "AppServices_ScanSensitivePage"]
    assert cross and forward == backward


@pytest.mark.parametrize("name", sorted(CORPORA))
@PROFILE
@given(data=st.data())
def test_two_engines_merged_equal_one(name, data):
    files = [CORPORA[name][i] for i in data.draw(st.permutations(range(len(CORPORA[name]))))]
    cut = data.draw(st.integers(0, len(files)))
    first, second = scan(files[:cut]), scan(files[cut:])
    second.merge(orjson.loads(orjson.dumps(first.checkpoint())))
    second.advance(None)
    assert contract(second.alerts()) == BASELINES[name]


@pytest.mark.parametrize("name", sorted(CORPORA))
@PROFILE
@given(data=st.data())
def test_checkpoint_and_restore_anywhere_equals_an_uninterrupted_run(name, data):
    files = CORPORA[name]
    cut = data.draw(st.integers(0, len(files)))
    # the checkpoint may fall inside a stream: its bytes so far travel in the checkpoint
    display, body = files[cut] if cut < len(files) else ("", b"")
    split = data.draw(st.integers(0, len(body)))
    engine = scan(files[:cut])
    if body:
        engine.feed_bytes(display, body[:split])
    state = orjson.loads(orjson.dumps(engine.checkpoint()))
    again = Engine(raise_errors=True)
    again.restore(state)
    again.hold = True
    if body:
        again.feed_bytes(display, body[split:], final=True)
    scan(files[cut + 1:], again)
    again.advance(None)
    assert contract(again.alerts()) == BASELINES[name]


# -- with the watermark moving: events run while the stream goes on ---------------------------------
STREAMING = from_dict({"engine": {"allowed_lateness": "1m", "release_every": 3}})
WEB_EVENTS: list[Event] = []


def _web_events() -> list[Event]:
    """The web corpora's events in time order, as a stream runner would see a live log."""
    if not WEB_EVENTS:
        decoder = Engine(STREAMING)
        for display, data in CORPORA["web annotated + mixed"] + _files(SAMPLES / "web"):
            WEB_EVENTS.extend(decoder.decode_input(InputFile.from_bytes(data, display)))
        WEB_EVENTS.sort(key=lambda e: (e.time, e.origin))
    return WEB_EVENTS


def _stream(events: list[Event], engine: Engine | None = None, step: int = 7) -> Engine:
    engine = engine or Engine(STREAMING, raise_errors=True)
    for i in range(0, len(events), step):
        engine.feed(events[i:i + step])
    return engine


def test_the_watermark_releases_events_while_the_stream_runs():
    events = _web_events()
    engine = Engine(STREAMING, raise_errors=True)
    changed = engine.feed(events[: len(events) // 2])
    assert engine._buffer and len(engine._buffer) < len(events) // 2  # some ran, the newest minute waits
    assert changed or engine.book.alerts
    assert engine.late == 0


def test_late_events_within_the_lateness_still_count():
    t0 = 1_793_000_000.0

    def req(i: int, when: float) -> HttpRequest:
        return HttpRequest(event_id=f"x.log:{i}", origin=f"x.log:{i}", time=when, site="shop", client_ip="203.0.113.9",
                           method="GET", path="/.env", status=404,
                           user_agent="Mozilla/5.0 (compatible; Nuclei - Open-source project)")

    engine = Engine(STREAMING, raise_errors=True, only={"AppServices_ScanSensitivePage"})
    engine.feed([req(1, t0 + 100)])
    engine.feed([req(2, t0 + 50)])  # 50 s late, within the minute allowed
    engine.advance(t0 + 30)
    assert engine.late == 0
    engine.advance(None)
    (alert,) = engine.alerts()
    assert alert.count == 2 and alert.first_seen == t0 + 50
    engine.feed([req(3, t0)])  # older than the watermark: runs at once, counted as late
    assert engine.late == 1


@PROFILE
@given(data=st.data())
def test_checkpoint_while_windows_are_open_equals_an_uninterrupted_run(data):
    events = _web_events()
    straight = _stream(events)
    straight.advance(None)
    expected = contract(straight.alerts())
    assert expected
    cut = data.draw(st.integers(0, len(events)))
    engine = _stream(events[:cut])
    state = orjson.loads(orjson.dumps(engine.checkpoint()))
    again = Engine(STREAMING, raise_errors=True)
    again.restore(state)
    _stream(events[cut:], again)
    again.advance(None)
    assert contract(again.alerts()) == expected


@PROFILE
@given(data=st.data())
def test_engines_partitioned_by_source_ip_merge_into_one(data):
    # the per-address windows and the cross-site profiles are keyed by source IP: workers that each
    # hold every event of their addresses (a shuffle by key) merge exactly, watermark and all
    only = {"AppServices_ScanSensitivePage", "AppServices_WebFingerprinting"}
    events = [e for e in _web_events() if isinstance(e, HttpRequest)]
    straight = _stream(events, Engine(STREAMING, raise_errors=True, only=only))
    straight.advance(None)
    expected = contract(straight.alerts())
    assert expected
    ips = sorted({e.client_ip for e in events})
    chosen = set(data.draw(st.lists(st.sampled_from(ips), unique=True)))
    left = _stream([e for e in events if e.client_ip in chosen], Engine(STREAMING, raise_errors=True, only=only))
    right = _stream([e for e in events if e.client_ip not in chosen], Engine(STREAMING, raise_errors=True, only=only))
    right.merge(orjson.loads(orjson.dumps(left.checkpoint())))
    right.advance(None)
    assert contract(right.alerts()) == expected


def test_state_rows_round_trip_by_analytic_and_key():
    engine = _stream(_web_events())
    state = orjson.loads(orjson.dumps(engine.checkpoint()))
    rows = state_to_rows(state)
    assert any(a.startswith("card:AppServices_ScanSensitivePage:ips") for a, _, _ in rows)
    back = rows_to_state(rows)
    non_empty = {card: {ns: v for ns, v in body.items() if v} for card, body in state["cards"].items()}
    non_empty = {card: body for card, body in non_empty.items() if body}
    assert back["cards"] == non_empty


def test_events_round_trip_through_plain_state():
    for event in _web_events()[:50]:
        assert event_from_state(orjson.loads(orjson.dumps(event_state(event)))) == event


def test_engine_section_is_validated():
    from cloudward.config import ConfigError

    assert EngineSettings.from_config(from_dict({"engine": {"allowed_lateness": "90s"}})).allowed_lateness == 90
    with pytest.raises(ConfigError, match=r"engine\.allowed_lateness"):
        EngineSettings.from_config(from_dict({"engine": {"allowed_lateness": 5}}))
    with pytest.raises(ConfigError, match=r"engine\.lateness: unknown key"):
        EngineSettings.from_config(from_dict({"engine": {"lateness": "5m"}}))


# -- generated web traffic: scanners across sites, ordinary visitors, out-of-order files ---------------
_PATHS = ["/", "/about/", "/.env", "/.git/config", "/wp-login.php", "/phpinfo.php", "/backup.zip", "/img/a.png",
          "/wp-content/themes/t/404.php", "/admin/", "/actuator/env"]
_AGENTS = ["Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
           "Mozilla/5.0 (compatible; Nuclei - Open-source project (github.com/projectdiscovery/nuclei))"]
_request = st.tuples(
    st.sampled_from(["shop.example.com", "blog.example.com", "docs.example.com", "api.example.com"]),
    st.sampled_from(["203.0.113.7", "198.51.100.20", "192.0.2.33"]),
    st.integers(0, 7200),
    st.sampled_from(_PATHS),
    st.sampled_from([200, 302, 403, 404, 405]),
    st.sampled_from(_AGENTS),
)


def _log_files(requests: list[tuple[str, str, int, str, int, str]]) -> list[tuple[str, bytes]]:
    by_site: dict[str, list[str]] = {}
    for site, ip, second, path, status, agent in requests:
        when = f"02/Nov/2026:{10 + second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
        by_site.setdefault(site, []).append(
            f'{ip} - - [{when} +0000] "GET {path} HTTP/1.1" {status} 512 "-" "{agent}"')
    return [(f"gen/{site}.access.log", ("\n".join(lines) + "\n").encode()) for site, lines in sorted(by_site.items())]


@settings(max_examples=15, deadline=None)
@given(requests=st.lists(_request, min_size=1, max_size=60), data=st.data())
def test_generated_traffic_is_order_and_split_independent(requests, data):
    files = _log_files(requests)
    expected = whole(files)
    order = [files[i] for i in data.draw(st.permutations(range(len(files))))]
    assert whole(order) == expected
    cut = data.draw(st.integers(0, len(order)))
    first, second = scan(order[:cut]), scan(order[cut:])
    second.merge(orjson.loads(orjson.dumps(first.checkpoint())))
    second.advance(None)
    assert contract(second.alerts()) == expected


def _host_events() -> list[Event]:
    decoder = Engine(STREAMING)
    events: list[Event] = []
    for display, data in CORPORA["host recordings"] + CORPORA["tetragon"]:
        events.extend(decoder.decode_input(InputFile.from_bytes(data, display)))
    return sorted(events, key=lambda e: (e.time, e.origin))


HOST_EVENTS = _host_events()
_HOST_EXPECTED: list[list[dict[str, Any]]] = []


def _host_expected() -> list[dict[str, Any]]:
    if not _HOST_EXPECTED:
        straight = _stream(HOST_EVENTS, step=50)
        straight.advance(None)
        _HOST_EXPECTED.append(contract(straight.alerts()))
    return _HOST_EXPECTED[0]


@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_checkpoint_mid_stream_keeps_process_ancestry_and_container_context(data):
    # the enrichers' keyed state (process tree per host, container facts) travels in the checkpoint
    expected = _host_expected()
    assert expected
    cut = data.draw(st.integers(0, len(HOST_EVENTS)))
    engine = _stream(HOST_EVENTS[:cut], step=50)
    state = orjson.loads(orjson.dumps(engine.checkpoint()))
    assert "enricher:process_ancestry" in state["shared"] and "enricher:container_context" in state["shared"]
    again = Engine(STREAMING, raise_errors=True)
    again.restore(state)
    _stream(HOST_EVENTS[cut:], again, step=50)
    again.advance(None)
    assert contract(again.alerts()) == expected


def test_feed_bytes_takes_any_chunking_defaults_and_a_forced_format():
    text = (SAMPLES / "web" / "shop.example.com.access.log").read_bytes()
    whole_run = Engine(raise_errors=True)
    whole_run.feed_bytes("access.log", text, fmt="combined", defaults={"site": "forced.example"}, final=True)
    whole_run.advance(None)
    expected = contract(whole_run.alerts())
    assert expected and all(a["resource"]["name"] in ("forced.example", "(several sites)") for a in expected)
    chunked = Engine(raise_errors=True)
    for i in range(0, len(text), 97):
        chunked.feed_bytes("access.log", text[i:i + 97], fmt="combined", defaults={"site": "forced.example"})
    changed = chunked.close_stream("access.log")
    changed += chunked.advance(None)
    assert contract(chunked.alerts()) == expected
    assert {a.id for a in changed} == {a["id"] for a in expected}


def test_a_holding_engine_past_its_limit_runs_the_older_half_and_counts_late_events():
    config = from_dict({"engine": {"max_held_events": 100}})
    events = [e for e in HOST_EVENTS if e.time]
    assert len(events) > 300
    engine = Engine(config, raise_errors=True)
    engine.hold = True
    engine.feed(events)
    assert engine.spills >= 1 and len(engine._buffer) <= 100 + 2 * 256 and engine.late == 0
    oldest = next(e for e in events if isinstance(e, ProcessExec))
    engine.feed([dataclasses.replace(oldest, event_id="again", origin="again.log:1")])
    assert engine.late == 1
    engine.advance(None)
    reference = Engine(raise_errors=True)
    reference.hold = True
    reference.feed(events)
    reference.advance(None)
    # fed in time order, the same events ran in the same order: the alerts agree
    assert {a.id for a in reference.alerts()} <= {a.id for a in engine.alerts()}


def test_an_open_stream_shorter_than_the_head_is_read_when_settled_and_a_restore_repeats_nothing():
    # three access lines of a followed file: fewer than the sniffing head, and the file stays open
    lines = b"".join(
        b'203.0.113.9 - - [02/Nov/2026:09:15:0%d +0000] "GET /wp-login.php HTTP/1.1" 404 12 "-" "sqlmap/1.7"\n' % i
        for i in range(3))
    engine = Engine(from_dict({}))
    engine.feed_bytes("access.log", lines)
    assert engine.stats.events == 0  # still waiting for the head
    engine.settle_stream("access.log")
    assert engine.stats.events == 3
    again = Engine(from_dict({}))
    again.restore(engine.checkpoint())
    # held events come back from the checkpoint; the replayed bytes decode nothing twice
    assert again.stats.events == 0 and len(again._buffer) == len(engine._buffer)
    again.feed_bytes("access.log", lines.replace(b"09:15:0", b"09:16:0"))
    assert again.stats.events == 3


# -- cards set up on first need (start-up of a run that reads nothing) ------------------------------------


def test_an_engine_sets_its_cards_up_on_first_input_only(tmp_path, fresh_cli):
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    # a scan of an empty file: no card, data list (PyYAML), rich table or urllib is loaded
    done = fresh_cli("scan", str(empty), "--output", "jsonl", "--quiet", "--no-progress")
    assert done.code == 0, done.stderr
    assert not done.loaded("cloudward.detections.kubernetes", "cloudward.detections.appservice",
                           "cloudward.detections.node", "yaml", "rich", "urllib.request")


def test_cards_set_up_late_raise_what_cards_set_up_at_once_raise():
    from cloudward.config import from_dict

    lazy = Engine(from_dict({}), defer_cards=True)
    assert lazy.detections_set_up() == []
    assert Engine(from_dict({})).detections_set_up()  # set up at once unless deferred
    eager = Engine(from_dict({"detections": {"K8S_PrivilegedContainer": {"enabled": True}}}), defer_cards=True)
    assert eager.detections_set_up()  # a configured card is set up (and checked) at start
    line = (b'{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a1",'
            b'"stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods","verb":"create",'
            b'"user":{"username":"mallory"},"sourceIPs":["203.0.113.9"],"objectRef":{"resource":"pods",'
            b'"namespace":"default","name":"p","apiVersion":"v1"},"responseStatus":{"code":201},'
            b'"requestObject":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"default"},'
            b'"spec":{"containers":[{"name":"c","image":"busybox","securityContext":{"privileged":true}}]}},'
            b'"requestReceivedTimestamp":"2026-11-02T09:15:27.000000Z","stageTimestamp":"2026-11-02T09:15:27.100000Z"}\n')
    for engine in (lazy, eager):
        engine.feed_bytes("audit.log", line)
        engine.close_stream("audit.log")
        engine.advance(None)
    assert lazy.detections_set_up()
    assert [a.alert_type for a in lazy.alerts()] == [a.alert_type for a in eager.alerts()] == [
        "K8S_PrivilegedContainer"]
    # only the Kubernetes cards were set up (the input's kind); their state is the eager engine's, the
    # others' is their fresh state, which a restore gives them anyway
    set_up = {det.card.id for det in lazy.detections_set_up()}
    assert "K8S_PrivilegedContainer" in set_up and not any(c.startswith("AppServices") for c in set_up)
    lazy_cards, eager_cards = lazy.checkpoint()["cards"], eager.checkpoint()["cards"]
    assert lazy_cards == {k: v for k, v in eager_cards.items() if k in set_up}
    assert len(lazy.detections) == len(eager.detections)  # reading them sets every card up


def test_sigma_rules_alone_are_built_at_start_and_the_cards_on_first_need():
    """With Sigma rules configured, a deferring engine builds their detections at start (a broken rule set fails
    there) and the cards as without rules; the alerts, every field of them, and the state are those of an engine
    that set everything up at once, and the Sigma detections are never built twice."""
    from cloudward.sigma.detection import SigmaRules

    rules = Path(__file__).parent / "data" / "sigma" / "sigmahq" / "rules"
    config = {"sigma": {"paths": [str(rules / "application" / "kubernetes" / "audit"),
                                  str(rules / "web" / "webserver_generic")]}}
    lazy = Engine(from_dict(config), defer_cards=True)
    assert lazy.detections_set_up() and all(isinstance(d, SigmaRules) for d in lazy.detections_set_up())
    eager = Engine(from_dict(config))
    assert any(not isinstance(d, SigmaRules) for d in eager.detections_set_up())

    def audit(n: int, verb: str, resource: str, body: str = "") -> bytes:
        return (b'{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a%d",'
                b'"stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/%s","verb":"%s",'
                b'"user":{"username":"mallory"},"sourceIPs":["203.0.113.9"],"objectRef":{"resource":"%s",'
                b'"namespace":"default","name":"p","apiVersion":"v1"},"responseStatus":{"code":201},%s'
                b'"requestReceivedTimestamp":"2026-11-02T09:15:%02d.000000Z",'
                b'"stageTimestamp":"2026-11-02T09:15:%02d.100000Z"}\n') % (
                    n, resource.encode(), verb.encode(), resource.encode(), body.encode(), n, n)

    pod = ('"requestObject":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"default"},'
           '"spec":{"containers":[{"name":"c","image":"busybox","securityContext":{"privileged":true}}],'
           '"volumes":[{"name":"h","hostPath":{"path":"/"}}]}},')
    k8s = audit(1, "create", "pods", pod) + audit(2, "list", "secrets") + audit(3, "list", "secrets") + audit(
        4, "delete", "events")
    web = (b'203.0.113.9 - - [02/Nov/2026:09:15:05 +0000] "GET /cgi-bin/../../../etc/passwd HTTP/1.1" 404 512 "-" '
           b'"Mozilla/5.0"\n')
    for engine in (lazy, eager):
        engine.feed_bytes("audit.log", k8s)
        engine.close_stream("audit.log")
        engine.feed_bytes("access.log", web)
        engine.close_stream("access.log")
        engine.advance(None)
    got, want = [a.to_dict() for a in lazy.alerts()], [a.to_dict() for a in eager.alerts()]
    assert got == want, {a["alert_type"] for a in want}
    types = {a["alert_type"] for a in want}
    assert "K8S_PrivilegedContainer" in types and sum(t.startswith("SIGMA_") for t in types) >= 3
    assert [d.card.id for d in lazy.detections] == [d.card.id for d in eager.detections]  # no Sigma group twice
    assert lazy.checkpoint()["cards"] == eager.checkpoint()["cards"]


def test_a_copy_of_the_lazy_context_sees_the_interest_the_cards_set_up():
    """`ParseContext.replaced` reads no field (a web scan's copies must not set the Kubernetes cards up), and a
    copy made before the cards were set up still gets their interest when a Kubernetes decoder reads it."""
    from cloudward.config import from_dict
    from cloudward.inputs import ScanStats

    engine = Engine(from_dict({}), defer_cards=True)
    copy = engine.ctx.replaced(stats=ScanStats())
    assert engine.detections_set_up() == []  # copying set nothing up
    interest = copy.interest
    assert engine.detections_set_up()  # reading it did
    assert interest is engine.interest and interest.audit_verbs
    assert engine.ctx.interest is interest
