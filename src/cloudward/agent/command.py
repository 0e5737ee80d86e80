"""`cloudward agent`: the command-line entry (registered in cloudward.cli with one line)."""

from __future__ import annotations

import json
import sys

import click

from cloudward.config import ConfigError, load


@click.command("agent")
@click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False), envvar="CLOUDWARD_CONFIG",
              help="TOML configuration file ([agent] section, detections, data, intel).")
@click.option("--output", "-o", type=click.Choice(["jsonl", "table"]), default="jsonl", show_default=True,
              help="How alerts are written to stdout, each the moment it is raised.")
@click.option("--to", "to_url", metavar="URL", help="Also ship events to a `cloudward serve` (https://host:port).")
@click.option("--token-file", type=click.Path(dir_okay=False, exists=True),
              help="File holding the ingest bearer token for --to.")
@click.option("--host", "host_name", help="Host name to put on events (default: this machine's).")
@click.option("--status", "show_status", is_flag=True, help="Report each collector's health and exit.")
@click.option("--lang", type=click.Choice(["en", "ko"]), default="en", show_default=True)
def agent(config_path: str | None, output: str, to_url: str | None, token_file: str | None, host_name: str | None,
          show_status: bool, lang: str) -> None:
    """Watch this Linux host live: process executions, connections, containers; alert as things happen."""
    from cloudward.agent.runner import Agent, probe, read_status
    from cloudward.agent.settings import agent_settings

    try:
        config = load(config_path)
        settings = agent_settings(config)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    if host_name:
        config.host = host_name
    if show_status:
        data = read_status(settings)
        if data is None or not data.get("running"):
            report = {"running": False, "collectors": probe(settings)}
            if data is not None:
                report["last_run"] = data
            sys.stdout.write(json.dumps(report, indent=2, default=str) + "\n")
            sys.exit(1)
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        # healthy when a process collector works; the others (Docker on a containerd node) are optional
        collectors = data.get("collectors", {})
        watching = any(collectors.get(n, {}).get("state") == "ok" for n in ("audit", "proc_connector"))
        sys.exit(0 if watching else 1)
    token = ""
    if to_url:
        if not token_file:
            raise click.UsageError("--to needs --token-file")
        with open(token_file, encoding="utf-8") as fh:
            token = fh.read().strip()
    try:
        runner = Agent(config, settings, output=output, to_url=to_url or "", token=token, lang=lang)
    except (ConfigError, ValueError, OSError) as exc:
        raise click.UsageError(str(exc)) from None
    sys.exit(runner.run())
