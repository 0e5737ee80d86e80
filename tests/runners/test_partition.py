"""Host telemetry scanned per host partition (`runners.partition`): exactly the one-process result."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudward.config import Config
from cloudward.runners import partition
from cloudward.runners.scan import ScanRunner

HOST = Path(__file__).parents[1] / "data" / "host" / "recorded"
RAW = (HOST / "audit-raw.log").read_text()
ENRICHED = (HOST / "audit-enriched.log").read_text()
JUNK = "type=SYSCALL this is not an audit record\n"


def _on(node: str, text: str) -> str:
    # (split on newlines only: enriched records carry \x1d, a line break to str.splitlines)
    return "".join(f"node={node} {line}\n" for line in text.split("\n") if line)


@pytest.fixture
def used(monkeypatch):
    """Whether each scan took the partitioned result (True) or fell back (False)."""
    seen: list[bool] = []
    real = partition.feed_partitioned

    def spy(*args, **kw):
        seen.append(real(*args, **kw))
        return seen[-1]

    monkeypatch.setattr(partition, "feed_partitioned", spy)
    return seen


def _scan(paths, workers, config=None, **kw):
    runner = ScanRunner(config or Config(), workers=workers, min_pool_bytes=0, **kw)
    alerts = [a.to_dict() for a in runner.run([str(p) for p in paths])]
    s = runner.engine.stats
    counts = (s.files, s.lines, s.events, s.skipped, s.ignored, s.rejected, dict(s.reject_reasons), dict(s.formats),
              s.uninspectable, s.duplicates, [(r.where, r.reason) for r in s.rejections])
    return alerts, counts, list(runner.engine.unread_inputs)


def _assert_same(paths, workers=2, config=None):
    one = _scan(paths, 1, config)
    many = _scan(paths, workers, config)
    assert [a["id"] for a in many[0]] == [a["id"] for a in one[0]]
    for a, b in zip(one[0], many[0], strict=True):
        assert b == a, a["alert_type"]
    assert many[1:] == one[1:]
    return one


def _fleet(folder: Path) -> list[Path]:
    """Audit logs of four hosts, one file each (two of them rotated into two files), with a bad record."""
    files = {
        "web-0.log": _on("web-0", RAW),
        "web-1.log": _on("web-1", ENRICHED[: len(ENRICHED) // 2].rsplit("\n", 1)[0]),
        "web-1.log.1": _on("web-1", ENRICHED[len(ENRICHED) // 2:].split("\n", 1)[1]),
        "web-2.log": _on("web-2", RAW[:3000].rsplit("\n", 1)[0]) + JUNK + _on("web-2", RAW[3000:].split("\n", 1)[1]),
        "db-0.log": _on("db-0", ENRICHED),
        "empty.log": "",
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    return [folder / name for name in files]


@pytest.mark.parametrize("workers", [2, 3])
def test_hosts_in_their_own_files_scan_per_partition_with_the_same_result(tmp_path, used, workers):
    paths = _fleet(tmp_path)
    one = _assert_same(paths, workers)
    assert used == [True]
    assert len(one[0]) > 20 and any(r[0].startswith(str(tmp_path / "web-2.log")) for r in one[1][-1])
    # a folder, named once: the same
    used.clear()
    _assert_same([tmp_path], workers)
    assert used == [True]


def test_a_host_whose_lines_are_in_two_groups_falls_back_to_one_process(tmp_path, used):
    # the head of a.log names only web-0; further on it holds web-1, whose own file went to the other group
    (tmp_path / "a.log").write_text(_on("web-0", ENRICHED) + _on("web-1", RAW))
    (tmp_path / "b.log").write_text(_on("web-1", ENRICHED))
    _assert_same([tmp_path / "a.log", tmp_path / "b.log"])
    assert used == [False]


#: an engine that releases (and spills) every few events: what is late depends on every input read so far
EAGER = {"engine": {"allowed_lateness": "1s", "release_every": 3, "max_held_events": 8}}


def test_late_events_of_other_hosts_do_not_change_a_partitioned_result(tmp_path, used):
    # each host's records in time order, the hosts' days overlapping: in one engine many records are late
    # (another host's newer records moved the watermark) and run at once; per partition fewer are
    from cloudward.config import from_dict

    paths = _fleet(tmp_path)
    _assert_same(paths, 2, from_dict(EAGER))
    assert used == [True]


def test_records_of_one_host_out_of_order_fall_back_to_one_process(tmp_path, used):
    from cloudward.config import from_dict

    records = _records(ENRICHED)
    (tmp_path / "a.log").write_text(_on("web-0", "\n".join(records[200:] + records[:200])))
    (tmp_path / "b.log").write_text(_on("web-1", RAW))
    _assert_same([tmp_path / "a.log", tmp_path / "b.log"], 2, from_dict(EAGER))
    assert used == [False]


def test_docker_context_and_other_families_are_not_partitioned(tmp_path, used):
    _fleet(tmp_path)
    for name in ("docker-inspect-containers.json", "docker-events.jsonl"):
        shutil.copy(HOST / name, tmp_path / name)
    _assert_same([tmp_path])
    assert used == [False]
    web = Path(__file__).parents[1] / "data" / "web" / "mixed"
    used.clear()
    _assert_same([web, *_fleet(tmp_path)[:2]])
    assert used == [False]


def test_a_file_named_twice_is_read_twice_as_by_one_process(tmp_path, used):
    paths = _fleet(tmp_path)
    (tmp_path / "junk.log").write_text(JUNK * 3)
    _assert_same([*paths, tmp_path / "junk.log", tmp_path / "junk.log"])
    assert used == [False]


def test_files_meeting_on_a_key_go_to_one_group():
    keys = {"a": frozenset({"h:x"}), "b": frozenset({"h:y", "c:1"}), "c": frozenset({"c:1", "h:z"}),
            "d": frozenset({"h:w"}), "e": frozenset()}
    sizes = {"a": 5, "b": 3, "c": 3, "d": 1, "e": 0}
    groups = partition.group(list(keys), keys, sizes, 2)
    # b and c share container 1: one set of 6 bytes, then a (5) and d (1) onto the lighter group
    assert [sorted(g) for g in groups] == [["b", "c", "e"], ["a", "d"]]
    assert partition.group(list(keys), keys, sizes, 2) == groups  # deterministic
    assert len(partition.group(list(keys), keys, sizes, 8)) == 4


def _records(text: str) -> list[str]:
    """The audit records of a log, each with all its lines (they share the msg=audit(...) stamp)."""
    out: dict[str, list[str]] = {}
    for line in text.split("\n"):
        m = re.search(r"msg=audit\(([^)]*)\)", line)
        out.setdefault(m.group(1) if m else line, []).append(line)
    return ["\n".join(lines) for lines in out.values()]


def _stamp(record: str) -> float:
    m = re.search(r"msg=audit\(([0-9.]+)", record)
    return float(m.group(1)) if m else 0.0


#: records in time order
RECORDS = sorted(_records(RAW) + _records(ENRICHED)[:400], key=_stamp)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, len(RECORDS) - 1), st.integers(0, 3), st.integers(0, 5)),
                min_size=20, max_size=120),
       st.booleans())
def test_generated_hosts_over_files(tmp_path_factory, used, picks, one_host_per_file):
    """Records of four hosts over six files: each host's in time order in a file of its own (partitioned),
    or hosts mixed over the files in any order (a fallback, mostly)."""
    folder = tmp_path_factory.mktemp("gen")
    files: dict[int, list[str]] = {}
    if one_host_per_file:
        picks = sorted(set(picks))
    for record, host, file in picks:
        where = host if one_host_per_file else file
        files.setdefault(where, []).append(_on(f"h{host}", RECORDS[record]))
    for i, parts in files.items():
        (folder / f"f{i}.log").write_text("".join(parts))
    _assert_same([folder], 2)
    if one_host_per_file:
        assert used[-1] == (len(files) > 1)


def test_more_host_events_than_one_engine_keeps_fall_back_to_one_process(tmp_path, used, monkeypatch):
    # one engine's process tree forgets its oldest entries past its bound; partitions would not: the
    # workers count together and give up (here with bounds lowered to what the fleet holds)
    paths = _fleet(tmp_path)
    partition.LAST_RUN.clear()
    monkeypatch.setattr(partition, "_bounds", lambda: (300, 50_000))  # given up in the workers
    _assert_same(paths, 2)
    assert partition.LAST_RUN == {}  # (not every worker came back with a result)
    monkeypatch.setattr(partition, "_bounds", lambda: (800, 50_000))  # each under, both over: in the parent
    _assert_same(paths, 2)
    assert used == [False, False] and len(partition.LAST_RUN["worker_cpu"]) == 2
    monkeypatch.undo()
    assert partition._bounds() == (200_000, 50_000)


def test_a_worker_that_fails_leaves_the_scan_to_one_process(tmp_path, used, monkeypatch):
    def broken(*args):
        raise RuntimeError("worker lost")

    paths = _fleet(tmp_path)
    monkeypatch.setattr(partition, "_scan_group", broken)
    _assert_same(paths, 2)
    assert used == [False]
