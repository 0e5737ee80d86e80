"""The `cloudward` command line."""

from __future__ import annotations

import sys
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any

import click
import orjson
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TransferSpeedColumn
from rich.table import Table
from rich.text import Text

from cloudward import __version__, parsers
from cloudward import detections as registry
from cloudward.config import SEVERITIES, Config, ConfigError, load, severity_rank
from cloudward.detections.testing import run_sample, sample_text
from cloudward.inputs import InputFile, expand_paths
from cloudward.report import print_summary
from cloudward.runners.scan import ScanRunner
from cloudward.runners.workers import default_workers
from cloudward.sinks import from_config as sinks_from_config
from cloudward.sinks import known_types, make_sink
from cloudward.store import Store
from cloudward.textsafe import terminal_safe

EXIT_ALERTS = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3
#: inputs smaller than this finish before a progress bar would help
PROGRESS_MIN_BYTES = 32 * 1024 * 1024

severity_choice = click.Choice(SEVERITIES, case_sensitive=False)


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


def _load_config(path: str | None) -> Config:
    try:
        return load(path)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cloudward")
def main() -> None:
    """Cloudward: threat detection for Kubernetes clusters, container hosts and web apps."""


class _ProgressWatcher:
    """Moves a progress bar from the inputs' file positions, off the hot loop."""

    def __init__(self, paths: list[str]) -> None:
        files = [p for p in expand_paths(paths) if p != "-"]
        sizes = []
        for p in files:
            try:
                sizes.append(Path(p).stat().st_size)
            except OSError:
                sizes.append(0)
        self.total = sum(sizes)
        self.done = 0
        self.current: InputFile | None = None
        self._stop = threading.Event()
        self.progress: Progress | None = None

    def enabled(self, requested: bool | None) -> bool:
        if requested is False:
            return False
        if requested is None and (not sys.stderr.isatty() or self.total < PROGRESS_MIN_BYTES):
            return False
        return self.total > 0

    def on_input(self, src: InputFile) -> None:
        if self.current is not None and self.current.size:
            self.done += self.current.size
        self.current = src

    def __enter__(self) -> _ProgressWatcher:
        self.progress = Progress(TextColumn("scanning"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                                 TimeElapsedColumn(), console=_stderr(), transient=True)
        self.progress.start()
        task = self.progress.add_task("scan", total=self.total)

        def poll() -> None:
            while not self._stop.wait(0.2):
                pos = self.current.position() if self.current is not None else 0
                self.progress.update(task, completed=min(self.done + pos, self.total))  # type: ignore[union-attr]

        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.progress is not None:
            self.progress.stop()


def run_scan(
    paths: list[str], *, config: Config, fmt: str | None, output: str, intel: list[str], min_severity: str,
    fail_on: str | None, strict: bool, store_path: str | None, baseline_from: list[str], only: list[str],
    progress: bool | None, lang: str, quiet: bool, rejects_file: str | None, workers: int | None = 1,
) -> int:
    err = _stderr()
    stdout_sink = make_sink(output, sys.stdout.buffer)
    if stdout_sink is None:
        raise click.UsageError(f"unknown output {output!r}; choose from {', '.join(known_types())}")
    store = Store(store_path) if store_path else None
    try:
        sinks = [(stdout_sink, {"type": output, "lang": lang}), *sinks_from_config(config)]
        runner = ScanRunner(config, only=set(only) if only else None, store=store, intel=list(intel), sinks=sinks,
                            workers=default_workers() if workers is None else workers)
    except (ConfigError, OSError) as exc:
        raise click.UsageError(str(exc)) from None
    pipe = runner.engine
    started = time.perf_counter()
    try:
        if baseline_from:
            runner.learn(baseline_from, fmt)
        watcher = _ProgressWatcher(paths)
        # the progress bar follows one reader's position in each file; workers read files side by side
        if runner.workers == 1 and watcher.enabled(progress):
            with watcher:
                alerts = runner.run(paths, fmt, min_severity=min_severity, on_input=watcher.on_input)
        else:
            alerts = runner.run(paths, fmt, min_severity=min_severity)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    finally:
        if store is not None:
            store.close()
    seconds = time.perf_counter() - started
    try:
        runner.deliver(alerts)
    except OSError as exc:
        raise click.UsageError(f"cannot write to a sink: {exc}") from None
    if not quiet:
        print_summary(err, pipe, alerts, seconds)
    if rejects_file:
        with open(rejects_file, "wb") as fh:
            for r in pipe.stats.rejections:
                fh.write(orjson.dumps({"where": r.where, "reason": r.reason}) + b"\n")
    if fail_on and any(severity_rank(a.severity) >= severity_rank(fail_on) and a.status == "active" for a in alerts):
        return EXIT_ALERTS
    if strict and pipe.stats.rejected:
        return EXIT_REJECTED
    return 0


_scan_options = [
    click.option("--format", "fmt", metavar="NAME", help="Force an input format (see `cloudward formats`)."),
    click.option("--output", "-o", default="table", show_default=True,
                 help="table, jsonl (alert contract, one per line), json or ocsf."),
    click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False), envvar="CLOUDWARD_CONFIG",
                 help="TOML configuration file."),
    click.option("--intel", multiple=True, metavar="FEED",
                 help="Threat-intelligence feed file (repeatable); see docs/web-and-ftp.md for formats."),
    click.option("--min-severity", type=severity_choice, default="informational", show_default=True,
                 help="Report only alerts at or above this severity."),
    click.option("--fail-on", type=severity_choice, help="Exit 1 when an active alert at or above this severity "
                 "is found (for CI)."),
    click.option("--strict", is_flag=True, help="Exit 3 when any input record was rejected."),
    click.option("--store", "store_path", type=click.Path(dir_okay=False),
                 help="SQLite store: keeps alerts, their status and learned baselines across runs."),
    click.option("--baseline-from", multiple=True, type=click.Path(exists=True),
                 help="Learn baselines from these earlier logs first (they raise no alerts)."),
    click.option("--site", help="Site name for web/FTP logs that do not carry one."),
    click.option("--cluster", help="Cluster name for Kubernetes audit logs that do not carry one."),
    click.option("--host", "host_name", help="Host name for host telemetry that does not carry one."),
    click.option("--only", multiple=True, metavar="ALERT_TYPE", help="Run only these detections (repeatable)."),
    click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: on a terminal, "
                 "for inputs over 32 MB)."),
    click.option("--lang", type=click.Choice(["en", "ko"]), default="en", show_default=True,
                 help="Language of the table output."),
    click.option("--quiet", "-q", is_flag=True, help="No summary on stderr."),
    click.option("--output-rejects", "rejects_file", type=click.Path(dir_okay=False),
                 help="Write the rejected records (file:line and reason) as JSON lines to this file."),
]


def _with_scan_options(f: Any) -> Any:
    for option in reversed(_scan_options):
        f = option(f)
    return f


@main.command()
@click.argument("paths", nargs=-1, required=True)
@_with_scan_options
@click.option("--workers", "-j", type=click.IntRange(min=1), default=None,
              help="Processes that decode the inputs (default: the number of cores; 1 = one process). "
              "The alerts are the same for any number.")
def scan(paths: tuple[str, ...], config_path: str | None, site: str | None, cluster: str | None,
         host_name: str | None, **kw: Any) -> None:
    """Scan log files, folders, .gz files or - (stdin) and report alerts.

    Formats are recognized from the content: Kubernetes audit logs (native, AKS, EKS, GKE), web and FTP
    logs, and host telemetry. Alerts go to stdout; the summary and progress to stderr.
    """
    missing = [p for p in paths if p != "-" and not Path(p).exists()]
    if missing:
        raise click.UsageError(f"no such file or folder: {', '.join(missing)}")
    config = _load_config(config_path)
    for attr, value in (("site", site), ("cluster", cluster), ("host", host_name)):
        if value:
            setattr(config, attr, value)
    store_path = kw.pop("store_path") or config.store_path or None
    intel = list(kw.pop("intel"))  # feeds in the configuration are read by the intel enricher itself
    code = run_scan(list(paths), config=config, store_path=store_path, intel=intel,
                    baseline_from=list(kw.pop("baseline_from")), only=list(kw.pop("only")), **kw)
    sys.exit(code)


@main.command("spark-scan")
@click.argument("paths", nargs=-1, required=True)
@click.option("--output", "output_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the alerts (created; must not exist): JSON-lines part files by default.")
@click.option("--master", help="Spark master URL (default: local[*]); under spark-submit, the session's own.")
@click.option("--format", "out_format", type=click.Choice(["jsonl", "parquet"]), default="jsonl", show_default=True,
              help="How the alerts are written.")
@click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False), envvar="CLOUDWARD_CONFIG",
              help="TOML configuration file.")
@click.option("--intel", multiple=True, metavar="FEED", help="Threat-intelligence feed file (repeatable).")
@click.option("--only", multiple=True, metavar="ALERT_TYPE", help="Run only these detections (repeatable).")
@click.option("--quiet", "-q", is_flag=True, help="No summary on stderr.")
def spark_scan(paths: tuple[str, ...], output_dir: str, master: str | None, out_format: str,
               config_path: str | None, intel: tuple[str, ...], only: tuple[str, ...], quiet: bool) -> None:
    """Run the detections on Apache Spark (PySpark) and write the alerts under --output.

    The alerts are those `cloudward scan` reports for the same inputs (same ids, counts and evidence).
    """
    try:
        from cloudward import spark as spark_job
    except ImportError as exc:  # pragma: no cover - pyspark is an install-time dependency
        raise click.UsageError(f"spark-scan needs pyspark: {exc}") from None
    from cloudward.runners.scan import finish

    missing = [p for p in paths if "://" not in p and not Path(p).exists()]
    if missing:
        raise click.UsageError(f"no such file or folder: {', '.join(missing)}")
    if Path(output_dir).exists():
        raise click.UsageError(f"output folder exists already: {output_dir}")
    config = _load_config(config_path)
    started = time.perf_counter()
    session = spark_job.session(master)
    try:
        engine = spark_job.run(session, list(paths), config, only=set(only) or None, intel=list(intel))
        alerts = finish(engine, None)
        spark_job.write_alerts(session, [a.to_dict() for a in alerts], output_dir, out_format)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    finally:
        session.stop()
    if not quiet:
        print_summary(_stderr(), engine, alerts, time.perf_counter() - started)


@main.command()
@click.option("--output", "-o", default="table", show_default=True, help="table, jsonl, json or ocsf.")
@click.option("--lang", type=click.Choice(["en", "ko"]), default="en", show_default=True)
def demo(output: str, lang: str) -> None:
    """Scan the bundled sample logs (Kubernetes audit, web and FTP, host telemetry)."""
    samples = resources.files("cloudward").joinpath("samples")
    paths = sorted(str(p) for p in Path(str(samples)).iterdir() if not p.name.startswith(("_", ".")))
    intel = [str(p) for p in Path(str(samples)).glob("_intel/*") if p.is_file()]
    err = _stderr()
    err.print(Text(f"Cloudward {__version__} demo: scanning {len(paths)} bundled sample folder(s) in {samples}",
                   style="bold"))
    code = run_scan(paths, config=Config(), fmt=None, output=output, intel=intel, min_severity="informational",
                    fail_on=None, strict=False, store_path=None, baseline_from=[], only=[], progress=False,
                    lang=lang, quiet=False, rejects_file=None)
    sys.exit(code)


@main.command("formats")
def formats_cmd() -> None:
    """List the input formats Cloudward recognizes."""
    table = Table("Name", "Kind", "Description")
    for f in parsers.formats():
        table.add_row(f.name, "file format", f.description)
    for d in parsers.dialects():
        table.add_row(d.name, "JSON record", d.description)
    Console().print(table)


# -- rules -------------------------------------------------------------------------------------
@main.group()
def rules() -> None:
    """List, show and test detection cards."""


@rules.command("list")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table")
@click.option("--source", type=click.Choice(["AUDIT", "HTTP", "FTP", "PROC", "HOST"]), help="Only this data source.")
def rules_list(output: str, source: str | None) -> None:
    """Every detection with its id, severity, data source and tactics."""
    cards = [c.card for c in registry.all_classes() if source is None or c.card.data_source == source]
    if output == "json":
        sys.stdout.write(orjson.dumps([{
            "id": c.id, "title": c.title, "title_ko": c.title_ko, "severity": c.severity, "source": c.data_source,
            "tactics": list(c.tactics), "techniques": list(c.techniques), "maturity": c.maturity,
        } for c in cards], option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    table = Table("Alert type", "Title", "Severity", "Source", "Tactics", "Techniques")
    for c in cards:
        table.add_row(c.id, c.title, c.severity, c.data_source, ", ".join(c.tactics), ", ".join(c.techniques))
    Console().print(table)


@rules.command("show")
@click.argument("alert_type")
@click.option("--lang", type=click.Choice(["en", "ko"]), default="en")
def rules_show(alert_type: str, lang: str) -> None:
    """A card's metadata, what it looks at, its parameters and a sample."""
    cls = registry.by_id(alert_type)
    if cls is None:
        raise click.UsageError(f"no detection {alert_type!r}; see `cloudward rules list`")
    c = cls.card
    ko = lang == "ko"
    con = Console()
    con.print(Text(f"{c.id} — {c.title_ko if ko else c.title}", style="bold"))
    rows = [
        ("Severity", c.severity), ("Data source", c.data_source), ("Tactics", ", ".join(c.tactics)),
        ("Techniques", ", ".join(c.techniques)), ("Maturity", c.maturity), ("Looks at", c.looks_at),
        ("Description", c.description_ko if ko else c.description),
    ]
    if c.params:
        rows.append(("Parameters", ", ".join(f"{k} = {v!r}" for k, v in c.params.items())))
    table = Table(show_header=False, box=None)
    for k, v in rows:
        table.add_row(Text(k, style="bold"), Text(v))
    con.print(table)
    con.print(Text("Remediation:", style="bold"))
    for step in (c.remediation_ko if ko else c.remediation):
        con.print(Text(f"  - {step}"))
    if c.false_positives:
        con.print(Text("Known false positives:", style="bold"))
        for fp in c.false_positives:
            con.print(Text(f"  - {fp}"))
    positive = next((s for s in c.samples if s.expect > 0), None)
    if positive is not None:
        con.print(Text(f"Sample ({positive.format}, alerts): {positive.name}", style="bold"))
        con.print(Text(terminal_safe(sample_text(positive)[:1500])))
    con.print(Text(f"{len(c.samples)} samples; run them with: cloudward rules test {c.id}", style="dim"))


@rules.command("test")
@click.argument("alert_types", nargs=-1)
def rules_test(alert_types: tuple[str, ...]) -> None:
    """Run cards' own positive and negative samples through the real pipeline."""
    classes = [c for c in registry.all_classes() if not alert_types or c.card.id in alert_types]
    if alert_types and len(classes) != len(set(alert_types)):
        raise click.UsageError("unknown alert type among: " + ", ".join(alert_types))
    con = Console()
    failed = 0
    total = 0
    for cls in classes:
        for sample in cls.card.samples:
            total += 1
            try:
                result = run_sample(cls, sample)
                problem = result.problem
            except Exception as exc:  # report, keep testing the rest
                problem = f"{type(exc).__name__}: {exc}"
            mark = Text("ok  ", style="green") if not problem else Text("FAIL", style="bold red")
            line = Text.assemble(mark, f" {cls.card.id}: {sample.name}")
            if problem:
                failed += 1
                line.append(f" — {problem}", style="red")
            con.print(line)
    con.print(f"{total - failed}/{total} samples passed.")
    sys.exit(1 if failed else 0)


# -- alerts (store) ----------------------------------------------------------------------------
@main.group()
def alerts() -> None:
    """Alerts kept in the SQLite store (see scan --store)."""


def _open_store(path: str | None, config_path: str | None) -> Store:
    config = _load_config(config_path)
    path = path or config.store_path
    if not path:
        raise click.UsageError("name the store with --store or [store] path in the configuration")
    if not Path(path).exists():
        raise click.UsageError(f"no store at {path}")
    return Store(path)


_store_option = click.option("--store", "store_path", type=click.Path(dir_okay=False), envvar="CLOUDWARD_STORE")
_config_option = click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False),
                              envvar="CLOUDWARD_CONFIG")


@alerts.command("list")
@_store_option
@_config_option
@click.option("--type", "alert_type", help="Only this alert type.")
@click.option("--status", type=click.Choice(["active", "dismissed", "resolved"]))
@click.option("--output", "-o", type=click.Choice(["table", "jsonl"]), default="table")
def alerts_list(store_path: str | None, config_path: str | None, alert_type: str | None, status: str | None,
                output: str) -> None:
    """Alerts in the store, newest first."""
    store = _open_store(store_path, config_path)
    docs = store.list_alerts(alert_type=alert_type, status=status)
    store.close()
    if output == "jsonl":
        for d in docs:
            sys.stdout.write(orjson.dumps(d).decode() + "\n")
        return
    table = Table("Id", "Severity", "Alert type", "Resource", "Count", "Last seen", "Status")
    for d in docs:
        table.add_row(d["id"][:12], d["severity"], d["alert_type"], Text(terminal_safe(d["resource"].get("name"), 60)),
                      str(d["count"]), d["last_seen"], d["status"])
    Console().print(table)


@alerts.command("show")
@_store_option
@_config_option
@click.argument("alert_id")
def alerts_show(store_path: str | None, config_path: str | None, alert_id: str) -> None:
    """One alert (id or a prefix of it) as JSON."""
    store = _open_store(store_path, config_path)
    doc = store.get_alert(alert_id)
    store.close()
    if doc is None:
        raise click.UsageError(f"no alert {alert_id!r} in the store")
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")


@alerts.command("dismiss")
@_store_option
@_config_option
@click.argument("alert_id")
@click.option("--reason", default="", help="Why (kept in the store's status log).")
def alerts_dismiss(store_path: str | None, config_path: str | None, alert_id: str, reason: str) -> None:
    """Mark an alert dismissed; later scans with the same store keep it dismissed."""
    store = _open_store(store_path, config_path)
    ok = store.set_status(alert_id, "dismissed", reason)
    store.close()
    if not ok:
        raise click.UsageError(f"no alert {alert_id!r} in the store")
    click.echo(f"dismissed {alert_id}")


if __name__ == "__main__":  # pragma: no cover
    main()
