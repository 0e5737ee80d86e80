"""The `cloudward` command line."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson

from cloudward import __version__
from cloudward.config import SEVERITIES, Config, ConfigError, load, severity_rank
from cloudward.textsafe import terminal_safe

if TYPE_CHECKING:  # the commands import what they use: `cloudward scan` never loads rich tables or pySigma
    import threading

    from rich.console import Console
    from rich.progress import Progress

    from cloudward import sigma
    from cloudward.engine import Engine
    from cloudward.inputs import InputFile
    from cloudward.store import Store

EXIT_ALERTS = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3
#: a bug or an unexpected environment failure: never confused with "alerts found" (1)
EXIT_INTERNAL = 4
#: inputs smaller than this finish before a progress bar would help
PROGRESS_MIN_BYTES = 32 * 1024 * 1024

severity_choice = click.Choice(SEVERITIES, case_sensitive=False)


def _stderr() -> Console:
    """A stderr console (made where something is printed: rich loads only then)."""
    from rich.console import Console
    return Console(stderr=True, highlight=False)


def _load_config(path: str | None) -> Config:
    try:
        return load(path)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


class _Commands(click.Group):
    """Turns an unexpected exception into exit status 4 and one line on stderr (the traceback with
    CLOUDWARD_DEBUG=1), so scripts can tell a crash from `--fail-on` (1), usage (2) and `--strict` (3)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("CLOUDWARD_DEBUG", "") not in ("", "0"):
                import traceback

                traceback.print_exc()
                hint = ""
            else:
                hint = " (set CLOUDWARD_DEBUG=1 for the traceback)"
            message = terminal_safe(f"{type(exc).__name__}: {exc}", 400).replace("\n", " ")
            click.echo(f"cloudward: internal error: {message}{hint}", err=True)
            ctx.exit(EXIT_INTERNAL)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cloudward")
def main() -> None:
    """Cloudward: threat detection for Kubernetes clusters, container hosts and web apps."""


class _ProgressWatcher:
    """Moves a progress bar from the inputs' file positions, off the hot loop."""

    def __init__(self, paths: list[str]) -> None:
        from cloudward.inputs import expand_paths
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
        self._stop: threading.Event | None = None
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
        import threading  # only with a progress bar

        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TransferSpeedColumn,
        )
        self.progress = Progress(TextColumn("scanning"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                                 TimeElapsedColumn(), console=_stderr(), transient=True)
        self.progress.start()
        task = self.progress.add_task("scan", total=self.total)

        stop = self._stop = threading.Event()

        def poll() -> None:
            while not stop.wait(0.2):
                pos = self.current.position() if self.current is not None else 0
                self.progress.update(task, completed=min(self.done + pos, self.total))  # type: ignore[union-attr]

        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._stop.set()
        self._thread.join()
        if self.progress is not None:
            self.progress.stop()


def run_scan(
    paths: list[str], *, config: Config, fmt: str | None, output: str, intel: list[str], min_severity: str,
    fail_on: str | None, strict: bool, store_path: str | None, baseline_from: list[str], only: list[str],
    progress: bool | None, lang: str, quiet: bool, rejects_file: str | None, allow_unread: bool = False,
    workers: int | str = 1,
) -> int:

    from cloudward.runners.scan import ScanRunner
    from cloudward.sinks import from_config as sinks_from_config
    from cloudward.sinks import known_types, make_sink
    stdout_sink = make_sink(output, sys.stdout.buffer)
    if stdout_sink is None:
        raise click.UsageError(f"unknown output {output!r}; choose from {', '.join(known_types())}")
    # sqlite3 errors can only come from a store; without one, neither the store nor sqlite3 is loaded
    db_errors: tuple[type[Exception], ...] = ()
    store: Store | None = None
    if store_path:
        import sqlite3

        from cloudward.store import Store, StoreError

        db_errors = (sqlite3.DatabaseError,)
        try:
            store = Store(store_path)
        except StoreError as exc:
            raise click.UsageError(str(exc)) from None
    try:
        sinks = [(stdout_sink, {"type": output, "lang": lang}), *sinks_from_config(config)]
        runner = ScanRunner(config, only=set(only) if only else None, store=store, intel=list(intel), sinks=sinks,
                            workers=workers)
    except (ConfigError, OSError) as exc:
        raise click.UsageError(str(exc)) from None
    except db_errors as exc:
        raise click.UsageError(str(store._error(exc) if store else exc)) from None
    pipe = runner.engine
    if not quiet:
        _print_sigma_report(pipe)
    started = time.perf_counter()
    try:
        if baseline_from:
            runner.learn(baseline_from, fmt)
        watcher = _ProgressWatcher(paths)
        # the progress bar follows one reader's position in each file; workers read files side by side (with
        # `auto`, most scans are one process: the bar is there, and stands still while a pool scans)
        if (runner.workers == 1 or runner.auto) and watcher.enabled(progress):
            with watcher:
                alerts = runner.run(paths, fmt, min_severity=min_severity, on_input=watcher.on_input)
        else:
            alerts = runner.run(paths, fmt, min_severity=min_severity)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    except db_errors as exc:
        raise click.UsageError(str(store._error(exc) if store else exc)) from None
    finally:
        if store is not None:
            store.close()
    seconds = time.perf_counter() - started
    try:
        runner.deliver(alerts)
    except OSError as exc:
        raise click.UsageError(f"cannot write to a sink: {exc}") from None
    if not quiet:
        from cloudward.report import SummaryWriter, print_summary

        print_summary(SummaryWriter(), pipe, alerts, seconds)
    if rejects_file:
        with open(rejects_file, "wb") as fh:
            for r in pipe.stats.rejections:
                fh.write(orjson.dumps({"where": r.where, "reason": r.reason}) + b"\n")
    unread = pipe.unread_inputs
    if unread:
        from cloudward.report import SummaryWriter

        # loud even with --quiet: a whole input lost is never a detail of the summary
        shown = terminal_safe(", ".join(unread[:5]), 2000) + (f" and {len(unread) - 5} more" if len(unread) > 5 else "")
        SummaryWriter().print(f"cloudward: nothing was read from {len(unread)} non-empty input(s): {shown} "
                              "(unrecognized format or every record rejected; see the rejections)"
                              + ("" if allow_unread else f"; exit status {EXIT_REJECTED}, --allow-unread accepts this"),
                              style="bold red")
    if fail_on and any(severity_rank(a.severity) >= severity_rank(fail_on) and a.status == "active" for a in alerts):
        return EXIT_ALERTS
    if strict and pipe.stats.rejected:
        return EXIT_REJECTED
    if unread and not allow_unread:
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
    click.option("--allow-unread", is_flag=True, help="Exit 0 even when nothing at all could be read from a "
                 "non-empty input (default: exit 3)."),
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


class _Workers(click.ParamType):
    """`--workers`: a number of processes (1 or more), or `auto`."""

    name = "N|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | str:
        if isinstance(value, int) or str(value).strip().lower() == "auto":
            return value if isinstance(value, int) else "auto"
        try:
            n = int(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not a number of workers or 'auto'", param, ctx)
        if n < 1:
            self.fail(f"{n} is not 1 or more", param, ctx)
        return n


def _with_scan_options(f: Any) -> Any:
    for option in reversed(_scan_options):
        f = option(f)
    return f


def _missing(path: str) -> bool:
    """No such path (a path that exists but cannot be looked at is scanned, and rejected with the reason)."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return False


@main.command()
@click.argument("paths", nargs=-1, required=True)
@_with_scan_options
@click.option("--sigma", "sigma_paths", multiple=True, type=click.Path(exists=True), metavar="PATH",
              help="Sigma rule file or folder to run next to the cards (repeatable); also [sigma] paths.")
@click.option("--workers", "-j", type=_Workers(), default="auto", show_default=True,
              help="Processes to scan on (1 = one process; auto = the cores, and a pool only where it pays: "
                   "host telemetry of several hosts, web logs of several files, or a big Kubernetes audit log cut in "
                   "byte ranges, 8 MB or more). The alerts are the same for any number.")
def scan(paths: tuple[str, ...], config_path: str | None, site: str | None, cluster: str | None,
         host_name: str | None, sigma_paths: tuple[str, ...], **kw: Any) -> None:
    """Scan log files, folders, .gz files or - (stdin) and report alerts.

    Formats are recognized from the content: Kubernetes audit logs (native, AKS, EKS, GKE), web and FTP
    logs, and host telemetry. Alerts go to stdout; the summary and progress to stderr.
    """
    from cloudward import sigma
    missing = [p for p in paths if p != "-" and _missing(p)]
    if missing:
        raise click.UsageError(f"no such file or folder: {', '.join(missing)}")
    config = _load_config(config_path)
    for attr, value in (("site", site), ("cluster", cluster), ("host", host_name)):
        if value:
            setattr(config, attr, value)
    sigma.add_run_paths(config, sigma_paths)
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
    from cloudward.report import SummaryWriter, print_summary
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
        print_summary(SummaryWriter(), engine, alerts, time.perf_counter() - started)


@main.command("spark-stream")
@click.argument("source", type=click.Path(file_okay=False))
@click.option("--output", "output_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for batch-<id>.jsonl: the alerts each micro-batch created or changed.")
@click.option("--state", "state_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the engine's state and Spark's checkpoint (a restart resumes from it).")
@click.option("--master", help="Spark master URL (default: local[*]); under spark-submit, the session's own.")
@click.option("--max-files-per-trigger", type=click.IntRange(min=1), help="Files per micro-batch.")
@click.option("--trigger-seconds", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="How often a micro-batch starts.")
@click.option("--once", is_flag=True, help="Process the files there now (in micro-batches), then stop.")
@click.option("--final-output", type=click.Path(dir_okay=False),
              help="When the query stops: write the alerts a scan ending then would report (JSON lines).")
@click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False), envvar="CLOUDWARD_CONFIG",
              help="TOML configuration file.")
@click.option("--intel", multiple=True, metavar="FEED", help="Threat-intelligence feed file (repeatable).")
@click.option("--only", multiple=True, metavar="ALERT_TYPE", help="Run only these detections (repeatable).")
def spark_stream(source: str, output_dir: str, state_dir: str, master: str | None,
                 max_files_per_trigger: int | None, trigger_seconds: float, once: bool, final_output: str | None,
                 config_path: str | None, intel: tuple[str, ...], only: tuple[str, ...]) -> None:
    """Watch SOURCE with Spark Structured Streaming and run the detections on each new file.

    The engine's state is written after every micro-batch; windows close as event time passes
    ([engine] allowed_lateness), and a restart with the same --state goes on where the last batch ended.
    """
    try:
        from cloudward import spark as spark_job
        from cloudward.spark import streaming
    except ImportError as exc:  # pragma: no cover - pyspark is an install-time dependency
        raise click.UsageError(f"spark-stream needs pyspark: {exc}") from None

    if not Path(source).is_dir():
        raise click.UsageError(f"no such folder: {source}")
    config = _load_config(config_path)
    session = spark_job.session(master, app_name="cloudward-spark-stream")
    job = streaming.StreamJob(config, state_dir, output_dir, only=set(only) or None, intel=list(intel))
    trigger = {"availableNow": True} if once else {"processingTime": f"{trigger_seconds} seconds"}
    try:
        query = streaming.start_file_stream(session, source, job, max_files_per_trigger=max_files_per_trigger,
                                            trigger=trigger)
        try:
            query.awaitTermination()
        except KeyboardInterrupt:
            query.stop()
        if final_output:
            with open(final_output, "wb") as fh:
                for alert in job.alerts():
                    fh.write(orjson.dumps(alert.to_dict()) + b"\n")
    finally:
        session.stop()
    click.echo(f"{job.batches} micro-batches; last committed: {job.committed}; alerts under {output_dir}",
               err=True)


@main.command()
@click.option("--output", "-o", default="table", show_default=True, help="table, jsonl, json or ocsf.")
@click.option("--lang", type=click.Choice(["en", "ko"]), default="en", show_default=True)
def demo(output: str, lang: str) -> None:
    """Scan the bundled sample logs (Kubernetes audit, web and FTP, host telemetry)."""
    from importlib import resources

    from rich.text import Text
    samples = resources.files("cloudward").joinpath("samples")
    paths = sorted(str(p) for p in Path(str(samples)).iterdir() if not p.name.startswith(("_", ".")))
    intel = [str(p) for p in Path(str(samples)).glob("_intel/*") if p.is_file()]
    err = _stderr()
    err.print(Text(f"Cloudward {__version__} demo: scanning {len(paths)} bundled sample folder(s) in {samples}",
                   style="bold"))
    # the alerts also go to a store of their own (a fresh folder each run, so runs never share one) that
    # `serve` can open: the web console shows the same alerts
    import tempfile

    store = Path(tempfile.mkdtemp(prefix="cloudward-demo-")) / "cloudward.db"
    code = run_scan(paths, config=Config(), fmt=None, output=output, intel=intel, min_severity="informational",
                    fail_on=None, strict=False, store_path=str(store), baseline_from=[], only=[], progress=False,
                    lang=lang, quiet=False, rejects_file=None)
    err.print(Text("\nSee these alerts in the web console: start the service on the demo's store (it prints an "
                   "admin token to sign in with),", style="bold"))
    err.print(Text(f"  cloudward serve --db {store}"), soft_wrap=True)
    err.print(Text("and open http://127.0.0.1:8765/"))
    sys.exit(code)


@main.command("formats")
def formats_cmd() -> None:
    """List the input formats Cloudward recognizes."""
    from rich.console import Console
    from rich.table import Table

    from cloudward import parsers
    table = Table("Name", "Kind", "Description")
    for f in parsers.formats():
        table.add_row(f.name, "file format", f.description)
    for d in parsers.dialects():
        table.add_row(d.name, "JSON record", d.description)
    Console().print(table)


_config_option = click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False),
                              envvar="CLOUDWARD_CONFIG")


# -- rules -------------------------------------------------------------------------------------
@main.group()
def rules() -> None:
    """List, show and test detection cards."""


@rules.command("list")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table")
@click.option("--source", type=click.Choice(["AUDIT", "HTTP", "FTP", "PROC", "HOST"]), help="Only this data source.")
@click.option("--lang", type=click.Choice(["en", "ko"]), default="en", show_default=True)
@click.option("--sigma", "sigma_paths", multiple=True, type=click.Path(exists=True), metavar="PATH",
              help="Also list the Sigma rules in this file or folder (repeatable); [sigma] paths are listed too.")
@_config_option
def rules_list(output: str, source: str | None, lang: str, sigma_paths: tuple[str, ...],
               config_path: str | None) -> None:
    """Every detection with its id, severity, data source and tactics (cards, then Sigma rules)."""
    from rich.text import Text

    from cloudward import detections as registry
    from cloudward.sinks.table import SEVERITY_STYLE, print_listing
    cards = [c.card for c in registry.all_classes() if source is None or c.card.data_source == source]
    ruleset = _sigma_ruleset(config_path, sigma_paths)
    sigma_cards = [r.card for r in ruleset.rules] if ruleset is not None else []
    sigma_cards += [c.card for c in ruleset.correlations] if ruleset is not None else []
    sigma_cards = [c for c in sigma_cards if source is None or c.data_source == source]
    if output == "json":
        sys.stdout.write(orjson.dumps([{
            "id": c.id, "title": c.title, "title_ko": c.title_ko, "severity": c.severity, "source": c.data_source,
            "tactics": list(c.tactics), "techniques": list(c.techniques), "maturity": c.maturity,
            "kind": "sigma" if c in sigma_cards else "card",
        } for c in [*cards, *sigma_cards]], option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    con = _stdout_console()
    rows = [[c.id, c.title_ko if lang == "ko" else c.title, Text(c.severity, style=SEVERITY_STYLE.get(c.severity, "")),
             c.data_source, ", ".join(c.tactics), ", ".join(c.techniques)] for c in cards]
    rows += [[c.id, Text(terminal_safe(c.title, 80)), Text(c.severity, style=SEVERITY_STYLE.get(c.severity, "")),
              c.data_source, Text(terminal_safe(", ".join(c.tactics))), Text(terminal_safe(", ".join(c.techniques)))]
             for c in sigma_cards]
    print_listing(con, ["Alert type", "Title", "Severity", "Source", "Tactics", "Techniques"], rows)
    if ruleset is not None:
        _print_sigma_problems(ruleset, limit=len(ruleset.problems))


def _stdout_console() -> Console:
    from cloudward.sinks.table import make_console
    return make_console(sys.stdout, isatty=sys.stdout.isatty())


def _sigma_ruleset(config_path: str | None, sigma_paths: tuple[str, ...]) -> sigma.RuleSet | None:
    from cloudward import sigma
    config = _load_config(config_path)
    sigma.add_run_paths(config, sigma_paths)
    try:
        return sigma.ruleset_for(config)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def _print_sigma_problems(ruleset: sigma.RuleSet, limit: int = 10) -> None:
    """The rule set's counts and first problems on stderr, as plain lines (like the summary: loading rich for
    them would cost a scan ~13 ms); the problems' text, from the rule files, is made terminal-safe."""
    from cloudward.report import SummaryWriter

    out = SummaryWriter(color=False)
    counts = ruleset.counts()
    n, unsupported, invalid = counts["evaluated"], counts["unsupported"], counts["invalid"]
    out.print(f"Sigma: {n} rule(s) evaluated from {counts['files']} file(s); {unsupported} unsupported, "
              f"{invalid} invalid (규칙 {n}개 평가, {unsupported}개 미지원, {invalid}개 오류)")
    for p in ruleset.problems[:limit]:
        out.print("  " + terminal_safe(p.line(), 300))
    if len(ruleset.problems) > limit:
        out.print(f"  ... and {len(ruleset.problems) - limit} more (cloudward rules list --sigma PATH shows all)")


def _print_sigma_report(pipe: Engine) -> None:
    detection = sys.modules.get("cloudward.sigma.detection")
    if detection is None:
        return  # no Sigma rule was loaded (and pySigma need not be)
    # (the detections built so far: the Sigma ones are built at start, the cards need not be yet)
    found = detection.sigma_detections(pipe.detections_set_up())
    if found:
        _print_sigma_problems(found[0].ruleset)


@rules.command("show")
@click.argument("alert_type")
@click.option("--lang", type=click.Choice(["en", "ko"]), default="en")
@click.option("--sigma", "sigma_paths", multiple=True, type=click.Path(exists=True), metavar="PATH",
              help="Sigma rule files or folders to look a SIGMA_<id> alert type up in (repeatable).")
@_config_option
def rules_show(alert_type: str, lang: str, sigma_paths: tuple[str, ...], config_path: str | None) -> None:
    """A card's metadata, what it looks at, its parameters and a sample (or a Sigma rule's)."""
    from rich.table import Table
    from rich.text import Text

    from cloudward import detections as registry
    from cloudward.detections.testing import sample_text
    if alert_type.startswith("SIGMA_"):
        _show_sigma_rule(alert_type, lang == "ko", sigma_paths, config_path)
        return
    cls = registry.by_id(alert_type)
    if cls is None:
        raise click.UsageError(f"no detection {alert_type!r}; see `cloudward rules list`")
    c = cls.card
    ko = lang == "ko"
    con = _stdout_console()
    con.print(Text(f"{c.id} — {c.title_ko if ko else c.title}", style="bold"))
    rows = [
        ("Severity", c.severity), ("Data source", c.data_source), ("Tactics", ", ".join(c.tactics)),
        ("Techniques", ", ".join(c.techniques)), ("Maturity", c.maturity), ("Looks at", c.looks_at),
        ("Description", c.description_ko if ko else c.description),
    ]
    if c.params:
        rows.append(("Parameters", ", ".join(f"{k} = {v!r}" for k, v in c.params.items())))
    table = Table(show_header=False, box=None)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")  # wrap, never cut (Korean included)
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


def _show_sigma_rule(alert_type: str, ko: bool, sigma_paths: tuple[str, ...], config_path: str | None) -> None:
    """`rules show SIGMA_<id>`: the rule's card. Its text comes from a rule file, so it is made terminal-safe."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text
    ruleset = _sigma_ruleset(config_path, sigma_paths)
    cards = [x.card for x in (*ruleset.rules, *ruleset.correlations)] if ruleset is not None else []
    c = next((card for card in cards if card.id == alert_type), None)
    if c is None:
        raise click.UsageError(f"no Sigma rule {alert_type!r} in the given rules (--sigma PATH or [sigma] paths)")
    con = Console()
    con.print(Text(terminal_safe(f"{c.id} — {c.title_ko if ko else c.title}", 300), style="bold"))
    table = Table(show_header=False, box=None)
    for k, v in (("Severity", c.severity), ("Data source", c.data_source), ("Tactics", ", ".join(c.tactics)),
                 ("Techniques", ", ".join(c.techniques)), ("Status", c.maturity), ("Looks at", c.looks_at),
                 ("Description", c.description_ko if ko else c.description)):
        table.add_row(Text(k, style="bold"), Text(terminal_safe(v, 2000)))
    con.print(table)
    for heading, items in (("Remediation:", c.remediation_ko if ko else c.remediation),
                           ("Known false positives:", c.false_positives), ("References:", c.references)):
        if items:
            con.print(Text(heading, style="bold"))
            for item in items:
                con.print(Text("  - " + terminal_safe(item, 500)))


@rules.command("test")
@click.argument("args", nargs=-1)
@click.option("--sigma", "sigma_paths", multiple=True, type=click.Path(exists=True), metavar="PATH",
              help="Test Sigma rules: the arguments are then event files, and every match is shown with why.")
@click.option("--format", "fmt", metavar="NAME", help="Format of the event files (default: recognized).")
@_config_option
def rules_test(args: tuple[str, ...], sigma_paths: tuple[str, ...], fmt: str | None, config_path: str | None) -> None:
    """Run cards' own positive and negative samples through the real pipeline.

    With --sigma PATH, run those Sigma rules over the event files given as arguments instead and show
    which rule matched which event, and which of its selections held.
    """
    from rich.console import Console
    from rich.text import Text

    from cloudward import detections as registry
    from cloudward.detections.testing import run_sample
    if sigma_paths:
        sys.exit(_sigma_test(list(args), sigma_paths, fmt, config_path))
    alert_types = args
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


# -- config ------------------------------------------------------------------------------------
@main.group("config")
def config_group() -> None:
    """Check a configuration file; print the configuration reference."""


@config_group.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
def config_check(path: str) -> None:
    """Validate FILE against the schema: every unknown key and wrong type, with its key path (exit 2)."""
    try:
        cfg = load(path)
    except ConfigError as exc:
        click.echo("\n".join(terminal_safe(line) for line in str(exc).splitlines()), err=True)
        sys.exit(EXIT_USAGE)
    sections = ", ".join(sorted(k for k, v in cfg.raw.items() if isinstance(v, dict))) or "none"
    click.echo(f"{path}: valid ({len(cfg.detections)} detection setting(s), {len(cfg.suppress)} suppress "
               f"rule(s); sections: {sections})")


@config_group.command("reference")
def config_reference() -> None:
    """The configuration reference as Markdown (docs/configuration.md is this output)."""
    from cloudward.config_schema import reference_markdown

    sys.stdout.write(reference_markdown())
def _sigma_test(events: list[str], sigma_paths: tuple[str, ...], fmt: str | None, config_path: str | None) -> int:
    """Exit 0 when some rule matched, 1 when none did, 2 for usage errors."""
    from rich.console import Console
    from rich.text import Text

    from cloudward import sigma
    from cloudward.pipeline import Pipeline
    from cloudward.sigma.detection import sigma_detections

    if not events:
        raise click.UsageError("give the event files to test the Sigma rules on")
    missing = [p for p in events if p != "-" and not Path(p).exists()]
    if missing:
        raise click.UsageError(f"no such file or folder: {', '.join(missing)}")
    config = _load_config(config_path)
    config.raw = {**config.raw, "sigma": {**config.section("sigma"), "paths": []}}
    sigma.add_run_paths(config, sigma_paths)
    try:
        pipe = Pipeline(config, only={"SIGMA_*"})
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    found = sigma_detections(pipe.detections)
    trace: list[Any] = []
    for det in found:
        det.trace = trace
    pipe.run_paths(events, fmt)
    pipe.finish()
    con = Console()
    for event, rule, why in trace:
        where = event.origin or event.event_id
        con.print(Text.assemble(Text(terminal_safe(where, 120), style="bold"), "  ",
                                Text(rule.card.id, style="cyan"), f"  {rule.card.severity}  ",
                                Text(terminal_safe(rule.card.title, 100))))
        con.print(Text(f"    matched (일치): {terminal_safe(', '.join(why), 200) or '(condition)'}  |  "
                       f"{terminal_safe(event.summary(), 160)}"))
    rules_hit = {r.card.id for _, r, _ in trace}
    con.print(f"{len(trace)} match(es) of {len(rules_hit)} rule(s) in {pipe.stats.events} event(s); "
              f"{pipe.stats.rejected} record(s) rejected. (이벤트 {pipe.stats.events}개 중 규칙 {len(rules_hit)}개가 "
              f"{len(trace)}번 일치, 거부된 레코드 {pipe.stats.rejected}개)")
    if found:
        _print_sigma_problems(found[0].ruleset)
    return 0 if trace else 1


# -- alerts (store) ----------------------------------------------------------------------------
@main.group()
def alerts() -> None:
    """Alerts kept in the SQLite store (see scan --store)."""


def _open_store(path: str | None, config_path: str | None, *, readonly: bool = False) -> Store:
    from cloudward.store import Store, StoreError
    config = _load_config(config_path)
    path = path or config.store_path
    if not path:
        raise click.UsageError("name the store with --store or [store] path in the configuration")
    if not Path(path).exists():
        raise click.UsageError(f"no store at {path}")
    try:
        return Store(path, readonly=readonly)
    except StoreError as exc:
        raise click.UsageError(str(exc)) from None


class _StoreCommand(click.Command):
    """Store problems met while a command runs (damaged pages, a read-only file) are usage errors (exit 2)."""

    def invoke(self, ctx: click.Context) -> Any:
        import sqlite3

        from cloudward.store import AmbiguousId, StoreError
        try:
            return super().invoke(ctx)
        except AmbiguousId as exc:
            raise click.UsageError(str(exc)) from None
        except StoreError as exc:
            raise click.UsageError(str(exc)) from None
        except sqlite3.DatabaseError as exc:
            raise click.UsageError(f"store: {exc} (damaged, read-only or not a Cloudward store)") from None


def print_alert_list(docs: list[dict[str, Any]]) -> None:
    """`alerts list` for people: whole ids, types and resource names, wrapped to the width."""
    from rich.text import Text

    from cloudward.sinks.table import SEVERITY_STYLE, print_listing
    rows = [[d["id"], Text(d["severity"], style=SEVERITY_STYLE.get(d["severity"], "")), d["alert_type"],
             terminal_safe(d["resource"].get("name")), str(d["count"]), d["last_seen"], d["status"]] for d in docs]
    print_listing(_stdout_console(), ["Id", "Severity", "Alert type", "Resource", "Count", "Last seen", "Status"],
                  rows)


_store_option = click.option("--store", "store_path", type=click.Path(dir_okay=False), envvar="CLOUDWARD_STORE")
_by_option = click.option("--by", default=None, metavar="WHO",
                          help="Who makes the change, for the status log (default: the OS user).")


@alerts.command("list", cls=_StoreCommand)
@_store_option
@_config_option
@click.option("--type", "alert_type", help="Only this alert type.")
@click.option("--status", type=click.Choice(["active", "dismissed", "resolved"]))
@click.option("--output", "-o", type=click.Choice(["table", "jsonl"]), default="table")
def alerts_list(store_path: str | None, config_path: str | None, alert_type: str | None, status: str | None,
                output: str) -> None:
    """Alerts in the store, newest first."""
    store = _open_store(store_path, config_path, readonly=True)
    try:
        docs = store.list_alerts(alert_type=alert_type, status=status)
    finally:
        store.close()
    if output == "jsonl":
        for d in docs:
            sys.stdout.write(orjson.dumps(d).decode() + "\n")
        return
    print_alert_list(docs)


@alerts.command("show", cls=_StoreCommand)
@_store_option
@_config_option
@click.argument("alert_id")
def alerts_show(store_path: str | None, config_path: str | None, alert_id: str) -> None:
    """One alert (id or a unique prefix of it) as JSON, with its status history."""
    store = _open_store(store_path, config_path, readonly=True)
    try:
        doc = store.get_alert(alert_id)
    finally:
        store.close()
    if doc is None:
        raise click.UsageError(f"no alert {alert_id!r} in the store")
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")


def _change_status(store_path: str | None, config_path: str | None, alert_id: str, status: str, reason: str,
                   by: str | None) -> str:
    from cloudward.store import current_user
    store = _open_store(store_path, config_path)
    try:
        full = store.resolve(alert_id)
        store.set_status(full, status, reason, by=by if by is not None else current_user())
    finally:
        store.close()
    return full


@alerts.command("dismiss", cls=_StoreCommand)
@_store_option
@_config_option
@click.argument("alert_id")
@click.option("--reason", default="", help="Why (kept in the store's status log).")
@_by_option
def alerts_dismiss(store_path: str | None, config_path: str | None, alert_id: str, reason: str,
                   by: str | None) -> None:
    """Mark an alert dismissed; later scans with the same store keep it dismissed."""
    full = _change_status(store_path, config_path, alert_id, "dismissed", reason, by)
    click.echo(f"dismissed {full}")


@alerts.command("reopen", cls=_StoreCommand)
@_store_option
@_config_option
@click.argument("alert_id")
@click.option("--reason", default="", help="Why (kept in the store's status log).")
@_by_option
def alerts_reopen(store_path: str | None, config_path: str | None, alert_id: str, reason: str,
                  by: str | None) -> None:
    """Make a dismissed or resolved alert active again."""
    full = _change_status(store_path, config_path, alert_id, "active", reason, by)
    click.echo(f"reopened {full}")


# `cloudward agent` lives in its own package (live host telemetry)
from cloudward.agent.command import agent as _agent_command  # noqa: E402

main.add_command(_agent_command)


# -- serve (the always-on service) ---------------------------------------------------------------
@main.command()
@_config_option
@click.option("--listen", help="HOST:PORT (overrides [server] listen; default 127.0.0.1:8765).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), help="SQLite store (overrides [server] db).")
def serve(config_path: str | None, listen: str | None, db_path: str | None) -> None:
    """Run the service: Kubernetes audit webhook, ingest endpoints, REST API, alert delivery."""
    from cloudward.migrations import StoreVersionError
    from cloudward.server.run import serve as run_serve
    from cloudward.server.settings import ServerSettings

    config = _load_config(config_path)
    try:
        settings = ServerSettings.from_config(config, listen=listen, db=db_path)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        run_serve(config, settings)
    except (StoreVersionError, ConfigError) as exc:
        raise click.UsageError(str(exc)) from None


@main.group("sinks")
def sinks_group() -> None:
    """Alert delivery ([[sinks]] in the configuration)."""


@sinks_group.command("test")
@_config_option
def sinks_test(config_path: str | None) -> None:
    """Send one clearly marked sample alert through every configured sink and report each result."""
    from cloudward.sinks._testing import test_sinks

    config = _load_config(config_path)
    try:
        results = test_sinks(config)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    if not results:
        raise click.UsageError("no [[sinks]] in the configuration")
    for name, kind, ok, detail in results:
        click.echo(f"{'ok  ' if ok else 'FAIL'} {name} ({kind}): {terminal_safe(detail, 300)}")
    sys.exit(0 if all(ok for *_, ok, _ in results) else 1)


@main.command("tail")
@click.argument("paths", nargs=-1, required=True)
@_config_option
@click.option("--store", "store_path", type=click.Path(dir_okay=False), envvar="CLOUDWARD_STORE",
              help="In-process: the SQLite store (default: [store] path or cloudward-tail.db).")
@click.option("--to", "to_url", help="Post batches to this `cloudward serve` instead of detecting in-process.")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False), help="Ingest token for --to.")
@click.option("--state", "state_path", type=click.Path(dir_okay=False), default=".cloudward-tail.db",
              show_default=True, help="With --to: where offsets are kept.")
@click.option("--format", "-f", "fmt", help="Input format (default: sniffed per batch).")
@click.option("--site", help="Site name for web and FTP logs (sent as ?site= with --to).")
@click.option("--host", "host_name", help="Host name for host telemetry.")
@click.option("--interval", type=float, default=1.0, show_default=True, help="Seconds between passes.")
@click.option("--once", is_flag=True, help="One pass, then exit.")
def tail_cmd(paths: tuple[str, ...], config_path: str | None, store_path: str | None, to_url: str | None,
             token_file: str | None, state_path: str, fmt: str | None, site: str | None, host_name: str | None,
             interval: float, once: bool) -> None:
    """Follow files and globs like tail -F (rotation, new files, .gz rotations); offsets survive restarts."""
    from cloudward.runners.tail import LocalTail, RemoteTail

    config = _load_config(config_path)
    if site:
        config.site = site
    if host_name:
        config.host = host_name
    runner: Any
    if to_url:
        if not token_file:
            raise click.UsageError("--to needs --token-file (an ingest token)")
        token = Path(token_file).read_text(encoding="utf-8").strip()
        params = {k: v for k, v in (("site", site), ("host", host_name)) if v}
        runner = RemoteTail(to_url, token, state_path, list(paths), fmt, params)
    else:
        runner = LocalTail(config, store_path or config.store_path or "cloudward-tail.db", list(paths), fmt)
    try:
        while True:
            runner.poll()
            if isinstance(runner, LocalTail):
                runner.deliver()
            if once:
                break
            if not runner.follower.backlog:  # catching up on a backlog does not wait between batches
                time.sleep(interval)
    except KeyboardInterrupt:
        pass
    except RuntimeError as exc:
        _stderr().print(f"cloudward tail: {terminal_safe(str(exc), 500)}")
        sys.exit(1)
    finally:
        runner.close()


if __name__ == "__main__":  # pragma: no cover
    main()
