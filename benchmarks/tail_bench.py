"""`cloudward tail` on a growing nginx log: how fast it keeps up, and how long an alert takes to arrive.

A real `cloudward tail` process follows one access log (its own SQLite store, a `jsonl_file` sink, the
default one-second polling interval unless `--interval` says otherwise) while this script writes to the
log as a web server would:

1. **Delay**: ordinary traffic at `--rate` lines/s for `--seconds`, with a request for a PHP file in an
   upload folder (`AppServices_PhpInUploadFolder`, one line raises it) from a new address every
   `--attack-every` seconds. The delay is the time from writing that line to reading its alert in the
   sink's file; p50/p99/max are reported.
2. **Throughput**: `--burst` lines appended at once, ending with one more attack line; lines/s is the burst
   over the time until that last line's alert is in the sink.

Before it reports, it checks that every attack line raised its alert and that the offset tail committed for
the file is the file's size, so every line was read (a run that skipped its input is an error, not a figure).

    python benchmarks/tail_bench.py                     # 1,000 lines/s for 30 s, then a 500,000-line burst
    python benchmarks/tail_bench.py --rate 5000 --seconds 20 --burst 1000000
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
CLOUDWARD = [sys.executable, "-m", "cloudward"]
PAGES = ["/", "/index.html", "/products/", "/products/17", "/cart", "/static/app.js", "/static/site.css",
         "/images/logo.png", "/wp-content/themes/shop/style.css", "/about/", "/blog/2026/11/sale", "/favicon.ico"]
AGENTS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
          "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"]
ALERT = "AppServices_PhpInUploadFolder"


def clf_time(t: float) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t))


def ordinary_line(rng: random.Random, t: float) -> str:
    page = rng.choice(PAGES)
    status = 404 if rng.random() < 0.03 else (304 if rng.random() < 0.08 else 200)
    ip = f"198.51.{rng.randrange(100, 104)}.{rng.randrange(1, 255)}"
    return (f'{ip} - - [{clf_time(t)}] "GET {page} HTTP/1.1" {status} {rng.randrange(200, 40000)} '
            f'"https://shop.example.com/" "{rng.choice(AGENTS)}"\n')


def attack_line(n: int, t: float) -> tuple[str, str]:
    ip = f"203.0.{113 + n // 250}.{1 + n % 250}"
    return ip, (f'{ip} - - [{clf_time(t)}] "POST /wp-content/uploads/2026/12/s{n}.php?c=id HTTP/1.1" 200 312 '
                f'"-" "python-requests/2.32.3"\n')


class SinkReader(threading.Thread):
    """Follows the sink's JSON-lines file; remembers when each attack address's alert first appeared."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        pos = 0
        pending = b""
        while not self.stop.is_set():
            try:
                with self.path.open("rb") as fh:
                    fh.seek(pos)
                    data = fh.read()
            except FileNotFoundError:
                data = b""
            now = time.monotonic()
            if data:
                pos += len(data)
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if not line.strip():
                        continue
                    alert = orjson.loads(line)
                    if alert.get("alert_type") == ALERT:
                        ip = str((alert.get("entities") or {}).get("source_ip") or "")
                        self.seen.setdefault(ip, now)
            time.sleep(0.005)


def wait_for(reader: SinkReader, ip: str, timeout: float) -> float | None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if ip in reader.seen:
            return reader.seen[ip]
        time.sleep(0.002)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=1000.0, help="ordinary lines per second in the delay phase")
    ap.add_argument("--seconds", type=float, default=30.0, help="length of the delay phase")
    ap.add_argument("--attack-every", type=float, default=1.0, help="seconds between attack lines")
    ap.add_argument("--burst", type=int, default=500_000, help="lines appended at once in the throughput phase")
    ap.add_argument("--interval", type=float, default=1.0, help="tail's --interval (seconds between passes)")
    args = ap.parse_args()

    work = OUT / f"tail-bench-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log, sink, db = work / "access.log", work / "alerts.jsonl", work / "tail.db"
    (work / "cloudward.toml").write_text(f'[[sinks]]\ntype = "jsonl_file"\npath = "{sink}"\n')
    rng = random.Random(7)
    t0 = time.time()
    with log.open("w") as fh:  # a log that exists before tail starts, as on a running server
        fh.writelines(ordinary_line(rng, t0) for _ in range(1000))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([*CLOUDWARD, "tail", str(log), "--store", str(db), "-c", str(work / "cloudward.toml"),
                             "--site", "shop.example.com", "--interval", str(args.interval)],
                            env=env, stdout=subprocess.DEVNULL, stderr=open(work / "tail.stderr", "wb"))
    reader = SinkReader(sink)
    reader.start()
    written = 1000
    delays: list[float] = []
    missing: list[str] = []
    try:
        # warm-up: the first attack line tells when tail has started and read the file
        ip, line = attack_line(0, time.time())
        with log.open("a") as fh:
            fh.write(line)
        written += 1
        if wait_for(reader, ip, 60) is None:
            raise SystemExit(f"tail raised no alert within 60 s (see {work / 'tail.stderr'})")
        # phase 1: steady traffic, an attack line every attack_every seconds
        n = 1
        start = time.monotonic()
        next_attack = start + args.attack_every
        attacks: list[tuple[str, float]] = []
        with log.open("a", buffering=1) as fh:
            while (now := time.monotonic()) - start < args.seconds:
                due = int((now - start) * args.rate) - (written - 1001 - len(attacks))
                if due > 0:
                    t = time.time()
                    fh.write("".join(ordinary_line(rng, t) for _ in range(due)))
                    written += due
                if now >= next_attack:
                    ip, line = attack_line(n, time.time())
                    fh.write(line)
                    fh.flush()
                    attacks.append((ip, time.monotonic()))
                    written += 1
                    n += 1
                    next_attack += args.attack_every
                time.sleep(0.002)
        for ip, at in attacks:
            seen = wait_for(reader, ip, 30)
            if seen is None:
                missing.append(ip)
            else:
                delays.append(seen - at)
        # phase 2: a burst, then one attack line
        t = time.time()
        burst = "".join(ordinary_line(rng, t) for _ in range(args.burst))
        ip, line = attack_line(n, t)
        began = time.monotonic()
        with log.open("a") as fh:
            fh.write(burst)
            fh.write(line)
        written += args.burst + 1
        seen = wait_for(reader, ip, 600)
        if seen is None:
            missing.append(ip)
        burst_seconds = (seen or time.monotonic()) - began
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        reader.stop.set()

    # every line read: the offset tail committed for the file is the file's size (whole lines only)
    con = sqlite3.connect(db)
    try:
        offsets = con.execute("select offset from tail_offsets").fetchall()
    finally:
        con.close()
    size = log.stat().st_size
    if missing:
        raise SystemExit(f"{len(missing)} attack lines raised no alert: {missing[:5]}")
    if [o for (o,) in offsets] != [size]:
        raise SystemExit(f"tail's committed offsets {offsets} are not the file's size {size}: lines were not read")
    delays.sort()
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    load = os.getloadavg()[0]
    print("| what | result |\n|---|---|")
    print(f"| lines written | {written:,}, {size / 1e6:,.0f} MB "
          "(every one read: the committed offset is the file's size) |")
    print(f"| steady phase | {args.rate:,.0f} lines/s for {args.seconds:.0f} s, {len(delays)} attack lines, "
          f"tail --interval {args.interval:g} s |")
    print(f"| delay from write to alert in the sink | p50 {statistics.median(delays) * 1000:,.0f} ms, "
          f"p99 {p99 * 1000:,.0f} ms, max {delays[-1] * 1000:,.0f} ms |")
    print(f"| burst of {args.burst:,} lines + 1 attack line | alert after {burst_seconds:.2f} s: "
          f"**{args.burst / burst_seconds:,.0f} lines/s** |")
    print(f"| load average (1 min) at the end | {load:.1f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
