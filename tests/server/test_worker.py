"""The ingest worker's bounded memory: redelivery keys (memory and store) and per-source rate windows stay
bounded however many events come, and what is kept still makes a recent redelivery a no-op."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from test_audit_body import PRIVILEGED_POD, audit_event, envelope

from cloudward.config import Config
from cloudward.engine import Engine
from cloudward.server import worker as worker_module
from cloudward.server.audit_body import AuditFilter, split_audit_body
from cloudward.server.worker import IngestWorker, Job
from cloudward.store import Store


def _batch(n: int, first: int) -> bytes:
    # creates of pods: every one runs through the workload cards, leaving a redelivery key
    return envelope([audit_event(first + i, "create", "pods", code=201, body=PRIVILEGED_POD) for i in range(n)])


def _post(worker: IngestWorker, flt: AuditFilter, body: bytes) -> dict:
    job = Job(source="k8s-audit", audit=split_audit_body(body, flt))
    worker.process([job])
    return job.future.result()


def test_redelivery_keys_are_bounded_in_memory_and_in_the_store(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "PRUNE_EVERY", 1)
    store = Store(tmp_path / "cw.db")
    worker = IngestWorker(Engine(Config(), store=store), store, redelivery_keys=50)
    flt = AuditFilter.for_interest(worker.engine.ctx.interest)
    for r in range(12):
        assert _post(worker, flt, _batch(20, r * 20))["accepted"] == 20
    recent = worker._recent
    assert len(recent.current) + len(recent.previous) <= 100
    rows = store.db.execute("SELECT COUNT(*) FROM redelivery").fetchone()[0]
    assert rows == 100  # the newest 2x50: the memory cannot hold more, the store keeps no more
    # one stage string for all the keys, not one per event
    assert len({id(k[1]) for k in recent.current}) == 1
    store.close()

    store = Store(tmp_path / "cw.db")
    again = IngestWorker(Engine(Config(), store=store), store, redelivery_keys=50)
    assert len(again._recent.current) + len(again._recent.previous) == 100
    # the newest batch sent again is a redelivery; the oldest was forgotten (past the window) and runs
    result = _post(again, AuditFilter.for_interest(again.engine.ctx.interest), _batch(20, 220))
    assert result["duplicates_in_commit"] == 20
    result = _post(again, AuditFilter.for_interest(again.engine.ctx.interest), _batch(20, 0))
    assert result["duplicates_in_commit"] == 0
    stored = {tuple(orjson.loads(k)) for (k,) in store.db.execute("SELECT key FROM redelivery")}
    assert ("5d0f3c1e-0000-4000-8000-000000000239", "ResponseComplete") in stored
    store.close()


def test_a_source_rate_window_stays_bounded_without_readers(tmp_path: Path) -> None:
    store = Store(tmp_path / "cw.db")
    worker = IngestWorker(Engine(Config(), store=store), store)
    flt = AuditFilter.for_interest(worker.engine.ctx.interest)
    for r in range(5):
        _post(worker, flt, _batch(2, r * 2))
    src = worker.sources["k8s-audit"]
    assert len(src.recent) == 5
    src.recent[0] = (src.recent[0][0] - 3600, src.recent[0][1])  # an entry out of the window
    _post(worker, flt, _batch(2, 100))
    assert len(src.recent) == 5
    store.close()


def _audit_lines(first: int, n: int) -> bytes:
    """Audit log lines of reads (skipped, counted at once) and creates (run)."""
    return b"".join(orjson.dumps(audit_event(i, *(("get", "configmaps") if i % 2 else ("create", "pods")))) + b"\n"
                    for i in range(first, first + n))


def _ship(worker: IngestWorker, stream: str, offset: int, data: bytes) -> dict:
    job = Job(source="ingest/sniffed", data=data, stream=stream, offset=offset,
              path=f"/var/log/{stream}.log", final=False)
    worker.process([job])
    return job.future.result()


@pytest.mark.parametrize("bound", ["streams", "bytes"])
def test_open_client_streams_are_bounded_in_number_and_in_held_bytes(tmp_path: Path, bound: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    if bound == "streams":
        monkeypatch.setattr(worker_module, "MAX_STREAMS", 3)
    else:
        monkeypatch.setattr(worker_module, "MAX_STREAM_BYTES", 3 * len(_audit_lines(0, 10)) + 100)
    store = Store(tmp_path / "cw.db")
    worker = IngestWorker(Engine(Config(), store=store), store)
    for n in range(5):
        _ship(worker, f"file{n}", 0, _audit_lines(n * 10, 10))
    assert list(worker.streams) == ["file2", "file3", "file4"]  # the least recently fed were ended
    stored = [k for (k,) in store.db.execute("SELECT key FROM ingest_streams ORDER BY key")]
    assert stored == ["file2", "file3", "file4"]
    # an ended stream shipped to again starts a new one; an open one continues
    _ship(worker, "file0", 10 * len(_audit_lines(0, 1)), _audit_lines(100, 1))
    _ship(worker, "file4", len(_audit_lines(40, 10)), _audit_lines(50, 1))
    assert "file0" in worker.streams and "file4" in worker.streams
    src = worker.sources["ingest/sniffed"]
    assert src.rejected == 0 and src.events == 52  # every line counted once, the ended streams' too
    store.close()
