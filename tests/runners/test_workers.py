"""`scan --workers N` reports exactly the alerts and counts of a one-process scan."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudward.config import Config
from cloudward.runners.scan import ScanRunner
from cloudward.runners.workers import Task, plan, split_file

DATA = Path(__file__).parents[1] / "data"
SAMPLES = Path(__file__).parents[2] / "src" / "cloudward" / "samples"
MIXED = DATA / "web" / "mixed"
CORPORA = sorted(p for p in DATA.iterdir() if p.is_dir())


def _scan(paths, workers: int, **kw):
    kw.setdefault("min_pool_bytes", 0)  # the pool even for these small inputs
    runner = ScanRunner(Config(), workers=workers, **kw)
    # with the book's own record of which events it counted (what a store keeps and a merge dedups on)
    alerts = [dict(a.to_dict(), seen=sorted(a.seen_events)) for a in runner.run([str(p) for p in paths])]
    stats = runner.engine.stats
    counts = (stats.files, stats.lines, stats.events, stats.skipped, stats.ignored, stats.bytes_read, stats.rejected,
              dict(stats.formats),
              stats.uninspectable, stats.duplicates, [(r.where, r.reason) for r in stats.rejections])
    return alerts, counts


def _assert_same(paths, workers: int = 2, **kw):
    one, one_counts = _scan(paths, 1)
    many, many_counts = _scan(paths, workers, **kw)
    assert [a["id"] for a in many] == [a["id"] for a in one]
    for a, b in zip(one, many, strict=True):
        assert b == a, a["alert_type"]
    assert many_counts == one_counts
    return one


@pytest.mark.parametrize("corpus", CORPORA, ids=lambda p: str(p.relative_to(DATA)))
def test_every_test_corpus_gives_the_same_alerts_on_two_workers(corpus):
    _assert_same([corpus])


@pytest.mark.parametrize("corpus", CORPORA, ids=lambda p: str(p.relative_to(DATA)))
def test_every_test_corpus_gives_the_same_alerts_by_default(corpus):
    # the default: the cores, host partitions where the inputs are such (else one process)
    _assert_same([corpus], workers="auto")


def test_all_corpora_and_samples_together():
    alerts = _assert_same([DATA, SAMPLES], workers=3)
    assert len({a["alert_type"] for a in alerts}) > 10


def _combined(ip: str, t: int, site_path: str, status: int = 404) -> str:
    day, rest = divmod(t, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return (f'{ip} - - [{2 + day:02d}/Nov/2026:{h:02d}:{m:02d}:{s:02d} +0000] "GET {site_path} HTTP/1.1" {status} 153 '
            f'"-" "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0"\n')


def _generated_sites(folder: Path, sites: int = 24, lines: int = 400, seed: int = 3) -> list[Path]:
    """Many sites' logs with scanners probing sensitive pages across them, each site a file of its own:
    a scanner's requests land in files that different workers decode."""
    rng = random.Random(seed)
    pages = ["/", "/products/1", "/blog/2026/11/post-2/", "/static/site.css", "/images/p3.webp"]
    probes = ["/.env", "/.git/config", "/phpinfo.php", "/wp-config.php.bak", "/actuator/env", "/backup.sql"]
    scanners = ["203.0.113.77", "198.51.100.23", "192.0.2.201"]
    paths = []
    for i in range(sites):
        out = []
        for _ in range(lines):
            t = rng.randrange(0, 2 * 86400)
            ip = f"10.{rng.randrange(4)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            out.append((t, _combined(ip, t, rng.choice(pages), 200)))
        for scanner in scanners[: 1 + i % 3]:
            base = rng.randrange(3600, 80000)
            for k, probe in enumerate(rng.sample(probes, 4)):
                t = base + k * 7 + i * 3
                out.append((t, _combined(scanner, t, probe)))
        out.sort()
        path = folder / f"site{i:02d}.example.com.access.log"
        path.write_text("".join(line for _, line in out))
        paths.append(path)
    return paths


def test_scanners_spread_over_many_files(tmp_path):
    paths = _generated_sites(tmp_path)
    alerts = _assert_same(paths, workers=2)
    assert any(a["alert_type"] == "AppServices_ScanSensitivePage" for a in alerts)


#: a request any prefilter keeps (a sensitive page) from a client column that is not an address: rejected
BAD_LINE = 'not-an-ip - - [02/Nov/2026:00:00:00 +0000] "GET /.env HTTP/1.1" 404 1 "-" "curl/8.4.0"\n'


def test_one_large_file_split_by_byte_ranges_keeps_line_numbers(tmp_path):
    # a day of ordinary traffic, a malformed line, then the attacks of the mixed web corpus: the attacks
    # land in the last byte range, and their evidence must carry the line numbers of the whole file
    rng = random.Random(5)
    noise = [_combined(f"10.0.{rng.randrange(256)}.{rng.randrange(1, 255)}", t, f"/products/{t % 50}", 200)
             for t in range(0, 86400 - 3600, 9)]
    attacks = (MIXED / "shop.example.com.access.log").read_text()
    big = tmp_path / "shop.example.com.access.log"
    big.write_text("".join(noise[:4000]) + BAD_LINE + "".join(noise[4000:]) + attacks)
    size = big.stat().st_size
    tasks = plan([str(big)], 2, min_range_bytes=size // 8)
    assert len(tasks) == 4 and all(not t.whole for t in tasks)
    assert tasks[0].start == 0 and tasks[-1].end == size
    data = big.read_bytes()
    for a, b in itertools.pairwise(tasks):
        assert a.end == b.start
        assert data[b.start - 1:b.start] == b"\n"
        assert b.lines_before == data[:b.start].count(b"\n")
    one = _assert_same([big], workers=2, min_range_bytes=size // 8)
    assert "AppServices_PhpInUploadFolder" in {a["alert_type"] for a in one}
    lines = {int(e["event_id"].rsplit(":", 1)[1]) for a in one for e in a["evidence"]}
    assert min(lines) > len(noise) + 1 > tasks[-1].lines_before  # numbered as in the whole file
    _, counts = _scan([big], 2, min_range_bytes=size // 8)
    assert counts[-1] == [(f"{big}:4001", counts[-1][0][1])]  # the malformed line, at its own line number


def test_split_file_cuts_only_at_line_starts(tmp_path):
    path = tmp_path / "x.log"
    path.write_bytes(b"a\nbb\n\nccc\ndddd")
    tasks = split_file(str(path), 5, "combined")
    data = path.read_bytes()
    assert b"".join(data[t.start:t.end] for t in tasks) == data
    assert all(t.start == 0 or data[t.start - 1:t.start] == b"\n" for t in tasks)
    assert [t.lines_before for t in tasks] == [data[:t.start].count(b"\n") for t in tasks]
    assert isinstance(tasks[0], Task)


def test_gzip_and_w3c_files_are_never_split(tmp_path):
    import gzip
    w3c = tmp_path / "u_ex261102.log"
    w3c.write_text("#Software: Microsoft Internet Information Services 10.0\n#Fields: date time cs-method "
                   "cs-uri-stem sc-status c-ip\n" + "2026-11-02 08:00:00 GET / 200 10.0.0.1\n" * 2000)
    gz = tmp_path / "a.log.gz"
    gz.write_bytes(gzip.compress(_combined("10.0.0.1", 5, "/").encode() * 4000))
    tasks = plan([str(w3c), str(gz)], 2, min_range_bytes=1024)
    assert [t.whole for t in tasks] == [True, True]


def test_cli_scan_output_is_the_same_for_any_number_of_workers(monkeypatch):
    monkeypatch.setenv("CLOUDWARD_MIN_POOL_BYTES", "0")
    from click.testing import CliRunner

    from cloudward.cli import main

    outputs = []
    for workers in ("1", "2", "3", "auto"):
        result = CliRunner().invoke(main, ["scan", str(DATA), str(SAMPLES), "-o", "jsonl", "-q", "--workers", workers])
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout)
    assert outputs[0].count("\n") > 20
    assert outputs[1] == outputs[0] and outputs[2] == outputs[0] and outputs[3] == outputs[0]


def _unread(paths, workers: int, fmt: str | None = None, **kw) -> list[str]:
    kw.setdefault("min_pool_bytes", 0)
    runner = ScanRunner(Config(), workers=workers, **kw)
    runner.run([str(p) for p in paths], fmt)
    return runner.engine.unread_inputs


def test_an_input_of_which_nothing_was_read_is_named_as_by_one_process(tmp_path):
    # a folder is one input: a README beside the logs is rejected, and that is all
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "README.txt").write_text("These are the audit logs of the staging cluster.\n")
    (logs / "access.log").write_text("".join(_combined("10.0.0.1", t, "/") for t in range(50)))
    unreadable = tmp_path / "binary.log"
    unreadable.write_bytes(b"\x00\x01binary\n" * 20)
    other = tmp_path / "other.log"
    other.write_text("".join(_combined("10.0.0.2", t, "/") for t in range(50)))
    for workers in (1, 2):
        assert _unread([logs, unreadable, other], workers) == [str(unreadable)]
    (logs / "access.log").write_bytes(b"\x00\x01binary\n")
    for workers in (1, 2):
        assert _unread([logs, other], workers) == [str(logs)]


def test_a_file_cut_in_byte_ranges_is_lost_only_when_no_range_was_read(tmp_path):
    big = tmp_path / "shop.example.com.access.log"
    big.write_text("".join(_combined("10.0.0.1", t, "/") for t in range(2000)) + BAD_LINE * 4000)
    size = big.stat().st_size
    tasks = plan([str(big)], 2, min_range_bytes=size // 8)
    assert len(tasks) == 4
    # the last ranges hold nothing but rejected lines, the first ones were read: no input lost
    assert _unread([big], 2, min_range_bytes=size // 8) == [] == _unread([big], 1)
    big.write_text(BAD_LINE * 6000)  # every line rejected, in every range
    tasks = plan([str(big)], 2, "combined", min_range_bytes=size // 8)
    assert len(tasks) == 4
    assert _unread([big], 2, "combined", min_range_bytes=size // 8) == [str(big)] == _unread([big], 1, "combined")


def test_cli_fails_loudly_on_an_unread_input_with_workers(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDWARD_MIN_POOL_BYTES", "0")
    from click.testing import CliRunner

    from cloudward.cli import main

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "README.txt").write_text("These are the audit logs of the staging cluster.\n")
    (logs / "audit.log").write_bytes((DATA / "k8s/falco-trace-files/attach_cluster_admin_role.json").read_bytes())
    result = CliRunner().invoke(main, ["scan", str(logs), "-o", "jsonl", "-q", "--workers", "2"])
    assert result.exit_code == 0, result.output
    (logs / "audit.log").write_text("\x00\x01binary\n")
    result = CliRunner().invoke(main, ["scan", str(logs), "-q", "--workers", "2"])
    assert result.exit_code == 3 and "nothing was read from 1 non-empty input(s)" in result.output.replace("\n", " ")


def test_cli_workers_takes_a_number_or_auto():
    from click.testing import CliRunner

    from cloudward.cli import main

    for bad in ("0", "-2", "many"):
        result = CliRunner().invoke(main, ["scan", str(MIXED), "-q", "--workers", bad])
        assert result.exit_code == 2 and "workers" in result.output.lower(), result.output
    assert "[default: auto]" in " ".join(CliRunner().invoke(main, ["scan", "--help"]).output.split())


@pytest.mark.parametrize("extension", [True, False])
def test_newlines_of_byte_ranges_are_counted_exactly(tmp_path, monkeypatch, extension):
    # long and short lines, a range cut mid-line, blocks of the counting buffer (4 MiB) crossed, no final newline
    from cloudward import _speedups
    from cloudward.runners import workers

    if not extension:  # the pure-Python walk, as without the built function
        monkeypatch.delattr(_speedups, "count_newlines")
    rng = random.Random(5)
    data = b"".join(b"x" * rng.choice([0, 1, 80, 3000, 70_000]) + b"\n" for _ in range(600)) + b"tail"
    path = tmp_path / "lines.log"
    path.write_bytes(data)
    newlines = [i for i, c in enumerate(data) if c == 10]
    cuts = sorted({0, len(data), *(rng.randrange(len(data)) for _ in range(6)), 1 << 22, (1 << 22) + 1,
                   *rng.sample(newlines, 4), *(i + 1 for i in rng.sample(newlines, 4))})  # (at and after one)
    for a, b in itertools.pairwise([c for c in cuts if c <= len(data)]):
        assert workers.count_newlines(Task(str(path), a, b)) == data.count(b"\n", a, b)
    assert workers.count_newlines(Task(str(path))) == 0  # (a whole input: nothing before it to number)


def test_the_c_newline_count_takes_any_bytes_like_object_and_clamps_its_range():
    import mmap

    from cloudward._speedups import count_newlines

    text = b"a\nbb\n\nccc\n"
    for a in range(-2, len(text) + 3):
        for b in range(-2, len(text) + 3):
            assert count_newlines(text, a, b) == text.count(b"\n", max(a, 0), max(b, 0)), (a, b)
    assert count_newlines(bytearray(text), 0, 100) == count_newlines(memoryview(text), 0, 100) == 4
    with mmap.mmap(-1, len(text)) as mm:
        mm.write(text)
        assert count_newlines(mm, 1, 6) == 3


def _walked_shift(text: str, prefix: str, lines: int) -> str:
    # the reference: the character walk `_shift_ref` falls back to
    if not text.startswith(prefix):
        return text
    i = n = len(prefix)
    while i < len(text) and text[i].isdigit():
        i += 1
    return text if i == n else f"{prefix}{int(text[n:i]) + lines}{text[i:]}"


_REF_TAILS = ["", "1", "01", "0", "7", "10", "12:3", "1:2", "19", "2", "987654", "1a", "x", ":", "١", "1١", "12٣4", "²"]


@given(path=st.sampled_from(["a.log", "/var/log/x:1.log", "ü.log"]),
       tail=st.lists(st.sampled_from(_REF_TAILS), min_size=1, max_size=3).map("".join),
       other=st.sampled_from(["", "elsewhere:1", "id-1"]), lines=st.integers(0, 10**6))
def test_line_references_shift_and_line_one_as_the_character_walk_reads_them(path, tail, other, lines):
    from hypothesis import assume

    from cloudward.events import Event
    from cloudward.runners.workers import _local_line, _on_line_one, _shift_ref

    prefix = f"{path}:"
    for text in (prefix + tail, tail, other):
        try:
            want = _walked_shift(text, prefix, lines)
        except ValueError:  # (a run of digits int() does not read: no reference the decoders write)
            assume(False)
        assert _shift_ref(text, prefix, lines) == want
    for origin, event_id in ((prefix + tail, other), (other, prefix + tail), (prefix + tail, prefix + "1")):
        event = Event(event_id=event_id, origin=origin, time=0.0)
        try:
            want_one = _local_line(event, prefix) == 1
        except ValueError:
            assume(False)
        assert _on_line_one(event, prefix) == want_one
