"""Reading threat-intelligence feeds into an `IntelIndex`.

A feed is named by a spec: a path, optionally followed by `#` and options joined with `&`:

    blocklist.txt                       plain list: one IP, CIDR, domain or URL per line, # or ; comments
    abuse.csv#column=ip_address         CSV: the column by header name ...
    export.csv#column=3&delimiter=;     ... or by position (1-based); other columns become context
    bundle.json                         STIX 2.1 bundle (format found from the content)
    misp-event.json#all=1               MISP event JSON (all=1: also attributes without to_ids)
    feeds/tor.txt#name=tor-exits        name= sets the feed name shown in alerts (default: file name)
    taxii+https://ti.example/api1/collections/<id>/#user=u&password_env=TI_PASS   TAXII 2.1 collection

In configuration the same options are table keys: `[intel] feeds = ["a.txt", { path = "b.csv",
column = "ip" }]`, and TAXII collections are `[[intel.taxii]]` tables (see `intel.taxii`).
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from cloudward import saferegex
from cloudward.intel.indicators import IntelIndex

FORMATS = ("auto", "list", "csv", "stix", "misp")
CSV_NAMES = ("ip", "ip_address", "ipaddress", "ip-address", "src_ip", "ipv4", "ipv6", "indicator", "ioc", "value",
             "observable", "domain", "url", "host", "address", "network", "cidr")
MAX_CONTEXT_TEXT = 200


class FeedError(ValueError):
    """A feed that cannot be used at all (missing file, unknown format); the message says which."""


@dataclass
class FeedSpec:
    path: str
    name: str = ""
    format: str = "auto"
    column: str = ""
    delimiter: str = ""
    all_attributes: bool = False
    options: dict[str, str] = field(default_factory=dict)

    @property
    def feed_name(self) -> str:
        if self.name:
            return self.name
        if self.path.startswith("taxii+"):
            return "taxii:" + self.path.rstrip("/").rsplit("/", 1)[-1]
        return Path(self.path).name


@dataclass
class FeedReport:
    name: str
    format: str
    loaded: int = 0
    skipped: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def skip(self, reason: str) -> None:
        self.skipped += 1
        self.reasons[reason] += 1


def parse_spec(spec: str | dict[str, Any]) -> FeedSpec:
    """A feed spec from `path#k=v&k=v` text or a configuration table."""
    if isinstance(spec, dict):
        opts = {str(k): str(v) for k, v in spec.items()}
        path = opts.pop("path", "") or opts.pop("url", "")
    else:
        path, opts = spec, {}
        hash_at = spec.rfind("#")
        if hash_at > 0 and "=" in spec[hash_at:]:
            path = spec[:hash_at]
            for pair in spec[hash_at + 1:].split("&"):
                k, _, v = pair.partition("=")
                if k:
                    opts[k.strip()] = v.strip()
    if not path:
        raise FeedError(f"intel feed without a path: {spec!r}")
    fmt = opts.pop("format", "auto").lower()
    if fmt not in FORMATS:
        raise FeedError(f"intel feed {path}: unknown format {fmt!r} (use {', '.join(FORMATS)})")
    return FeedSpec(path=path, name=opts.pop("name", ""), format=fmt, column=opts.pop("column", ""),
                    delimiter=opts.pop("delimiter", ""), all_attributes=opts.pop("all", "") in ("1", "true", "yes"),
                    options=opts)


def load_feed(index: IntelIndex, spec: str | dict[str, Any] | FeedSpec) -> FeedReport:
    """Add the indicators of one feed to `index`. Bad entries are skipped and counted; a feed that
    cannot be read at all raises FeedError."""
    fs = spec if isinstance(spec, FeedSpec) else parse_spec(spec)
    if fs.path.startswith("taxii+"):
        from cloudward.intel.taxii import pull_spec

        objects = pull_spec(fs)
        report = FeedReport(fs.feed_name, "taxii")
        load_stix(index, {"type": "bundle", "objects": objects}, index.feed(fs.feed_name), report)
        return report
    try:
        data = Path(fs.path).read_bytes()
    except OSError as exc:
        raise FeedError(f"intel feed {fs.path}: {exc.strerror or exc}") from None
    fmt = fs.format if fs.format != "auto" else _guess_format(fs, data)
    report = FeedReport(fs.feed_name, fmt)
    feed = index.feed(fs.feed_name)
    if fmt in ("stix", "misp"):
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise FeedError(f"intel feed {fs.path}: not valid JSON: {exc}") from None
        (load_stix if fmt == "stix" else load_misp)(index, doc, feed, report, all_attributes=fs.all_attributes)
    elif fmt == "csv":
        load_csv(index, data.decode("utf-8", errors="replace"), feed, report, fs.column, fs.delimiter)
    else:
        load_list(index, data.decode("utf-8", errors="replace"), feed, report)
    return report


def _guess_format(fs: FeedSpec, data: bytes) -> str:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"{", b"["):
        if b'"bundle"' in data[:65536] or b'"indicator"' in data[:65536] or b'"spec_version"' in data[:65536]:
            return "stix"
        if b'"Event"' in data[:65536] or b'"Attribute"' in data[:65536]:
            return "misp"
        raise FeedError(f"intel feed {fs.path}: JSON that is neither a STIX 2.1 bundle nor a MISP event")
    if fs.column or fs.delimiter or os.path.splitext(fs.path)[1].lower() in (".csv", ".tsv"):
        return "csv"
    return "list"


# -- plain lists ----------------------------------------------------------------------------------
def load_list(index: IntelIndex, text: str, feed: int, report: FeedReport) -> None:
    for lineno, line in enumerate(text.splitlines(), 1):
        body = line.strip()
        if not body or body[0] in "#;":
            continue
        comment = ""
        for mark in (" #", "\t#", ";"):
            at = body.find(mark)
            if at > 0:
                comment = body[at + len(mark):].strip()
                body = body[:at].strip()
        token = body.split()[0] if body.split() else ""
        context = {"line": lineno, "comment": comment[:MAX_CONTEXT_TEXT]} if comment else None
        if index.add(token, feed, context):
            report.loaded += 1
        else:
            report.skip("not an IP, CIDR, domain or URL")


# -- CSV ------------------------------------------------------------------------------------------
def load_csv(index: IntelIndex, text: str, feed: int, report: FeedReport, column: str, delimiter: str) -> None:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        return
    if not delimiter:
        first = lines[0]
        delimiter = max((",", ";", "\t", "|"), key=first.count)
    rows = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    header: list[str] | None = None
    first_row = next(rows, [])
    names = [c.strip().lower() for c in first_row]
    col = -1
    if column.isdigit():
        col = int(column) - 1
        if any(n in CSV_NAMES for n in names):
            header = names
    elif column:
        if column.lower() not in names:
            raise FeedError(f"CSV feed has no column {column!r} (columns: {', '.join(names)})")
        header, col = names, names.index(column.lower())
    else:
        col = next((i for i, n in enumerate(names) if n in CSV_NAMES), -1)
        if col >= 0:
            header = names
        else:
            col = 0
    data_rows = rows if header is not None else _chain([first_row], rows)
    for row in data_rows:
        if col >= len(row):
            report.skip("row has too few columns")
            continue
        others = {(header[i] if header and i < len(header) else f"column{i + 1}"): v[:MAX_CONTEXT_TEXT]
                  for i, v in enumerate(row) if i != col and v}
        if index.add(row[col], feed, others or None):
            report.loaded += 1
        else:
            report.skip("not an IP, CIDR, domain or URL")


def _chain(*iterables: Any) -> Any:
    for it in iterables:
        yield from it


# -- STIX 2.1 -------------------------------------------------------------------------------------
_COMPARISON = saferegex.compile(
    r"(ipv4-addr|ipv6-addr|domain-name|url):value\s*(=|ISSUBSET|IN)\s*(\((?:\s*'(?:[^'\\]|\\.)*'\s*,?)+\)|'(?:[^'\\]|\\.)*')"
)
_STRING = saferegex.compile(r"'((?:[^'\\]|\\.)*)'")
_LEFTOVER_OK = frozenset("[]() \t\r\n")


def stix_values(pattern: str) -> list[tuple[str, str]] | None:
    """(object type, value) pairs a STIX pattern matches on one observable, or None when the pattern
    needs more than "any of these values" (AND, FOLLOWEDBY, other objects or properties)."""
    pattern = saferegex.bounded(pattern)
    found: list[tuple[str, str]] = []
    pos = 0
    leftover: list[str] = []
    for m in _COMPARISON.finditer(pattern):
        leftover.append(pattern[pos:m.start()])
        pos = m.end()
        kind, literal = m.group(1), m.group(3)
        for s in _STRING.finditer(literal):
            found.append((kind, s.group(1).replace("\\'", "'").replace("\\\\", "\\")))
    leftover.append(pattern[pos:])
    rest = "".join(leftover).replace(" OR ", " ")
    if not found or any(c not in _LEFTOVER_OK for c in rest):
        return None
    return found


def load_stix(index: IntelIndex, doc: Any, feed: int, report: FeedReport, **_: Any) -> None:
    objects = doc.get("objects") if isinstance(doc, dict) else doc
    if isinstance(doc, dict) and doc.get("type") == "indicator":
        objects = [doc]
    if not isinstance(objects, list):
        raise FeedError("STIX document without an objects list")
    now = datetime.now(UTC)
    for obj in objects:
        if not isinstance(obj, dict) or obj.get("type") != "indicator":
            continue
        if obj.get("revoked") is True:
            report.skip("revoked indicator")
            continue
        if obj.get("pattern_type", "stix") != "stix" or not isinstance(obj.get("pattern"), str):
            report.skip("pattern is not a STIX pattern")
            continue
        until = obj.get("valid_until")
        if isinstance(until, str):
            try:
                if datetime.fromisoformat(until.replace("Z", "+00:00")) < now:
                    report.skip("expired (valid_until has passed)")
                    continue
            except ValueError:
                pass
        values = stix_values(obj["pattern"])
        if values is None:
            report.skip("pattern combines conditions that one address or name cannot be checked against")
            continue
        context = {k: obj[k] for k in ("id", "name", "indicator_types", "labels", "confidence", "valid_from",
                                       "valid_until", "created_by_ref") if k in obj}
        if isinstance(obj.get("description"), str):
            context["description"] = obj["description"][:MAX_CONTEXT_TEXT]
        for _kind, value in values:
            if index.add(value, feed, context):
                report.loaded += 1
            else:
                report.skip("indicator value is not an IP, CIDR, domain or URL")


# -- MISP -----------------------------------------------------------------------------------------
MISP_IP_TYPES = {"ip-src", "ip-dst", "ip-src|port", "ip-dst|port", "domain|ip"}
MISP_NAME_TYPES = {"domain", "hostname", "domain|ip", "hostname|port"}
MISP_URL_TYPES = {"url", "link"}


def _misp_events(doc: Any) -> list[dict[str, Any]]:
    if isinstance(doc, list):
        return [e for d in doc for e in _misp_events(d)]
    if not isinstance(doc, dict):
        return []
    if isinstance(doc.get("response"), list):
        return _misp_events(doc["response"])
    if isinstance(doc.get("Event"), dict):
        return [doc["Event"]]
    if "Attribute" in doc or "Object" in doc:
        return [doc]
    return []


def load_misp(index: IntelIndex, doc: Any, feed: int, report: FeedReport, all_attributes: bool = False,
              **_: Any) -> None:
    events = _misp_events(doc)
    if not events:
        raise FeedError("MISP document without an Event")
    for event in events:
        attributes = [a for a in event.get("Attribute") or [] if isinstance(a, dict)]
        for obj in event.get("Object") or []:
            if isinstance(obj, dict):
                attributes.extend(a for a in obj.get("Attribute") or [] if isinstance(a, dict))
        tags = [t.get("name") for t in event.get("Tag") or [] if isinstance(t, dict) and t.get("name")]
        for attr in attributes:
            kind = str(attr.get("type", ""))
            value = str(attr.get("value", ""))
            if kind not in MISP_IP_TYPES | MISP_NAME_TYPES | MISP_URL_TYPES:
                continue
            if not all_attributes and attr.get("to_ids") is False:
                report.skip("attribute not marked for detection (to_ids false)")
                continue
            context: dict[str, Any] = {"event": str(event.get("info", ""))[:MAX_CONTEXT_TEXT],
                                       "event_uuid": event.get("uuid") or event.get("id"),
                                       "category": attr.get("category"), "misp_type": kind}
            if attr.get("comment"):
                context["comment"] = str(attr["comment"])[:MAX_CONTEXT_TEXT]
            if tags:
                context["tags"] = tags[:10]
            if event.get("threat_level_id") is not None:
                context["threat_level_id"] = event.get("threat_level_id")
            context = {k: v for k, v in context.items() if v not in (None, "")}
            parts = value.split("|") if "|" in kind else [value]
            if kind.endswith("|port"):
                parts = parts[:1]
            added = False
            for part in parts:
                if index.add(part, feed, context):
                    added = True
            if added:
                report.loaded += 1
            else:
                report.skip("attribute value is not an IP, CIDR, domain or URL")
