"""The threat-intelligence enricher: looks up client (and destination) addresses of web, FTP and
network events in the configured feeds and fills `event.intel` with the hits.

Feeds come from `--intel SPEC` (repeatable; the CLI passes them as `intel=[...]`), from `[intel] feeds`
in the configuration, and from `[[intel.taxii]]` collections. Feed syntax: `cloudward.intel.feeds`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cloudward.config import Config, ConfigError
from cloudward.enrich import Enricher
from cloudward.events import FtpEvent, HttpRequest, NetConnection, ProcessExec
from cloudward.intel.indicators import Hit, IntelIndex

if TYPE_CHECKING:
    from cloudward.intel.feeds import FeedReport

_CACHE_LIMIT = 200_000
_NO_HITS: list[Hit] = []


class IntelEnricher(Enricher):
    kinds = (HttpRequest, FtpEvent, NetConnection, ProcessExec)
    name = "intel"

    def __init__(self, index: IntelIndex, reports: list[FeedReport] | None = None) -> None:
        self.index = index
        self.reports = reports or []
        self.cache: dict[str, list[Hit]] = {}
        self.matched = 0

    def hits_for_ip(self, ip: str) -> list[Hit]:
        hits = self.cache.get(ip)
        if hits is None:
            hits = self.index.lookup_ip(ip) if ip else _NO_HITS
            if not hits:
                hits = _NO_HITS
            if len(self.cache) >= _CACHE_LIMIT:
                self.cache.clear()
            self.cache[ip] = hits
        return hits

    def enrich(self, event: Any) -> None:
        if type(event) is ProcessExec:
            self.enrich_command_line(event)
            return
        if type(event) is NetConnection:
            hits = list(self.hits_for_ip(event.destination_ip))
            if event.destination_host:
                hits.extend(self.index.lookup_domain(event.destination_host))
            field = "destination"
        else:
            hits = self.hits_for_ip(event.client_ip)
            field = "client_ip"
        if hits:
            self.matched += 1
            # copies: an event's hits are its own, whatever a card does with them
            event.intel = [Hit(h, field=field) for h in hits]

    def enrich_command_line(self, event: ProcessExec) -> None:
        """Hits for the addresses and domain names a process's command line names (curl, wget, nc...)."""
        if not event.argv or len(event.argv) < 2:
            return
        from cloudward.intel.command_line import named_hosts

        ips, domains = named_hosts(event.argv)
        hits: list[Hit] = []
        for ip in ips:
            hits.extend(self.hits_for_ip(ip))
        for domain in domains:
            hits.extend(self.index.lookup_domain(domain))
        if hits:
            self.matched += 1
            event.intel = [Hit(h, field="command_line") for h in hits]

    def summary(self) -> list[dict[str, Any]]:
        return [{"feed": r.name, "format": r.format, "loaded": r.loaded, "skipped": r.skipped,
                 "reasons": dict(r.reasons)} for r in self.reports]


def build(config: Config, **options: Any) -> IntelEnricher | None:
    section = config.section("intel")
    specs: list[Any] = list(options.get("intel") or [])
    configured = section.get("feeds")
    if isinstance(configured, list):
        specs.extend(configured)
    else:
        specs.extend(config.intel)
    taxii = section.get("taxii") or []
    if isinstance(taxii, dict):
        taxii = [taxii]
    if not specs and not taxii:
        return None
    from cloudward.intel.feeds import FeedError, FeedReport, load_feed  # only with feeds: it brings in RE2

    index = IntelIndex()
    reports: list[FeedReport] = []
    try:
        for spec in specs:
            reports.append(load_feed(index, spec))
        for table in taxii:
            name = str(table.get("name") or f"taxii:{table.get('collection', '')}")
            report = FeedReport(name, "taxii")
            from cloudward.intel.feeds import load_stix
            from cloudward.intel.taxii import pull  # only when configured: it brings in urllib

            load_stix(index, {"type": "bundle", "objects": pull(table)}, index.feed(name), report)
            reports.append(report)
    except FeedError as exc:
        raise ConfigError(str(exc)) from None
    index.finalize()
    return IntelEnricher(index, reports)
