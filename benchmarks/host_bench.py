"""Host telemetry throughput: the real Pipeline (parse, process tree, container context, all cards)
against the parser alone (the parse-only ceiling), on the same generated files, in one run.

Two inputs are generated once into benchmarks/out/:

* an auditd log (ENRICHED, as Debian's auditd writes it) with 1,000,000 execve events plus 50,000 connect
  events: SYSCALL, EXECVE (hex-encoded where arguments hold spaces), CWD, PATH and PROCTITLE records.
  60% are host processes (cron jobs, shell sessions, log tools), 35% run inside containers started by
  containerd shims (web apps, workers, health checks), 5% are web-server children (php-fpm running
  sendmail, convert); a few dozen attacks give the cards something to find;
* a Tetragon JSON export with 1,000,000 events: 70% process_exec, 25% process_exit, 5% process_kprobe
  tcp_connect, across 200 pods on 3 nodes.

Each phase runs in its own process (so peak RSS is its own), alternating, `--repeat` times each:

    python benchmarks/host_bench.py                      # 1,000,000 events of each
    python benchmarks/host_bench.py --events 200000      # quicker
    python benchmarks/host_bench.py --baseline /work/main/src   # main and this tree, alternately
    python benchmarks/host_bench.py --kinds tetragon             # one input only
Results are printed as Markdown for benchmarks/host.md.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bytecode_cache  # noqa: E402

OUT = HERE / "out"
GS = "\x1d"
USERS = {0: "root", 33: "www-data", 1000: "deploy", 1001: "alice"}


# -- auditd ------------------------------------------------------------------------------------
def _quote(value: str) -> str:
    raw = value.encode()
    if raw and all(0x21 <= b <= 0x7E and b != 0x22 for b in raw):
        return f'"{value}"'
    return raw.hex().upper()


def _exec_event(serial: int, t: float, pid: int, ppid: int, exe: str, argv: list[str], uid: int, cwd: str) -> str:
    stamp = f"{t:.3f}:{serial}"
    name = USERS.get(uid, str(uid))
    args = " ".join(f"a{i}={_quote(a)}" for i, a in enumerate(argv))
    return (
        f"type=SYSCALL msg=audit({stamp}): arch=c000003e syscall=59 success=yes exit=0 a0=55d4b226e180 "
        f"a1=55d4b226e660 a2=55d4b22587a0 a3=8 items=2 ppid={ppid} pid={pid} auid=4294967295 uid={uid} gid={uid} "
        f"euid={uid} suid={uid} fsuid={uid} egid={uid} sgid={uid} fsgid={uid} tty=(none) ses=4294967295 "
        f"comm={_quote(exe.rsplit('/', 1)[-1][:15])} exe={_quote(exe)} key=\"cw_exec\"{GS}ARCH=x86_64 "
        f'SYSCALL=execve AUID="unset" UID="{name}" GID="{name}" EUID="{name}" SUID="{name}" FSUID="{name}" '
        f'EGID="{name}" SGID="{name}" FSGID="{name}"\n'
        f"type=EXECVE msg=audit({stamp}): argc={len(argv)} {args}\n"
        f"type=CWD msg=audit({stamp}): cwd={_quote(cwd)}\n"
        f"type=PATH msg=audit({stamp}): item=0 name={_quote(exe)} inode=260601 dev=fe:00 mode=0100755 ouid=0 "
        f"ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0"
        f'{GS}OUID="root" OGID="root"\n'
        f"type=PATH msg=audit({stamp}): item=1 name=\"/lib64/ld-linux-x86-64.so.2\" inode=338944 dev=fe:00 "
        f"mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 "
        f'cap_frootid=0{GS}OUID="root" OGID="root"\n'
        f"type=PROCTITLE msg=audit({stamp}): proctitle={chr(0).join(argv).encode()[:128].hex().upper()}\n"
    )


def _connect_event(serial: int, t: float, pid: int, ppid: int, exe: str, argv: list[str], ip: str, port: int) -> str:
    stamp = f"{t:.3f}:{serial}"
    saddr = "0200" + f"{port:04X}" + "".join(f"{int(o):02X}" for o in ip.split(".")) + "0" * 16
    return (
        f"type=SYSCALL msg=audit({stamp}): arch=c000003e syscall=42 success=no exit=-115 a0=3 a1=7ffd0 a2=10 a3=0 "
        f"items=0 ppid={ppid} pid={pid} auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 "
        f"tty=(none) ses=4294967295 comm={_quote(exe.rsplit('/', 1)[-1])} exe={_quote(exe)} key=\"cw_net\"{GS}"
        f'ARCH=x86_64 SYSCALL=connect AUID="unset" UID="root" GID="root" EUID="root" SUID="root" FSUID="root" '
        f'EGID="root" SGID="root" FSGID="root"\n'
        f"type=SOCKADDR msg=audit({stamp}): saddr={saddr}{GS}SADDR={{ saddr_fam=inet laddr={ip} lport={port} }}\n"
        f"type=PROCTITLE msg=audit({stamp}): proctitle={chr(0).join(argv).encode().hex().upper()}\n"
    )


HOST_COMMANDS = [
    ("/usr/bin/ls", lambda n: ["ls", "-la", f"/var/log/app/{n % 97}"]),
    ("/usr/bin/grep", lambda n: ["grep", "-c", "ERROR", f"/var/log/app/worker-{n % 31}.log"]),
    ("/usr/bin/python3.11", lambda n: ["python3", "/opt/tools/report.py", "--day", f"2026-11-{n % 28 + 1:02d}"]),
    ("/usr/bin/bash", lambda n: ["bash", "-c", f"gzip -9 /var/log/app/old-{n % 500}.log && echo done"]),
    ("/usr/bin/date", lambda n: ["date", "+%Y-%m-%dT%H:%M:%S"]),
    ("/usr/bin/awk", lambda n: ["awk", "{ s += $3 } END { print s }", f"/srv/data/part-{n % 64}.csv"]),
    ("/usr/bin/systemctl", lambda n: ["systemctl", "is-active", f"app-{n % 12}.service"]),
    ("/usr/bin/curl", lambda n: ["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:9100/metrics?n={n % 7}"]),
    ("/usr/bin/find", lambda n: ["find", "/srv/backups", "-mtime", "+7", "-name", f"*.{n % 5}.tar.gz"]),
    ("/usr/bin/sed", lambda n: ["sed", "-i", f"s/old-{n % 9}/new/g", "/etc/app/settings.conf"]),
]
CONTAINER_COMMANDS = [
    ("/usr/local/bin/node", lambda n: ["node", "/app/server.js", "--port", "8080"]),
    ("/bin/sh", lambda n: ["sh", "-c", f"wget -q -O- http://orders:8080/health?probe={n % 11}"]),
    ("/usr/bin/java", lambda n: ["java", "-Xmx512m", "-jar", "/app/worker.jar", f"--shard={n % 16}"]),
    ("/usr/local/bin/python", lambda n: ["python", "-m", "celery", "-A", "shop", "worker", f"--hostname=w{n % 40}"]),
    ("/bin/cat", lambda n: ["cat", f"/proc/{n % 300}/status"]),
    ("/usr/bin/pg_isready", lambda n: ["pg_isready", "-h", "orders-db", "-p", "5432"]),
]
WEB_COMMANDS = [
    ("/usr/sbin/sendmail", lambda n: ["/usr/sbin/sendmail", "-t", "-i", f"-fnoreply{n % 3}@shop.example"]),
    ("/usr/bin/convert", lambda n: ["convert", f"/srv/www/uploads/img-{n}.jpg", "-resize", "800x600",
                                    f"/srv/www/cache/img-{n}.webp"]),
]
ATTACKS = [
    ("/usr/bin/dash", ["sh", "-c", "id;uname -a"], 33, "web"),
    ("/tmp/.x/kworkerd", ["/tmp/.x/kworkerd"], 33, "web"),
    ("/usr/bin/sudo", ["sudo", "-n", "/usr/sbin/useradd", "-o", "-u", "0", "svc"], 33, "web"),
    ("/usr/sbin/dockerd", ["dockerd", "-H", "fd://", "-H", "tcp://0.0.0.0:2375"], 0, "host"),
    ("/usr/bin/docker", ["docker", "run", "-d", "--privileged", "--name", "tool", "alpine:3.20", "sleep", "1d"], 0,
     "host"),
    ("/tmp/xmrig", ["/tmp/xmrig", "-o", "stratum+tcp://pool.supportxmr.com:3333", "--donate-level", "1"], 0,
     "container"),
    ("/usr/bin/wget", ["wget", "-qO-", "https://kubernetes.default.svc/api/v1/secrets"], 0, "container"),
]


def write_audit(path: Path, n_exec: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    t = 1795931000.0
    serial = 1000
    pid = 10000
    lines: list[str] = []
    out = path.open("w", encoding="utf-8")

    def emit(text: str) -> None:
        lines.append(text)
        if len(lines) >= 20000:
            out.write("".join(lines))
            lines.clear()

    def nextpid() -> int:
        nonlocal pid
        pid = pid + 1 if pid < 4_000_000 else 10000
        return pid

    # long-lived parents: cron, two login shells, nginx + php-fpm (www-data), 20 container shims + inits
    host_parents = []
    for exe, argv in (("/usr/sbin/cron", ["/usr/sbin/cron", "-f"]), ("/usr/bin/bash", ["-bash"]),
                      ("/usr/bin/bash", ["-bash"])):
        serial += 1
        p = nextpid()
        emit(_exec_event(serial, t, p, 1, exe, argv, 0, "/"))
        host_parents.append(p)
    serial += 1
    fpm = nextpid()
    emit(_exec_event(serial, t, fpm, 1, "/usr/sbin/php-fpm8.2", ["php-fpm: pool www"], 33, "/"))
    containers = []
    for c in range(20):
        cid = f"{c:02x}" * 32
        serial += 1
        shim = nextpid()
        emit(_exec_event(serial, t, shim, 1, "/usr/bin/containerd-shim-runc-v2",
                         ["/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", cid, "-address",
                          "/run/containerd/containerd.sock"], 0, "/"))
        serial += 1
        init = nextpid()
        emit(_exec_event(serial, t, init, shim, "/usr/local/bin/node", ["node", "/app/server.js"], 1000, "/app"))
        containers.append(init)
    produced = 3 + 1 + 40
    attack_every = max(n_exec // 40, 1)
    n = 0
    while produced < n_exec:
        n += 1
        serial += 1
        t += 0.0005
        p = nextpid()
        if n % attack_every == 0:
            exe, argv, uid, where = ATTACKS[(n // attack_every) % len(ATTACKS)]
            parent = fpm if where == "web" else (rng.choice(containers) if where == "container" else host_parents[1])
            emit(_exec_event(serial, t, p, parent, exe, argv, uid, "/"))
        else:
            r = rng.random()
            if r < 0.60:
                exe, make = HOST_COMMANDS[n % len(HOST_COMMANDS)]
                emit(_exec_event(serial, t, p, host_parents[n % 3], exe, make(n), 0 if n % 4 else 1000, "/root"))
            elif r < 0.95:
                exe, make = CONTAINER_COMMANDS[n % len(CONTAINER_COMMANDS)]
                emit(_exec_event(serial, t, p, containers[n % 20], exe, make(n), 1000, "/app"))
            else:
                exe, make = WEB_COMMANDS[n % len(WEB_COMMANDS)]
                emit(_exec_event(serial, t, p, fpm, exe, make(n), 33, "/srv/www"))
        produced += 1
        if n % 20 == 0:
            serial += 1
            emit(_connect_event(serial, t, p, containers[n % 20], "/usr/local/bin/node", ["node", "/app/server.js"],
                                f"10.244.{n % 4}.{n % 250 + 2}", 5432))
    out.write("".join(lines))
    out.close()


# -- Tetragon ------------------------------------------------------------------------------------
def _pod(i: int) -> dict:
    cid = f"{i:04x}" * 16
    return {"namespace": f"team-{i % 12}", "name": f"svc-{i % 50}-7d9f8b6c5d-{i:05d}",
            "container": {"id": f"containerd://{cid}", "name": f"svc-{i % 50}",
                          "image": {"id": f"ghcr.io/acme/svc-{i % 50}@sha256:{cid}",
                                    "name": f"ghcr.io/acme/svc-{i % 50}:1.4.{i % 7}"},
                          "start_time": "2026-11-02T08:00:00Z", "pid": 1},
            "pod_labels": {"app.kubernetes.io/name": f"svc-{i % 50}", "pod-template-hash": "7d9f8b6c5d"}}


def _proc(pid: int, binary: str, arguments: str, pod: dict, uid: int = 1000) -> dict:
    return {"exec_id": f"bm9kZS0xOjEyMzQ1Njc4OTA6{pid}", "pid": pid, "uid": uid, "cwd": "/app", "binary": binary,
            "arguments": arguments, "flags": "execve clone", "start_time": "2026-11-02T09:15:27.401327Z",
            "auid": 4294967295, "pod": pod, "docker": pod["container"]["id"][13:44],
            "parent_exec_id": f"bm9kZS0xOjEyMzQ1Njc4MDA6{pid - 1}", "refcnt": 1}


TETRAGON_EXECS = [
    ("/usr/local/bin/node", lambda n: f"/app/server.js --port 8080 --worker {n % 8}"),
    ("/bin/sh", lambda n: f"-c \"wget -q -O- http://orders:8080/health?probe={n % 11}\""),
    ("/usr/bin/java", lambda n: f"-Xmx512m -jar /app/worker.jar --shard={n % 16}"),
    ("/usr/local/bin/python", lambda n: f"-m celery -A shop worker --hostname=w{n % 40}"),
    ("/bin/cat", lambda n: f"/proc/{n % 300}/status"),
    ("/usr/bin/curl", lambda n: f"-s http://inventory:9000/items/{n % 1000}"),
]
TETRAGON_ATTACKS = [
    ("/usr/bin/nsenter", "-t 1 -m -u -n -i -p bash"),
    ("/usr/sbin/sshd", "-D -e"),
    ("/usr/local/bin/kubectl", "get secrets -A"),
    ("/tmp/go-build1/b001/exe/main", "-url https://c2.example:443"),
    ("/usr/bin/curl", "-sk https://kubernetes-dashboard.kubernetes-dashboard.svc/"),
]


def write_tetragon(path: Path, n_events: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    pods = [_pod(i) for i in range(200)]
    nodes = ["node-a", "node-b", "node-c"]
    attack_every = max(n_events // 25, 1)
    with path.open("wb") as out:
        buf: list[bytes] = []
        for n in range(n_events):
            pod = pods[n % 200]
            pid = 100000 + n
            r = rng.random()
            if n and n % attack_every == 0:
                binary, arguments = TETRAGON_ATTACKS[(n // attack_every) % len(TETRAGON_ATTACKS)]
                body = {"process_exec": {"process": _proc(pid, binary, arguments, pod, 0),
                                         "parent": _proc(pid - 1, "/bin/bash", "", pod, 0)}}
            elif r < 0.70:
                binary, make = TETRAGON_EXECS[n % len(TETRAGON_EXECS)]
                body = {"process_exec": {"process": _proc(pid, binary, make(n), pod),
                                         "parent": _proc(pid - 1, "/bin/sh", "/entrypoint.sh", pod)}}
            elif r < 0.95:
                body = {"process_exit": {"process": _proc(pid, "/bin/cat", f"/proc/{n % 300}/status", pod),
                                         "parent": _proc(pid - 1, "/bin/sh", "/entrypoint.sh", pod),
                                         "signal": "", "status": 0, "time": "2026-11-02T09:15:27.501Z"}}
            else:
                body = {"process_kprobe": {
                    "process": _proc(pid, "/usr/bin/curl", f"-s http://inventory:9000/items/{n % 1000}", pod),
                    "parent": _proc(pid - 1, "/bin/sh", "/entrypoint.sh", pod), "function_name": "tcp_connect",
                    "args": [{"sock_arg": {"family": "AF_INET", "type": "SOCK_STREAM", "protocol": "IPPROTO_TCP",
                                           "saddr": "10.244.1.17", "daddr": f"10.96.{n % 200}.{n % 250 + 1}",
                                           "sport": 40000 + n % 20000, "dport": 9000}}],
                    "action": "KPROBE_ACTION_POST"}}
            body["node_name"] = nodes[n % 3]
            # event time moves on, about 2,000 events a second across the nodes, as a busy cluster's export
            # does (one constant time would make every event tie in the engine's reorder buffer)
            micros = (9 * 3600 + 15 * 60 + 27) * 1_000_000 + 401327 + n * 487  # from 09:15:27.401327
            seconds = micros // 1_000_000
            body["time"] = (f"2026-11-02T{seconds // 3600 % 24:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}."
                            f"{micros % 1_000_000:06d}Z")
            buf.append(orjson.dumps(body))
            if len(buf) >= 20000:
                out.write(b"\n".join(buf) + b"\n")
                buf.clear()
        if buf:
            out.write(b"\n".join(buf) + b"\n")


# -- phases (each in its own process) ----------------------------------------------------------
def phase(kind: str, which: str, path: str) -> dict:
    from cloudward.inputs import InputFile
    from cloudward.parsers.auditd import Auditd
    from cloudward.parsers.base import ParseContext
    from cloudward.parsers.json_records import JsonRecords
    from cloudward.parsers.tetragon import Tetragon
    from cloudward.pipeline import Pipeline

    start = time.perf_counter()
    cpu0 = time.process_time()
    if which == "parse":
        ctx = ParseContext()
        src = InputFile(path)
        events = Auditd().parse(src, ctx) if kind == "audit" else JsonRecords().parse(src, ctx, forced=Tetragon())
        n = sum(1 for _ in events)
        stats = ctx.stats
        types: list[str] = []
    else:
        pipe = Pipeline()
        pipe.run_paths([path])
        alerts = pipe.finish()
        n = pipe.stats.events
        stats = pipe.stats
        types = sorted({a.alert_type for a in alerts})
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    return {"events": n, "lines": stats.lines, "rejected": stats.rejected, "seconds": elapsed, "cpu": cpu,
            "rss_mb": _peak_rss_mb(), "alerts": 0 if which == "parse" else len(alerts), "types": types}


#: the alert types the generated attacks raise (a run without all of them did not read its input right)
EXPECTED_TYPES = {
    "audit": {"AppServices_HighPrivilegeCommand", "AppServices_SuspectPhp", "AppServices_TmpFolderExecution",
              "K8S.NODE_KubernetesAPI", "K8S.NODE_PrivilegedContainerArtifacts", "K8S.NODE_Webshell",
              "VM_ExposedDocker", "VM_MinerInContainerImage"},
    "tetragon": {"AppServices_TmpFolderExecution", "K8S.NODE_ContainerSSH", "K8S.NODE_KubernetesAPI",
                 "K8S.NODE_KubernetesDashboard"},
}


def check(kind: str, path: Path, which: str, result: dict) -> None:
    """A figure only counts if the run read every line of its input, refused none, and (end to end) raised
    every alert the generated attacks must raise: a scan that rejected its input is an error, not fast."""
    with path.open("rb") as fh:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b""))
    problems = []
    if result["lines"] != lines:
        problems.append(f"read {result['lines']:,} of {lines:,} lines")
    if result["rejected"]:
        problems.append(f"rejected {result['rejected']:,} records")
    if which == "pipeline" and not EXPECTED_TYPES[kind] <= set(result["types"]):
        problems.append(f"missing alerts {sorted(EXPECTED_TYPES[kind] - set(result['types']))}")
    if problems:
        raise SystemExit(f"{kind} {which} on {path.name}: " + "; ".join(problems))


def _peak_rss_mb() -> float:
    """This process's own peak RSS. ru_maxrss would also count the parent's memory at fork time (Linux
    keeps the pre-exec high-water mark), so VmHWM of the current memory map is read instead."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_phase(kind: str, which: str, path: Path, src: str = "") -> dict:
    """One phase in a fresh process; `src` = another checkout's sources to import cloudward from."""
    out = subprocess.run([sys.executable, __file__, "--phase", kind, which, str(path)], check=True,
                         capture_output=True, env={**os.environ, **({"PYTHONPATH": src} if src else {})})
    return orjson.loads(out.stdout.splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--baseline", default="", help="another checkout's src/ folder (e.g. main's), measured "
                    "alternately with this one on the same inputs; the table then gives both and their ratio")
    ap.add_argument("--inputs", nargs="+", choices=("audit", "tetragon"), default=None,
                    help="which inputs to measure (default both)")
    ap.add_argument("--kinds", default=None, help="the same as --inputs, comma-separated (audit,tetragon)")
    ap.add_argument("--phase", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        print(orjson.dumps(phase(*args.phase)).decode())
        return 0
    bytecode_cache.prepare([args.baseline])
    OUT.mkdir(exist_ok=True)
    files = {"audit": OUT / f"host-audit-{args.events}.log",
             "tetragon": OUT / f"host-tetragon-timed-{args.events}.jsonl"}
    chosen = args.inputs or (args.kinds.split(",") if args.kinds else ["audit", "tetragon"])
    files = {kind: path for kind, path in files.items() if kind in chosen}
    for kind, path in files.items():
        if not path.exists():
            start = time.perf_counter()
            (write_audit if kind == "audit" else write_tetragon)(path, args.events)
            print(f"generated {path.name}: {path.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - start:.0f} s",
                  file=sys.stderr)
    trees = {"this": ""} if not args.baseline else {"baseline": args.baseline, "this": ""}
    rows = []
    for kind, path in files.items():
        best: dict[tuple[str, str], dict] = {}
        for _ in range(args.repeat):
            for tree, src in trees.items():  # alternating, so both see the same machine load
                for which in ("parse", "pipeline"):
                    r = run_phase(kind, which, path, src)
                    check(kind, path, which, r)
                    # CPU time, not wall time: other work on the machine inflates the wall clock far more
                    if (tree, which) not in best or r["cpu"] < best[tree, which]["cpu"]:
                        best[tree, which] = r
        rows.append((kind, path, best))
    print("Rates are events per CPU second of the phase's process (user + system; best of the repeats), wall "
          "seconds in brackets.\n")
    print("| input | sources | events | parse-only events/s | end-to-end events/s | ratio | parse-only peak RSS | "
          "end-to-end peak RSS | alerts |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind, path, best in rows:
        for tree in trees:
            p, e = best[tree, "parse"], best[tree, "pipeline"]
            prate, erate = p["events"] / p["cpu"], e["events"] / e["cpu"]
            print(f"| {kind} ({path.stat().st_size / 1e9:.2f} GB) | {tree} | {e['events']:,} | {prate:,.0f} "
                  f"({p['seconds']:.1f} s) | {erate:,.0f} ({e['seconds']:.1f} s) | **{erate / prate:.2f}×** "
                  f"| {p['rss_mb']:.0f} MB | {e['rss_mb']:.0f} MB | {e['alerts']} |")
        if args.baseline:
            rate = {t: best[t, "pipeline"]["events"] / best[t, "pipeline"]["cpu"] for t in trees}
            prate = {t: best[t, "parse"]["events"] / best[t, "parse"]["cpu"] for t in trees}
            print(f"| {kind} | this / baseline | | **{prate['this'] / prate['baseline']:.2f}×** | "
                  f"**{rate['this'] / rate['baseline']:.2f}×** | | | | |")
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
