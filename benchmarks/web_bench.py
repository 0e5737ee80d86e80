"""Web-log throughput: `cloudward scan --output jsonl` end to end against a loop that only matches every
line with one compiled regular expression, on the same generated files, in one run - for nginx/Apache
`combined` logs and for IIS/App Service W3C logs.

The logs imitate ~50 sites over ten days: browsers and crawlers on pages, static assets, WordPress
themes and uploads (mostly 200/304, a few redirects and 404s), administrators signing in, and a small
share (about 0.5%) of hostile traffic - scanners probing sensitive pages across many sites, fingerprinting
tools, a web shell in an upload folder, a theme edit followed by a direct call - so the scan has alerts
to write and its stateful analytics have work to do.

    python benchmarks/web_bench.py                    # 2,000,000 lines per format (generated once)
    python benchmarks/web_bench.py --lines 200000     # quicker
    python benchmarks/web_bench.py --format combined  # one format only
Results are printed as a Markdown table for benchmarks/web.md. Generated logs go to benchmarks/out/.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bytecode_cache  # noqa: E402

OUT = HERE / "out"
SITES = [f"site{i:02d}.example.com" for i in range(50)]
DAYS = 10
START = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
    "Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 "
    "Edg/126.0.2592.87",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
]
SENSITIVE = ["/.env", "/.git/config", "/phpinfo.php", "/wp-config.php.bak", "/actuator/env", "/server-status",
             "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "/.aws/credentials", "/backup.sql", "/xmlrpc.php",
             "/.git/HEAD", "/config.php.bak", "/db.sql.gz", "/info.php", "/.env.production"]
FINGERPRINT = ["/readme.html", "/license.txt", "/CHANGELOG.txt", "/misc/drupal.js", "/media/system/js/core.js",
               "/administrator/manifests/files/joomla.xml", "/wp-includes/js/tinymce/tiny_mce.js"]


def _pages(rng: random.Random) -> list[tuple[str, str, int]]:
    """(method, target, weight) of ordinary requests."""
    pages: list[tuple[str, str, int]] = [
        ("GET", "/", 40), ("GET", "/favicon.ico", 10), ("GET", "/robots.txt", 2),
        ("GET", "/static/css/site.3f9a1c.css", 25), ("GET", "/static/js/app.88d0e2.js", 25),
        ("GET", "/wp-content/themes/shop/style.css?ver=6.5.2", 15),
        ("GET", "/wp-includes/js/jquery/jquery.min.js?ver=3.7.1", 10),
        ("POST", "/wp-admin/admin-ajax.php", 4), ("POST", "/api/cart", 3), ("GET", "/feed/", 2),
        ("GET", "/sitemap.xml", 2),
    ]
    pages += [("GET", f"/products/{i}", 2) for i in range(800)]
    pages += [("GET", f"/blog/{2020 + i % 6}/{i % 12 + 1:02d}/post-{i}/", 1) for i in range(600)]
    pages += [("GET", f"/category/{c}?page={p}", 1) for c in ("shoes", "bags", "hats", "coats") for p in range(1, 30)]
    pages += [("GET", f"/wp-content/uploads/2026/{m:02d}/photo-{i}.jpg", 1) for m in range(1, 11) for i in range(60)]
    pages += [("GET", f"/images/p{i}.webp", 1) for i in range(400)]
    pages += [("GET", f"/search?q=term{i}", 1) for i in range(300)]
    return pages


def _clf_time(t: float) -> str:
    d = datetime.fromtimestamp(t, UTC)
    return f"{d.day:02d}/{MONTHS[d.month - 1]}/{d.year}:{d.hour:02d}:{d.minute:02d}:{d.second:02d} +0000"


def _w3c_time(t: float) -> str:
    d = datetime.fromtimestamp(t, UTC)
    return f"{d.year}-{d.month:02d}-{d.day:02d} {d.hour:02d}:{d.minute:02d}:{d.second:02d}"


W3C_FIELDS = ("#Fields: date time s-sitename cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
              "cs(User-Agent) cs(Cookie) cs(Referer) cs-host sc-status sc-substatus sc-win32-status sc-bytes cs-bytes "
              "time-taken")


def generate(folder: Path, total: int, fmt: str, seed: int = 7) -> None:
    """Write one log per site into `folder`: ordinary traffic plus the hostile share."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    pages = _pages(rng)
    weights = [w for _, _, w in pages]
    clients = [f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
               for _ in range(30_000)]
    scanners = [f"45.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(25)]
    per_site = total // len(SITES)
    span = DAYS * 86400
    for s, site in enumerate(SITES):
        admins = [f"203.0.113.{10 + s % 200}", f"198.51.100.{20 + s % 200}"]
        n = per_site
        picks = rng.choices(range(len(pages)), weights=weights, k=n)
        who = rng.choices(clients, k=n)
        agents = rng.choices(BROWSERS, weights=[30, 15, 12, 15, 12, 5, 6, 3, 2, 1], k=n)
        statuses = rng.choices((200, 304, 302, 404, 500), weights=(86, 8, 3, 2.5, 0.5), k=n)
        rows: list[tuple[str, str, str, int, str, int]] = []
        for i in range(n):
            method, target, _ = pages[picks[i]]
            status = statuses[i]
            size = 0 if status in (304, 302) else 900 + (i * 37) % 40000
            rows.append((who[i], method, target, status, agents[i], size))
        # hostile share: about 0.5% of lines
        for k in range(n // 200):
            ip = scanners[(k + s) % len(scanners)]
            rows.insert(rng.randrange(len(rows)), (ip, "GET", SENSITIVE[(k + s) % len(SENSITIVE)], 404,
                                                   BROWSERS[0] if k % 3 else "Mozilla/5.0 zgrab/0.x", 153))
        for k in range(n // 2000):  # fingerprinting, by behaviour and by agent
            probe = ("66.249.90.7", "GET", FINGERPRINT[k % len(FINGERPRINT)], 200, BROWSERS[1], 4120)
            rows.insert(rng.randrange(len(rows)), probe)
        rows.insert(n // 3, ("91.92.93.94", "GET", "/", 200, "WhatWeb/0.5.5", 8000))
        for d in range(DAYS):  # administrators sign in every day
            rows.insert(d * len(rows) // DAYS + 1, (admins[d % 2], "POST", "/wp-login.php", 302, BROWSERS[1], 0))
        if s == 7:
            rows.insert(int(len(rows) * 0.8), ("185.220.101.4", "POST", "/wp-content/uploads/2026/11/x.php?c=id", 200,
                                                "python-requests/2.31.0", 312))
        if s == 3:
            rows.insert(int(len(rows) * 0.85), ("185.220.101.4", "POST", "/wp-login.php", 302, BROWSERS[2], 0))
            edit = (admins[0], "POST", "/wp-admin/theme-editor.php", 302, BROWSERS[1], 0)
            rows.insert(int(len(rows) * 0.85) + 1, edit)
            rows.insert(int(len(rows) * 0.85) + 2, ("185.220.101.4", "GET", "/wp-content/themes/shop/404.php", 200,
                                                    "curl/8.4.0", 88))
        step = span / len(rows)
        out: list[str] = []
        if fmt == "w3c":
            out += ["#Software: Microsoft Internet Information Services 10.0", "#Version: 1.0",
                    f"#Date: {_w3c_time(START)}", W3C_FIELDS]
        sitename = site.split(".")[0].upper()
        for i, (ip, method, target, status, agent, size) in enumerate(rows):
            t = START + i * step
            if fmt == "combined":
                ref = "-" if i % 3 else f"https://{site}/"
                out.append(f'{ip} - - [{_clf_time(t)}] "{method} {target} HTTP/1.1" {status} {size} "{ref}" "{agent}"')
            else:
                if i == len(rows) // 2:  # a service restart writes a new header
                    out += [f"#Date: {_w3c_time(t)}", W3C_FIELDS]
                stem, _, query = target.partition("?")
                out.append(f"{_w3c_time(t)} {sitename} {method} {stem} {query or '-'} 443 - {ip} "
                           f"{agent.replace(' ', '+')} - - {site} {status} 0 0 {size} 420 {15 + i % 90}")
        name = f"{site}.access.log" if fmt == "combined" else f"{site}/u_ex2611{s % 28 + 1:02d}.log"
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(out) + "\n")


NOISY_SITE = "shop.example.com"
SCANNER_AGENTS = ["Mozilla/5.0 zgrab/0.x", "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)",
                  BROWSERS[0], "python-requests/2.31.0", "Mozilla/5.0 (compatible; Nmap Scripting Engine)"]


def generate_noisy(folder: Path, total: int, seed: int = 11) -> dict[str, object]:
    """One busy nginx site for a day: `total` lines from 20,000 client addresses, about 5% of them client
    errors on ordinary pages (missing images, stale links, forbidden folders), and about 1.5% scanner lines
    from 150 addresses probing sensitive pages. Returns what a scan must find."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    pages = _pages(rng)
    weights = [w for _, _, w in pages]
    clients = [f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
               for _ in range(20_000)]
    scanners = sorted({f"45.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
                       for _ in range(150)})
    missing = [f"/images/old-{i}.webp" for i in range(300)] + [f"/products/{i}/reviews" for i in range(200)] + [
        "/apple-touch-icon.png", "/apple-touch-icon-precomposed.png", "/ads.txt", "/wp-content/uploads/"]
    scanner_lines = int(total * 0.015)
    n = total - scanner_lines
    picks = rng.choices(range(len(pages)), weights=weights, k=n)
    who = rng.choices(clients, k=n)
    agents = rng.choices(BROWSERS, weights=[30, 15, 12, 15, 12, 5, 6, 3, 2, 1], k=n)
    statuses = rng.choices((200, 304, 302, 404, 403, 500), weights=(84, 8, 2.6, 4.4, 0.6, 0.4), k=n)
    rows: list[tuple[str, str, str, int, str, int]] = []
    for i in range(n):
        method, target, _ = pages[picks[i]]
        status = statuses[i]
        if status == 404:
            target = missing[(i * 7) % len(missing)]
        size = 0 if status in (304, 302) else 900 + (i * 37) % 40000
        rows.append((who[i], method, target, status, agents[i], size))
    # each scanner works in a burst of a few minutes somewhere in the day, as scanners do
    placed: list[tuple[float, tuple[str, str, str, int, str, int]]] = [(float(i), r) for i, r in enumerate(rows)]
    per_scanner = scanner_lines // len(scanners)
    burst = n / 24 / 12  # about five minutes of ordinary traffic
    for s, ip in enumerate(scanners):
        start = rng.uniform(0, n - burst)
        agent = SCANNER_AGENTS[s % len(SCANNER_AGENTS)]
        for k in range(per_scanner + (1 if s < scanner_lines % len(scanners) else 0)):
            placed.append((start + rng.uniform(0, burst) + 0.5, (ip, "GET", SENSITIVE[(k + s) % len(SENSITIVE)], 404,
                                                                agent, 153)))
    placed.sort(key=lambda p: p[0])
    rows = [r for _, r in placed]
    step = 86400 / len(rows)
    out = []
    for i, (ip, method, target, status, agent, size) in enumerate(rows):
        ref = "-" if i % 3 else f"https://{NOISY_SITE}/"
        out.append(f'{ip} - - [{_clf_time(START + i * step)}] "{method} {target} HTTP/1.1" {status} {size} '
                   f'"{ref}" "{agent}"')
    (folder / f"{NOISY_SITE}.access.log").write_text("\n".join(out) + "\n")
    return {"lines": len(out), "scanners": scanners}


def check_noisy(folder: Path, expected: dict[str, object]) -> str:
    """Every line read, nothing rejected, every scanner reported, no ordinary client reported."""
    from cloudward.pipeline import Pipeline

    pipe = Pipeline()
    pipe.run_paths([str(folder)])
    alerts = pipe.finish()
    stats = pipe.stats
    if stats.lines != expected["lines"] or stats.rejected:
        raise SystemExit(f"noisy profile: read {stats.lines:,} of {expected['lines']:,} lines, "
                         f"{stats.rejected} rejected")
    scanners = set(expected["scanners"])  # type: ignore[arg-type]
    reported = {a.entities.get("source_ip") for a in alerts if a.alert_type == "AppServices_ScanSensitivePage"}
    if reported != scanners:
        raise SystemExit(f"noisy profile: {len(scanners - reported)} scanners missed, "
                         f"{len(reported - scanners)} other addresses reported")
    return f"{len(reported)} of {len(scanners)} scanners reported, no other address"


def check_sites(folder: Path) -> str:
    """The 50-site profile: every line read, nothing rejected, and the hostile share found - the 25
    scanners, the web shell, the theme edit and its direct call, fingerprinting on every site."""
    from cloudward.pipeline import Pipeline

    lines = 0
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as fh:
                lines += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    pipe = Pipeline()
    pipe.run_paths([str(folder)])
    alerts = pipe.finish()
    stats = pipe.stats
    if stats.lines != lines or stats.rejected:
        raise SystemExit(f"{folder.name}: read {stats.lines:,} of {lines:,} lines, {stats.rejected} rejected")
    by_type: dict[str, set[str]] = {}
    for a in alerts:
        by_type.setdefault(a.alert_type, set()).add(str(a.entities.get("source_ip")))
    scanners = by_type.get("AppServices_ScanSensitivePage", set())
    problems = []
    if len(scanners) != 25 or not all(ip.startswith("45.") for ip in scanners):
        problems.append(f"scanners reported: {sorted(scanners)[:5]}... ({len(scanners)}, expected the 25 of 45.x)")
    if "185.220.101.4" not in by_type.get("AppServices_PhpInUploadFolder", set()):
        problems.append("web shell in an upload folder missed")
    if "AppServices_WpThemeInjection" not in by_type:
        problems.append("theme edit and direct call missed")
    if len(by_type.get("AppServices_WebFingerprinting", set())) < 1:
        problems.append("fingerprinting missed")
    if problems:
        raise SystemExit(f"{folder.name}: " + "; ".join(problems))
    return "every line read, the 25 scanners, the web shell, the theme injection and fingerprinting found"


REGEX_ONLY = r"""
import os, re, sys
PATTERNS = {
    "combined": rb'^(\S+) (\S+) (\S+) \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"',
    "w3c": rb'^(\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\d{3}) '
           rb'(\S+) (\S+) (\S+) (\S+) (\S+)$',
}
rx = re.compile(PATTERNS[sys.argv[1]])
n = matched = 0
for root, _, files in os.walk(sys.argv[2]):
    for name in sorted(files):
        with open(os.path.join(root, name), "rb") as fh:
            for line in fh:
                n += 1
                m = rx.match(line)
                if m is not None:
                    m.groups()
                    matched += 1
print(n, matched)
"""


def _measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, bytes, float]:
    """Wall seconds, peak RSS (KiB), stdout and CPU seconds (user + system) of one child process. On a
    shared machine the CPU time is the steadier figure: other processes' load stretches wall time."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):  # scan exits 1 only with --fail-on
        raise SystemExit(f"{cmd[:3]} failed with {os.waitstatus_to_exitcode(status)}")
    return elapsed, usage.ru_maxrss, out, usage.ru_utime + usage.ru_stime


def _baseline_env(baseline: str | None) -> dict[str, str] | None:
    """The environment of a scan by the baseline's sources (`--baseline SRC`: its `src/` folder first on the path)."""
    if not baseline:
        return None
    return {**os.environ, "PYTHONPATH": baseline}


def run(fmt: str, total: int, repeat: int, noisy: bool = False, baseline: str | None = None) -> list[str]:
    folder = OUT / (f"web-noisy-{total}" if noisy else f"web-{fmt}-{total}")
    expected: dict[str, object] = {}
    if noisy:
        t = time.perf_counter()
        # in a child process: a measured child's peak RSS would include this process's memory
        done = subprocess.run([sys.executable, __file__, "--generate-noisy", str(folder), str(total)],
                              check=True, stdout=subprocess.PIPE)
        expected = json.loads(done.stdout)
        print(f"generated {folder} in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    elif not folder.exists():
        t = time.perf_counter()
        generate(folder, total, fmt)
        print(f"generated {folder} in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    cloudward = str(Path(sys.executable).parent / "cloudward")
    # one process, as the loop it is compared with (`--workers` is measured by scale_bench.py)
    scan_cmd = [cloudward, "scan", str(folder), "--output", "jsonl", "--quiet", "--no-progress", "--workers", "1"]
    regex_cmd = [sys.executable, "-c", REGEX_ONLY, fmt, str(folder)]
    # the fixed cost of one run (Python start-up, imports, building the pipeline), reported on its own: the
    # same command on a folder holding a single line of the same format
    tiny = OUT / f"web-startup-{fmt}"
    if not tiny.exists():
        tiny.mkdir(parents=True)
        first = next(p for p in sorted(folder.rglob("*")) if p.is_file())
        with first.open("rb") as fh:
            head = b"".join(fh.readline() for _ in range(3 if fmt == "w3c" else 1))
        (tiny / first.name).write_bytes(head)
    tiny_cmd = [cloudward, "scan", str(tiny), "--output", "jsonl", "--quiet", "--no-progress", "--workers", "1"]
    scans, regexes, startups, bases = [], [], [], []
    base_env = _baseline_env(baseline)
    # this tree's sources first: the venv's `cloudward` would otherwise import whatever tree it was installed from
    own_path = [str(HERE.parent / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    own_env = {**os.environ, "PYTHONPATH": os.pathsep.join(own_path)}
    for _ in range(repeat):  # alternate so both sides see the same page cache
        regexes.append(_measure(regex_cmd))
        scans.append(_measure(scan_cmd, own_env))
        startups.append(_measure(tiny_cmd, own_env))
        if base_env is not None:
            bases.append(_measure(scan_cmd, base_env))
    # checked after the timed runs, in a child process: on Linux a child inherits its parent's peak RSS
    # (`ru_maxrss` survives fork and exec), so a check in this process would inflate the next format's figures
    done = subprocess.run([sys.executable, __file__, "--check", str(folder), json.dumps(expected) if noisy else ""],
                          stdout=subprocess.PIPE, text=True)
    if done.returncode:
        raise SystemExit(f"{folder.name}: the check failed ({done.returncode})")
    checked = done.stdout.strip()
    lines = int(regexes[0][2].split()[0])
    matched = int(regexes[0][2].split()[1])
    alerts = scans[0][2].count(b"\n")
    best_scan = min(t for t, _, _, _ in scans)
    best_regex = min(t for t, _, _, _ in regexes)
    cpu_scan = min(c for _, _, _, c in scans)
    cpu_regex = min(c for _, _, _, c in regexes)
    name = "combined, one noisy site" if noisy else fmt
    where = f"1 site, 20,000 clients, 150 scanners ({checked})" if noisy else f"{len(SITES)} sites ({checked})"
    fmt = name
    cpu_start = min(c for _, _, _, c in startups)
    compared = []
    if bases:
        # the alerts must be the baseline's, field for field (sorted JSON lines)
        if sorted(scans[0][2].splitlines()) != sorted(bases[0][2].splitlines()):
            raise SystemExit(f"{folder.name}: the alerts differ from the baseline's ({baseline})")
        cpu_base = min(c for _, _, _, c in bases)
        compared = [f"| {fmt}: baseline `{baseline}` (same alerts) | CPU {cpu_base:.2f} s: ratio "
                    f"**{cpu_regex / cpu_base:.2f}** (this tree: {cpu_regex / cpu_scan:.2f}; load average "
                    f"{os.getloadavg()[0]:.1f}) |"]
    return [
        *compared,
        f"| {fmt}: input | {lines:,} lines in {where}, {size / 1e6:,.0f} MB |",
        f"| {fmt}: `cloudward scan --output jsonl` | {lines / best_scan:,.0f} lines/s ({best_scan:.2f} s, CPU "
        f"{cpu_scan:.2f} s), peak RSS {max(m for _, m, _, _ in scans) / 1024:.0f} MB, {alerts} alerts |",
        f"| {fmt}: one compiled regex per line | {lines / best_regex:,.0f} lines/s ({best_regex:.2f} s, CPU "
        f"{cpu_regex:.2f} s), peak RSS {max(m for _, m, _, _ in regexes) / 1024:.0f} MB, {matched:,} lines matched |",
        f"| {fmt}: ratio end-to-end / regex-only | **{best_regex / best_scan:.2f}** (CPU time: "
        f"**{cpu_regex / cpu_scan:.2f}**) |",
        f"| {fmt}: of which start-up (the same scan of one line) | {min(t for t, _, _, _ in startups):.2f} s, CPU "
        f"{cpu_start:.2f} s; CPU ratio without it: **{cpu_regex / max(cpu_scan - cpu_start, 1e-9):.2f}** |",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=2_000_000, help="lines per format (default 2,000,000)")
    ap.add_argument("--format", choices=("combined", "w3c", "both"), default="both")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side; the best is reported")
    ap.add_argument("--noisy-lines", type=int, default=1_000_000,
                    help="lines of the noisy single-site nginx profile (default 1,000,000; 0 to skip)")
    ap.add_argument("--baseline", metavar="SRC", help="a baseline tree's src/ folder (e.g. /work/base26/src): its scan "
                    "is timed alternately with this tree's, and its alerts must be the same")
    ap.add_argument("--generate-noisy", nargs=2, metavar=("FOLDER", "LINES"), help=argparse.SUPPRESS)
    ap.add_argument("--check", nargs=2, metavar=("FOLDER", "EXPECTED"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.check:
        folder, expected = Path(args.check[0]), args.check[1]
        print(check_noisy(folder, json.loads(expected)) if expected else check_sites(folder))
        return
    if args.generate_noisy:
        print(json.dumps(generate_noisy(Path(args.generate_noisy[0]), int(args.generate_noisy[1]))))
        return
    bytecode_cache.prepare([args.baseline])
    rows = ["| what | result |", "|---|---|"]
    for fmt in ("combined", "w3c") if args.format == "both" else (args.format,):
        rows += run(fmt, args.lines, args.repeat, baseline=args.baseline)
    if args.noisy_lines and args.format in ("combined", "both"):
        rows += run("combined", args.noisy_lines, args.repeat, noisy=True, baseline=args.baseline)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
