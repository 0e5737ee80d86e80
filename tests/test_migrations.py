"""Store schema versions: an older store is upgraded in place, a newer one is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cloudward.migrations import LATEST, StoreVersionError, current_version
from cloudward.store import SCHEMA, Store


def test_a_store_from_before_versioning_is_upgraded_and_keeps_its_alerts(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    db.execute("INSERT INTO alerts VALUES ('a1','K8S_X','low','dismissed','{}',1,2,1,?,?)",
               (b'{"id": "a1", "alert_type": "K8S_X"}', b"[]"))
    db.commit()
    db.close()
    store = Store(path)
    assert current_version(store.db) == LATEST
    assert store.status_of("a1") == "dismissed"
    tables = {n for (n,) in store.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"outbox", "redelivery", "api_tokens", "status_log", "sources"} <= tables
    store.close()
    again = Store(path)  # opening an up-to-date store changes nothing
    assert [v for (v,) in again.db.execute("SELECT version FROM schema_version")] == list(range(2, LATEST + 1))
    again.close()


def test_a_store_of_a_newer_version_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO schema_version VALUES (?, 0)", (LATEST + 5,))
    db.commit()
    db.close()
    with pytest.raises(StoreVersionError, match=f"schema version {LATEST + 5}, newer than"):
        Store(path)
