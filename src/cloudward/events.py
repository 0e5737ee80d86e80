"""Normalized event kinds.

Every parser turns its wire format into one of these, so a detection never needs to know whether a
request came from IIS or nginx, or an exec from auditd or Tetragon. Each event keeps `event_id` (an
audit ID or `path:line`) and `raw` (the record as read) for evidence.

Times are float seconds since the epoch (UTC): cheap to compare in windows, formatted only on output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(slots=True, kw_only=True)
class Event:
    """Fields every event kind shares."""

    event_id: str
    time: float = 0.0
    raw: Any = None
    #: where the record came from (`path:line`), also for events whose id is not a location
    origin: str = ""

    #: value of the alert contract's `source` field for alerts raised on this kind
    SOURCE: ClassVar[str] = ""

    def summary(self) -> str:
        """One line saying what the event is, for evidence lists."""
        return self.event_id


@dataclass(slots=True, kw_only=True)
class HttpRequest(Event):
    site: str = ""
    client_ip: str = ""
    method: str = ""
    path: str = ""
    query: str = ""
    status: int = 0
    user_agent: str = ""
    referer: str = ""
    bytes_sent: int = 0
    username: str = ""
    server_ip: str = ""
    #: the X-Forwarded-For chain the line started with (client_ip was picked from it), if any
    forwarded_for: list[str] = field(default_factory=list)
    #: client IP plus any threat-intel hits filled in by the intel enricher
    intel: list[dict[str, Any]] = field(default_factory=list)

    SOURCE: ClassVar[str] = "http"

    def summary(self) -> str:
        target = self.path + ("?" + self.query if self.query else "")
        return f"{self.client_ip} {self.method} {self.site}{target} -> {self.status}"


#: `ParseContext.options` key: web decoders may hand on summaries spanning several seconds (`HttpSummary.spans`),
#: set by a runner whose engine feeds them through `Engine.feed` (which splits them where other events fall)
SUMMARY_SPANS = "web:summary_spans"


@dataclass(slots=True, kw_only=True)
class HttpSummary(Event):
    """Web log lines a decoder did not turn into `HttpRequest` events because no card needs them whole,
    summarized in line order for the cards that count them (see `Interest.web_summaries`).

    `entries` are, in the order of their lines: `("error", ip, time, path, user agent)` for a client
    error on an ordinary page, and `("ordinary", ip, n)` for n ordinary requests of an address seen
    recently on a line that was parsed. `event_id`/`origin` name the first line summarized.

    A summary is a run of one-second pieces: the first at `time`, named by `event_id`; each later one, in
    `spans`, as (index of its first entry, its time, the line that names it), times increasing. The engine
    runs a summary whole where no other event falls between its pieces and cuts it where one does
    (`pieces`, `split`), so cards see the order the one-second summaries would have given them.
    """

    site: str = ""
    entries: list[tuple[Any, ...]] = field(default_factory=list)
    spans: list[tuple[int, float, int]] = field(default_factory=list)

    SOURCE: ClassVar[str] = "http"

    def summary(self) -> str:
        return f"{len(self.entries)} summarized request groups on {self.site}"

    def part(self, a: int, b: int) -> HttpSummary:
        """The summary of pieces a .. b-1 (piece 0 at `time`, piece k >= 1 in `spans[k - 1]`); all of them: itself."""
        spans = self.spans
        if a == 0 and b > len(spans):
            return self
        lo = spans[a - 1][0] if a else 0
        hi = spans[b - 1][0] if b <= len(spans) else len(self.entries)
        if a:
            _, when, line = spans[a - 1]
            event_id = origin = f"{self.event_id.rpartition(':')[0]}:{line}"
        else:
            event_id, origin, when = self.event_id, self.origin, self.time
        return HttpSummary(event_id=event_id, origin=origin, time=when, raw=self.raw, site=self.site,
                           entries=self.entries[lo:hi], spans=[(i - lo, t, n) for i, t, n in spans[a:b - 1]])

    def pieces(self) -> list[HttpSummary]:
        """The one-second summaries this one stands for, in order."""
        return [self.part(k, k + 1) for k in range(len(self.spans) + 1)]


class SummaryPiece:
    """Piece `k` (>= 1) of a summary spanning seconds, as the engine's reorder buffer holds it: under the key the
    piece's own one-second summary would have, so the buffer sorts, counts, releases and spills as it did with
    those; the summary runs whole from one piece to the next unless another event's key falls between them."""

    __slots__ = ("k", "summary")

    def __init__(self, summary: HttpSummary, k: int) -> None:
        self.summary = summary
        self.k = k


def one_second(event: Event | SummaryPiece) -> Event:
    """What a reorder-buffer entry stands for, as one event: a piece, or the first second of a spanning summary,
    as its own one-second summary (how a checkpoint writes the buffer); any other event itself."""
    if type(event) is SummaryPiece:
        return event.summary.part(event.k, event.k + 1)
    if type(event) is HttpSummary and event.spans:
        return event.part(0, 1)
    return event  # type: ignore[return-value]


@dataclass(slots=True, kw_only=True)
class FtpEvent(Event):
    site: str = ""
    client_ip: str = ""
    user: str = ""
    #: normalized action: connect, login, login_failed, upload, download, delete, command, disconnect
    action: str = ""
    command: str = ""
    file_path: str = ""
    status: str = ""
    session: str = ""
    intel: list[dict[str, Any]] = field(default_factory=list)

    SOURCE: ClassVar[str] = "ftp"

    def summary(self) -> str:
        what = f" {self.file_path}" if self.file_path else ""
        who = f" user={self.user}" if self.user else ""
        return f"{self.client_ip} {self.action}{who}{what} {self.status}".rstrip()


@dataclass(slots=True, kw_only=True)
class ProcessExec(Event):
    host: str = ""
    pid: int = 0
    ppid: int = 0
    executable: str = ""
    argv: list[str] = field(default_factory=list)
    command_line: str = ""
    cwd: str = ""
    user: str = ""
    uid: int | None = None
    euid: int | None = None
    auid: int | None = None
    parent_executable: str = ""
    parent_command_line: str = ""
    #: executables of known ancestors, nearest first (parent, grandparent, ...)
    ancestors: list[str] = field(default_factory=list)
    os: str = "linux"
    container_id: str = ""
    container_name: str = ""
    image: str = ""
    pod: str = ""
    namespace: str = ""
    privileged: bool | None = None
    capabilities: list[str] = field(default_factory=list)
    #: the process's cgroup path when the source records it (container context is read from it)
    cgroup: str = ""
    #: threat-intel hits for addresses and domains named on the command line (intel enricher)
    intel: list[dict[str, Any]] = field(default_factory=list)

    SOURCE: ClassVar[str] = "process"

    def summary(self) -> str:
        where = f" in container {self.container_name or self.container_id[:12]}" if self.container_id else ""
        return f"{self.host} pid={self.pid} {self.command_line or self.executable}{where}"


@dataclass(slots=True, kw_only=True)
class NetConnection(Event):
    host: str = ""
    pid: int = 0
    executable: str = ""
    command_line: str = ""
    container_id: str = ""
    container_name: str = ""
    image: str = ""
    pod: str = ""
    namespace: str = ""
    destination_ip: str = ""
    destination_port: int = 0
    destination_host: str = ""
    intel: list[dict[str, Any]] = field(default_factory=list)
    user: str = ""
    uid: int | None = None
    ppid: int = 0
    cgroup: str = ""
    os: str = "linux"

    SOURCE: ClassVar[str] = "network"

    def summary(self) -> str:
        dest = self.destination_host or self.destination_ip
        return f"{self.host} pid={self.pid} {self.executable} -> {dest}:{self.destination_port}"


@dataclass(slots=True, kw_only=True)
class ContainerEvent(Event):
    host: str = ""
    runtime: str = ""
    #: create, start, exec_create, exec_start, die, inspect, ...
    action: str = ""
    container_id: str = ""
    container_name: str = ""
    image: str = ""
    privileged: bool | None = None
    mounts: list[str] = field(default_factory=list)
    ports: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    pid: int = 0
    user: str = ""
    capabilities: list[str] = field(default_factory=list)
    #: for exec_create / exec_start / exec inspect records: the exec instance
    exec_id: str = ""
    #: container state from inspect data: created, running, exited...
    state: str = ""

    SOURCE: ClassVar[str] = "container"

    def summary(self) -> str:
        priv = " privileged" if self.privileged else ""
        name = self.container_name or self.container_id[:12]
        return f"{self.host} {self.runtime} {self.action}{priv} {name} ({self.image})"


@dataclass(slots=True, kw_only=True)
class K8sAudit(Event):
    """An audit.k8s.io Event, whatever envelope it arrived in.

    `doc` is the event in audit.k8s.io/v1 shape; the attributes below are read off it once by the
    parser, so detections do not re-walk nested dicts for every check.
    """

    doc: dict[str, Any] = field(default_factory=dict)
    cluster: str = ""
    verb: str = ""
    resource: str = ""
    subresource: str = ""
    api_group: str = ""
    namespace: str = ""
    name: str = ""
    user: str = ""
    groups: list[str] = field(default_factory=list)
    source_ips: list[str] = field(default_factory=list)
    user_agent: str = ""
    stage: str = ""
    level: str = ""
    code: int = 0
    request_object: dict[str, Any] | None = None
    response_object: dict[str, Any] | None = None
    #: the envelope the event came in: native, aks, eks, gke
    envelope: str = "native"
    #: audit fields the envelope could not supply (GKE has no stage, for example)
    missing: tuple[str, ...] = ()

    SOURCE: ClassVar[str] = "k8s_audit"

    @property
    def succeeded(self) -> bool:
        return 200 <= self.code < 300

    @property
    def subject_object(self) -> dict[str, Any] | None:
        """The object a detection should judge.

        For update and patch, the stored result (`responseObject`) when the audit level recorded it,
        since a patch body alone does not show the whole object; otherwise what was sent.
        """
        if self.verb in ("update", "patch"):
            if isinstance(self.response_object, dict) and self.response_object.get("kind") not in (None, "Status"):
                return self.response_object
            return self.request_object if isinstance(self.request_object, dict) else None
        if isinstance(self.request_object, dict):
            return self.request_object
        if isinstance(self.response_object, dict) and self.response_object.get("kind") != "Status":
            return self.response_object
        return None

    @property
    def source_ip(self) -> str:
        return self.source_ips[0] if self.source_ips else ""

    def summary(self) -> str:
        target = self.resource + ("/" + self.subresource if self.subresource else "")
        ns = f" -n {self.namespace}" if self.namespace else ""
        return f"{self.user} {self.verb} {target} {self.name}{ns} -> {self.code}".replace("  ", " ")


class LazyJson:
    """JSON bytes read off an audit line and decoded on first use, once (see `K8sAudit`).

    The parser only hands over bytes that decoded as JSON already (msgspec, with numbers orjson reads the
    same), so decoding gives what decoding the whole line with orjson gave before; invalid UTF-8 reads with
    U+FFFD, as the JSON reader's lenient path does.
    """

    __slots__ = ("data", "done", "value")

    def __init__(self, data: Any) -> None:
        self.data = data
        self.value: Any = None
        self.done = False

    def decode(self) -> Any:
        if not self.done:
            import orjson  # events.py is imported by everything: orjson only when a body is read

            data = self.data
            try:
                self.value = orjson.loads(data)
            except orjson.JSONDecodeError:
                try:
                    self.value = orjson.loads(bytes(data).decode("utf-8", errors="replace").encode("utf-8"))
                except orjson.JSONDecodeError:
                    self.value = None
            self.data = None
            self.done = True
        return self.value


def _lazy_field(slot: Any, as_object: bool) -> property:
    """A property over the slot `slot` that decodes a `LazyJson` held there on first read."""

    def get(self: Any) -> Any:
        v = slot.__get__(self)
        if type(v) is LazyJson:
            v = v.decode()
            if as_object and type(v) is not dict:
                v = None
            slot.__set__(self, v)
        return v

    return property(get, slot.__set__, doc=slot.__doc__)


# K8sAudit's raw record, `doc` and request/response objects may be given as `LazyJson` (the JSON-lines fast
# path does): held events then cost their bytes, not a tree of dicts, and bodies no card reads are never built.
# Reading the attribute decodes it; dataclass fields, state and equality see the decoded values.
_REQUEST_SLOT = K8sAudit.__dict__["request_object"]
_RESPONSE_SLOT = K8sAudit.__dict__["response_object"]


def undecoded_bodies(event: K8sAudit) -> tuple[Any, Any] | None:
    """The request and response objects of `event` as the JSON bytes the parser kept (None for an absent
    one), when neither was decoded yet; None when one was (or was given as a dict). Lets a card read a few
    fields with a typed decoder instead of building the whole object."""
    request = _REQUEST_SLOT.__get__(event)
    response = _RESPONSE_SLOT.__get__(event)
    if (request is not None and type(request) is not LazyJson) or (
            response is not None and type(response) is not LazyJson):
        return None
    if (request is not None and request.done) or (response is not None and response.done):
        return None
    return (None if request is None else request.data, None if response is None else response.data)


def has_body(event: K8sAudit) -> bool:
    """`event.request_object is not None or event.response_object is not None`, without decoding a body the
    parser kept as bytes (the bytes of a JSON object always decode to a dict)."""
    for slot, name in ((_REQUEST_SLOT, "request_object"), (_RESPONSE_SLOT, "response_object")):
        v = slot.__get__(event)
        if type(v) is LazyJson and not v.done:
            if v.data[:1] == b"{":
                return True
        elif getattr(event, name) is not None:
            return True
    return False


K8sAudit.raw = _lazy_field(Event.__dict__["raw"], False)  # type: ignore[method-assign,assignment]
K8sAudit.doc = _lazy_field(K8sAudit.__dict__["doc"], False)  # type: ignore[method-assign,assignment]
K8sAudit.request_object = _lazy_field(K8sAudit.__dict__["request_object"], True)  # type: ignore[method-assign,assignment]
K8sAudit.response_object = _lazy_field(K8sAudit.__dict__["response_object"], True)  # type: ignore[method-assign,assignment]
# Process and connection events' raw record may be a `LazyJson` too (the Tetragon typed path keeps the line's
# bytes): reading `raw` (evidence, Sigma getters) decodes it once.
ProcessExec.raw = _lazy_field(Event.__dict__["raw"], False)  # type: ignore[method-assign,assignment]
NetConnection.raw = _lazy_field(Event.__dict__["raw"], False)  # type: ignore[method-assign,assignment]


@dataclass(slots=True, kw_only=True)
class ExternalAlert(Event):
    """An alert another engine already raised (Falco, say), imported into our alert contract.

    The pipeline turns it into an alert directly, with `alert_type` as given (prefixed by the importer,
    e.g. `FALCO_Terminal_shell_in_container`); the imported record is the evidence.
    """

    alert_type: str = ""
    title: str = ""
    severity: str = "medium"
    tactics: list[str] = field(default_factory=list)
    techniques: list[str] = field(default_factory=list)
    description: str = ""
    entities: dict[str, Any] = field(default_factory=dict)
    #: the contract's `source` for this alert (process, container, network, k8s_audit...)
    alert_source: str = "process"
    resource_type: str = "host"
    resource_name: str = ""
    #: events with the same alert type and key are one alert
    key: str = ""

    SOURCE: ClassVar[str] = "external"

    def summary(self) -> str:
        return self.description or self.alert_type


EVENT_KINDS: tuple[type[Event], ...] = (
    HttpRequest, FtpEvent, ProcessExec, NetConnection, ContainerEvent, K8sAudit, ExternalAlert, HttpSummary,
)
