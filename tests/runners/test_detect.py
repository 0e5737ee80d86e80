"""Detection in the workers (`runners.detect`): taken only where the split provably changes nothing, and
then exactly the alerts and counts of a one-process scan; every reason to fall back falls back."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudward.config import Config
from cloudward.runners import detect
from cloudward.runners.scan import ScanRunner
from cloudward.runners.workers import default_workers, plan

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture
def used(monkeypatch):
    """Whether each scan's workers detected (True) or the scan went another way (False)."""
    taken: list[bool] = []
    real = detect.feed_detected

    def spy(*args, **kw):
        done = real(*args, **kw)
        taken.append(done)
        return done

    monkeypatch.setattr(detect, "feed_detected", spy)
    return taken


def _scan(paths, workers, **kw):
    kw.setdefault("min_pool_bytes", 0)
    runner = ScanRunner(Config(), workers=workers, **kw)
    # with the book's own record of which events it counted (what a store keeps and a merge dedups on)
    alerts = [dict(a.to_dict(), seen=sorted(a.seen_events)) for a in runner.run([str(p) for p in paths])]
    s = runner.engine.stats
    counts = (s.files, s.lines, s.events, s.skipped, s.ignored, s.bytes_read, s.rejected, dict(s.formats),
              s.uninspectable, s.duplicates,
              [(r.where, r.reason) for r in s.rejections], runner.engine.allowed,
              sorted((d.card.id, d.held_back, d.held_until) for d in runner.engine.detections_set_up() if d.held_back))
    return alerts, counts


def _assert_same(paths, workers=2, **kw):
    one, one_counts = _scan(paths, 1)
    many, many_counts = _scan(paths, workers, **kw)
    assert [a["id"] for a in many] == [a["id"] for a in one]
    for a, b in zip(one, many, strict=True):
        assert b == a, a["alert_type"]
    assert many_counts == one_counts
    return one


def _stamp(t: float) -> str:
    hours, rest = divmod(int(t), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"2026-11-02T{hours % 24:02d}:{minutes:02d}:{seconds:02d}.{int(t * 1000) % 1000:03d}000Z"


def _pod(name: str, ns: str, image: str, *, privileged: bool = False, owner: tuple[str, str] | None = None,
         host_path: str | None = None) -> dict:
    meta: dict = {"name": name, "namespace": ns}
    if owner:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    container: dict = {"name": "app", "image": image}
    if privileged:
        container["securityContext"] = {"privileged": True}
    spec: dict = {"containers": [container]}
    if host_path:
        spec["volumes"] = [{"name": "h", "hostPath": {"path": host_path}}]
        container["volumeMounts"] = [{"name": "h", "mountPath": "/h"}]
    return {"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": spec}


def _replicaset(name: str, ns: str, deployment: str, image: str) -> dict:
    return {"kind": "ReplicaSet", "apiVersion": "apps/v1",
            "metadata": {"name": name, "namespace": ns,
                         "ownerReferences": [{"kind": "Deployment", "name": deployment, "controller": True}]},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}


def _audit(i: int, t: float, verb: str, resource: str, ns: str, name: str, obj: dict | None = None, *,
           audit_id: str | None = None, group: str = "") -> bytes:
    ev: dict = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
                "auditID": audit_id or f"00000000-0000-0000-0000-{i:012d}", "stage": "ResponseComplete",
                "requestURI": f"/api/v1/namespaces/{ns}/{resource}/{name}", "verb": verb,
                "user": {"username": "deploy-bot@acme.example", "groups": ["system:authenticated"]},
                "sourceIPs": ["10.224.0.7"], "userAgent": "kubectl/v1.29.2",
                "objectRef": {"resource": resource, "namespace": ns, "name": name, "apiGroup": group,
                              "apiVersion": "v1"},
                "responseStatus": {"metadata": {}, "code": 201 if verb == "create" else 200},
                "requestReceivedTimestamp": _stamp(t), "stageTimestamp": _stamp(t)}
    if obj is not None:
        ev["requestObject"] = obj
        ev["responseObject"] = obj
    return orjson.dumps(ev) + b"\n"


def _noise(i: int, t: float) -> bytes:
    return _audit(i, t, ("get", "list", "watch")[i % 3], "configmaps", f"team-{i % 7}", f"cm-{i % 50}")


ADMIN_BINDING = {"kind": "ClusterRoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1",
                 "metadata": {"name": "backdoor"},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                 "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "team-1"}]}


def _attack(i: int, t: float, kind: int) -> bytes:
    ns = f"team-{i % 5}"
    if kind == 0:
        return _audit(i, t, "create", "pods", ns, f"debug-{i % 3}", _pod(f"debug-{i % 3}", ns, "alpine:3",
                                                                          privileged=True))
    if kind == 1:
        return _audit(i, t, "create", "pods", ns, f"miner-{i % 2}", _pod(f"miner-{i % 2}", ns,
                                                                          "docker.io/metal3d/xmrig:latest"))
    if kind == 2:
        return _audit(i, t, "create", "pods", ns, "mounts", _pod("mounts", ns, "busybox", host_path="/etc"))
    return _audit(i, t, "create", "clusterrolebindings", "", "backdoor", ADMIN_BINDING,
                  group="rbac.authorization.k8s.io")


def _day(path: Path, n: int = 3000, seed: int = 1, extra: dict[int, bytes] | None = None, cluster: str = "") -> Path:
    """A cluster's audit log in time order: reads (dropped from their raw bytes) and attacks spread over it.
    With `cluster`, its audit IDs are the cluster's own."""
    rng = random.Random(seed)
    with open(path, "wb") as fh:
        for i in range(n):
            t = i * 10.0
            if extra and i in extra:
                line = extra[i]
            elif rng.random() < 0.03:
                line = _attack(i, t, rng.randrange(4))
            else:
                line = _noise(i, t)
            if cluster:
                body = orjson.loads(line)
                body["auditID"] = f"{cluster}-{body['auditID']}"
                line = orjson.dumps(body) + b"\n"
            fh.write(line)
    return path


def _ranges(path: Path) -> dict:
    return {"min_range_bytes": path.stat().st_size // 8}


def test_one_audit_log_split_in_byte_ranges_detects_in_the_workers(tmp_path, used):
    log = _day(tmp_path / "audit.log")
    assert len(plan([str(log)], 2, **_ranges(log))) == 4
    alerts = _assert_same([log], **_ranges(log))
    assert used == [True] and detect.LAST_RUN["why"] is None
    assert len(detect.LAST_RUN["task_cpu"]) == 2 * detect.RANGES_PER_WORKER == 8
    assert {"K8S_PrivilegedContainer", "K8S_MaliciousContainerImage", "K8S_SensitiveMount",
            "K8S_ClusterAdminBinding"} <= {a["alert_type"] for a in alerts}
    # alerts of findings in every range: counts, first and last seen and evidence of the whole file
    assert max(a["count"] for a in alerts) > 4


def test_the_default_auto_detects_in_the_workers_too(tmp_path, used):
    log = _day(tmp_path / "audit.log", seed=4)
    _assert_same([log], workers="auto", **_ranges(log))
    assert used == ([True] if default_workers() > 1 else [])


def test_a_redelivered_event_in_another_range_falls_back(tmp_path, used):
    again = _attack(5, 50.0, 0)
    first = orjson.loads(again)
    copy = dict(first, requestReceivedTimestamp=_stamp(25000.0), stageTimestamp=_stamp(25000.0))
    log = _day(tmp_path / "audit.log", extra={5: again, 2500: orjson.dumps(copy) + b"\n"})
    _assert_same([log], **_ranges(log))
    assert used == [False] and detect.LAST_RUN["why"] == "one audit ID and stage in two tasks"


def test_kube_system_baselines_in_two_ranges_fall_back(tmp_path, used):
    def system(i: int, t: float, image: str) -> bytes:
        return _audit(i, t, "create", "pods", "kube-system", f"proxy-{i}", _pod(f"proxy-{i}", "kube-system", image))

    log = _day(tmp_path / "audit.log", extra={10: system(10, 100.0, "acme/agent:1"),
                                               2900: system(2900, 29000.0, "evil/agent:1")})
    _assert_same([log], **_ranges(log))
    assert used == [False] and detect.LAST_RUN["why"] == "one cluster's kube-system baseline in two tasks"


def test_kube_system_baseline_in_one_range_detects_in_the_workers(tmp_path, used):
    def system(i: int, t: float, image: str) -> bytes:
        return _audit(i, t, "create", "pods", "kube-system", f"proxy-{i}", _pod(f"proxy-{i}", "kube-system", image))

    log = _day(tmp_path / "audit.log", extra={2800: system(2800, 28000.0, "acme/agent:1"),
                                               2900: system(2900, 29000.0, "evil/agent:1")})
    _assert_same([log], **_ranges(log))
    assert used == [True]


def test_an_owner_link_learnt_in_one_range_and_used_in_another_falls_back(tmp_path, used):
    rs = _audit(20, 200.0, "create", "replicasets", "team-1", "web-x1", _replicaset("web-x1", "team-1", "web", "x"),
                group="apps")
    pod = _audit(2950, 29500.0, "create", "pods", "team-1", "web-x1-abcde",
                 _pod("web-x1-abcde", "team-1", "alpine:3", privileged=True, owner=("ReplicaSet", "web-x1")))
    log = _day(tmp_path / "audit.log", extra={20: rs, 2950: pod})
    _assert_same([log], **_ranges(log))
    assert used == [False]
    assert detect.LAST_RUN["why"] == "an owner link recorded in one task and looked up in another"


def test_lines_out_of_time_order_fall_back(tmp_path, used):
    log = _day(tmp_path / "audit.log", extra={2990: _attack(2990, 5.0, 0)})
    _assert_same([log], **_ranges(log))
    assert used == [False] and detect.LAST_RUN["why"] == "out of order, or state that is not checked"


def test_web_logs_do_not_start_this_pool(tmp_path, used, monkeypatch):
    started: list[int] = []
    monkeypatch.setattr(detect, "run_task", lambda *task: started.append(1))
    _assert_same([DATA / "web" / "mixed"])
    # (the shuffle by key takes them before this pool is asked: `runners.shuffle`, tests/runners/test_shuffle.py)
    assert not any(used) and not started


@pytest.mark.parametrize("corpus", sorted(p for p in DATA.iterdir() if p.is_dir()), ids=lambda p: p.name)
def test_every_corpus_gives_the_same_alerts(corpus, used):
    _assert_same([corpus], min_range_bytes=1 << 12)


def test_two_clusters_files_detect_in_the_workers(tmp_path, used):
    a = _day(tmp_path / "a.log", n=800, seed=2, cluster="a")
    b = _day(tmp_path / "b.log", n=800, seed=3, cluster="b")
    _assert_same([b, a])
    assert used == [True]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 400), st.integers(0, 3)), min_size=1, max_size=30),
       st.integers(2, 3), st.integers(3, 12))
def test_generated_audit_logs_over_ranges(tmp_path_factory, picks, workers, pieces):
    """Attacks, redeliveries, kube-system pods, owner links and late lines anywhere: whichever way the scan
    goes, the alerts and counts are a one-process scan's."""
    folder = tmp_path_factory.mktemp("gen")
    extra: dict[int, bytes] = {}
    for what, at, kind in picks:
        i = at
        if what == 0:
            extra[i] = _attack(i, i * 10.0, kind)
        elif what == 1:  # a redelivery of the event at line `kind`
            extra[i] = _attack(kind, kind * 10.0, 0)
        elif what == 2:
            extra[i] = _audit(i, i * 10.0, "create", "pods", "kube-system", f"p{kind}",
                              _pod(f"p{kind}", "kube-system", f"img{kind}:1"))
        elif what == 3:
            extra[i] = _audit(i, i * 10.0, "create", "replicasets", "team-1", f"rs{kind}",
                              _replicaset(f"rs{kind}", "team-1", f"d{kind}", "x"), group="apps")
        elif what == 4:
            extra[i] = _audit(i, i * 10.0, "create", "pods", "team-1", f"rs{kind}-abcde",
                              _pod(f"rs{kind}-abcde", "team-1", "alpine", privileged=True,
                                   owner=("ReplicaSet", f"rs{kind}")))
        else:  # late
            extra[i] = _attack(i, max(0.0, i * 10.0 - 300 * kind), kind)
    log = _day(folder / "audit.log", n=400, seed=len(picks), extra=extra)
    _assert_same([log], workers=workers, min_range_bytes=log.stat().st_size // pieces)


def test_held_back_findings_set_up_only_their_cards_kinds():
    # the parent adds workers' held-back counts to its own cards: setting up every card instead (importing
    # every card module) was serial work one process never does
    from cloudward.engine import Engine
    from cloudward.events import FtpEvent, HttpRequest, HttpSummary

    engine = Engine(Config(), defer_cards=True)
    detect.add_held_back(engine, [{}, {"AppServices_AnomalousPageAccess": (2, 50.0)},
                                  {"AppServices_AnomalousPageAccess": (1, 80.0)}])
    cards = {d.card.id: d for d in engine.detections_set_up()}
    assert (cards["AppServices_AnomalousPageAccess"].held_back,
            cards["AppServices_AnomalousPageAccess"].held_until) == (3, 80.0)
    assert {k for d in cards.values() for k in d.kinds} == {HttpRequest, HttpSummary, FtpEvent}  # (web cards)
    nothing = Engine(Config(), defer_cards=True)
    detect.add_held_back(nothing, [{}, {}])
    assert nothing.detections_set_up() == []
    # an id the catalog's index does not list (a Sigma rule's): every card, as before
    every = Engine(Config(), defer_cards=True)
    detect.add_held_back(every, [{"SIGMA_not_in_the_index": (1, 1.0)}])
    assert len(every.detections_set_up()) == len(Engine(Config()).detections)


def _odd_lines(path: Path, seed: int) -> bytes:
    """JSON records between blank lines, CRLF endings, lines over the line limit and no final newline."""
    rng = random.Random(seed)
    parts = []
    for i in range(3000):
        pick = rng.random()
        if pick < 0.1:
            parts.append(b"\n" * rng.randrange(1, 4))
        elif pick < 0.2:
            parts.append(b"\r\n" * rng.randrange(1, 3))
        elif pick < 0.23:
            parts.append(b'{"big": "' + b"y" * 3000 + b'"}\n')  # (over the limit the test sets: rejected)
        else:
            end = b"\r\n" if rng.random() < 0.3 else b"\n"
            parts.append(_audit(i, i * 10.0, "get", "configmaps", "team-1", f"cm-{i}")[:-1] + end)
    data = b"".join(parts) + b'{"no": "final newline"}'
    path.write_bytes(data)
    return data


@pytest.mark.parametrize("extension", [True, False])
def test_a_byte_range_counts_its_newlines_while_it_is_decoded(tmp_path, monkeypatch, extension):
    # the count each range publishes for the ranges after it: the newlines of its bytes, counted as the decoder
    # reads them (the file's head read twice when the input opens, counted once), whatever its lines hold
    from cloudward import _speedups
    from cloudward.engine import Engine
    from cloudward.runners.workers import decode_range

    if not extension:
        monkeypatch.delattr(_speedups, "count_newlines")
    path = tmp_path / "odd.log"
    data = _odd_lines(path, 4)
    config = Config()
    config.max_line_bytes = 2048
    tasks = plan([str(path)], 3, "json", min_range_bytes=len(data) // 12, count_lines=False)
    assert len(tasks) == 6 and tasks[-1].end == len(data)
    for task in tasks:
        engine = Engine(config)
        got: list[int] = []
        for _ in decode_range(engine, dataclasses.replace(task, lines_before=1 if task.start else 0), got.append):
            pass
        assert got == [data.count(b"\n", task.start, task.end)], task


def test_a_byte_range_cut_short_counts_the_rest_of_its_bytes(tmp_path):
    from cloudward.runners.workers import _RangeReader

    path = tmp_path / "lines.log"
    data = b"a\n" * 1000 + b"b\n\n" * 1000
    path.write_bytes(data)
    with open(path, "rb") as fh:
        reader = _RangeReader(b"first\n", fh, 100, 5000, count=True)
        reader.read(1000)
        reader.seek(0)  # (a second read of what was counted counts nothing more)
        reader.read(3000)
        assert reader.newlines == data.count(b"\n", 100, 100 + 3000 - 6)
        assert reader.range_newlines() == data.count(b"\n", 100, 5000)
    with open(path, "rb") as fh:  # a read after a seek past what was counted: counted from the file
        reader = _RangeReader(b"", fh, 100, 5000, count=True)
        reader.read(10)
        reader.seek(2000)
        reader.read(1000)
        assert reader.counted_to == 10 and reader.range_newlines() == data.count(b"\n", 100, 5000)


def _held_origins(path: Path, tasks, index: int, max_held: int, counts) -> tuple[list[str], list[str]]:
    """The origins of a range's events as its engine ran them (`_RangeLines` numbering), and the rejections."""
    from cloudward.engine import Engine

    ran: list[str] = []

    class Watched(Engine):
        def _run(self, event):
            ran.append(event.origin)
            super()._run(event)

    detect._WORKER.clear()
    detect._init(Config(), None, [], counts)
    engine = Watched(Config(), defer_cards=True)
    engine.settings = dataclasses.replace(engine.settings, max_held_events=max_held)
    lines = detect._RangeLines(engine, index, tasks[index], list(range(index)), index == len(tasks) - 1)
    engine.feed(lines.events())
    engine.advance(None)
    return ran, [r.where for r in engine.stats.rejections]


@pytest.mark.parametrize("max_held", [20_000, 3])
def test_a_range_runs_its_events_under_the_files_line_numbers(tmp_path, monkeypatch, max_held):
    # numbered after decoding (the count from the decoder), or, when the buffer would spill first, from a count
    # of the range's bytes: either way every event runs under the line number a whole file gives it
    from cloudward.engine import Engine
    from cloudward.runners.workers import count_newlines, decode_range

    path = tmp_path / "audit.log"
    _day(path, n=1200, seed=5, extra={i: b"not json\n" for i in range(7, 1200, 50)})
    tasks = plan([str(path)], 2, "json", min_range_bytes=path.stat().st_size // 8, count_lines=False)
    assert len(tasks) == 4
    numbered = plan([str(path)], 2, "json", min_range_bytes=path.stat().st_size // 8)
    second_reads: list[object] = []
    monkeypatch.setattr(detect, "count_newlines", lambda t: second_reads.append(t) or count_newlines(t))
    for i, task in enumerate(numbered):
        engine = Engine(Config())
        want = sorted(e.origin for e in decode_range(engine, task))
        counts = [count_newlines(t) for t in tasks[:i]] + [-1] * (len(tasks) - i)
        ran, rejected = _held_origins(path, tasks, i, max_held, counts)
        assert sorted(ran) == want and ran, i
        assert rejected == [r.where for r in engine.stats.rejections] and rejected, i
    # (the count is the decoder's, unless the range had to be numbered before its end)
    assert (second_reads == []) == (max_held == 20_000)


def test_a_range_does_not_wait_for_a_range_that_failed():
    detect._WORKER.clear()
    detect._init(Config(), None, [], [detect.FAILED, -1])
    from cloudward.engine import Engine
    from cloudward.runners.workers import Task

    lines = detect._RangeLines(Engine(Config()), 1, Task("x.log", 10, 20, fmt="json"), [0], True)
    with pytest.raises(detect._NoCount):
        lines._resolve(3)


def test_no_byte_range_reads_its_bytes_twice_to_number_its_lines(tmp_path, used, monkeypatch):
    # ranges count their newlines as they decode them: the count of a separate read is never asked for
    def second_read(task):
        raise AssertionError(f"{task} read twice")

    monkeypatch.setattr(detect, "count_newlines", second_read)
    # (the one other read: a range that waits for an earlier one counts that one's bytes; not here)
    monkeypatch.setattr(detect, "HELP_AFTER", detect.COUNT_WAIT)
    log = _day(tmp_path / "audit.log")
    _assert_same([log], **_ranges(log))
    assert used == [True] and len(detect.LAST_RUN["task_cpu"]) == 2 * detect.RANGES_PER_WORKER == 8


def test_a_shifted_range_keeps_the_buffer_keys_the_engine_would_make():
    # `_RangeLines._resolve` rewrites the held events' references and their buffer keys in place: the keys are
    # those `Engine._take` makes of the shifted events (plain `path:57`, a record within a line, an id that is a
    # reference, another file's reference, no origin)
    from cloudward.engine import Engine
    from cloudward.events import Event
    from cloudward.runners.workers import Task

    def events():
        return [Event(event_id="id-1", time=5.0, origin="r.log:2"), Event(event_id="r.log:3", time=1.0),
                Event(event_id="id-3", time=5.0, origin="r.log:4[2]"), Event(event_id="id-4", time=2.0,
                                                                               origin="other.log:9"),
                Event(event_id="r.log:05", time=3.0, origin="r.log:05"), Event(event_id="id-6", time=4.0,
                                                                               origin="r.log:x")]

    detect._WORKER.clear()
    detect._init(Config(), None, [], [100, -1])
    engine = Engine(Config())
    engine.hold = True
    engine.feed(events())
    lines = detect._RangeLines(engine, 1, Task("r.log", 10, 20, fmt="json"), [0], True)
    lines._resolve(7)
    assert lines.shift == 99
    want = Engine(Config())
    want.hold = True
    shifted = events()
    for e in shifted:
        e.origin = detect._shift_ref(e.origin, "r.log:", 99)
        e.event_id = detect._shift_ref(e.event_id, "r.log:", 99)
    want.feed(shifted)
    assert [k for k, _ in engine._buffer] == [k for k, _ in want._buffer]
    assert [(e.origin, e.event_id) for _, e in engine._buffer] == [(e.origin, e.event_id) for e in shifted]
    assert engine._buffer[0][1].origin == "r.log:101" and engine._buffer[4][1].origin == "r.log:104"


def test_a_decoded_range_counts_the_earlier_ranges_still_decoding(tmp_path, monkeypatch):
    # a worker whose range decoded first counts the earlier ranges' bytes itself rather than wait for them
    from cloudward.engine import Engine
    from cloudward.runners.workers import count_newlines

    monkeypatch.setattr(detect, "COUNT_WAIT", 1.0)
    path = tmp_path / "audit.log"
    _day(path, n=400)
    tasks = plan([str(path)], 2, "json", min_range_bytes=path.stat().st_size // 8, count_lines=False)
    counts = [-1] * len(tasks)
    detect._WORKER.clear()
    detect._init(Config(), None, [], counts, tasks)
    lines = detect._RangeLines(Engine(Config()), 2, tasks[2], [0, 1], False)
    lines._resolve(count_newlines(tasks[2]))
    assert counts[:3] == [count_newlines(t) for t in tasks[:3]] and counts[3] == -1
    assert lines.shift == counts[0] + counts[1] - 1


@pytest.mark.parametrize("workers", [2, 3])
def test_odd_lines_over_ranges_give_the_one_process_result(tmp_path, used, workers):
    # blank lines, CRLF, unparsable lines and no final newline: rejections, counts and alerts as one process
    path = tmp_path / "odd.log"
    data = _odd_lines(path, 6)
    lines = data.split(b"\n")
    for i in range(40, len(lines), 97):  # attacks among them, for alerts with line evidence
        lines[i] = _attack(i, i * 10.0, i % 4)[:-1]
    path.write_bytes(b"\n".join(lines))
    alerts = _assert_same([path], workers=workers, min_range_bytes=path.stat().st_size // 16)
    assert used == [True] and alerts


def test_a_helping_range_stops_counting_once_the_earlier_range_publishes(tmp_path, monkeypatch):
    from cloudward.engine import Engine
    from cloudward.runners.workers import Task, count_newlines

    path = tmp_path / "lines.log"
    path.write_bytes(b"x\n" * 50_000)
    monkeypatch.setattr(detect, "HELP_PIECE", 1000)
    counts = [-1, -1]
    pieces: list[Task] = []

    def counted(task):  # the earlier range publishes while the first piece is counted
        pieces.append(task)
        counts[0] = 12_345
        return count_newlines(task)

    monkeypatch.setattr(detect, "count_newlines", counted)
    tasks = [Task(str(path), 0, 50_000, fmt="json"), Task(str(path), 50_000, 100_000, fmt="json")]
    detect._WORKER.clear()
    detect._init(Config(), None, [], counts, tasks)
    lines = detect._RangeLines(Engine(Config()), 1, tasks[1], [0], True)
    lines._help(0, tasks[0])
    assert len(pieces) == 1 and counts[0] == 12_345  # (its own count stands: nothing more read, nothing written)
    counts[0] = -1
    monkeypatch.setattr(detect, "count_newlines", lambda task: pieces.append(task) or count_newlines(task))
    lines._help(0, tasks[0])
    assert len(pieces) == 1 + 50 and counts[0] == 25_000
    assert [(t.start, t.end) for t in pieces[1:3]] == [(0, 1000), (1000, 2000)]
