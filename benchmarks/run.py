"""`make bench`: run the benchmarks that report JSON and rewrite their rows of `benchmarks/README.md`.

Each benchmark in `BENCHMARKS` runs in its own child process with `--json`, refuses to report a figure for a
scan that did not read every line or raise its expected alerts (the scripts check that themselves), and
gives rows for the summary table (rows whose first cell starts with the benchmark's `row_prefix` are
replaced, the others kept) and a block for its own section, written between
`<!-- NAME:start -->` and `<!-- NAME:end -->`.

    python benchmarks/run.py                    # every benchmark listed below
    python benchmarks/run.py --only k8s --events 100000 --repeat 1   # quicker, one benchmark
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"


@dataclass
class Benchmark:
    name: str
    script: str
    #: first cell of the summary-table rows this benchmark owns
    row_prefix: str
    rows: Callable[[list[dict]], list[str]]
    block: Callable[[list[dict]], str]


def _k8s_rows(results: list[dict]) -> list[str]:
    targets = {"existing": "≥ 1.6 (issue 7)", "realistic": "≥ 1.5 (aim 3×, issue 10)"}
    out = []
    for r in results:
        n = r["lines"]
        what = "generated" if r["profile"] == "existing" else "realistic profile"
        ratio = r["parse_s"] / r["scan_s"]
        cpu = f" (CPU time: {r['parse_cpu_s'] / r['scan_cpu_s']:.2f}×)" if "scan_cpu_s" in r else ""
        out.append(f"| Kubernetes audit, {what}, {n:,} events, {r['bytes'] / 1e6:,.0f} MB | {n / r['scan_s']:,.0f} "
                   f"events/s | `orjson.loads` every line: {n / r['parse_s']:,.0f}/s | {ratio:.2f}×{cpu} "
                   f"| {targets.get(r['profile'], '')} |")
    return out


def _k8s_block(results: list[dict]) -> str:
    sys.path.insert(0, str(HERE))
    import k8s_bench

    return k8s_bench.table(results)


BENCHMARKS = [
    Benchmark("k8s", "k8s_bench.py", "| Kubernetes audit, ", _k8s_rows, _k8s_block),
]


def run(bench: Benchmark, extra: list[str]) -> list[dict]:
    cmd = [sys.executable, str(HERE / bench.script), "--json", *extra]
    print("running", " ".join(cmd), file=sys.stderr)
    proc = subprocess.run(cmd, check=True, stdout=subprocess.PIPE)
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


def rewrite(text: str, bench: Benchmark, results: list[dict]) -> str:
    """`text` (the README) with the benchmark's summary rows and its marked block replaced."""
    lines = text.split("\n")
    header = next(i for i, line in enumerate(lines) if line.startswith("| input | end to end"))
    end = header + 2
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    table = lines[header + 2:end]  # only the summary table's rows: other tables are left alone
    owned = [i for i, line in enumerate(table) if line.startswith(bench.row_prefix)]
    at = owned[0] if owned else 0
    table = [ln for ln in table if not ln.startswith(bench.row_prefix)]
    table[at:at] = bench.rows(results)
    lines[header + 2:end] = table
    text = "\n".join(lines)
    start, end = f"<!-- {bench.name}:start -->", f"<!-- {bench.name}:end -->"
    block = f"{start}\n{bench.block(results)}\n{end}"
    if start in text and end in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text += f"\n{block}\n"
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", choices=[b.name for b in BENCHMARKS])
    ap.add_argument("--events", type=int, help="passed to every benchmark")
    ap.add_argument("--repeat", type=int, help="passed to every benchmark")
    ap.add_argument("--dry-run", action="store_true", help="print the new README instead of writing it")
    args = ap.parse_args()
    extra = [*(["--events", str(args.events)] if args.events else []),
             *(["--repeat", str(args.repeat)] if args.repeat else [])]
    text = README.read_text()
    for bench in BENCHMARKS:
        if args.only and bench.name not in args.only:
            continue
        text = rewrite(text, bench, run(bench, extra))
    if args.dry_run:
        sys.stdout.write(text)
    else:
        README.write_text(text)
        print(f"rewrote {README.relative_to(Path(os.getcwd())) if README.is_relative_to(os.getcwd()) else README}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
