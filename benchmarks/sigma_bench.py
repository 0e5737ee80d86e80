"""Sigma rules: scan time with and without the SigmaHQ rules, and Cloudward against pySigma's SQLite backend.

1. Web: every webserver rule of the snapshot (`rules/web`, `rules-emerging-threats`) over >= 1,000,000
   combined-format lines (web_bench.py's generator: ~50 sites, ordinary traffic with ~0.5% hostile) plus a
   file of known attacks. `cloudward scan` runs with and without `--sigma`, alternately, in separate
   processes; lines/s of both and the extra time Sigma adds.
2. Kubernetes: every Kubernetes audit rule over >= 1,000,000 audit events (k8s_bench.py's generator) plus a
   file of known attacks: the same two scans, and the rules converted with pySigma's SQLite backend and run
   over the events loaded into SQLite (JSON parsing, loading and the queries all counted).

Before timing anything, each run's summary is checked: every line read, and the alerts the attack files
must raise were raised (and, for SQLite, that the same rules matched).

The scans with rules run two ways (`cloudward.sigma.cache`): *cold*, with an empty cache folder (the rules
are parsed with pySigma and compiled, as on a first run), and *warm*, with the cache the check run filled
(every later run with the same rules). Both are timed in every round and both are printed; the headline
"time Sigma adds" is the warm one and says so. Before timing, the cold and warm outputs are compared (byte
for byte) and the warm runs are checked to have written no new cache entry (they read the one there).
`--baseline TREE` times another checkout's `cloudward` (TREE/.venv/bin/cloudward, e.g. /work/main) in the
same rounds, alternately, its scan with the rules both cold and warm (a cache of its own), so a change is
measured side by side with the code it changes.

    python benchmarks/sigma_bench.py                      # 1,000,000 lines and 1,000,000 events
    python benchmarks/sigma_bench.py --lines 200000 --events 200000 --repeat 1
Needs `pip install pysigma-backend-sqlite` for the SQLite comparison (skipped, and said so, without it).
Results are printed as Markdown for benchmarks/sigma.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import k8s_bench  # noqa: E402
import web_bench  # noqa: E402

ROOT = HERE.parent
SNAPSHOT = ROOT / "tests" / "data" / "sigma" / "sigmahq"
WEB_RULES = [SNAPSHOT / "rules" / "web", SNAPSHOT / "rules-emerging-threats"]
K8S_RULES = [SNAPSHOT / "rules" / "application" / "kubernetes"]
OUT = HERE / "out"
CLOUDWARD = str(Path(sys.executable).parent / "cloudward")
READ = re.compile(r"Read (\d+) input\(s\), ([\d,]+) lines")

#: attack lines and the rules each must raise
WEB_ATTACKS = [
    ('GET /cgi-bin/../../../etc/passwd HTTP/1.1', 400, "7745c2ea-24a5-4290-b680-04359cb84b35"),
    ('GET /?x=${jndi:ldap://198.51.100.9/a} HTTP/1.1', 200, "5ea8faa8-db8b-45be-89b0-151b84c82702"),
    ('GET /item?id=1%20UNION%20SELECT%20password%20FROM%20users HTTP/1.1', 200, "5513deaf-f49a-46c2-a6c8-3f111b5cb453"),
    ('POST /mgmt/tm/util/bash HTTP/1.1', 200, "85254a62-22be-4239-b79c-2ec17e566c37"),
]


def _web_attacks(path: Path) -> list[str]:
    lines = []
    for i, (request, status, _) in enumerate(WEB_ATTACKS):
        lines.append(f'203.0.113.{10 + i} - - [05/Nov/2026:10:00:{i:02d} +0000] "{request}" {status} 321 "-" '
                     f'"Mozilla/5.0 (X11; Linux x86_64)"')
    path.write_text("\n".join(lines) + "\n")
    return [rid for _, _, rid in WEB_ATTACKS]


def _k8s_attacks(path: Path) -> list[str]:
    def event(i: int, verb: str, resource: str, code: int, *, subresource: str = "", obj: Any = None,
              ns: str = "shop") -> dict[str, Any]:
        ref = {"resource": resource, "namespace": ns, "name": f"x{i}", "apiVersion": "v1"}
        if subresource:
            ref["subresource"] = subresource
        ev = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
              "auditID": f"00000000-0000-4000-8000-{i:012d}", "stage": "ResponseComplete",
              "requestURI": f"/api/v1/namespaces/{ns}/{resource}/x{i}" + (f"/{subresource}" if subresource else ""),
              "verb": verb, "user": {"username": "mallory@example.com", "groups": ["system:authenticated"]},
              "sourceIPs": ["198.51.100.66"], "userAgent": "kubectl/v1.29.2", "objectRef": ref,
              "responseStatus": {"metadata": {}, "code": code},
              "requestReceivedTimestamp": f"2026-11-05T10:00:{i:02d}.000000Z",
              "stageTimestamp": f"2026-11-05T10:00:{i:02d}.100000Z"}
        if obj is not None:
            ev["requestObject"] = obj
        return ev

    host_pod = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "x5", "namespace": "shop"},
                "spec": {"containers": [{"name": "c", "image": "alpine:3.19"}],
                         "volumes": [{"name": "root", "hostPath": {"path": "/"}}]}}
    events = [
        event(1, "create", "pods", 201, subresource="exec"),      # exec into a container
        event(2, "get", "secrets", 403),                          # forbidden
        event(3, "delete", "secrets", 200),                       # secret deleted
        event(4, "list", "secrets", 200),                         # secrets listed
        event(5, "create", "pods", 201, obj=host_pod),            # hostPath mount
    ]
    path.write_text("".join(orjson.dumps(e).decode() + "\n" for e in events))
    return ["a1b0ca4e-7835-413e-8471-3ff2b8a66be6", "0d933542-1f1f-420d-97d4-21b2c3c492d9",
            "58d31a75-a4f8-4c40-985b-373d58162ca2", "eeb3e9e1-b685-44e4-9232-6bb701f925b5",
            "402b955c-8fe0-4a8c-b635-622b4ac5f902"]


#: CPU seconds (user + system) of the last `_run`'s process, from the children's resource usage: on a shared
#: machine the wall time counts other sessions' load too, the CPU time only this process's own work
LAST_CPU = [0.0]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


#: the scans' environment: bytecode is cached as an installed package has it (a session may set
#: PYTHONDONTWRITEBYTECODE, which would make every scan compile Cloudward's sources again, ~0.5 s of CPU,
#: while the SQLite side runs pySigma from the bytecode pip wrote); `_compare`'s first, untimed run writes it
SCAN_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _run(cmd: list[str], cache: str | None = None) -> tuple[float, bytes, str]:
    """Run a scan; `cache` is its XDG_CACHE_HOME (None: a new, empty one, removed afterwards: a cold run)."""
    home = cache if cache is not None else tempfile.mkdtemp(prefix="sigma-bench-cold-")
    env = {**SCAN_ENV, "XDG_CACHE_HOME": home}
    cpu_before = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, check=False, env=env)
    elapsed = time.perf_counter() - start
    LAST_CPU[0] = _children_cpu() - cpu_before
    if cache is None:
        shutil.rmtree(home, ignore_errors=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd[:4])} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    return elapsed, proc.stdout, proc.stderr.decode("utf-8", "replace")


def _cache_entries(home: str) -> list[str]:
    folder = Path(home) / "cloudward"
    return sorted(p.name for p in folder.glob("sigma-rules-*.json")) if folder.is_dir() else []


def _check(stdout: bytes, stderr: str, want_lines: int, want_rules: list[str]) -> tuple[int, set[str]]:
    m = READ.search(stderr)
    if m is None:
        raise SystemExit("no summary on stderr:\n" + stderr[-2000:])
    lines = int(m.group(2).replace(",", ""))
    if lines != want_lines:
        raise SystemExit(f"the scan read {lines:,} lines, the input has {want_lines:,}")
    types = {json.loads(ln)["alert_type"] for ln in stdout.splitlines() if ln.strip()}
    missing = [r for r in want_rules if f"SIGMA_{r}" not in types]
    if missing:
        raise SystemExit(f"expected Sigma alerts missing: {missing}")
    return lines, types


def _count_lines(paths: list[Path]) -> int:
    n = 0
    for p in paths:
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            with open(f, "rb") as fh:
                n += sum(1 for _ in fh)
    return n


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _pct(a: float, b: float) -> str:
    return f"{(a - b) / b * 100:+.0f} %"


def _compare(inputs: list[Path], rules: list[Path], want: list[str], repeat: int, label: str,
             baseline: str | None = None) -> tuple[list[str], float]:
    total = _count_lines(inputs)
    # one process on both sides: a scan with Sigma rules is never split, and `auto` would spread the cards-only
    # scan of a big audit log over the cores (scale_bench.py measures that)
    args = ["scan", *map(str, inputs), "--output", "jsonl", "--no-progress", "--workers", "1"]
    sigma_args = [arg for r in rules for arg in ("--sigma", str(r))]
    warm_home = tempfile.mkdtemp(prefix="sigma-bench-warm-")
    _, out, err = _run([CLOUDWARD, *args, *sigma_args], warm_home)  # check first; fills the warm cache
    _, types = _check(out, err, total, want)
    entries = _cache_entries(warm_home)
    if len(entries) != 1:
        raise SystemExit(f"the check run left {len(entries)} compiled-rule cache entries, expected 1")
    _, cold_out, cold_err = _run([CLOUDWARD, *args, *sigma_args])
    _check(cold_out, cold_err, total, want)
    if cold_out != out:
        raise SystemExit("the cold and warm scans' outputs differ")
    sigma_report = next((ln for ln in err.splitlines() if ln.startswith("Sigma:")), "")
    #: label -> (command, cache home: None for a new empty one each run)
    sides: dict[str, tuple[list[str], str | None]] = {
        "plain": ([CLOUDWARD, *args], None), "warm": ([CLOUDWARD, *args, *sigma_args], warm_home),
        "cold": ([CLOUDWARD, *args, *sigma_args], None)}
    if baseline:
        other = str(Path(baseline) / ".venv" / "bin" / "cloudward")
        base_warm_home = tempfile.mkdtemp(prefix="sigma-bench-base-warm-")
        _, base_out, base_err = _run([other, *args, *sigma_args], base_warm_home)  # fills the baseline's warm cache
        _check(base_out, base_err, total, want)
        if base_out != out:
            print(f"(note: {baseline}'s output with the rules differs from this tree's)", file=sys.stderr)
        sides["base plain"] = ([other, *args], None)
        sides["base sigma"] = ([other, *args, *sigma_args], None)
        # the baseline warm too, so the headline (warm) has a like-for-like baseline in the same rounds
        sides["base sigma warm"] = ([other, *args, *sigma_args], base_warm_home)
    wall: dict[str, list[float]] = {k: [] for k in sides}
    cpu: dict[str, list[float]] = {k: [] for k in sides}
    loads = [_loadavg()]
    for _ in range(repeat):
        for name, (cmd, home) in sides.items():
            wall[name].append(_run(cmd, home)[0])
            cpu[name].append(LAST_CPU[0])
        loads.append(_loadavg())
    if _cache_entries(warm_home) != entries:
        raise SystemExit("a warm run wrote a new compiled-rule cache entry: it did not read the cache")
    shutil.rmtree(warm_home, ignore_errors=True)
    if baseline:
        shutil.rmtree(base_warm_home, ignore_errors=True)
    best = {k: min(v) for k, v in wall.items()}
    best_cpu = {k: min(v) for k, v in cpu.items()}
    p, s_warm, s_cold = best["plain"], best["warm"], best["cold"]
    pc, wc, cc = best_cpu["plain"], best_cpu["warm"], best_cpu["cold"]

    def per_round(side: str, base: str = "plain") -> str:
        """CPU of `side` against `base` in each round (the two ran one right after the other), and their median:
        on a loaded machine the best of each side may come from different rounds, the per-round ratio does not."""
        ratios = [(a - b) / b * 100 for a, b in zip(cpu[side], cpu[base], strict=True)]
        return ", ".join(f"{r:+.0f} %" for r in ratios) + f"; median **{statistics.median(ratios):+.0f} %**"

    sigma_alerts = sum(1 for a in types if a.startswith("SIGMA_"))
    stats = [ln for ln in err.splitlines() if ln.startswith("Recognized")]
    rows = [
        f"| {label}: input | {total:,} records |",
        f"| {label}: `cloudward scan` (cards only) | {total / p:,.0f} /s ({p:.2f} s; {pc:.2f} s CPU) |",
        f"| {label}: `cloudward scan --sigma` (cards + Sigma), warm (compiled-rule cache filled) | "
        f"{total / s_warm:,.0f} /s ({s_warm:.2f} s; {wc:.2f} s CPU), {sigma_alerts} Sigma alert types |",
        f"| {label}: `cloudward scan --sigma`, cold (empty cache: rules parsed and compiled) | "
        f"{total / s_cold:,.0f} /s ({s_cold:.2f} s; {cc:.2f} s CPU) |",
        f"| {label}: time Sigma adds, **warm** (target <= +50 %) | wall **{_pct(s_warm, p)}**, CPU **{_pct(wc, pc)}** "
        f"(CPU per round: {per_round('warm')}) |",
        f"| {label}: time Sigma adds, cold | wall {_pct(s_cold, p)}, CPU {_pct(cc, pc)} (CPU per round: "
        f"{per_round('cold')}) |",
    ]
    if baseline:
        bp, bs = best["base plain"], best["base sigma"]
        bpc, bsc = best_cpu["base plain"], best_cpu["base sigma"]
        rows.append(f"| {label}: baseline `{baseline}`: cards only, cards + Sigma | {bp:.2f} s ({bpc:.2f} s CPU), "
                    f"{bs:.2f} s ({bsc:.2f} s CPU): wall {_pct(bs, bp)}, CPU {_pct(bsc, bpc)} (CPU per round: "
                    f"{per_round('base sigma', 'base plain')}) |")
        bwc = best_cpu["base sigma warm"]
        rows.append(f"| {label}: baseline `{baseline}`, cards + Sigma **warm** (its own filled cache) | "
                    f"{best['base sigma warm']:.2f} s ({bwc:.2f} s CPU): CPU {_pct(bwc, bpc)} (CPU per round: "
                    f"{per_round('base sigma warm', 'base plain')}) |")
    rows += [
        f"| {label}: rules | {sigma_report.split(' (')[0]} |",
        f"| {label}: records parsed with Sigma | {stats[0].split(': ', 1)[-1] if stats else '?'} |",
        f"| {label}: load average (1, 5, 15 min) before each round and at the end | {'; '.join(loads)} |",
    ]
    return rows, s_warm


def sigma_only(inputs: list[Path], rules: list[Path], want: list[str], repeat: int) -> float:
    """Seconds of `cloudward scan --only 'SIGMA_*'` with `rules`, cold (rules parsed and compiled, as the SQLite side
    converts them), the best of `repeat`; the best warm run's seconds go to SIGMA_ONLY_WARM."""
    cmd = [CLOUDWARD, "scan", *map(str, inputs), "--output", "jsonl", "--no-progress", "--only", "SIGMA_*",
           *[arg for r in rules for arg in ("--sigma", str(r))]]
    warm_home = tempfile.mkdtemp(prefix="sigma-bench-warm-")
    _run(cmd, warm_home)
    best = float("inf")
    for _ in range(repeat):
        seconds, out, err = _run(cmd)
        _check(out, err, _count_lines(inputs), want)
        best = min(best, seconds)
        SIGMA_ONLY_CPU[0] = min(SIGMA_ONLY_CPU[0], LAST_CPU[0])
        seconds, out, err = _run(cmd, warm_home)
        _check(out, err, _count_lines(inputs), want)
        SIGMA_ONLY_WARM[0] = min(SIGMA_ONLY_WARM[0], seconds)
    shutil.rmtree(warm_home, ignore_errors=True)
    return best


#: the best wall seconds of `sigma_only`'s warm runs
SIGMA_ONLY_WARM = [float("inf")]
#: the best CPU seconds of `sigma_only`
SIGMA_ONLY_CPU = [float("inf")]


# -- pySigma's SQLite backend over the same events -------------------------------------------------
def _value(doc: dict[str, Any], field: str) -> Any:
    from cloudward.events import K8sAudit
    from cloudward.sigma.fields import COMPUTED

    if field in ("hostPath", "capabilities"):
        ev = K8sAudit(event_id="", doc=doc, verb=str(doc.get("verb", "")), request_object=doc.get("requestObject"),
                      response_object=doc.get("responseObject"))
        v = COMPUTED["pod_host_paths" if field == "hostPath" else "pod_capabilities"](ev)
        return None if v is None else ",".join(v)
    if field == "apiGroup":
        field = "objectRef.apiGroup"
    cur: Any = doc
    for part in field.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    if isinstance(cur, list | dict):
        return orjson.dumps(cur).decode()
    return cur


def sqlite_run(inputs: list[Path], rules: list[Path]) -> tuple[float, set[str], int]:
    from sigma.backends.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection

    started = time.perf_counter()
    cpu_started = time.process_time()
    collection = SigmaCollection.load_ruleset(rules)
    backend = sqliteBackend()
    queries = []
    fields: set[str] = set()
    for rule in collection.rules:
        for q in backend.convert_rule(rule):
            queries.append((str(rule.id), q))
        fields.update(backend.required_fields(rule))
    columns = sorted(fields)
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE logs (" + ", ".join(f"`{c}` COLLATE NOCASE" for c in columns) + ")")
    insert = "INSERT INTO logs VALUES (" + ", ".join("?" for _ in columns) + ")"
    rows: list[tuple[Any, ...]] = []
    loaded = 0
    for path in inputs:
        with open(path, "rb") as fh:
            for line in fh:
                doc = orjson.loads(line)
                rows.append(tuple(_value(doc, c) for c in columns))
                if len(rows) >= 20_000:
                    db.executemany(insert, rows)
                    loaded += len(rows)
                    rows.clear()
    db.executemany(insert, rows)
    loaded += len(rows)
    matched = set()
    for rid, q in queries:
        if db.execute(q.replace("SELECT *", "SELECT COUNT(*)", 1)).fetchone()[0]:
            matched.add(rid)
    SQLITE_CPU[0] = time.process_time() - cpu_started
    return time.perf_counter() - started, matched, loaded


#: CPU seconds of the last `sqlite_run` (it runs in this process)
SQLITE_CPU = [0.0]


def per_event_costs(web_files: list[Path], audit_log: Path, limit: int = 20_000) -> list[str]:
    """CPU time per event of the Sigma rule groups alone, over events parsed beforehand (no I/O, no cards)."""
    from cloudward.config import Config
    from cloudward.parsers import by_name
    from cloudward.parsers.json_records import JsonRecords
    from cloudward.sigma import build

    rows = []
    for label, rules, events in (
        ("web", WEB_RULES, lambda: _first(by_name("combined"), web_files, limit)),  # type: ignore[arg-type]
        ("kubernetes", K8S_RULES, lambda: _first(JsonRecords(), [audit_log], limit)),
    ):
        ruleset = build(Config(), rules)
        group = max(ruleset.groups, key=lambda g: len(g.rules))
        evs = events()
        started = time.process_time()
        matches = sum(len(group.match(e)) for e in evs)
        cpu = time.process_time() - started
        rows.append(f"| {label}: Sigma rule group alone (CPU) | {cpu / len(evs) * 1e6:.1f} µs per event, "
                    f"{len(group.rules)} rules, {len(evs):,} events, {matches} matches |")
    return rows


def _first(fmt: Any, files: list[Path], limit: int) -> list[Any]:
    from cloudward.inputs import InputFile
    from cloudward.parsers.base import ParseContext

    out: list[Any] = []
    for f in files:
        for p in sorted(f.rglob("*.log")) if f.is_dir() else [f]:
            src = InputFile(str(p))
            src.open()
            try:
                for ev in fmt.parse(src, ParseContext()):
                    out.append(ev)
                    if len(out) >= limit:
                        return out
            finally:
                src.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000, help="combined-format lines (default 1,000,000)")
    ap.add_argument("--events", type=int, default=1_000_000, help="audit events (default 1,000,000)")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each side; the best is reported")
    ap.add_argument("--part", choices=("web", "k8s", "both"), default="both")
    ap.add_argument("--baseline", metavar="TREE", help="also time TREE/.venv/bin/cloudward (another checkout, e.g. "
                    "/work/main) in the same rounds")
    ap.add_argument("--no-sqlite", action="store_true", help="skip the SQLite comparison")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    rows = ["| measure | result |", "|---|---|"]
    if args.part in ("web", "both"):
        folder = OUT / f"web-combined-{args.lines}"
        if not folder.exists():
            web_bench.generate(folder, args.lines, "combined")
        attacks = OUT / "sigma-web-attacks.log"
        want = _web_attacks(attacks)
        web_rows, _ = _compare([folder, attacks], WEB_RULES, want, args.repeat, "web", args.baseline)
        rows += web_rows
    if args.part in ("k8s", "both"):
        log = OUT / f"audit-{args.events}.log"
        if not log.exists():
            k8s_bench.generate(log, args.events)
        attacks = OUT / "sigma-k8s-attacks.log"
        want = _k8s_attacks(attacks)
        k8s_rows, cloudward_s = _compare([log, attacks], K8S_RULES, want, args.repeat, "kubernetes", args.baseline)
        rows += k8s_rows
        try:
            if args.no_sqlite:
                raise ImportError
            seconds, matched, loaded = sqlite_run([log, attacks], K8S_RULES)
        except ImportError:
            rows.append("| kubernetes: pySigma SQLite backend | not run (--no-sqlite, or: pip install "
                        "pysigma-backend-sqlite) |")
        else:
            missing = [r for r in want if r not in matched]
            if missing:
                raise SystemExit(f"SQLite queries missed expected rules {missing}")
            only_s = sigma_only([log, attacks], K8S_RULES, want, args.repeat)
            rows.append(f"| kubernetes: pySigma SQLite backend (load rules, convert, parse and load {loaded:,} "
                        f"events, run every query; {len(matched)} rules matched) | {loaded / seconds:,.0f} /s "
                        f"({seconds:.2f} s) |")
            rows.append(f"| kubernetes: `cloudward scan --only 'SIGMA_*'` (load rules, read the same file, run the "
                        f"same rules), cold: rules parsed and compiled | {loaded / only_s:,.0f} /s ({only_s:.2f} s); "
                        f"warm: {SIGMA_ONLY_WARM[0]:.2f} s |")
            rows.append(f"| kubernetes: Cloudward (Sigma only, cold) vs SQLite | **{seconds / only_s:.1f}x** faster "
                        f"(target >= 10x; warm: {seconds / SIGMA_ONLY_WARM[0]:.1f}x) |")
            rows.append(f"| kubernetes: the same in CPU time (user + system): SQLite {SQLITE_CPU[0]:.2f} s, Cloudward "
                        f"{SIGMA_ONLY_CPU[0]:.2f} s | **{SQLITE_CPU[0] / SIGMA_ONLY_CPU[0]:.1f}x** |")
            rows.append(f"| kubernetes: Cloudward (cards + Sigma, warm) vs SQLite (Sigma only) | "
                        f"{seconds / cloudward_s:.1f}x |")
    if args.part == "both":
        rows += per_event_costs([OUT / f"web-combined-{args.lines}"], OUT / f"audit-{args.events}.log")
    print("\n".join(rows))
    print(f"\n(machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
