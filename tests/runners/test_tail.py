"""`cloudward tail`: rotation (rename-and-create, copytruncate, .gz) with restarts in between, every line
once; in-process alerts; shipping to a real `cloudward serve` with batch keys."""

from __future__ import annotations

import gzip
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from serving import INGEST, READER, Receiver, make_server  # noqa: F401

from cloudward.cli import main
from cloudward.runners.tail import RemoteTail
from cloudward.store import Store

SHOP = Path(__file__).resolve().parents[2] / "src" / "cloudward" / "samples" / "web" / "shop.example.com.access.log"


def line(i: int) -> bytes:
    return (f'198.51.100.{i % 200} - - [02/Nov/2026:09:{i // 60 % 60:02d}:{i % 60:02d} +0000] '
            f'"GET /item/{i} HTTP/1.1" 200 512 "-" "Mozilla/5.0"\n').encode()


def received_lines(receiver: Receiver) -> list[bytes]:
    out: list[bytes] = []
    for _, headers, body in receiver.requests:
        data = gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body
        out += data.splitlines(keepends=True)
    return out


def test_both_rotation_styles_and_restarts_read_every_line_once(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    receiver = Receiver()
    token = "t" * 20
    state = str(tmp_path / "state.db")
    pattern = [str(logs / "app.log*")]

    def restart() -> RemoteTail:
        return RemoteTail(receiver.url, token, state, pattern)

    try:
        written = [line(i) for i in range(300)]
        live.write_bytes(b"".join(written[:100]) + b"partial line without newline")
        tail = restart()
        tail.poll()
        tail.close()
        # the writer finishes its line, then rename-and-create; a few late lines reach the renamed file
        with live.open("ab") as f:
            f.write(b"\n")
        written.insert(100, b"partial line without newline\n")
        os.rename(live, logs / "app.log.1")
        with (logs / "app.log.1").open("ab") as f:
            f.write(b"".join(written[101:120]))
        live.write_bytes(b"".join(written[120:180]))
        tail = restart()
        tail.poll()
        tail.poll()  # nothing new: nothing sent
        tail.close()
        # copytruncate of the live file, after more lines were written that nobody read yet
        with live.open("ab") as f:
            f.write(b"".join(written[180:200]))
        shutil.copy(live, logs / "app.log.2")
        with live.open("r+b") as f:
            f.truncate(0)
        live.write_bytes(b"".join(written[200:250]))
        # the first rotation is compressed (and the plain one removed), half-way: a truncated .gz waits
        data = gzip.compress((logs / "app.log.1").read_bytes())
        (logs / "app.log.1.gz").write_bytes(data[: len(data) // 2])
        os.unlink(logs / "app.log.1")
        tail = restart()
        tail.poll()
        (logs / "app.log.1.gz").write_bytes(data)
        with live.open("ab") as f:
            f.write(b"".join(written[250:301]))
        tail.poll()
        tail.close()
        got = received_lines(receiver)
        assert sorted(got) == sorted(written) and len(got) == len(written)
        keys = [h["x-cloudward-batch"] for _, h, _ in receiver.requests]
        assert len(keys) == len(set(keys))
    finally:
        receiver.close()


def test_tail_in_process_alerts_once_across_restarts(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    data = SHOP.read_bytes()
    half = data.index(b"\n", len(data) // 2) + 1
    log.write_bytes(data[:half])
    store = tmp_path / "tail.db"
    args = ["tail", str(log), "--store", str(store), "--once", "--site", "shop"]
    assert CliRunner().invoke(main, args).exit_code == 0
    with log.open("ab") as f:
        f.write(data[half:])
    for _ in range(2):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
    db = Store(store)
    alerts = db.list_alerts()
    db.close()
    assert [(a["alert_type"], a["count"], a["resource"]["name"]) for a in alerts] == [
        ("AppServices_PhpInUploadFolder", 1, "shop")]


def test_tail_ships_to_serve_and_a_resent_batch_is_skipped(tmp_path: Path, make_server: Any) -> None:  # noqa: F811
    srv = make_server().start()
    log = tmp_path / "access.log"
    log.write_bytes(SHOP.read_bytes())
    token_file = tmp_path / "token"
    token_file.write_text(INGEST + "\n")
    args = ["tail", str(log), "--to", srv.url, "--token-file", str(token_file), "--state",
            str(tmp_path / "state.db"), "--once", "--format", "combined", "--site", "shop"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    items = srv.request("GET", "/api/v1/alerts", token=READER).json()["items"]
    assert [(a["alert_type"], a["count"], a["resource"]["name"]) for a in items] == [
        ("AppServices_PhpInUploadFolder", 1, "shop")]
    # the same batch key again (a tail that crashed before saving its offset) changes nothing
    (tmp_path / "state.db").unlink()
    for suffix in ("-wal", "-shm"):
        Path(str(tmp_path / "state.db") + suffix).unlink(missing_ok=True)
    assert CliRunner().invoke(main, args).exit_code == 0
    again = srv.request("GET", "/api/v1/alerts", token=READER).json()["items"]
    assert [a["count"] for a in again] == [1]
    sources = srv.request("GET", "/api/v1/sources", token=READER).json()["items"]
    assert sources[0]["source"] == "ingest/combined site=shop"
    assert sources[0]["events"] > 0
