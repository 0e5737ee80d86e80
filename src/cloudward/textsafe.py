"""Making attacker-controlled text safe to show.

Log lines carry text an attacker chose: a user agent with ANSI escapes can repaint a terminal, a URL
with bidi overrides can hide what it is, and markup can forge table cells. Terminal output replaces
such characters with visible escapes; HTML output escapes markup.
"""

from __future__ import annotations

import re

# C0 and C1 controls (tab kept), DEL, zero-width and bidirectional formatting characters
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def _visible(m: re.Match[str]) -> str:
    code = ord(m.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: object, limit: int | None = None) -> str:
    """`text` with control and formatting characters shown as escapes, optionally cut to `limit`."""
    s = text if isinstance(text, str) else str(text)
    if limit is not None and len(s) > limit:
        s = s[: max(limit - 1, 0)] + "…"
    return _UNSAFE.sub(_visible, s)


#: what `html.escape(quote=True)` replaces (the html module costs start-up time a scan has no use for)
_HTML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"})


def html_safe(text: object) -> str:
    return terminal_safe(text).translate(_HTML_ESCAPES)
