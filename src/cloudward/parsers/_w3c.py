"""The W3C extended log file format as IIS and App Service write it.

A file is directives (`#Software:`, `#Version:`, `#Date:`, `#Fields:`) and space-separated data
lines; each `#Fields:` directive names the columns of the lines after it, and one file can hold
several (IIS starts a new header when the service restarts or the field selection changes). IIS
writes `+` for spaces inside values and `-` for an empty value, so a line always has exactly as many
values as its header has fields: a line with more or fewer is a forgery or damage, and is rejected.
"""

from __future__ import annotations

from cloudward.parsers.base import Head


class W3cFields:
    """Column positions of one `#Fields:` header; a missing field points at a trailing "-"."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.count = len(names)
        self.positions = {n.lower(): i for i, n in enumerate(names)}

    def index(self, *names: str) -> int:
        """The column of the first of `names` present, else `count` (the padding value "-")."""
        for n in names:
            i = self.positions.get(n.lower())
            if i is not None:
                return i
        return self.count

    def has(self, name: str) -> bool:
        return name.lower() in self.positions


def fields_directive(text: str) -> W3cFields | None:
    """The columns named by a `#Fields:` directive line, or None for other directives."""
    if not text.startswith("#Fields:"):
        return None
    return W3cFields(text[len("#Fields:"):].split())


FTP_FIELDS = ("x-session", "x-fullpath")


def header_kind(head: Head) -> str:
    """"ftp", "http" or "" from the directives at the top of a file."""
    software = ""
    for ln in head.lines:
        if ln.startswith("#Software:"):
            software = ln
        fields = fields_directive(ln)
        if fields is not None:
            if any(fields.has(f) for f in FTP_FIELDS) or "FTP" in software:
                return "ftp"
            if fields.has("cs-uri-stem") and (fields.has("c-ip") or fields.has("cs-host")):
                return "http"
            return ""
    if "Microsoft Internet Information Services" in software:
        return "http"
    if "FTP" in software:
        return "ftp"
    return ""


def value(v: str) -> str:
    return "" if v == "-" else v
