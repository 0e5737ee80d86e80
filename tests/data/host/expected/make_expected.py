"""Write the alerts every host corpus raises today, for tests/parsers/test_host_equivalence.py.

Run on main before changing host parsing, enrichment or the node cards; the test then proves a change
raised exactly the same alerts (ids, counts, entities, evidence, descriptions):

    .venv/bin/python tests/data/host/expected/make_expected.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
DATA = ROOT / "tests" / "data"
#: the benchmark's generated inputs, small enough for the suite and still holding its attacks
GENERATED_EVENTS = 6000


def corpora() -> list[Path]:
    """Every host telemetry file in tests/data (and the ECS HTTP sample, decoded by a host-area parser)."""
    out = [p for p in sorted((DATA / "host").rglob("*"))
           if p.is_file() and p.suffix not in (".py", ".sh", ".md") and HERE not in p.parents]
    out.append(DATA / "web" / "annotated" / "ecs_http.jsonl")
    return out


def generated(workdir: Path) -> list[Path]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import host_bench

    audit = workdir / f"host-audit-{GENERATED_EVENTS}.log"
    tetragon = workdir / f"host-tetragon-{GENERATED_EVENTS}.jsonl"
    host_bench.write_audit(audit, GENERATED_EVENTS)
    host_bench.write_tetragon(tetragon, GENERATED_EVENTS)
    return [audit, tetragon]


def groups() -> dict[str, list[Path]]:
    """Inputs read together in one scan (context joined across files: inspect output, process trees)."""
    return {
        "together/host/recorded": sorted((DATA / "host" / "recorded").glob("*.*[a-z]")),
        "together/host/tetragon": sorted(p for p in (DATA / "host" / "tetragon").rglob("*.json")),
    }


def alerts_of(*paths: Path) -> list[dict]:
    from cloudward.pipeline import Pipeline

    pipe = Pipeline()
    pipe.run_paths([str(p) for p in paths])
    alerts = sorted((a.to_dict() for a in pipe.finish()), key=lambda a: (a["alert_type"], a["id"]))
    # evidence names the file: generated inputs live in a fresh temporary folder each time
    text = orjson.dumps(alerts)
    for folder in {str(p.parent) for p in paths}:
        text = text.replace(orjson.dumps(folder)[1:-1], b"<dir>")
    return orjson.loads(text)


def expected_name(path: Path) -> str:
    try:
        return str(path.relative_to(DATA))
    except ValueError:
        return "generated/" + path.name


def main() -> int:
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in [*corpora(), *generated(Path(tmp))]:
            result[expected_name(path)] = alerts_of(path)
        for name, paths in groups().items():
            result[name] = alerts_of(*paths)
    (HERE / "alerts.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    print(f"{len(result)} inputs, {sum(len(v) for v in result.values())} alerts", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
