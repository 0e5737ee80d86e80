"""Fixtures: a real `cloudward serve` per test, stopped by pid at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serving import Server, write_config


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Any]:
    servers: list[Server] = []

    def make(server_keys: str = "", rest: str = "", *, tokens: bool = True, name: str = "srv") -> Server:
        root = tmp_path / name
        root.mkdir(exist_ok=True)
        config = root / "cloudward.toml"
        if tokens:
            write_config(config, server_keys, rest)
        else:
            config.write_text(rest)
        srv = Server(root=root, config=config, db=root / "cloudward.db")
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.stop()


@pytest.fixture
def server(make_server: Any) -> Server:
    return make_server().start()
