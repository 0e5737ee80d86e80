"""The engine: events (or the bytes of streams) in, changed alerts out, with keyed state on event time.

    runner ── bytes / events ──► decoder per stream ─► reorder by event time ─► enrich ─► cards ─► alert book
           ◄── changed alerts ──                                                           (keyed state)
           ── watermark ───────► advance: events up to it run in (time, origin) order, windows close
           ── checkpoint ──────► plain state: buffered events, every card's keyed state, the book

Events do not run through the cards in arrival order but in event-time order: each event waits in a
reorder buffer until the watermark (the newest event time minus `allowed_lateness`) passes it, then
the released events run sorted by (time, origin file, line, event id). So the order of input files, how input is
split across engines, and a checkpoint and restore in between never change an alert; an event that
arrives after the watermark passed its time (later than the allowed lateness) still runs, at once,
and is counted as late. A runner over a finite set of files (`scan`) sets `hold` so that nothing is
released before its last file is read: files are not in time order, and nothing then counts as late.

Runners own sources and sinks (`cloudward.runners`); `Pipeline` in `pipeline.py` is a facade over
this class for callers written against the earlier shape.
"""

from __future__ import annotations

import base64
import dataclasses
import gc
import math
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from cloudward import detections as registry
from cloudward import parsers
from cloudward.alerts import Alert, AlertBook, Finding, entity_matches
from cloudward.config import Config, ConfigError
from cloudward.datalists import DataLists
from cloudward.detections.base import Card, Detection
from cloudward.enrich import Enricher, build_all
from cloudward.events import (
    EVENT_KINDS,
    ContainerEvent,
    Event,
    ExternalAlert,
    HttpSummary,
    K8sAudit,
    ProcessExec,
    SummaryPiece,
    has_body,
    one_second,
)
from cloudward.inputs import InputFile, ScanStats
from cloudward.parsers._forwarded import TrustedProxies
from cloudward.parsers.base import Interest, ParseContext
from cloudward.state import event_from_state, event_state
from cloudward.timeutil import parse_duration

if TYPE_CHECKING:
    from cloudward.store import Store

MUTATING_VERBS = frozenset({"create", "update", "patch"})
#: container records that are snapshots of state (`docker inspect`, the daemon's configuration), not things
#: that happened: context for every event, so they run before any timed event whatever their own time
CONTEXT_ACTIONS = frozenset({"inspect", "exec_inspect", "image_inspect", "daemon_config"})
CONTEXT_TIME = -1e18
STATE_VERSION = 1
#: held events between two `gc.freeze()` calls (see `Engine._freeze`): every one, so a held event's
#: objects are never walked by the collector's older generations (freezing costs a list splice)
FREEZE_EVERY = 1
#: events run between two `gc.freeze()` calls while a release runs them: what survives a run (process-tree
#: nodes, memo entries, alerts) is long-lived state, and fewer than ~10 tracked objects survive an event, so
#: the young generation's threshold (700) is never reached and no collection walks that state again
FREEZE_RUN_EVERY = 64

#: the `[engine]` configuration section: key -> (type, default, meaning); validated by `EngineSettings`
ENGINE_SECTION: dict[str, tuple[type, Any, str]] = {
    "allowed_lateness": (str, "5m", "how far behind the newest event time an event may arrive and still "
                                    "run in time order (a duration: 30s, 5m, 1h)"),
    "release_every": (int, 20_000, "buffered events that make a release of what the watermark passed"),
    "max_held_events": (int, 20_000, "events the reorder buffer keeps at most (it bounds memory at high "
                                     "event rates); past it the older half runs, and later older events "
                                     "count as late"),
}


def _register_engine_section() -> None:
    """`[engine]` in the whole-file validator's terms, so `cloudward config check` sees its mistakes too."""
    from cloudward.config_schema import Key, register_section

    register_section("engine", {
        "allowed_lateness": Key("duration", ENGINE_SECTION["allowed_lateness"][2], "5m"),
        "release_every": Key("integer", ENGINE_SECTION["release_every"][2], 20_000, minimum=1),
        "max_held_events": Key("integer", ENGINE_SECTION["max_held_events"][2], 20_000, minimum=1),
    })


_register_engine_section()


@dataclasses.dataclass(frozen=True)
class EngineSettings:
    allowed_lateness: float = 300.0
    release_every: int = 20_000
    max_held_events: int = 20_000

    @classmethod
    def from_config(cls, config: Config) -> EngineSettings:
        section = config.section("engine")
        where = f"{config.source}: [engine]"
        unknown = sorted(set(section) - set(ENGINE_SECTION))
        if unknown:
            raise ConfigError(f"{where} has unknown keys {', '.join(unknown)} (known: {', '.join(ENGINE_SECTION)})")
        lateness_text = section.get("allowed_lateness", ENGINE_SECTION["allowed_lateness"][1])
        if not isinstance(lateness_text, str):
            raise ConfigError(f"{where} allowed_lateness: expected a duration string such as \"5m\", "
                              f"got {lateness_text!r}")
        try:
            lateness = parse_duration(lateness_text)
        except ValueError as exc:
            raise ConfigError(f"{where} allowed_lateness: {exc}") from None
        counts = {}
        for key in ("release_every", "max_held_events"):
            value = section.get(key, ENGINE_SECTION[key][1])
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{where} {key}: expected a positive integer, got {value!r}")
            counts[key] = value
        return cls(allowed_lateness=lateness, **counts)


def _origin_parts(origin: str) -> tuple[str, int, str]:
    """`path:57` -> (path, 57, ''); `path:1[5]` -> (path, 1, '[5]'); no line -> (origin, 0, '')."""
    path, sep, rest = origin.rpartition(":")
    if not sep:
        return origin, 0, ""
    if rest.isdigit():  # the usual `path:57`: what the loop below reads, in one call
        return path, int(rest), ""
    i = 0
    n = len(rest)
    while i < n and rest[i].isdigit():
        i += 1
    if not i:
        return origin, 0, ""
    return path, int(rest[:i]), rest[i:]


def _live_key(event: Event) -> tuple[str, int, str, str]:
    """The ordering buffer's key of an event after its time (see `Engine._take`), stream and ordinal aside."""
    path, line, rest = _origin_parts(event.origin or event.event_id)
    return path, line, rest, event.event_id


class RecentIds:
    """Membership over the last ~2×`size` ids added: bounded memory for redelivery checks."""

    partition = "event id"

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

    def state(self) -> list[list[str]]:
        return sorted([list(k) for k in self.previous | self.current])

    def merge(self, state: Iterable[Iterable[str]]) -> None:
        for key in state:
            self.seen(tuple(key))


class _ReplayDecoder:
    """A stream's decoder that can be checkpointed mid-stream: it keeps the bytes of its open record - what
    came after the last point where the decoder held nothing back - so a restored engine feeds them to a
    fresh decoder and drops the events it had already handed on. Decoders are deterministic, so the same
    bytes give the same events. Past `MAX_REPLAY_BYTES` of an open stream, only the last line is kept
    (a stream that long is checkpointed at its line boundary, which every format but a JSON document is
    safe at)."""

    __slots__ = ("decoder", "emitted", "replay", "settled")

    def __init__(self, decoder: Any) -> None:
        self.decoder = decoder
        self.replay = bytearray()
        #: events handed on since `replay` began
        self.emitted = 0
        #: `settle` was called: a replay settles too, so the same bytes give the same events
        self.settled = False

    def settle(self) -> list[Event]:
        self.settled = True
        out = self.decoder.settle()
        self.emitted += len(out)
        return out

    def feed(self, data: bytes) -> list[Event]:
        self.replay += data
        out = self.decoder.feed(data)
        self.emitted += len(out)
        if len(self.replay) > MAX_REPLAY_BYTES:
            cut = self.replay.rfind(b"\n") + 1
            if cut > 0:
                del self.replay[:cut]
                self.emitted = 0
        return out

    def close(self) -> list[Event]:
        self.replay = bytearray()
        return self.decoder.close()

    def pending(self) -> tuple[bytes, int]:
        return bytes(self.replay), self.emitted


#: bytes of one open stream kept for a mid-stream checkpoint before only its last line is kept
MAX_REPLAY_BYTES = 64 * 1024 * 1024


class _Stream:
    __slots__ = ("decoder", "defaults", "fmt", "ordinal")

    def __init__(self, decoder: Any, fmt: str | None, defaults: dict[str, str]) -> None:
        self.decoder = decoder
        self.fmt = fmt
        self.defaults = defaults
        self.ordinal = 0


class _EngineContext(ParseContext):
    """The engine's parse context: `interest` comes from the Kubernetes cards, so its first read sets them up
    (`Engine._setup_kinds`); `options` is a `_CardOptions`."""

    _pending: Any = None
    _interest: Interest

    @property  # type: ignore[override]
    def interest(self) -> Interest:
        engine = self._pending
        if engine is not None:
            self._pending = None
            engine._setup_kinds(frozenset({K8sAudit}))
            # a copy of the context (`replaced`, made before the cards were set up) learns it from the engine
            self._interest = engine.__dict__.get("interest", self._interest)
        return self._interest

    @interest.setter
    def interest(self, value: Interest) -> None:
        self._interest = value


class _CardOptions(dict):  # type: ignore[type-arg]
    """Parse options; reading `prefilter:<kind>` sets up the cards of that kind first (they offer it)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self._engine = engine

    def _ready(self, key: Any) -> None:
        if isinstance(key, str) and key.startswith("prefilter:"):
            kind = _KINDS_BY_NAME.get(key[len("prefilter:"):])
            if kind is not None:
                self._engine._setup_kinds(frozenset({kind}))

    def get(self, key: Any, default: Any = None) -> Any:
        self._ready(key)
        return super().get(key, default)

    def __getitem__(self, key: Any) -> Any:
        self._ready(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self._ready(key)
        return super().__contains__(key)

    def __reduce__(self) -> Any:  # a copy (pickled, deep-copied) is a plain dict of what is set
        return (dict, (dict(self),))


class _CardsByKind(dict):  # type: ignore[type-arg]
    """kind -> the detections subscribed to it; a kind not set up yet is set up on its first lookup."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self._engine = engine

    def __missing__(self, kind: type[Event]) -> list[Detection]:
        self._engine._setup_kinds(frozenset({kind}))
        return self.setdefault(kind, [])


_KINDS_BY_NAME = {k.__name__: k for k in EVENT_KINDS}


class Engine:
    def __init__(
        self,
        config: Config | None = None,
        *,
        only: set[str] | None = None,
        store: Store | None = None,
        enrich_options: dict[str, Any] | None = None,
        raise_errors: bool = False,
        defer_cards: bool = False,
    ) -> None:
        """`defer_cards`: set the cards up when the first input, event or state needs them, not now (a scan
        of files, whose start-up is its cost; a long-running service sets them up before its first event)."""
        self.config = config or Config()
        self.settings = EngineSettings.from_config(self.config)
        self.data = DataLists(self.config)
        registry.check_ids(self.config, only)  # unknown alert types fail here, before any card is imported
        self.enrichers: list[Enricher] = build_all(self.config, **(enrich_options or {}))
        self.store = store
        self.raise_errors = raise_errors
        self.stats = ScanStats()
        self.book = AlertBook(self.config, loader=store.load_alert if store else None)
        self.allowed = 0
        self.detection_errors = 0
        #: events that arrived after the watermark had passed their time (they ran at once, out of order)
        self.late = 0
        #: while True (a `--baseline-from` pass), detections learn but findings are dropped
        self.learning = False
        #: keep every event until `advance` (a runner over inputs it cannot order in time sets this)
        self.hold = False
        #: no event older than this is still to come (a runner that knows its inputs sets it): automatic
        #: releases never pass it
        self.horizon = math.inf
        self._recent = RecentIds()
        #: inputs with content of which nothing at all was read (unrecognized, or every record rejected)
        self.unread_inputs: list[str] = []
        self._audit_by_resource: dict[str, list[Detection]] = {}
        #: resource -> (each card of `_audit_cards` with its `evaluate_folding` or None, whether any has one)
        self._audit_runs: dict[str, tuple[tuple[tuple[Detection, Any], ...], bool]] = {}
        #: (order key, event); the key is (time, origin file, origin line, rest of origin, event id, stream,
        #: ordinal in stream): line numbers compare as numbers, so events of one file at one instant keep
        #: the file's order
        self._buffer: list[tuple[tuple[float, str, int, str, str, str, int], Event]] = []
        self._newest = -math.inf
        self._released = -math.inf
        self._streams: dict[str, _Stream] = {}
        self._next_freeze = FREEZE_EVERY
        self._frozen = False
        #: a web summary spanning several seconds was held: releases run through `_run_spanning`
        self._spanning = False
        #: event time up to which a holding engine had to run events early (see `_spill`), and how often
        self._spilled = -math.inf
        self.spills = 0
        self._fed = _Stream(None, None, {})  # ordinals of events handed to `feed` directly
        self._enrichers_by_kind: dict[type[Event], list[Enricher]] = defaultdict(list)
        for enr in self.enrichers:
            for kind in enr.kinds:
                self._enrichers_by_kind[kind].append(enr)
        self._only = only
        self._cards: list[Detection] = []
        self._shared: dict[type, Any] = {}
        self._ready_kinds: set[type[Event]] = set()
        self._all_ready = False
        self._by_kind: dict[type[Event], list[Detection]] = _CardsByKind(self)
        #: the set-up cards that forget anything (`advance` overridden)
        self._advancing: list[Detection] = []
        # process cards offered only the executions their declared gates let through (one table lookup
        # per event instead of a call per card; see cloudward.process_dispatch)
        self._process_dispatch: Any = None
        #: event kind -> what runs for one event of it (`_plan`): worked out once per kind, not per event;
        #: emptied whenever cards are set up
        self._plans: dict[type[Event], Callable[[Event], None]] = {}
        self.ctx = _EngineContext(stats=self.stats, site=self.config.site, cluster=self.config.cluster,
                                  host=self.config.host, options=_CardOptions(self))
        self.ctx._pending = self
        # [web] trusted_proxies: which X-Forwarded-For addresses are this site's own proxies (parsers._forwarded)
        dict.__setitem__(self.ctx.options, "trusted_proxies", TrustedProxies.from_section(
            self.config.section("web"), self.config.source))
        #: whether the Sigma detections are built (they are built with every card, or alone at start)
        self._sigma_ready = False
        if not defer_cards or _setup_at_once(self.config, store):
            self._setup_cards()
        elif self.config.raw.get("sigma"):
            self._setup_sigma()
        if store is not None:
            for det in self.detections:
                state = store.load_state(det.card.id)
                if state is not None:
                    det.merge(state)
            from cloudward.store import load_state_rows  # a store is optional: sqlite3 loads only with one

            rows = load_state_rows(store)
            if rows:
                self.merge(rows_to_state(rows))

    # -- cards, set up on first need -------------------------------------------------------------
    # A deferring engine (a file scan) sets up the cards of an event kind when that kind is first needed: the
    # Kubernetes cards when a decoder reads the parse context's `interest` (their verbs and resources), the
    # web cards when a web decoder asks for its prefilter, any kind's cards when its first event runs, and
    # every card when `detections` or a state is read. Cards keep the order of the catalog whenever they
    # were set up, and share one dict of analytics, so the result is the same as setting all up at once.
    #: reading one of these before the cards are set up sets up what it needs (see `__getattr__`)
    _CARD_ATTRIBUTES = frozenset({"detections", "_audit_resources", "interest"})

    def __getattr__(self, name: str) -> Any:
        if name in Engine._CARD_ATTRIBUTES and "_cards" in self.__dict__:
            self._setup_kinds(None if name == "detections" else frozenset({K8sAudit}))
            return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def detections_set_up(self) -> list[Detection]:
        """The detections set up so far (without setting up more)."""
        return self._cards

    def _setup_cards(self) -> None:
        """Set every card up."""
        self._setup_kinds(None)

    def _setup_kinds(self, kinds: frozenset[type[Event]] | None) -> None:
        """Set up the cards subscribed to `kinds` (None: every card) that are not set up yet."""
        if self._all_ready or (kinds is not None and kinds <= self._ready_kinds):
            return
        names = None if kinds is None else {k.__name__ for k in kinds - self._ready_kinds}
        have = {det.card.id for det in self._cards}
        new = registry.build_part(self.config, self._only, self.data, self._shared, kinds=names, exclude=have,
                                  sigma=not self._sigma_ready)
        self._add_cards(new)
        if kinds is None:
            self._sigma_ready = True
            self._all_ready = True
            ready = {k for det in self._cards for k in det.kinds} | set(EVENT_KINDS)
            self.detections: list[Detection] = self._cards
        else:
            ready = set(kinds)
        newly = ready - self._ready_kinds
        self._ready_kinds |= newly
        for kind in newly:
            dict.__setitem__(self._by_kind, kind, [det for det in self._cards if kind in det.kinds])
        self._advancing = [d for d in self._cards if type(d).advance is not Detection.advance]
        if ProcessExec in newly and self._by_kind[ProcessExec]:
            from cloudward.process_dispatch import ProcessDispatch

            dispatch = ProcessDispatch(self._by_kind[ProcessExec])
            self._process_dispatch = None if dispatch.trivial else dispatch
        if K8sAudit in newly:
            self._setup_audit_interest()
        self._setup_prefilters(newly)
        self._plans.clear()

    def _add_cards(self, new: list[Detection]) -> None:
        for det in new:
            det.learning = self.learning
        order = registry.catalog_order()
        cards = self._cards + new
        cards.sort(key=lambda d: order.get(d.card.id, len(order)))  # stable: Sigma groups after the cards
        self._cards[:] = cards

    def _setup_sigma(self) -> None:
        """Build the Sigma detections alone (at start: their rules are what a configuration can get wrong);
        the cards are set up on first need as without rules, each kind taking the Sigma detections of it."""
        self._add_cards(registry.sigma_detections(self.config, self.data, self._only))
        self._sigma_ready = True
        self._advancing = [d for d in self._cards if type(d).advance is not Detection.advance]

    def _setup_audit_interest(self) -> None:
        audit_cards = self._by_kind[K8sAudit]
        verbs: set[str] | None = set()
        resources: set[str] | None = set()
        card_resources: set[str] | None = set()
        raw_tests: list[Any] = []
        for det in audit_cards:
            # a detection may ask the parsers for other lines than the events it is handed
            # (`audit_interest`: Sigma rules take every parsed event, but need only pinned verbs and
            # resources plus the lines holding their literals)
            det_verbs, det_resources, raw = getattr(det, "audit_interest", None) or (
                det.audit_verbs, det.audit_resources, None)
            if raw is not None:
                raw_tests.append(raw)
            if det_verbs is None:
                verbs = None
            elif verbs is not None:
                verbs |= det_verbs
            if det_resources is None:
                resources = None
            elif resources is not None:
                resources |= det_resources
            if getattr(det, "audit_interest", None) is None:
                if det.audit_resources is None:
                    card_resources = None
                elif card_resources is not None:
                    card_resources |= det.audit_resources
        self._audit_resources = frozenset(card_resources or ())
        self._audit_by_resource.clear()
        self._audit_runs.clear()
        from cloudward.parsers._k8s import content_interest  # (only once a Kubernetes decoder asks)

        self.interest = Interest(
            audit_verbs=frozenset(verbs) if verbs is not None else None,
            audit_resources=frozenset(resources) if resources is not None else None,
            kinds=registry.enabled_kinds(self.config, self._only) | {
                k.__name__ for det in self._cards for k in det.kinds},
            audit_raw=_any_raw(raw_tests),
            audit_content=content_interest(audit_cards),
        )
        self.ctx.interest = self.interest

    def _setup_prefilters(self, kinds: Iterable[type[Event]]) -> None:
        # raw-line prefilters the cards of one event kind offer parsers (web logs): used only when every card
        # subscribed to that kind offers the same one, so no card misses a line it needs; a detection that
        # offers `widen_line_prefilter` (Sigma rules) widens it with its own needs, or returns None (every line)
        options = self.ctx.options
        for kind in kinds:
            subscribers = self._by_kind[kind]
            if not subscribers:
                continue
            wideners = [det for det in subscribers if getattr(det, "widen_line_prefilter", None) is not None]
            offers = [getattr(det, "line_prefilter", None) for det in subscribers if det not in wideners]
            if (offers and all(offers)) or (wideners and not offers):
                prefilters = {id(f): f for f in (offer() for offer in offers)}  # type: ignore[misc]
                if len(prefilters) <= 1:
                    flt = next(iter(prefilters.values()), None)
                    for det in wideners:
                        flt = det.widen_line_prefilter(flt)  # type: ignore[attr-defined]
                        if flt is None:
                            break
                    if flt is None:
                        continue
                    # a filter that consults card state while parsing (addresses being judged "now")
                    # would depend on arrival order; the engine runs cards in event-time order later
                    stateless = getattr(flt, "stateless", None)
                    if stateless is not None:
                        stateless()
                    dict.__setitem__(options, f"prefilter:{kind.__name__}", flt)

    # -- decoding ------------------------------------------------------------------------------
    def decode_input(self, src: InputFile, fmt: str | None = None,
                     ctx: ParseContext | None = None, chunk: int = 1 << 20) -> Iterator[Event]:
        """The events of one input (opened here, closed at the end); unreadable inputs are rejected.
        Counts go to `ctx.stats` (the engine's own unless another context is given); the input is read
        `chunk` bytes at a time (events are the same whatever the chunk)."""
        ctx = ctx or self.ctx
        ctx.stats.files += 1
        try:
            src.open()
        except OSError as exc:
            ctx.stats.reject(f"{src.display}:0", f"cannot open: {exc.strerror or exc}")
            return
        # log-line evidence is `path:line`; the alert book dedups it on the file's identity instead, so a
        # rotated (renamed) file's lines are not new under the new name
        if ctx is self.ctx:
            self.book.identities[src.display] = src.identity
        try:
            decoder = parsers.stream_decoder(ctx, src.display, fmt, max_line_bytes=src.max_line_bytes)
        except ValueError as exc:
            src.close()
            raise ConfigError(str(exc)) from None
        stats = ctx.stats
        before = (stats.events, stats.skipped, stats.duplicates, stats.rejected)
        n = 0
        try:
            if src.open_error:  # the start of the input could not be read (a corrupt gzip header)
                stats.reject(f"{src.display}:1", src.open_error)
                return
            for event in decoder.run(src, chunk):
                n += 1
                yield event
        finally:
            src.close()
            if ctx is self.ctx and n == 0 and (stats.skipped, stats.duplicates) == before[1:3] \
                    and stats.rejected > before[3]:
                # something was there and none of it was read: the whole input was lost
                self.unread_inputs.append(src.display)

    def _stream(self, stream: str, fmt: str | None, defaults: dict[str, str] | None) -> _Stream:
        st = self._streams.get(stream)
        if st is None:
            ctx = self.ctx
            if defaults:
                names = {k: v for k, v in defaults.items() if k in ("site", "cluster", "host")}
                ctx = ctx.replaced(**names)
            decoder = _ReplayDecoder(parsers.stream_decoder(ctx, stream, fmt,
                                                            max_line_bytes=self.config.max_line_bytes))
            st = self._streams[stream] = _Stream(decoder, fmt, dict(defaults or {}))
        return st

    def feed_bytes(self, stream: str, data: bytes, *, fmt: str | None = None,
                   defaults: dict[str, str] | None = None, final: bool = False) -> list[Alert]:
        """Decode `data`, the next bytes of `stream` (any chunking), and feed its events."""
        st = self._stream(stream, fmt, defaults)
        events = st.decoder.feed(data) if data else []
        self._take(events, st, stream)
        if final:
            return self.close_stream(stream)
        return self._after_feed()

    def settle_stream(self, stream: str) -> list[Alert]:
        """`stream` has no more bytes for now but stays open (`Decoder.settle`): decode what waits only for
        more lines, e.g. a followed file shorter than the sniffing head."""
        st = self._streams.get(stream)
        if st is not None:
            self._take(st.decoder.settle(), st, stream)
        return self._after_feed()

    def close_stream(self, stream: str) -> list[Alert]:
        """End of `stream`: decode what it still holds."""
        st = self._streams.pop(stream, None)
        if st is not None:
            self._take(st.decoder.close(), st, stream)
        return self._after_feed()

    # -- events ------------------------------------------------------------------------------
    def feed(self, events: Iterable[Event]) -> list[Alert]:
        """Take normalized events; returns the alerts that changed (events the watermark passed ran)."""
        self._take(events, self._fed, "")
        return self._after_feed()

    def feed_live(self, events: list[Event], watermark: float) -> list[Alert]:
        """`feed(events)` then `advance(watermark)`, for a live source whose batches come (nearly) in time
        order: the alerts either changed (each once, in the order they first changed).

        When the batch provably runs as the ordering buffer would run it, it runs here without the buffer:
        nothing is held, the engine is not holding, no event is newer than `watermark` (or NaN), none is a
        context record (which the buffer runs before everything) and the batch is smaller than
        `release_every` and `max_held_events` (so the buffer would neither release early nor spill). Then
        `feed` would run the late events on arrival, in arrival order, and `advance` the others in the
        buffer's order (time, origin, id, arrival): the same here, the others sorted only when they are not
        in that order already. Otherwise the batch goes through `feed` and `advance`. The watermark moves
        and the forgetting cards advance exactly as in `advance`."""
        settings = self.settings
        if self._buffer or self.hold or not watermark >= self._released \
                or len(events) >= settings.release_every or len(events) >= settings.max_held_events:
            return self._feed_then_advance(events, watermark)
        newest = self._newest
        released = self._released
        prev_when = -math.inf
        prev: Event | None = None
        late: list[Event] = []
        on_time: list[Event] = []
        in_order = True
        counted = 0
        for event in events:
            kind = type(event)
            if kind is ContainerEvent and event.action in CONTEXT_ACTIONS:  # type: ignore[attr-defined]
                return self._feed_then_advance(events, watermark)
            when = event.time
            if when != when or when > watermark:  # NaN (the buffer's order is no order), or held back
                return self._feed_then_advance(events, watermark)
            if kind is not HttpSummary:
                counted += 1
            elif event.spans:  # type: ignore[attr-defined]  # the buffer cuts it where other events fall
                return self._feed_then_advance(events, watermark)
            if when > newest:
                newest = when
            elif when <= released:
                late.append(event)  # `feed` runs it on arrival, before everything it buffers
                continue
            if in_order and prev is not None and (
                    when < prev_when or (when == prev_when and _live_key(event) < _live_key(prev))):
                in_order = False
            prev_when, prev = when, event
            on_time.append(event)
        if not in_order:  # the buffer's key; a stable sort keeps arrival order where keys tie (its ordinal)
            on_time.sort(key=lambda e: (e.time, *_live_key(e)))
        self.stats.events += counted
        self._newest = newest
        self.late += len(late)
        self._fed.ordinal += len(on_time)
        run = self._run
        for event in late:
            run(event)
        for event in on_time:
            run(event)
        if watermark > self._released:
            self._released = watermark
        for det in self._advancing:
            det.advance(watermark)
        return self.book.drain_changed()

    def _feed_then_advance(self, events: list[Event], watermark: float) -> list[Alert]:
        changed = {a.id: a for a in self.feed(events)}
        changed.update((a.id, a) for a in self.advance(watermark))
        return list(changed.values())

    def _take(self, events: Iterable[Event], st: _Stream, stream: str) -> None:
        stats = self.stats
        buffer = self._buffer
        hold = self.hold
        max_held = self.settings.max_held_events
        freeze = gc.freeze
        for event in events:
            kind = type(event)
            if kind is not HttpSummary:  # a summary stands for lines counted as skipped, not an event
                stats.events += 1
            elif event.spans:  # type: ignore[attr-defined]
                self._take_spanning(event, st, stream)  # type: ignore[arg-type]
                buffer = self._buffer
                continue
            when = event.time
            if kind is ContainerEvent and event.action in CONTEXT_ACTIONS:  # type: ignore[attr-defined]
                when = CONTEXT_TIME
            elif when > self._newest:
                self._newest = when
            elif when <= (self._spilled if hold else self._released):
                self.late += 1
                self._run(event)
                continue
            st.ordinal += 1
            origin = event.origin or event.event_id  # web lines carry their path:line as id
            # `_origin_parts` inline for the usual `path:57` (one call fewer an event)
            path, sep, rest = origin.rpartition(":")
            if sep and rest.isdigit():
                buffer.append(((when, path, int(rest), "", event.event_id, stream, st.ordinal), event))
            else:
                path, line, rest = _origin_parts(origin)
                buffer.append(((when, path, line, rest, event.event_id, stream, st.ordinal), event))
            if len(buffer) >= self._next_freeze:
                if len(buffer) > max_held:
                    self._spill()
                    buffer = self._buffer
                # `_freeze` inline
                freeze()
                self._frozen = True
                self._next_freeze = len(buffer) + FREEZE_EVERY

    def _spill(self) -> None:
        """Holding more than `max_held_events`: run the older half now, so memory stays bounded. Events
        older than what ran are late from here on (they run at once, counted in `late`)."""
        buffer = self._buffer
        buffer.sort(key=itemgetter(0))
        cut = buffer[len(buffer) // 2][0][0]
        self._release(cut)
        self._spilled = max(self._spilled, cut)
        self.spills += 1

    def _freeze(self) -> None:
        """Move what is alive now (mostly held events) out of the cyclic collector's way.

        Held events are long-lived: without this, every collection of the oldest generation walks all
        of them again, and decoding slows down as the buffer grows (5x for orjson.loads on a large audit
        log). Frozen objects are still freed by reference counting; `advance(None)` unfreezes."""
        gc.freeze()
        self._frozen = True
        self._next_freeze = len(self._buffer) + FREEZE_EVERY

    def _thaw(self) -> None:
        if self._frozen:
            gc.unfreeze()
            self._frozen = False
        self._next_freeze = FREEZE_EVERY

    def _after_feed(self) -> list[Alert]:
        if not self.hold and len(self._buffer) >= self.settings.release_every:
            self._release(min(self._newest - self.settings.allowed_lateness, self.horizon))
        return self.book.drain_changed()

    def _release(self, watermark: float) -> None:
        """Run the buffered events at or before `watermark`, in (time, origin, id) order."""
        if watermark <= self._released and not self._buffer:
            return
        buffer = self._buffer
        buffer.sort(key=itemgetter(0))
        n = len(buffer)
        if watermark != math.inf:
            lo, hi = 0, n
            while lo < hi:  # first index whose time is after the watermark
                mid = (lo + hi) // 2
                if buffer[mid][0][0] <= watermark:
                    lo = mid + 1
                else:
                    hi = mid
            n = lo
        ready, self._buffer = buffer[:n], buffer[n:]
        del buffer
        if watermark > self._released:
            self._released = watermark
        if self._spanning:
            self._run_spanning(ready)
            return
        run = self._run
        freeze = gc.freeze
        if ready:
            self._frozen = True  # (thawed at the end of input, as the held events are)
        if type(self)._run is not _ENGINE_RUN:  # (a subclass or a test watching `_run`)
            for i in range(len(ready)):
                event = ready[i][1]
                ready[i] = None  # type: ignore[call-overload]
                run(event)
                if not i % FREEZE_RUN_EVERY:
                    freeze()
            return
        plans = self._plans
        for i in range(len(ready)):
            event = ready[i][1]
            # not kept here once run: what the cards decoded of it (audit bodies) is freed as they finish
            ready[i] = None  # type: ignore[call-overload]
            plan = plans.get(type(event))
            if plan is None:
                run(event)
            else:
                plan(event)
            if not i % FREEZE_RUN_EVERY:
                freeze()

    def _take_spanning(self, event: HttpSummary, st: _Stream, stream: str) -> None:
        """`_take` of a web summary spanning several seconds (`HttpSummary.spans`): held as its first piece and a
        `SummaryPiece` per later one, each under the key, ordinal and count its own one-second summary would
        have had (so the buffer sorts, releases, freezes and spills as it did), and run whole from piece to
        piece by `_run_spanning` - unless one of the pieces would run at once (late) or spill the buffer, when
        they are taken one by one, as they would have come."""
        late_at = self._spilled if self.hold else self._released
        newest = self._newest
        held = len(self._buffer)
        next_freeze = self._next_freeze
        froze = False
        for when in (event.time, *[t for _, t, _ in event.spans]):
            if when > newest:
                newest = when
            elif when <= late_at:
                break
            held += 1
            if held >= next_freeze:
                if held > self.settings.max_held_events:
                    break
                next_freeze = held + FREEZE_EVERY
                froze = True
        else:
            self._newest = newest
            path, line, rest = _origin_parts(event.origin or event.event_id)
            buffer = self._buffer
            st.ordinal += 1
            buffer.append(((event.time, path, line, rest, event.event_id, stream, st.ordinal), event))
            for k, (_, when, line) in enumerate(event.spans, 1):
                st.ordinal += 1
                buffer.append(((when, path, line, rest, f"{path}:{line}{rest}", stream, st.ordinal),
                               SummaryPiece(event, k)))  # type: ignore[arg-type]
            if froze:
                gc.freeze()
                self._frozen = True
                self._next_freeze = next_freeze
            self._spanning = True
            return
        self._take(event.pieces(), st, stream)

    def _run_spanning(self, ready: list[tuple[tuple[float, str, int, str, str, str, int], Event]]) -> None:
        """`_release`'s run of `ready` (sorted) when spanning summaries are held: a summary's consecutive pieces
        run as one summary, cut where another event's key falls between two of them."""
        run = self._run
        i, n = 0, len(ready)
        while i < n:
            event = ready[i][1]
            ready[i] = None  # type: ignore[call-overload]  # (freed once run, as in `_release`)
            i += 1
            kind = type(event)
            if kind is SummaryPiece:
                summary, first = event.summary, event.k  # type: ignore[attr-defined]
            elif kind is HttpSummary and event.spans:  # type: ignore[attr-defined]
                summary, first = event, 0
            else:
                run(event)
                continue
            last = first
            while i < n and type(ready[i][1]) is SummaryPiece and ready[i][1].summary is summary:  # type: ignore
                last += 1
                ready[i] = None  # type: ignore[call-overload]
                i += 1
            run(summary.part(first, last + 1))  # type: ignore[union-attr]

    def _run(self, event: Event) -> None:
        """Enrich one event and offer it to the detections subscribed to its kind."""
        plan = self._plans.get(type(event))
        if plan is None:
            plan = self._plan(type(event))
        plan(event)

    def _plan(self, kind: type[Event]) -> Callable[[Event], None]:
        """What runs for each event of `kind`, worked out once (kept in `_plans` until cards are set up
        again): its enrichers, then its cards (those the process dispatch selects, for executions). Imported
        alerts and Kubernetes audit events (redeliveries, cards by resource) take `_run_any`."""
        if kind is ExternalAlert or kind is K8sAudit:
            self._plans[kind] = self._run_any
            return self._run_any
        cards = tuple(self._by_kind[kind])  # (sets the kind's cards up on its first event)
        enrichers = tuple((f"enricher {e.name}", e.enrich) for e in self._enrichers_by_kind.get(kind, ()))
        select = self._process_dispatch.select if kind is ProcessExec and self._process_dispatch is not None \
            else None
        error = self._error
        emit = self._emit

        def plan(event: Event) -> None:
            for who, enrich in enrichers:
                try:
                    enrich(event)
                except Exception as exc:
                    error(who, event, exc)
            for det in cards if select is None else select(event):
                try:
                    findings = det.evaluate(event)
                    if findings:
                        for finding in findings:
                            emit(det, finding)
                except Exception as exc:
                    error(det.card.id, event, exc)

        self._plans[kind] = plan
        return plan

    def _run_any(self, event: Event) -> None:
        """`_run` of any event, deciding per event (the plan of imported alerts and audit events)."""
        kind = type(event)
        if kind is ExternalAlert:
            if not self.learning:
                self._import_alert(event)  # type: ignore[arg-type]
            return
        if kind is K8sAudit:
            # a redelivery (same audit ID and stage) is dropped here, in time order, not on arrival: of two
            # copies the one first by (time, origin) stays, whichever input was read first
            if self._recent.seen((event.event_id, event.stage)):  # type: ignore[attr-defined]
                self.stats.duplicates += 1
                return
            if event.verb in MUTATING_VERBS:  # type: ignore[attr-defined]  # (`_note_uninspectable`'s first test)
                self._note_uninspectable(event)  # type: ignore[arg-type]
            runs = self._audit_runs.get(event.resource)  # type: ignore[attr-defined]
            if runs is None:
                runs = self._audit_runs_of(event.resource)  # type: ignore[attr-defined]
            for enricher in self._enrichers_by_kind.get(kind, ()):
                try:
                    enricher.enrich(event)
                except Exception as exc:
                    self._error(f"enricher {enricher.name}", event, exc)
            # a detection that can fold a repeat into its alert itself (Sigma rules) does, when `_emit` would only
            # add its findings to the book
            book = self._folding_book() if runs[1] else None
            for det, folding in runs[0]:
                try:
                    findings = det.evaluate(event) if folding is None or book is None else folding(event, book)
                    if findings:
                        for finding in findings:
                            self._emit(det, finding)
                except Exception as exc:
                    self._error(det.card.id, event, exc)
            return
        else:
            detections = self._by_kind[kind]  # (sets the kind's cards up on its first event)
        for enricher in self._enrichers_by_kind.get(kind, ()):
            try:
                enricher.enrich(event)
            except Exception as exc:
                self._error(f"enricher {enricher.name}", event, exc)
        if kind is ProcessExec and self._process_dispatch is not None:
            detections = self._process_dispatch.select(event)
        for det in detections:
            try:
                findings = det.evaluate(event)
                if findings:
                    for finding in findings:
                        self._emit(det, finding)
            except Exception as exc:
                self._error(det.card.id, event, exc)

    def advance(self, watermark: float | None = None) -> list[Alert]:
        """Event time has reached `watermark`: run what it passed and close windows. None = end of input."""
        if watermark is None:
            self._release(math.inf)
            self._thaw()
            self._released = max(self._released, self._newest)
            for det in self.detections_set_up():  # cards never set up saw nothing: they have nothing to finish
                try:
                    for finding in det.finish():
                        self._emit(det, finding)
                except Exception as exc:
                    if self.raise_errors:
                        raise
                    self.detection_errors += 1
                    self.stats.reject("(end of input)", f"{det.card.id} failed at end of input: {exc}")
            return self.book.drain_changed()
        self._release(watermark)
        # only the cards that forget anything (a live agent advances after each small batch)
        for det in self._advancing:
            det.advance(watermark)
        return self.book.drain_changed()

    def _audit_cards(self, resource: str) -> list[Detection]:
        """The Kubernetes cards that read `resource` (a pod event never reaches the RBAC cards)."""
        cards = self._audit_by_resource.get(resource)
        if cards is None:
            cards = [d for d in self._by_kind[K8sAudit]
                     if d.audit_resources is None or resource in d.audit_resources]
            self._audit_by_resource[resource] = cards
        return cards

    def _audit_runs_of(self, resource: str) -> tuple[tuple[tuple[Detection, Any], ...], bool]:
        """`_audit_cards(resource)` for `_run_any`: each card with its `evaluate_folding` (None for a card without
        it), and whether any has one; kept in `_audit_runs` (emptied with `_audit_by_resource`)."""
        runs = tuple((det, getattr(det, "evaluate_folding", None)) for det in self._audit_cards(resource))
        out = (runs, any(folding is not None for _, folding in runs))
        self._audit_runs[resource] = out
        return out

    def _folding_book(self) -> AlertBook | None:
        """The book a detection may fold its repeats into itself (`evaluate_folding`): when `_emit` would only add
        each finding to it (not learning, `_emit` not replaced, a plain `AlertBook`); else None."""
        if self.learning or type(self)._emit is not _ENGINE_EMIT or "_emit" in self.__dict__:
            return None
        book = self.book
        return book if type(book) is AlertBook else None

    def _note_uninspectable(self, event: K8sAudit) -> None:
        # the verb first: it alone decides for reads (`list`, `get`), the usual events
        if event.verb not in MUTATING_VERBS or has_body(event):  # (without decoding bodies kept as bytes)
            return
        if (
            event.resource in self._audit_resources
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

    def set_learning(self, learning: bool) -> None:
        self.learning = learning
        for det in self.detections:
            det.learning = learning

    def _error(self, who: str, event: Event, exc: Exception) -> None:
        if self.raise_errors:
            raise exc
        self.detection_errors += 1
        where = event.origin or event.event_id
        self.stats.reject(where, f"{who} failed on this event: {type(exc).__name__}: {exc}")
        if self.detection_errors == 1 and os.environ.get("CLOUDWARD_DEBUG", "") not in ("", "0"):
            import traceback  # (not at start-up: it loads linecache, tokenize and ast)

            traceback.print_exc()  # otherwise the rejection (card, exception, file:line) says it in one line

    # -- state -------------------------------------------------------------------------------
    def _stateful_shared(self) -> dict[str, Any]:
        """Analytics the cards share (the owner index...) and enrichers (process ancestry, container
        context) that keep state, by name."""
        found = {type(obj).__name__: obj for obj in self._shared.values()
                 if callable(getattr(obj, "state", None)) and callable(getattr(obj, "merge", None))}
        for enr in self.enrichers:
            if callable(getattr(enr, "state", None)) and callable(getattr(enr, "merge", None)):
                found[f"enricher:{enr.name}"] = enr
        return found

    def checkpoint(self) -> dict[str, Any]:
        """The engine's whole state as plain JSON-serializable data."""
        streams: dict[str, Any] = {}
        for name, st in self._streams.items():
            replay, emitted = st.decoder.pending()
            streams[name] = {"fmt": st.fmt, "defaults": st.defaults, "ordinal": st.ordinal,
                             "pending": base64.b64encode(replay).decode("ascii"), "emitted": emitted,
                             "settled": bool(getattr(st.decoder, "settled", False))}
        cards = {}
        for det in self.detections_set_up():  # cards not set up yet have no state
            body = det.state()
            if body:
                cards[det.card.id] = body
        return {
            "version": STATE_VERSION,
            "newest": None if self._newest == -math.inf else self._newest,
            "released": None if self._released == -math.inf else self._released,
            "buffer": [[list(key), event_state(one_second(event))] for key, event in self._buffer],
            "fed_ordinal": self._fed.ordinal,
            "streams": streams,
            "redelivery": self._recent.state(),
            "cards": cards,
            "shared": {name: obj.state() for name, obj in self._stateful_shared().items()},
            "book": self.book.state(),
            "counters": {"allowed": self.allowed, "late": self.late},
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Continue from `checkpoint()` output (into a fresh engine)."""
        self.merge(state)
        self._fed.ordinal = max(self._fed.ordinal, int(state.get("fed_ordinal") or 0))
        for name, body in (state.get("streams") or {}).items():
            st = self._stream(name, body.get("fmt"), body.get("defaults") or None)
            st.ordinal = int(body.get("ordinal") or 0)
            pending = base64.b64decode(body.get("pending") or "")
            if pending:  # the same bytes give the same events: drop those handed on before the checkpoint
                again = st.decoder.feed(pending)
                if body.get("settled"):
                    again += st.decoder.settle()
                again = again[int(body.get("emitted") or 0):]
                self._take(again, st, name)
        self.book.drain_changed()

    def stream_state(self, stream: str) -> dict[str, Any] | None:
        """One open stream's part of `checkpoint()` (the bytes of its open record), None when not open:
        a follower (`tail`) commits it with its file offset, so a restart continues mid-record."""
        st = self._streams.get(stream)
        if st is None:
            return None
        replay, emitted = st.decoder.pending()
        return {"fmt": st.fmt, "defaults": st.defaults, "ordinal": st.ordinal,
                "pending": base64.b64encode(replay).decode("ascii"), "emitted": emitted,
                "settled": bool(getattr(st.decoder, "settled", False))}

    def restore_stream(self, stream: str, body: Mapping[str, Any]) -> list[Alert]:
        """Reopen `stream` from `stream_state()` output (events handed on before are dropped)."""
        self.restore({"version": STATE_VERSION, "streams": {stream: body}})
        return self._after_feed()

    def merge(self, state: Mapping[str, Any]) -> None:
        """Fold another engine's `checkpoint()` into this one."""
        version = state.get("version", STATE_VERSION)
        if version != STATE_VERSION:
            raise ValueError(f"engine state version {version} is not {STATE_VERSION}")
        newest = state.get("newest")
        if newest is not None:
            self._newest = max(self._newest, float(newest))
        released = state.get("released")
        if released is not None:
            self._released = max(self._released, float(released))
        have = {key for key, _ in self._buffer}
        for key, body in state.get("buffer") or ():
            k = (float(key[0]), str(key[1]), int(key[2]), str(key[3]), str(key[4]), str(key[5]), int(key[6]))
            if k not in have:
                self._buffer.append((k, event_from_state(body)))
        self._recent.merge(state.get("redelivery") or ())
        cards = state.get("cards") or {}
        for det in self.detections:
            body = cards.get(det.card.id)
            if body:
                det.merge(body)
        shared = self._stateful_shared()
        for name, body in (state.get("shared") or {}).items():
            if name in shared and body:
                shared[name].merge(body)
        self.book.merge(state.get("book") or {})
        counters = state.get("counters") or {}
        self.allowed += int(counters.get("allowed", 0))
        self.late += int(counters.get("late", 0))

    def state_rows(self) -> list[tuple[str, str, Any]]:
        """The checkpoint as (analytic, partition key, body) rows, as the store keeps them."""
        return state_to_rows(self.checkpoint())

    # -- results -----------------------------------------------------------------------------
    def alerts(self, min_severity: str = "informational") -> list[Alert]:
        """Every alert so far, oldest first."""
        return self.book.sorted(min_severity)


#: `Engine._run` itself: `_release` runs the plans straight only when `_run` is not replaced
_ENGINE_RUN = Engine._run
_ENGINE_EMIT = Engine._emit


def state_to_rows(state: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """Split a checkpoint by (analytic, key): card state per namespace and key, alerts per id, the rest whole.

    Rows of two writers never overwrite each other unless they hold the same key, and loading rows
    merges them, so two engines saving to one store both keep their state."""
    rows: list[tuple[str, str, Any]] = []
    for card_id, body in (state.get("cards") or {}).items():
        for namespace, keyed in body.items():
            if isinstance(keyed, dict):
                for key, value in keyed.items():
                    rows.append((f"card:{card_id}:{namespace}", str(key), value))
            else:
                rows.append((f"card-whole:{card_id}:{namespace}", "", keyed))
    for name, body in (state.get("shared") or {}).items():
        rows.append((f"shared:{name}", "", body))
    # redelivery ids stay out: across runs the alerts' own event ids make a redelivery a no-op, and a
    # rescan must still show (and update the status of) the alerts it finds again
    return rows


def rows_to_state(rows: Iterable[tuple[str, str, Any]]) -> dict[str, Any]:
    cards: dict[str, dict[str, Any]] = {}
    shared: dict[str, Any] = {}
    redelivery: list[Any] = []
    for analytic, key, value in rows:
        if analytic.startswith("card:"):
            _, card_id, namespace = analytic.split(":", 2)
            cards.setdefault(card_id, {}).setdefault(namespace, {})[key] = value
        elif analytic.startswith("card-whole:"):
            _, card_id, namespace = analytic.split(":", 2)
            cards.setdefault(card_id, {})[namespace] = value
        elif analytic.startswith("shared:"):
            shared[analytic.split(":", 1)[1]] = value
        elif analytic == "redelivery":
            redelivery.extend(value)
    return {"version": STATE_VERSION, "cards": cards, "shared": shared, "redelivery": redelivery}


def _setup_at_once(config: Config, store: Store | None) -> bool:
    """Whether the engine sets its cards up when it is built rather than on first input: when a store holds
    their state, or the configuration sets card parameters, data lists, Sigma rules or web options, so a
    mistake there fails at start (the shipped defaults are set up by every test run). Sigma rules alone do not:
    the engine builds their detections at start and the cards on first need (`Engine._setup_sigma`)."""
    return store is not None or bool(config.detections) or bool(config.data) or any(
        config.raw.get(key) for key in ("detections", "data", "web"))


def _any_raw(tests: list[Any]) -> Any:
    """`Interest.audit_raw` from the detections' raw tests: the first hit of any (None when there is none)."""
    if len(tests) <= 1:
        return tests[0] if tests else None

    def first(buf: bytes, start: int, end: int) -> int:
        hits = [h for h in (t(buf, start, end) for t in tests) if h >= 0]
        return min(hits) if hits else -1

    return first
