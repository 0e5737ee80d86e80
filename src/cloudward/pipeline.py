"""The pipeline: source -> parse -> normalize -> enrich -> detect -> alert.

Every runner (`scan`, `tail`, `serve`, the Spark job) drives this one class, so a detection behaves
the same everywhere. Runners hand it inputs (`run_input`) or already-normalized events (`feed`),
then call `finish` for the alerts.
"""

from __future__ import annotations

import traceback
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from cloudward import detections as registry
from cloudward import parsers
from cloudward.alerts import Alert, AlertBook, Finding, entity_matches
from cloudward.config import Config, ConfigError
from cloudward.datalists import DataLists
from cloudward.detections.base import Detection
from cloudward.enrich import Enricher, build_all
from cloudward.events import Event, ExternalAlert, K8sAudit
from cloudward.inputs import InputFile, ScanStats, expand_paths
from cloudward.parsers.base import Head, Interest, JsonDialect, ParseContext
from cloudward.parsers.json_records import JsonRecords
from cloudward.store import Store

MUTATING_VERBS = frozenset({"create", "update", "patch"})


class RecentIds:
    """Membership over the last ~2×`size` ids added: bounded memory for redelivery checks."""

    def __init__(self, size: int = 500_000) -> None:
        self.size = size
        self.current: set[Any] = set()
        self.previous: set[Any] = set()

    def seen(self, key: Any) -> bool:
        """True if `key` was added before; adds it otherwise."""
        if key in self.current or key in self.previous:
            return True
        if len(self.current) >= self.size:
            self.previous, self.current = self.current, set()
        self.current.add(key)
        return False


class Pipeline:
    def __init__(
        self,
        config: Config | None = None,
        *,
        only: set[str] | None = None,
        store: Store | None = None,
        enrich_options: dict[str, Any] | None = None,
        raise_errors: bool = False,
    ) -> None:
        self.config = config or Config()
        self.data = DataLists(self.config)
        self.detections: list[Detection] = registry.build(self.config, only, self.data)
        self.enrichers: list[Enricher] = build_all(self.config, **(enrich_options or {}))
        self.store = store
        self.raise_errors = raise_errors
        self.stats = ScanStats()
        self.book = AlertBook(self.config, loader=store.load_alert if store else None)
        self.allowed = 0
        self.detection_errors = 0
        #: while True (a `--baseline-from` pass), detections learn but findings are dropped
        self.learning = False
        self._recent = RecentIds()
        self._audit_by_resource: dict[str, list[Detection]] = {}

        self._by_kind: dict[type[Event], list[Detection]] = defaultdict(list)
        for det in self.detections:
            for kind in det.kinds:
                self._by_kind[kind].append(det)
        self._enrichers_by_kind: dict[type[Event], list[Enricher]] = defaultdict(list)
        for enr in self.enrichers:
            for kind in enr.kinds:
                self._enrichers_by_kind[kind].append(enr)

        audit_cards = self._by_kind.get(K8sAudit, [])
        verbs: set[str] | None = set()
        resources: set[str] | None = set()
        for det in audit_cards:
            if det.audit_verbs is None:
                verbs = None
            elif verbs is not None:
                verbs |= det.audit_verbs
            if det.audit_resources is None:
                resources = None
            elif resources is not None:
                resources |= det.audit_resources
        self._audit_resources = frozenset(resources or ())
        self.interest = Interest(
            audit_verbs=frozenset(verbs) if verbs is not None else None,
            audit_resources=frozenset(resources) if resources is not None else None,
            kinds=frozenset(k.__name__ for k in self._by_kind),
        )
        self.ctx = ParseContext(
            stats=self.stats, interest=self.interest, site=self.config.site, cluster=self.config.cluster,
            host=self.config.host,
        )
        # raw-line prefilters the cards of one event kind offer parsers (web logs): used only when every card
        # subscribed to that kind offers the same one, so no card misses a line it needs
        for kind, subscribers in self._by_kind.items():
            offers = [getattr(det, "line_prefilter", None) for det in subscribers]
            if offers and all(offers):
                prefilters = {id(f): f for f in (offer() for offer in offers)}
                if len(prefilters) == 1:
                    self.ctx.options[f"prefilter:{kind.__name__}"] = next(iter(prefilters.values()))
        if store is not None:
            for det in self.detections:
                state = store.load_state(det.card.id)
                if state is not None:
                    det.restore(state)

    # -- inputs ------------------------------------------------------------------------------
    def run_paths(self, paths: Iterable[str], fmt: str | None = None,
                  on_input: Callable[[InputFile], None] | None = None) -> None:
        expanded = list(expand_paths(list(paths)))
        for enricher in self.enrichers:  # context files (docker inspect) help inputs read before them
            prepare = getattr(enricher, "prepare", None)
            if prepare is not None:
                prepare(expanded)
        for path in expanded:
            src = InputFile(path, max_line_bytes=self.config.max_line_bytes)
            if on_input is not None:
                on_input(src)
            self.run_input(src, fmt)

    def run_input(self, src: InputFile, fmt: str | None = None) -> None:
        """Parse one input and feed its events; unreadable inputs are rejected, never raised."""
        self.stats.files += 1
        try:
            src.open()
        except OSError as exc:
            self.stats.reject(f"{src.display}:0", f"cannot open: {exc.strerror or exc}")
            return
        chosen = parsers.by_name(fmt) if fmt else None
        if fmt and chosen is None:
            raise ConfigError(f"unknown format {fmt!r}; known: {', '.join(parsers.names())}")
        feed = self.feed
        try:
            if isinstance(chosen, JsonDialect):
                events = JsonRecords().parse(src, self.ctx, forced=chosen)
            else:
                head = Head.of(src)
                if not head.data:
                    if src.open_error:
                        self.stats.reject(f"{src.display}:1", src.open_error)
                    src.close()
                    return
                format_ = chosen or parsers.sniff(head)
                if format_ is None:
                    kind = "binary data" if b"\x00" in head.data[:4096] else "text"
                    self.stats.reject(f"{src.display}:1", f"unrecognized input format ({kind})")
                    src.close()
                    return
                events = format_.parse(src, self.ctx)
                if not isinstance(format_, JsonRecords):  # JSON dialects count their own records
                    events = self._counted(events, format_.name)
            for event in events:
                feed(event)
        finally:
            src.close()

    def _counted(self, events: Iterable[Event], name: str) -> Iterable[Event]:
        n = 0
        try:
            for event in events:
                n += 1
                yield event
        finally:
            self.stats.formats[name] += n

    # -- events ------------------------------------------------------------------------------
    def feed(self, event: Event) -> None:
        """Enrich one normalized event and offer it to the detections subscribed to its kind."""
        self.stats.events += 1
        kind = type(event)
        if kind is ExternalAlert:
            if not self.learning:
                self._import_alert(event)  # type: ignore[arg-type]
            return
        detections = self._by_kind.get(kind, ())
        if kind is K8sAudit:
            if self._recent.seen((event.event_id, event.stage)):  # type: ignore[attr-defined]
                self.stats.duplicates += 1
                return
            self._note_uninspectable(event)  # type: ignore[arg-type]
            detections = self._audit_cards(event.resource)  # type: ignore[attr-defined]
        for enricher in self._enrichers_by_kind.get(kind, ()):
            try:
                enricher.enrich(event)
            except Exception as exc:
                self._error(f"enricher {enricher.name}", event, exc)
        for det in detections:
            try:
                findings = det.evaluate(event)
                if findings:
                    for finding in findings:
                        self._emit(det, finding)
            except Exception as exc:
                self._error(det.card.id, event, exc)

    def _audit_cards(self, resource: str) -> list[Detection]:
        """The Kubernetes cards that read `resource` (a pod event never reaches the RBAC cards)."""
        cards = self._audit_by_resource.get(resource)
        if cards is None:
            cards = [d for d in self._by_kind.get(K8sAudit, ())
                     if d.audit_resources is None or resource in d.audit_resources]
            self._audit_by_resource[resource] = cards
        return cards

    def _note_uninspectable(self, event: K8sAudit) -> None:
        if event.request_object is not None or event.response_object is not None:
            return
        if (
            event.verb in MUTATING_VERBS
            and event.resource in self._audit_resources
            and not event.subresource
            and event.stage != "RequestReceived"
            and (event.succeeded or event.code == 0)
            and event.subject_object is None
        ):
            self.stats.uninspectable += 1

    def _emit(self, det: Detection, finding: Finding) -> None:
        if self.learning:
            return
        for pattern in det.settings.allow:
            if entity_matches(pattern, finding.entities):
                self.allowed += 1
                return
        # a detection running many rules (Sigma) names each finding's own card
        self.book.add(getattr(finding, "card", None) or det.card, finding, det.severity)

    def _import_alert(self, ext: ExternalAlert) -> None:
        from cloudward.detections.base import Card

        card = Card(
            id=ext.alert_type, title=ext.title or ext.alert_type, title_ko=ext.title or ext.alert_type,
            severity=ext.severity, tactics=tuple(ext.tactics), techniques=tuple(ext.techniques),
            data_source="HOST", looks_at="imported alert", description="{_imported}",
            description_ko="{_imported}", remediation=(), remediation_ko=(),
        )
        finding = Finding(key=ext.key or ext.event_id, entities=dict(ext.entities), event=ext,
                          params={"_imported": ext.description},
                          resource=(ext.resource_type, ext.resource_name or "unknown"))
        self.book.add(card, finding, ext.severity, source=ext.alert_source)

    def learn_paths(self, paths: Iterable[str], fmt: str | None = None) -> None:
        """Feed earlier logs so baselines learn from them; nothing they contain alerts."""
        self.learning = True
        for det in self.detections:
            det.learning = True
        try:
            self.run_paths(paths, fmt)
        finally:
            self.learning = False
            for det in self.detections:
                det.learning = False

    def _error(self, who: str, event: Event, exc: Exception) -> None:
        if self.raise_errors:
            raise exc
        self.detection_errors += 1
        where = event.origin or event.event_id
        self.stats.reject(where, f"{who} failed on this event: {type(exc).__name__}: {exc}")
        if self.detection_errors == 1:
            traceback.print_exc()

    # -- end ---------------------------------------------------------------------------------
    def finish(self, min_severity: str = "informational") -> list[Alert]:
        """Close open windows, apply suppression, persist, and return the alerts (oldest first)."""
        for det in self.detections:
            try:
                for finding in det.finish():
                    self._emit(det, finding)
            except Exception as exc:
                if self.raise_errors:
                    raise
                self.detection_errors += 1
                self.stats.reject("(end of input)", f"{det.card.id} failed at end of input: {exc}")
        self.book.apply_suppression()
        if self.store is not None:
            self.store.save_alerts(self.book.alerts.values())
            for det in self.detections:
                state = det.state()
                if state is not None:
                    self.store.save_state(det.card.id, state)
        return self.book.sorted(min_severity)


def scan_text(text: str | bytes, fmt: str | None = None, *, config: Config | None = None,
              only: set[str] | None = None, display: str = "<sample>", raise_errors: bool = True,
              enrich_options: dict[str, Any] | None = None) -> tuple[list[Alert], ScanStats]:
    """Run `text` through a fresh pipeline (tests, samples, `rules test`)."""
    pipe = Pipeline(config, only=only, raise_errors=raise_errors, enrich_options=enrich_options)
    data = text.encode() if isinstance(text, str) else text
    pipe.run_input(InputFile.from_bytes(data, display), fmt)
    return pipe.finish(), pipe.stats
