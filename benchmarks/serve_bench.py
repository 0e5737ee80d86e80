"""Load on `cloudward serve`: concurrent clients on loopback post realistic 400-event audit EventLists
(the generator of `k8s_bench.py`: mostly reads, ~2 KB each, a few attacks) for a fixed time.

Reports sustained events/s, p50/p99 time to the 2xx, the server's CPU and RSS (start and end), and
events lost: the events the server acknowledged (run, or skipped by the prefilter `scan` also uses) must
equal the events sent, and the redelivery keys it committed the events it ran. Every request's
auditIDs are unique (the round number is written into them).

    python benchmarks/serve_bench.py [--seconds 20] [--clients 4] [--batch 400] [--rss-every 10]

With `--rss-every N` the server's RSS (and events/s over the interval) is printed every N seconds: memory
should level off (bounded redelivery memory, caches) rather than grow with the events received.
The 1-minute load average before and after is printed: other work on the machine distorts the figures.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from k8s_bench import generate  # noqa: E402

TOKEN = "bench-ingest-token-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds, RSS bytes) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return cpu, rss


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--batch", type=int, default=400)
    ap.add_argument("--events", type=int, default=20_000, help="distinct events generated (cycled, re-id'd)")
    ap.add_argument("--redelivery-keys", type=int, default=0,
                    help="[server] redelivery_keys for the run (0: the default); a small one shows RSS level off")
    ap.add_argument("--rss-every", type=float, default=0.0, help="print the server's RSS every N seconds")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cw-serve-bench-"))
    source = work / "audit.log"
    generate(source, args.events)
    lines = source.read_bytes().splitlines()
    sizes = [len(x) for x in lines]
    batches = []
    for i in range(0, len(lines) - args.batch + 1, args.batch):
        items = b",".join(lines[i:i + args.batch])
        batches.append(b'{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[' + items + b"]}")
    keys = f"redelivery_keys = {args.redelivery_keys}\n" if args.redelivery_keys else ""
    (work / "cw.toml").write_text(f'[server]\n{keys}\n[[server.tokens]]\nname = "bench"\nrole = "ingest"\n'
                                  f'secret = "{TOKEN}"\n')
    port = _free_port()
    db = work / "cw.db"
    proc = subprocess.Popen([sys.executable, "-m", "cloudward", "serve", "--config", str(work / "cw.toml"),
                             "--db", str(db), "--listen", f"127.0.0.1:{port}"],
                            stdout=open(work / "serve.out", "wb"), stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        cpu0, rss0 = _proc_stats(proc.pid)
        latencies: list[float] = []
        accepted = [0]
        sent = [0]
        refused = [0]
        ran = [0]
        errors: list[str] = []
        lock = threading.Lock()
        counter = [0]
        stop_at = time.monotonic() + args.seconds

        def client() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            while time.monotonic() < stop_at:
                with lock:
                    n = counter[0]
                    counter[0] += 1
                rnd, idx = divmod(n, len(batches))
                body = batches[idx].replace(b'"auditID":"00000000-', b'"auditID":"%08x-' % (rnd + 1))
                started = time.monotonic()
                while True:
                    conn.request("POST", "/k8s-audit", body, {"Authorization": f"Bearer {TOKEN}",
                                                              "Content-Type": "application/json"})
                    resp = conn.getresponse()
                    data = resp.read()
                    if resp.status == 429:
                        with lock:
                            refused[0] += 1
                        time.sleep(float(resp.headers.get("Retry-After", "1")) / 10)
                        continue
                    break
                took = time.monotonic() - started
                with lock:
                    if resp.status != 200:
                        errors.append(f"{resp.status} {data[:200]!r}")
                        continue
                    latencies.append(took)
                    result = orjson.loads(data)
                    accepted[0] += result["accepted"] + result.get("skipped", 0)
                    ran[0] += result["accepted"]
                    sent[0] += args.batch

        load0 = os.getloadavg()[0]
        began = time.monotonic()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        if args.rss_every > 0:
            print("| t s | events/s in interval | RSS MB |\n|---|---|---|", flush=True)
            last_t, last_n = began, 0
            while any(t.is_alive() for t in threads):
                for t in threads:
                    t.join(max(0.0, last_t + args.rss_every - time.monotonic()))
                now = time.monotonic()
                if now - last_t < args.rss_every * 0.99 and any(t.is_alive() for t in threads):
                    continue
                with lock:
                    n = accepted[0]
                print(f"| {now - began:.0f} | {(n - last_n) / (now - last_t):,.0f} "
                      f"| {_proc_stats(proc.pid)[1] / 2**20:.0f} |", flush=True)
                last_t, last_n = now, n
        for t in threads:
            t.join()
        elapsed = time.monotonic() - began
        cpu1, rss1 = _proc_stats(proc.pid)
        load1 = os.getloadavg()[0]
        keys = sqlite3.connect(db).execute("SELECT COUNT(*) FROM redelivery").fetchone()[0]
        alerts = sqlite3.connect(db).execute("SELECT alert_type, count FROM alerts").fetchall()
        latencies.sort()
        # every event run leaves a redelivery key, unless the store pruned the oldest (past 2x the memory's size)
        from cloudward.server.settings import ServerSettings

        limit = args.redelivery_keys or ServerSettings.redelivery_keys  # the configured or default size
        pruned = ran[0] > 2 * limit
        # pruned: the store must still hold at least the newest 2x redelivery_keys
        lost = sent[0] - accepted[0] + (max(0, 2 * limit - keys) if pruned else ran[0] - keys)
        p = (lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000) if latencies else None
        print("| clients | batch | seconds | requests | events/s | p50 ms | p99 ms | server CPU % | RSS start→end MB "
              "| events lost |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        print(f"| {args.clients} | {args.batch} | {elapsed:.1f} | {len(latencies)} | {accepted[0] / elapsed:,.0f} "
              f"| {p(0.5):.0f} | {p(0.99):.0f} | {100 * (cpu1 - cpu0) / elapsed:.0f} "
              f"| {rss0 / 2**20:.0f}→{rss1 / 2**20:.0f} | {lost} |")
        print(f"\nevents sent {sent[0]:,}, acknowledged {accepted[0]:,} (run by the cards {ran[0]:,}, skipped by "
              f"the prefilter as of no interest to any card {accepted[0] - ran[0]:,}); redelivery keys committed "
              f"{keys:,} ({'the newest: the store keeps ~2x redelivery_keys' if pruned else 'one per event run'}); "
              f"429 answers {refused[0]}; errors {len(errors)} {errors[:3]}; mean event "
              f"{statistics.mean(sizes):,.0f} bytes; alerts {sorted(alerts)[:5]}; load average (1 min) "
              f"{load0:.2f} before, {load1:.2f} after")
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(30)


if __name__ == "__main__":
    main()
