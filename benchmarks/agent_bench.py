"""Cost of `cloudward agent` on a busy host: a load generator execs short processes at a steady rate
(a share of them inside a namespace "container" — new pid, mount and network namespaces and a cgroup
named like Docker's), while the real agent watches through the kernel audit stream with every card
on. Reported: the agent's CPU (% of one core, user+system from /proc/<pid>/stat), its RSS (peak and
at the end), and the share of the generated execs it captured with their full argv — and, for the
container's execs, with the container id.

Needs root (the audit socket, cgroups, unshare). Each generated process runs `/bin/true <marker>`;
the agent's event log (`events_file`) is matched against the markers afterwards.

    python benchmarks/agent_bench.py                       # 500 execs/s for 60 s, 20% in the container
    python benchmarks/agent_bench.py --rate 1000 --seconds 20
Results are printed as Markdown for benchmarks/agent.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONTAINER_ID = "be7c4" + "0" * 59
CLK = os.sysconf("SC_CLK_TCK")

GENERATOR = r'''
import os, sys, time
rate, seconds, tag = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
interval = 1.0 / rate
start = time.monotonic()
n = 0
while True:
    now = time.monotonic()
    if now - start >= seconds:
        break
    due = start + n * interval
    if due > now:
        time.sleep(due - now)
    pid = os.posix_spawn("/bin/true", ["/bin/true", f"cwbench-{tag}-{n}", "--with", "arguments"], os.environ)
    os.waitpid(pid, 0)
    n += 1
print(n)
'''


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK, int(fields[12]) / CLK


def rss_kb(pid: int, key: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def make_cgroups() -> list[Path]:
    made = []
    for base in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        root = Path(base)
        if not (root / "cgroup.procs").exists():
            continue
        path = root / "docker" / CONTAINER_ID
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        made.append(path)
    return made


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=500.0, help="execs per second in total")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--container-share", type=float, default=0.2)
    ap.add_argument("--no-event-log", action="store_true", help="measure the agent without its event log "
                    "(captures cannot be counted then)")
    ap.add_argument("--generators", type=int, default=4, help="host load-generator processes (one more in the "
                    "container); each spawns and reaps one process at a time")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("agent_bench needs root")
    work = Path(tempfile.mkdtemp(prefix="cw-agent-bench-"))
    events = work / "events.jsonl"
    status = work / "status.json"
    (work / "agent.toml").write_text(
        f'[agent]\ncollectors = ["audit", "host_config"]\nstatus_file = "{status}"\n'
        + ("" if args.no_event_log else f'events_file = "{events}"\n'))
    (work / "gen.py").write_text(GENERATOR)
    agent = subprocess.Popen([sys.executable, "-m", "cloudward", "agent", "-c", str(work / "agent.toml")],
                             stdout=subprocess.DEVNULL, stderr=(work / "agent.stderr").open("wb"))
    deadline = time.monotonic() + 30
    while True:
        try:
            st = json.loads(status.read_text())
            if st.get("pid") == agent.pid and st["collectors"]["audit"]["state"] == "ok":
                break
        except (OSError, ValueError, KeyError):
            pass
        if time.monotonic() > deadline or agent.poll() is not None:
            sys.exit(f"agent did not start: {(work / 'agent.stderr').read_text()}")
        time.sleep(0.1)
    time.sleep(1.0)  # let start-up work (imports, cards) settle before measuring
    if os.environ.get("CW_BENCH_PROFILE"):  # a flame profile of the agent while it works (py-spy)
        subprocess.Popen(["py-spy", "record", "--gil", "--pid", str(agent.pid), "-r", "100",
                          "-d", str(int(args.seconds)), "-f", "raw", "-o", os.environ["CW_BENCH_PROFILE"]],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cgroups = make_cgroups()
    host_rate = args.rate * (1 - args.container_share)
    box_rate = args.rate * args.container_share
    join = " ; ".join(f"echo $$ > {p}/cgroup.procs" for p in cgroups)
    cpu0, t0 = cpu_times(agent.pid), time.monotonic()
    peak = 0
    host_gens = [subprocess.Popen([sys.executable, str(work / "gen.py"), str(host_rate / args.generators),
                                   str(args.seconds), f"host{i}"], stdout=subprocess.PIPE, text=True)
                 for i in range(args.generators)]
    box_gen = subprocess.Popen(
        ["sh", "-c", f'{join} ; exec unshare --fork --pid --mount-proc --net "$0" "$@"', sys.executable,
         str(work / "gen.py"), str(box_rate), str(args.seconds), "box"], stdout=subprocess.PIPE, text=True)
    while any(g.poll() is None for g in [*host_gens, box_gen]):
        peak = max(peak, rss_kb(agent.pid))
        time.sleep(0.5)
    wall = time.monotonic() - t0
    cpu1 = cpu_times(agent.pid)
    user, system = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    host_n = sum(int(g.stdout.read().strip() or 0) for g in host_gens)  # type: ignore[union-attr]
    box_n = int(box_gen.stdout.read().strip() or 0)  # type: ignore[union-attr]
    time.sleep(2.0)  # the last events through the pipeline
    rss_end, hwm = rss_kb(agent.pid), rss_kb(agent.pid, "VmHWM")
    st = json.loads(status.read_text())
    agent.terminate()
    agent.wait(30)
    for path in cgroups:
        try:
            path.rmdir()
        except OSError:
            pass
    seen: dict[str, bool] = {}
    with (events.open("rb") if events.exists() else open(os.devnull, "rb")) as fh:
        for line in fh:
            if b"cwbench-" not in line:
                continue
            ev = json.loads(line)
            argv = ev.get("argv") or []
            if len(argv) == 4 and argv[1].startswith("cwbench-") and argv[2:] == ["--with", "arguments"]:
                marker = argv[1]
                in_box = marker.startswith("cwbench-box-")
                seen[marker] = (not in_box) or ev.get("container_id") == CONTAINER_ID
    host_full = sum(1 for m, ok in seen.items() if m.startswith("cwbench-host") and ok)
    box_full = sum(1 for m, ok in seen.items() if m.startswith("cwbench-box-") and ok)
    total = host_n + box_n
    audit = st["collectors"]["audit"]
    print(f"## Agent cost: {args.rate:.0f} execs/s for {args.seconds:.0f} s "
          f"({args.container_share:.0%} in a namespace container)\n")
    print("| measure | value | target |\n|---|---|---|")
    print(f"| execs generated | {total} ({total / wall:.0f}/s; {box_n} in the container) | ≥ 500/s |")
    print(f"| agent CPU | {100 * (user + system) / wall:.1f} % of one core (user {100 * user / wall:.1f} %, "
          f"system {100 * system / wall:.1f} %) | < 5 % |")
    print(f"| agent CPU per exec | {1e6 * (user + system) / max(host_n + box_n, 1):.0f} µs | |")
    print(f"| agent RSS | peak {max(peak, hwm) / 1024:.0f} MB, at the end {rss_end / 1024:.0f} MB | < 150 MB |")
    print(f"| captured with full argv (host) | {host_full}/{host_n} = {100 * host_full / max(host_n, 1):.2f} % | |")
    print(f"| captured with full argv and container id | {box_full}/{box_n} = "
          f"{100 * box_full / max(box_n, 1):.2f} % | |")
    print(f"| captured, all | {100 * (host_full + box_full) / max(total, 1):.2f} % | ≥ 99.5 % |")
    print(f"| kernel lost / socket overruns / cgroup misses | {audit.get('kernel_lost', 0)} / "
          f"{audit.get('overruns', 0)} / {audit.get('misses', 0)} | |")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
