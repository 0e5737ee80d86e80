"""`cloudward tail`: rotation (rename-and-create, copytruncate, .gz) with restarts in between, every line
once; in-process alerts; shipping to a real `cloudward serve` with batch keys."""

from __future__ import annotations

import gzip
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import orjson
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


IIS = SHOP.with_name("u_ex261102.log")


def _tail_once(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output


def test_a_followed_file_is_one_stream_across_reads_and_restarts(tmp_path: Path) -> None:
    """The W3C `#Fields` line is read once, at the start; the lines read by later passes (each a new
    `tail` process here) are still decoded with it, as `scan` decodes the whole file."""
    log = tmp_path / "u_ex261102.log"
    data = IIS.read_bytes()
    cut = [data.index(b"\n", data.index(b"#Fields")) + 1]  # the first pass reads the header only
    cut.append(data.index(b"\n", len(data) // 2) + 1)
    store = tmp_path / "tail.db"
    args = ["tail", str(log), "--store", str(store), "--once"]
    log.write_bytes(data[:cut[0]])
    _tail_once(args)
    with log.open("ab") as f:
        f.write(data[cut[0]:cut[1]])
    _tail_once(args)
    with log.open("ab") as f:
        f.write(data[cut[1]:])
    _tail_once(args)
    db = Store(store)
    alerts = db.list_alerts()
    rejected = db.db.execute("SELECT SUM(rejected) FROM sources").fetchone()[0]
    db.close()
    whole = CliRunner().invoke(main, ["scan", str(IIS), "--output", "jsonl", "--no-store"]
                               if "--no-store" in CliRunner().invoke(main, ["scan", "--help"]).output
                               else ["scan", str(IIS), "--output", "jsonl"])
    expected = sorted((a["alert_type"], a["count"]) for a in map(_json, whole.output.splitlines()) if a)
    assert expected, whole.output
    assert sorted((a["alert_type"], a["count"]) for a in alerts) == expected
    assert not rejected


def _json(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except ValueError:
        return None


def test_an_auditd_event_split_between_reads_and_a_restart_is_one_event(tmp_path: Path) -> None:
    from cloudward.config import from_dict
    from cloudward.detections.node._samples import audit_exec
    from cloudward.runners.tail import LocalTail

    feed = tmp_path / "feed.txt"
    feed.write_text("203.0.113.0/24 ; test C2 range\n")
    config = from_dict({"intel": {"feeds": [str(feed)]}})
    log = tmp_path / "audit.log"
    records = audit_exec(7001, 4242, 1, ["curl", "-s", "http://203.0.113.9/x"], exe="/usr/bin/curl").encode() + b"\n"
    lines = records.splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:2]))  # SYSCALL and EXECVE now; CWD, PATH, PROCTITLE later
    store = str(tmp_path / "tail.db")
    tail = LocalTail(config, store, [str(log)], "auditd")
    tail.poll()
    tail.close()  # like a kill: the stream is not closed, its open record is in the store
    with log.open("ab") as f:
        f.write(b"".join(lines[2:]))
        f.write(audit_exec(7002, 4243, 1, ["/bin/true"]).encode() + b"\n")  # the next event ends the first
    tail = LocalTail(config, store, [str(log)], "auditd")
    tail.poll()
    tail.close()
    db = Store(store)
    alerts = [a for a in db.list_alerts() if a["alert_type"] == "K8S.NODE_ThreatIntelConnection"]
    events, rejected = db.db.execute("SELECT SUM(events), SUM(rejected) FROM sources").fetchone()
    db.close()
    assert len(alerts) == 1 and alerts[0]["count"] == 1
    assert "203.0.113.9" in alerts[0]["entities"]["command_line"]
    assert (events, rejected) == (2, 0)
    # the event was joined whole across the restart: its CWD, PATH and PROCTITLE records are its evidence
    records = alerts[0]["evidence"][0]["raw"]["records"]
    assert [r.split(" ", 1)[0] for r in records] == [ln.decode().split(" ", 1)[0] for ln in lines if ln.strip()]


def _alert_counts(srv: Any) -> list[tuple[str, int]]:
    return sorted((a["alert_type"], a["count"]) for a in srv.request("GET", "/api/v1/alerts?limit=500",
                                                                      token=READER).json()["items"])


def test_a_shipped_file_is_one_stream_at_serve_across_batches_and_a_serve_crash(tmp_path: Path,
                                                                              make_server: Any) -> None:  # noqa: F811
    """`tail --to`: the W3C `#Fields` header comes in the first batch only; serve decodes the later batches
    with it (its stream, and the decoder's state, survive a `kill -9` of serve), as `scan` reads the file."""
    srv = make_server().start()
    token_file = tmp_path / "token"
    token_file.write_text(INGEST + "\n")
    log = tmp_path / "u_ex261102.log"
    data = IIS.read_bytes()
    cut = [data.index(b"\n", data.index(b"#Fields")) + 1]
    cut.append(data.index(b"\n", len(data) // 2) + 1)
    args = ["tail", str(log), "--to", srv.url, "--token-file", str(token_file), "--state",
            str(tmp_path / "state.db"), "--once"]
    log.write_bytes(data[:cut[0]])
    _tail_once(args)
    with log.open("ab") as f:
        f.write(data[cut[0]:cut[1]])
    _tail_once(args)
    srv.kill9()
    srv.start()
    with log.open("ab") as f:
        f.write(data[cut[1]:])
    _tail_once(args)
    whole = CliRunner().invoke(main, ["scan", str(IIS), "--output", "jsonl"])
    expected = sorted((a["alert_type"], a["count"]) for a in map(_json, whole.output.splitlines()) if a)
    assert expected, whole.output
    assert _alert_counts(srv) == expected
    sources = srv.request("GET", "/api/v1/sources", token=READER).json()["items"]
    assert sum(s["rejected"] for s in sources) == 0


def test_an_auditd_event_split_between_shipped_batches_is_one_event(tmp_path: Path,
                                                                   make_server: Any) -> None:  # noqa: F811
    from cloudward.detections.node._samples import audit_exec

    feed = tmp_path / "feed.txt"
    feed.write_text("203.0.113.0/24 ; test C2 range\n")
    srv = make_server(rest=f'[intel]\nfeeds = ["{feed}"]\n').start()
    log = tmp_path / "audit.log"
    records = audit_exec(7001, 4242, 1, ["curl", "-s", "http://203.0.113.9/x"], exe="/usr/bin/curl").encode() + b"\n"
    lines = records.splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:2]))  # SYSCALL and EXECVE in one batch; CWD, PATH, PROCTITLE in the next
    tail = RemoteTail(srv.url, INGEST, str(tmp_path / "state.db"), [str(log)], "auditd")
    tail.poll()
    with log.open("ab") as f:
        f.write(b"".join(lines[2:]))
        f.write(audit_exec(7002, 4243, 1, ["/bin/true"]).encode() + b"\n")  # the next event ends the first
    tail.poll()
    # the file is rotated away: its stream ends at serve, and the held last event is read too
    log.rename(tmp_path / "audit.log.1")
    tail.poll()
    tail.close()
    items = srv.request("GET", "/api/v1/alerts", token=READER).json()["items"]
    intel = [a for a in items if a["alert_type"] == "K8S.NODE_ThreatIntelConnection"]
    assert len(intel) == 1 and intel[0]["count"] == 1
    assert "203.0.113.9" in intel[0]["entities"]["command_line"]
    full = srv.request("GET", f"/api/v1/alerts/{intel[0]['id']}", token=READER).json()
    got = [r.split(" ", 1)[0] for r in full["evidence"][0]["raw"]["records"]]
    assert got == [ln.decode().split(" ", 1)[0] for ln in lines if ln.strip()]
    sources = srv.request("GET", "/api/v1/sources", token=READER).json()["items"]
    assert [(s["events"], s["rejected"]) for s in sources] == [(2, 0)]


def test_a_batch_resent_with_new_lines_after_a_tail_crash_reads_only_the_new_ones(tmp_path: Path,
                                                                               make_server: Any) -> None:  # noqa: F811
    import hashlib

    from serving import privileged_pod_event, read_event

    srv = make_server().start()
    log = tmp_path / "audit.log"
    events = [privileged_pod_event(f"p{i}", when=f"2026-11-02T09:{i:02d}:00.000000Z") if i % 3 == 0
              else read_event(i) for i in range(30)]
    lines = [orjson.dumps(e) + b"\n" for e in events]
    log.write_bytes(b"".join(lines[:12]))
    state = tmp_path / "state.db"
    tail = RemoteTail(srv.url, INGEST, str(state), [str(log)])
    tail.poll()
    # the tail stops after the 2xx, before its offset is saved: the next one sends those lines again
    empty = hashlib.sha256(b"").hexdigest()
    tail.db.execute("UPDATE tail_offsets SET offset = 0, head_len = 0, head_hash = ?", (empty,))
    tail.db.commit()
    tail.close()
    with log.open("ab") as f:
        f.write(b"".join(lines[12:]))
    tail = RemoteTail(srv.url, INGEST, str(state), [str(log)])
    tail.poll()
    tail.close()
    sources = srv.request("GET", "/api/v1/sources", token=READER).json()["items"]
    assert [(s["events"], s["rejected"]) for s in sources] == [(30, 0)]  # every line once
    alerts = srv.request("GET", "/api/v1/alerts?limit=100", token=READER).json()["items"]
    assert sorted(a["entities"]["pod"] for a in alerts if a["alert_type"] == "K8S_PrivilegedContainer") == \
        sorted(f"p{i}" for i in range(0, 30, 3))


def test_a_backlog_is_read_in_full_batches_without_waiting_between_them(tmp_path: Path, monkeypatch: Any) -> None:
    """A file with more whole lines than one batch holds says so (`backlog`), so the runner passes again at
    once instead of sleeping its interval after every batch (which capped catching up at one batch a
    second); the last batch clears it, and a partial last line is no backlog."""
    from cloudward.runners import tail as tail_module

    monkeypatch.setattr(tail_module, "MAX_BATCH_BYTES", 1000)
    log = tmp_path / "access.log"
    line = '198.51.100.7 - - [02/Nov/2026:09:15:27 +0000] "GET / HTTP/1.1" 200 512 "-" "Mozilla/5.0"\n'
    log.write_text(line * 30 + line[:20])  # ~2.8 KB of whole lines, then half a line still being written
    follower = tail_module.Follower([str(log)], {})
    passes, read = [], 0
    while True:
        chunks = follower.scan()
        read += sum(len(c.data) for c in chunks)
        follower.committed(chunks)
        passes.append(follower.backlog)
        if not follower.backlog:
            break
    assert read == len(line) * 30
    assert passes == [True, True, False]
