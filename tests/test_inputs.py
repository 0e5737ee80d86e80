"""Inputs that are not plain files, or that fight back: streams, FIFOs, unreadable paths, bombs, BOMs."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cloudward.detections.kubernetes._samples import audit, container, workload
from cloudward.inputs import InputFile, ScanStats, expand_paths

CLOUDWARD = str(Path(sys.executable).parent / "cloudward")
MINER = json.dumps(audit("create", "deployments", workload("Deployment", "m", [container("x", "xmrig/xmrig:6.21")])))


def run(*args: str, stdin: bytes | None = None, timeout: float = 60, **kw):
    return subprocess.run([CLOUDWARD, *args], input=stdin, capture_output=True, timeout=timeout, **kw)


def miner_log(folder: Path, name: str = "audit.log") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(MINER + "\n")
    return p


def rejects(path: Path) -> dict[str, str]:
    return {d["where"]: d["reason"] for d in map(json.loads, path.read_text().splitlines())}


def alerts_of(r) -> list[dict]:
    return [json.loads(line) for line in r.stdout.decode().splitlines()]


def test_process_substitution_and_dev_stdin_are_read_as_streams(tmp_path):
    log = miner_log(tmp_path)
    bash = shutil.which("bash")
    assert bash, "bash is needed for <(...)"
    r = subprocess.run([bash, "-c", f'"{CLOUDWARD}" scan <(cat "{log}") -o jsonl -q'], capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert [a["alert_type"] for a in alerts_of(r)] == ["K8S_MaliciousContainerImage"]
    r = run("scan", "/dev/stdin", "-o", "jsonl", "-q", stdin=log.read_bytes())
    assert [a["alert_type"] for a in alerts_of(r)] == ["K8S_MaliciousContainerImage"], r.stderr


def test_fifo_and_socket_in_a_folder_are_skipped_and_reported_never_waited_on(tmp_path):
    import socket

    folder = tmp_path / "logs"
    miner_log(folder)
    os.mkfifo(folder / "a-fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "b.sock"))
    try:
        r = run("scan", str(folder), "-o", "jsonl", "--strict", "--output-rejects", str(tmp_path / "r.jsonl"),
                timeout=30)
    finally:
        sock.close()
    assert [a["alert_type"] for a in alerts_of(r)] == ["K8S_MaliciousContainerImage"]
    assert r.returncode == 3  # reported as rejected, so --strict sees it
    found = rejects(tmp_path / "r.jsonl")
    assert found[f"{folder}/a-fifo:0"].startswith("not a regular file: a FIFO inside a scanned folder")
    assert found[f"{folder}/b.sock:0"].startswith("not a regular file: a socket")


def _as_nobody(*args: str):
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0:
        return run(*args)
    assert setpriv, "running as root: setpriv (util-linux) is needed to drop to nobody for this test"
    return subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", CLOUDWARD, *args],
                          capture_output=True, timeout=60)


@pytest.fixture
def open_tmp():
    """A temporary folder others may enter (pytest's own is private to root)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="cloudward-perm-"))
    path.chmod(0o755)
    yield path
    for root, dirs, _ in os.walk(path):  # top-down: open each folder before descending into it
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
    shutil.rmtree(path)


def test_unreadable_folder_and_file_are_reported_and_count_as_rejected(open_tmp):
    tmp_path = open_tmp
    folder = tmp_path / "logs"
    miner_log(folder)
    secret_dir = folder / "secret"
    miner_log(secret_dir)
    secret_dir.chmod(0o000)  # unreadable for anyone but root, and the scan runs as nobody when we are root
    closed = miner_log(folder, "closed.log")
    closed.chmod(0o000)
    for p in (folder, folder / "audit.log"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    out = tmp_path / "out"
    out.mkdir(mode=0o777)
    out.chmod(0o777)
    r = _as_nobody("scan", str(folder), "-o", "jsonl", "--strict", "--output-rejects", str(out / "r.jsonl"))
    assert r.returncode == 3, r.stderr
    found = rejects(out / "r.jsonl")
    assert found[f"{secret_dir}:0"] == "cannot read folder: Permission denied"
    assert found[f"{closed}:0"] == "cannot open: Permission denied"
    assert len(alerts_of(r)) == 1  # the readable log still alerts


def _bomb(path: Path, newlines: int) -> None:
    with gzip.open(path, "wb", compresslevel=9) as fh:
        fh.write((MINER + "\n").encode())
        chunk = b"\n" * (1 << 20)
        for _ in range(newlines >> 20):
            fh.write(chunk)
        fh.write((json.dumps(dict(json.loads(MINER), auditID="after-the-padding")) + "\n").encode())


def test_gzip_bomb_is_ended_by_the_ratio_cap_with_a_rejection(tmp_path):
    bomb = tmp_path / "bomb.log.gz"
    _bomb(bomb, 64 << 20)
    r = run("scan", str(bomb), "-o", "jsonl", "--strict", "--output-rejects", str(tmp_path / "r.jsonl"))
    assert r.returncode == 3, r.stderr
    [(where, reason)] = rejects(tmp_path / "r.jsonl").items()
    assert where.startswith(f"{bomb}:") and reason.startswith("decompression limit: compression ratio over 200:1")
    assert len(alerts_of(r)) == 1  # what came before the cap is kept


def test_decompression_caps_are_configurable(tmp_path):
    bomb = tmp_path / "bomb.log.gz"
    _bomb(bomb, 16 << 20)
    loose = tmp_path / "loose.toml"
    loose.write_text("[scan]\nmax_compression_ratio = 0\n")  # 0 = no ratio cap
    r = run("scan", str(bomb), "-o", "jsonl", "--strict", "-c", str(loose))
    assert r.returncode == 0, r.stderr
    assert alerts_of(r)[0]["count"] == 2
    tight = tmp_path / "tight.toml"
    tight.write_text("[scan]\nmax_decompressed_bytes = 1048576\nmax_compression_ratio = 0\n")
    r = run("scan", str(bomb), "-o", "jsonl", "--strict", "-c", str(tight), "--output-rejects",
            str(tmp_path / "r.jsonl"))
    assert r.returncode == 3
    assert "decompressed size over 1048576 bytes" in next(iter(rejects(tmp_path / "r.jsonl").values()))


def test_blank_lines_are_counted_not_yielded():
    data = b"a\n" + b"\n" * 100_000 + b"\r\n" * 7 + b"b\r\n\r\n" + b"c"
    stats = ScanStats()
    assert list(InputFile.from_bytes(data).lines(stats)) == [(1, b"a"), (100_009, b"b"), (100_011, b"c")]
    assert stats.lines == 100_011


def test_bom_is_stripped_from_the_start_of_plain_and_gzip_content():
    for data in (b"\xef\xbb\xbfhello\n", gzip.compress(b"\xef\xbb\xbfhello\n")):
        src = InputFile.from_bytes(data)
        assert src.head == b"hello\n"
        assert list(src.lines(ScanStats())) == [(1, b"hello")]


def test_expand_paths_names_streams_explicitly_but_walks_only_regular_files(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "f.log").write_text("x\n")
    skipped: list[tuple[str, str]] = []
    assert list(expand_paths([str(tmp_path)], on_skip=lambda p, why: skipped.append((p, why)))) == [
        str(tmp_path / "f.log")]
    assert skipped and skipped[0][0] == str(tmp_path / "fifo")
    assert list(expand_paths([str(tmp_path / "fifo")])) == [str(tmp_path / "fifo")]


@pytest.mark.parametrize("name", ["a.log"])
def test_identity_follows_the_file_across_a_rename(tmp_path, name):
    p = tmp_path / name
    p.write_text("line\n")
    before = InputFile(str(p)).identity
    p.rename(tmp_path / "a.log.1")
    assert InputFile(str(tmp_path / "a.log.1")).identity == before
    (tmp_path / "a.log").write_text("line\n")  # same bytes, another file
    assert InputFile(str(tmp_path / "a.log")).identity != before


def test_a_fifo_named_explicitly_is_read_as_a_stream(tmp_path):
    import threading

    fifo = tmp_path / "feed"
    os.mkfifo(fifo)
    payload = (MINER + "\n").encode()

    def writer() -> None:
        with open(fifo, "wb") as fh:  # blocks until the scan opens the FIFO, then writes and closes
            fh.write(payload)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    r = run("scan", str(fifo), "-o", "jsonl", "-q", timeout=30)
    t.join(timeout=5)
    assert [a["alert_type"] for a in alerts_of(r)] == ["K8S_MaliciousContainerImage"], r.stderr


def test_blank_run_end_agrees_with_a_plain_scan():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from cloudward.inputs import blank_run_end

    @settings(max_examples=400, deadline=None)
    @given(st.lists(st.sampled_from([b"\n", b"\r\n", b"\r", b"a", b"\n" * 300, b"\r\n" * 70]), max_size=30).map(
        b"".join), st.integers(0, 50), st.integers(0, 10_000))
    def check(data, start, stop):
        pos = min(start, len(data))
        end = min(max(stop, pos), len(data))
        piece = data[pos:end]
        assert blank_run_end(data, pos, end) == pos + len(piece) - len(piece.lstrip(b"\r\n"))

    check()


def test_a_gzip_of_a_gigabyte_of_newlines_is_cut_short_by_the_ratio_cap(tmp_path):
    bomb = tmp_path / "nl.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as fh:
        chunk = b"\n" * (1 << 24)
        for _ in range(64):
            fh.write(chunk)
    assert bomb.stat().st_size < 1_100_000
    r = run("scan", str(bomb), "--format", "vsftpd", "--allow-unread", "--output-rejects", str(tmp_path / "r.jsonl"),
            timeout=60)  # nothing but blank lines: an unread input, accepted here
    assert r.returncode == 0, r.stderr
    [(where, reason)] = rejects(tmp_path / "r.jsonl").items()
    # ended within the first few MiB, not after the whole gigabyte
    assert reason.startswith("decompression limit") and int(where.rsplit(":", 1)[1]) < 32 << 20
