"""Building a `K8sAudit` from an audit.k8s.io Event document, whatever envelope carried it."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from cloudward.events import K8sAudit, LazyJson
from cloudward.parsers._values import strings as _strs
from cloudward.parsers._values import text as _s
from cloudward.parsers.base import BlockFilter, Interest, ParseContext, RecordRef
from cloudward.timeutil import parse_time

AUDIT_API_VERSIONS = ("audit.k8s.io/v1", "audit.k8s.io/v1beta1", "audit.k8s.io/v1alpha1")


def looks_like_audit_event(record: dict[str, Any]) -> bool:
    kind = record.get("kind")
    api = record.get("apiVersion")
    if isinstance(api, str) and api.startswith("audit.k8s.io/"):
        return kind in ("Event", None)
    return (kind == "Event" and isinstance(record.get("auditID"), str)) or (
        kind is None and isinstance(record.get("auditID"), str) and isinstance(record.get("verb"), str)
    )


def looks_like_event_list(record: dict[str, Any]) -> bool:
    return record.get("kind") == "EventList" and isinstance(record.get("items"), list)


_EMPTY: dict[str, Any] = {}


def make_event(doc: dict[str, Any], ref: RecordRef, ctx: ParseContext, *, envelope: str = "native",
               cluster: str = "", missing: tuple[str, ...] = ()) -> K8sAudit:
    """Normalize one audit.k8s.io Event. Raises ValueError when it is not a usable audit event.

    Written without helper calls: it runs for every audit event that is parsed.
    """
    get = doc.get
    verb = get("verb")
    if type(verb) is not str or not verb:
        raise ValueError("audit event without a verb")
    audit_id = get("auditID")
    if type(audit_id) is not str or not audit_id:
        raise ValueError("audit event without an auditID")
    ref_obj = get("objectRef")
    if type(ref_obj) is not dict:
        ref_obj = _EMPTY
    user = get("user")
    if type(user) is not dict:
        user = _EMPTY
    status = get("responseStatus")
    code = status.get("code") if type(status) is dict else None
    when = get("stageTimestamp") or get("requestReceivedTimestamp") or get("timestamp")
    if not when and type(meta := get("metadata")) is dict:
        when = meta.get("creationTimestamp")
    request = get("requestObject")
    response = get("responseObject")
    ua = get("userAgent")
    stage = get("stage")
    level = get("level")
    return K8sAudit(
        event_id=audit_id,
        time=parse_time(when),
        raw=doc,
        origin=f"{ref.path}:{ref.line}" if ref.index is None else str(ref),
        doc=doc,
        cluster=ctx.cluster or cluster,
        verb=verb,
        resource=_s(ref_obj.get("resource")),
        subresource=_s(ref_obj.get("subresource")),
        api_group=_s(ref_obj.get("apiGroup")),
        namespace=_s(ref_obj.get("namespace")),
        name=_s(ref_obj.get("name")),
        user=_s(user.get("username")),
        groups=_strs(user.get("groups")),
        source_ips=_strs(get("sourceIPs")),
        user_agent=ua if type(ua) is str else "",
        stage=stage if type(stage) is str else "",
        level=level if type(level) is str else "",
        code=code if type(code) is int else 0,
        request_object=request if type(request) is dict else None,
        response_object=response if type(response) is dict else None,
        envelope=envelope,
        missing=missing,
    )


class _ObjectRef(msgspec.Struct):
    """`objectRef` as the API server writes it. A field of another type (a null, a number) fails the typed
    decoding and the line takes the general path, which reads it as empty: the result is the same."""

    resource: str = ""
    subresource: str = ""
    apiGroup: str = ""
    namespace: str = ""
    name: str = ""


class _User(msgspec.Struct):
    username: str = ""
    groups: list[str] = []


class _Status(msgspec.Struct):
    code: int = 0


class _AuditLine(msgspec.Struct):
    """The top-level fields of an audit event that normalization reads: the usual shapes typed (objects that
    are null read as absent; anything else unusual fails the typed decoding, and the general path reads it),
    the rest loosely (`Any`: a wrong type reads as empty, as in `make_event`); the bodies stay raw bytes until a
    card asks. Every other key is skipped without building anything."""

    kind: Any = None
    apiVersion: Any = None
    auditID: Any = None
    verb: Any = None
    stage: Any = None
    level: Any = None
    objectRef: _ObjectRef | None = None
    user: _User | None = None
    sourceIPs: list[str] | None = None
    userAgent: Any = None
    responseStatus: _Status | None = None
    stageTimestamp: Any = None
    requestReceivedTimestamp: Any = None
    timestamp: Any = None
    metadata: Any = None
    #: present as a list, the line is an export wrapper, not an event: the general path reads it
    records: Any = None
    requestObject: msgspec.Raw = msgspec.Raw()
    responseObject: msgspec.Raw = msgspec.Raw()


#: distinct values a decoder shares (`audit_line_decoder`) before it starts over, and the longest it shares
_SHARED_MAX = 4096
_SHARED_CHARS = 128
_NO_REF = _ObjectRef()
_NO_USER = _User()
_decode_audit_line = msgspec.json.Decoder(_AuditLine).decode
_DECODE_FAILED = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)
#: integers orjson keeps as int (beyond them it reads floats); `plain_json` already refuses longer literals
_INT_MIN, _INT_END = -(1 << 63), 1 << 64


#: K8sAudit's fields in order, as `audit_line_decoder` sets them one by one (a slotted dataclass: `__new__` leaves
#: every slot unset, so each must be set)
_AUDIT_FIELDS = ("event_id", "time", "raw", "origin", "doc", "cluster", "verb", "resource", "subresource", "api_group",
                 "namespace", "name", "user", "groups", "source_ips", "user_agent", "stage", "level", "code",
                 "request_object", "response_object", "envelope", "missing")


def _fields_known() -> bool:
    """K8sAudit has exactly `_AUDIT_FIELDS`, the defaults set for `envelope` and `missing`, and no
    `__post_init__`: building it slot by slot gives what its constructor gives."""
    fields = dataclasses.fields(K8sAudit)
    return (
        tuple(f.name for f in fields) == _AUDIT_FIELDS
        and fields[-2].default == "native" and fields[-1].default == ()
        and not hasattr(K8sAudit, "__post_init__")
    )


def audit_line_decoder(ctx: ParseContext) -> Callable[[bytes, RecordRef], K8sAudit | None] | None:
    """Typed decoding of one JSON-lines audit event (`line` is the whole line): None for a line it does not
    decode exactly as the general path would (not an audit event, an EventList, a wrapper, an unusual number,
    no verb...), which then goes through orjson and `make_event` as before, rejections included.

    Only when the C accelerator is built (its `plain_json` proves the numbers read the same in msgspec and
    orjson). The event's raw record, `doc` and bodies are `LazyJson`: decoded by orjson when first read."""
    if not FAST_DECODE or _plain_json is None or not _fields_known():
        return None  # (K8sAudit's fields changed: `_AUDIT_FIELDS` must follow; meanwhile the general path)
    plain = _plain_json
    decode = _decode_audit_line
    failed = _DECODE_FAILED
    shared: dict[str, str] = {}
    share = shared.setdefault
    new_audit = K8sAudit.__new__

    def decode_line(line: bytes, ref: RecordRef) -> K8sAudit | None:
        try:
            head = decode(line)
        except failed:
            return None
        verb = head.verb
        audit_id = head.auditID
        kind = head.kind
        api = head.apiVersion
        if (
            type(verb) is not str or not verb or type(audit_id) is not str or not audit_id
            or type(head.records) is list or not plain(line)
        ):
            return None
        # looks_like_audit_event, for an object that has a string verb and auditID
        if type(api) is str and api.startswith("audit.k8s.io/"):
            if kind is not None and kind != "Event":
                return None
        elif kind is not None and kind != "Event":
            return None
        ref_obj = head.objectRef
        if ref_obj is None:
            ref_obj = _NO_REF
        user = head.user
        if user is None:
            user = _NO_USER
        status = head.responseStatus
        code = status.code if status is not None else 0
        if not _INT_MIN <= code < _INT_END:
            code = 0
        when = head.stageTimestamp or head.requestReceivedTimestamp or head.timestamp
        if not when and type(meta := head.metadata) is dict:
            when = meta.get("creationTimestamp")
        ua = head.userAgent
        stage = head.stage
        level = head.level
        request = head.requestObject
        response = head.responseObject
        record = LazyJson(line)
        # the values that repeat from event to event are shared: one string each (its hash computed once) for
        # the lookups every detection and the alert book make with them, instead of a new one per event;
        # equal strings, so nothing reads differently. Bounded in count and length: they are the log's (an
        # attacker's)
        if len(shared) >= _SHARED_MAX:
            shared.clear()
        resource = ref_obj.resource
        namespace = ref_obj.namespace
        username = user.username
        if len(verb) <= _SHARED_CHARS:
            verb = share(verb, verb)
        if len(resource) <= _SHARED_CHARS:
            resource = share(resource, resource)
        if len(namespace) <= _SHARED_CHARS:
            namespace = share(namespace, namespace)
        if len(username) <= _SHARED_CHARS:
            username = share(username, username)
        # the event's slots set one by one: K8sAudit's generated keyword `__init__` costs ~2.7 us, this ~0.9 us
        # (`_AUDIT_FIELDS`: every field, in its order; `envelope` and `missing` take their defaults)
        event = new_audit(K8sAudit)
        event.event_id = audit_id
        event.time = parse_time(when)
        event.raw = record
        event.origin = f"{ref.path}:{ref.line}"
        event.doc = record
        event.cluster = ctx.cluster
        event.verb = verb
        event.resource = resource
        event.subresource = ref_obj.subresource
        event.api_group = ref_obj.apiGroup
        event.namespace = namespace
        event.name = ref_obj.name
        event.user = username
        event.groups = user.groups if user is not _NO_USER else []  # (a decoded `_User`'s list is its own)
        event.source_ips = [] if head.sourceIPs is None else head.sourceIPs
        event.user_agent = ua if type(ua) is str else ""
        event.stage = stage if type(stage) is str else ""
        event.level = level if type(level) is str else ""
        event.code = code
        event.request_object = LazyJson(memoryview(request)) if len(request) else None
        event.response_object = LazyJson(memoryview(response)) if len(response) else None
        event.envelope = "native"
        event.missing = ()
        return event

    return decode_line


# -- declarative content interest ----------------------------------------------------------------------------
# A card that judges what a body says (a pod spec) may declare what must be on the line for it to find anything:
# `ContentNeedles`. When every card that reads a resource declares them, a line of that resource holding none
# of them is skipped before decoding (`_speedups.audit_content` proves the resource, the subresource and the
# needles' absence in one pass; anything it cannot read exactly keeps the line).

#: characters a needle may not hold: the ones an allowed JSON escape spells (`\u003c`...), quotes, backslashes
_UNSAFE_NEEDLE_CHARS = frozenset('"\\<>&')


@dataclass(frozen=True)
class ContentNeedles:
    """What must stand on an audit line for a card to find anything on it: one of `exact` (compared as they
    are, quotes included: `'"privileged"'` is that key or value), one of `folded` (lowercase ASCII, compared
    ASCII case-insensitively anywhere on the line, at least 2 characters), or, when `base58_run` > 0, a run of
    that many base58 characters (a Monero wallet)."""

    exact: frozenset[str] = frozenset()
    folded: frozenset[str] = frozenset()
    base58_run: int = 0

    def safe(self) -> bool:
        """Every needle can be searched for on raw bytes: printable ASCII without the characters an allowed
        escape or a quote could hide (an exact needle's own surrounding quotes aside)."""
        for needle in self.exact:
            inner = needle[1:-1] if len(needle) >= 2 and needle[0] == needle[-1] == '"' else needle
            if len(needle) < 2 or not _plain_ascii(inner):
                return False
        return all(len(n) >= 2 and n == n.lower() and _plain_ascii(n) for n in self.folded)


def _plain_ascii(text: str) -> bool:
    return all(" " <= ch <= "~" and ch not in _UNSAFE_NEEDLE_CHARS for ch in text)


@dataclass(frozen=True)
class ContentInterest:
    """Lines of `resources` matter only with a subresource in `subresources` (None: any) and, when `needles` is
    not None, only when they hold one of them (the union of what every card reading those resources declared)."""

    resources: frozenset[str]
    subresources: frozenset[str] | None
    needles: ContentNeedles | None
    #: the bodies' `kind` values with which a line may be judged by its needles alone (another kind: kept)
    kinds: frozenset[str] = frozenset()


def content_interest(cards: list[Any]) -> ContentInterest | None:
    """The content interest of the audit cards, or None when some card reads lines it did not describe (every
    resource, or a resource of the content ones without declaring content). A card declares with
    `content_resources`, `content_subresources` (None: every one) and `content_needles()` (None: every line)."""
    resources: set[str] = set()
    for det in cards:
        if det.audit_resources is None or getattr(det, "audit_interest", None) is not None:
            return None
        resources |= getattr(det, "content_resources", frozenset())
    if not resources:
        return None
    subresources: set[str] | None = set()
    kinds: set[str] | None = None
    exact: set[str] = set()
    folded: set[str] = set()
    base58 = 0
    every_line = False
    for det in cards:
        if not (det.audit_resources & resources):
            continue
        if getattr(det, "content_resources", frozenset()) != frozenset(resources):
            return None  # reads a content resource it did not describe
        subs = getattr(det, "content_subresources", None)
        if subs is None:
            subresources = None
        elif subresources is not None:
            subresources |= subs
        det_kinds = frozenset(getattr(det, "content_kinds", frozenset()))
        kinds = set(det_kinds) if kinds is None else kinds & det_kinds
        needles = det.content_needles()
        if needles is None or not needles.safe():
            every_line = True
            continue
        exact |= needles.exact
        folded |= needles.folded
        if needles.base58_run:
            base58 = needles.base58_run if not base58 else min(base58, needles.base58_run)
    return ContentInterest(
        frozenset(resources), None if subresources is None else frozenset(subresources),
        None if every_line else ContentNeedles(frozenset(exact), _shortest(folded), base58), frozenset(kinds or ()))


def _shortest(needles: set[str]) -> frozenset[str]:
    """The needles that hold no other one (a line holding `cgminer` holds `miner`: one test is enough)."""
    return frozenset(n for n in needles if not any(m != n and m in n for m in needles))


@functools.lru_cache(maxsize=8)
def _matcher(content: ContentInterest) -> Any:
    """The C needle tables of `content` (built once per interest: the line and block filters share them)."""
    needles = content.needles
    if needles is None:
        return _audit_content_matcher((), (), 0)  # type: ignore[misc]
    return _audit_content_matcher(  # type: ignore[misc]
        tuple(sorted(n.encode() for n in needles.exact)), tuple(sorted(n.encode() for n in needles.folded)),
        needles.base58_run)


def _content_args(content: ContentInterest | None) -> tuple[Any, ...] | None:
    """`audit_lines`' content argument: (matcher, resources, subresources or None, kinds, judge_all)."""
    if content is None or not ACCELERATED or _audit_content is None:
        return None
    return (_matcher(content), tuple(sorted(r.encode() for r in content.resources)),
            None if content.subresources is None else tuple(sorted(r.encode() for r in content.subresources)),
            tuple(sorted(k.encode() for k in content.kinds)), content.needles is None)


def _content_test(content: ContentInterest | None) -> Callable[[bytes, int, int], bool] | None:
    """(buf, start, end) -> True when the line is provably one no card needs for its content; None without
    a content interest or the C accelerator. (`audit_lines` applies the same rule in its block pass.)"""
    if content is None or not ACCELERATED or _audit_content is None:
        return None
    needles = content.needles
    matcher = _matcher(content)
    resources = frozenset(r.encode() for r in content.resources)
    subs = None if content.subresources is None else frozenset(r.encode() for r in content.subresources)
    judge_all = needles is None
    allowed = frozenset(k.encode() for k in content.kinds)
    read = _audit_content

    def unneeded(buf: bytes, start: int, end: int) -> bool:
        found = read(matcher, buf, start, end)  # type: ignore[misc]
        if found is None:
            return False
        hit, resource, subresource, body, kinds = found
        if resource not in resources or subresource is None:
            return False
        if subs is not None and subresource not in subs:
            return True  # no card judges this subresource
        # a line without a request body is kept (it may be counted as uninspectable), and one whose body says it
        # is an object of another kind (a card may learn from it: `ContentInterest.kinds`)
        return not judge_all and not hit and body and kinds is not None and not (kinds and set(kinds) - allowed)

    return unneeded


#: verbs no card wants and short enough that six bytes after `"verb":"` spell them whole, closing quote
#: included; any other verb is parsed (rare: delete, deletecollection, custom verbs)
_SHORT_VERBS = ("get", "list", "watch")


def _has_letter_escape(buf: bytes, start: int, end: int) -> bool:
    """True when `buf[start:end]` holds a `\\u004x`-`\\u007x` escape: one that can spell an ASCII letter, hence
    a key the filter reads (`"\\u0076erb"` is `"verb"`). The API server escapes only `<`, `>`, `&` and control
    characters (`\\u003c`, `\\u0026`, ...), so real logs never have these."""
    i = buf.find(b"\\u00", start, end)
    while i >= 0:
        if i + 4 < end and 0x34 <= buf[i + 4] <= 0x37:  # '4'..'7'
            return True
        i = buf.find(b"\\u00", i + 4, end)
    return False


def verb_line_filter(interest: Interest) -> Callable[[bytes, int, int], bool] | None:
    """A raw-bytes test for one audit event line `buf[start:end]`: False only when the event provably has a
    verb, or an objectRef resource, that no enabled detection asked for (or the line is blank).

    The API server writes compact JSON whose top-level keys before `"verb"` are plain strings (kind,
    apiVersion, level, auditID, stage, requestURI). When `,"verb":"` occurs with no `{` between the line's
    opening brace and it, that key is at depth 1 (a key inside an array would need an object, hence a `{`).
    It is the event's verb only if no other `"verb"` key is on the line: a JSON parser keeps the last of
    duplicate keys, so a decoy `"verb":"get"` before a real `"verb":"create"` must not decide. Reading it
    costs a scan of the first ~200 bytes and one search of the line, however large the bodies behind it.
    For a wanted verb the resource decides: the single `"objectRef"` key of the line and its single
    `"resource"`. An escape that could spell a letter of a key (`\\u0076erb`) makes the line parsed.
    Anything unusual — key order, whitespace, escapes, a line that does not end in `}` — is parsed, so the
    test can cost speed but never a detection. `_speedups.audit_lines` applies the same verb rule in C.
    """
    wanted = interest.audit_verbs
    if wanted is None:
        return None
    wanted_verbs = frozenset(v.encode() for v in wanted)
    # the six bytes after `,"verb":"` for these verbs in the API server's order: value, quote, comma, quote
    skip_keys = frozenset((v + '","').encode()[:6] for v in _SHORT_VERBS if v not in wanted)
    resources = interest.audit_resources
    wanted_resources = None if resources is None else frozenset(r.encode() for r in resources)
    content = getattr(interest, "audit_content", None)
    content_test = _content_test(content) if wanted_resources is not None else None
    content_resources = frozenset() if content is None else frozenset(r.encode() for r in content.resources)
    verb_key = b',"verb":"'
    verb_token = b'"verb"'
    ref_key = b',"objectRef":{"resource":"'
    open_brace, close_brace, cr = 0x7B, 0x7D, 0x0D

    def plain(buf: bytes, start: int, end: int, i: int) -> bool:
        """The verb key at `i` is the line's only one and no escape could spell another key."""
        return buf.find(verb_token, i + 2, end) < 0 and buf.find(verb_token, start, i) < 0 and (
            not _has_letter_escape(buf, start, end))

    def needed(buf: bytes, start: int, end: int) -> bool:
        if end <= start or (end - start == 1 and buf[start] == cr):
            return False  # a blank line holds no record
        if buf[start] != open_brace:
            return True
        last = buf[end - 1]
        if last != close_brace and not (last == cr and end - 2 > start and buf[end - 2] == close_brace):
            return True  # truncated or decorated: let the parser report it
        i = buf.find(verb_key, start, end)
        if i < 0 or buf.find(b"{", start + 1, i) >= 0:
            return True
        if buf[i + 9 : i + 15] in skip_keys:
            return not plain(buf, start, end, i)
        j = buf.find(b'"', i + 9, end)
        verb = buf[i + 9 : j]
        if verb not in wanted_verbs:
            if j < 0 or b"\\" in verb:  # an escaped verb could spell a wanted one
                return True
            return not plain(buf, start, end, i)
        if wanted_resources is None:
            return True
        k = buf.find(ref_key, i, end)
        if k < 0:
            return True
        m = buf.find(b'"', k + 26, end)
        if m < 0:
            return True
        if buf[k + 26 : m] in wanted_resources:
            # a resource whose cards declared what they read: skipped when provably none of it is there
            return not (content_test is not None and buf[k + 26 : m] in content_resources
                        and content_test(buf, start, end))
        # about to skip: prove this objectRef and its resource are the event's own (the only ones, none hidden
        # by an escape), and the verb is too
        return (
            buf.count(b'"objectRef"', start, end) != 1
            or buf.count(b'"resource"', start, end) != 1
            or not plain(buf, start, end, i)
        )

    raw = _accelerated_raw(interest.audit_raw)
    if raw is None:
        return needed

    def needed_or_raw(buf: bytes, start: int, end: int) -> bool:
        # a line some detection needs for its raw text (Sigma rules' literals), whatever its verb
        return needed(buf, start, end) or (end > start and raw(buf, start, end) >= 0)

    return needed_or_raw


try:  # the optional C accelerator (setup.py builds it when a compiler is there)
    from cloudward._speedups import audit_lines as _audit_lines
    from cloudward._speedups import plain_json as _plain_json
except ImportError:  # pragma: no cover - exercised where no compiler was available
    _audit_lines = None
    _plain_json = None
try:  # an accelerator built before the content test existed lacks it
    from cloudward._speedups import audit_content as _audit_content
    from cloudward._speedups import audit_content_matcher as _audit_content_matcher
except ImportError:  # pragma: no cover
    _audit_content = None
    _audit_content_matcher = None

#: tests switch typed decoding off to compare it with orjson and `make_event`
FAST_DECODE = True

#: tests switch the accelerator off to check the pure-Python path gives the same results
ACCELERATED = _audit_lines is not None


def verb_block_filter(interest: Interest) -> BlockFilter | None:
    """The verb and resource rules of `verb_line_filter` over a whole block in C, one pass: (lines that may be
    needed, lines seen).

    The pass decides every rule of the line filter, so the lines it returns are final (`_settled`: the reader
    does not test them again). None when the accelerator is not built or every verb is wanted.
    """
    if not ACCELERATED or interest.audit_verbs is None:
        return None
    wanted = tuple(sorted(v.encode() for v in interest.audit_verbs))
    resources = interest.audit_resources
    wanted_resources = None if resources is None else tuple(sorted(r.encode() for r in resources))
    audit_lines = _audit_lines

    raw = interest.audit_raw
    content = _content_args(getattr(interest, "audit_content", None)) if wanted_resources is not None else None
    table = getattr(raw, "c_table", None)
    if table is not None:  # the raw test's verb-and-resource pairs and codes are decided in the same C pass
        pair_verbs, pair_resources, codes = table

        def scan_with_table(buf: bytes, start: int, end: int) -> tuple[list[tuple[int, int, int]], int]:
            return audit_lines(buf, start, end, wanted, wanted_resources,  # type: ignore[misc]
                               pair_verbs, pair_resources, codes, content)

        literal_test = raw.literal_test  # type: ignore[union-attr]
        return _settled(scan_with_table if literal_test is None else _with_raw_lines(scan_with_table, literal_test))

    if content is not None:  # the content rule of the line filter, decided in the same C pass

        def scan(buf: bytes, start: int, end: int) -> tuple[list[tuple[int, int, int]], int]:
            return audit_lines(buf, start, end, wanted, wanted_resources, None, None, None,  # type: ignore[misc]
                               content)
    else:

        def scan(buf: bytes, start: int, end: int) -> tuple[list[tuple[int, int, int]], int]:
            return audit_lines(buf, start, end, wanted, wanted_resources)  # type: ignore[misc]

    if raw is None:
        return _settled(scan)
    return _settled(_with_raw_lines(scan, raw))


def _settled(scan: BlockFilter) -> BlockFilter:
    """Mark a block filter whose lines need no second test: `audit_lines` decides every rule of the line filter
    (`verb_line_filter`) in its pass - the cards' verbs and resources, their content interest, the Sigma rules'
    pinned pairs and codes - with the same proofs or stricter ones (a line it keeps the line filter may still
    have skipped only when its bytes are unusual: an escaped resource, for one), and the lines the raw test adds
    are the ones it finds. So the reader takes the spans as they are (`settled`) instead of testing each line
    again in Python; a line kept that the line filter would have skipped is only parsed, never a detection."""
    scan.settled = True  # type: ignore[attr-defined]
    return scan


def _accelerated_raw(raw: Callable[[bytes, int, int], int] | None) -> Callable[[bytes, int, int], int] | None:
    """`Interest.audit_raw`, as the C accelerator answers it when the test offers that (`accelerated`: Sigma
    rules' pinned verbs, resources and codes checked by `audit_lines`)."""
    accelerated = getattr(raw, "accelerated", None)
    if accelerated is not None and ACCELERATED:
        return accelerated(_audit_lines)  # type: ignore[no-any-return]
    return raw


def _with_raw_lines(scan: BlockFilter, raw: Callable[[bytes, int, int], int]) -> BlockFilter:
    """`scan` plus the lines holding a raw text some detection needs (`Interest.audit_raw`), found with one
    search over the block."""

    def scan_and_raw(buf: bytes, start: int, end: int) -> tuple[list[tuple[int, int, int]], int]:
        spans, count = scan(buf, start, end)
        block_lines = getattr(raw, "block_lines", None)
        if block_lines is not None:  # one pass, remembered for the line filter that follows
            found = block_lines(buf, start, end)
            if not found:
                return spans, count
            known = {s for _, s, _ in spans}
            extra, index, counted = [], 0, start
            for line_start, line_end in found:
                index += buf.count(b"\n", counted, line_start)
                counted = line_start
                if line_start not in known:
                    extra.append((index, line_start, line_end))
            return (sorted(spans + extra), count) if extra else (spans, count)
        hit = raw(buf, start, end)
        if hit < 0:
            return spans, count
        known = {s for _, s, _ in spans}
        extra: list[tuple[int, int, int]] = []
        index, counted = 0, start  # line index of `counted`, a line start
        while hit >= 0:
            line_start = buf.rfind(b"\n", start, hit) + 1 or start
            line_end = buf.find(b"\n", hit, end)
            if line_end < 0:
                line_end = end
            index += buf.count(b"\n", counted, line_start)
            counted = line_start
            if line_start not in known:
                extra.append((index, line_start, line_end))
            if line_end >= end:
                break
            hit = raw(buf, line_end + 1, end)
        if not extra:
            return spans, count
        return sorted(spans + extra), count

    return scan_and_raw
