"""Fixtures: the real `serve` application in-process (FastAPI TestClient, with its ingest worker running),
and a real `cloudward serve` on 127.0.0.1 for the browser tests (from tests/server/serving.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "server"))

from serving import make_server

__all__ = ["make_server"]


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Any]:
    """A TestClient on the whole serve application (API and console) over a fresh store."""
    from fastapi.testclient import TestClient
    from serving import TOKENS

    from cloudward import config as config_mod
    from cloudward.server.app import build_service, create_app
    from cloudward.server.settings import ServerSettings

    raw = {"server": {"db": str(tmp_path / "cw.db"),
                      "tokens": [{"name": n, "role": n, "secret": s} for n, s in TOKENS.items()]}}
    config = config_mod.from_dict(raw)
    service = build_service(config, ServerSettings.from_config(config))
    with TestClient(create_app(service), base_url="http://127.0.0.1") as client:
        yield client
    service.store.close()
