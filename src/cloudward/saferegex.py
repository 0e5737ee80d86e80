"""Linear-time regular expressions for attacker-controlled text.

Patterns matched against URLs, user agents, command lines and other text an attacker writes go
through RE2, whose matching time is linear in the input, so no crafted input can make a detection
backtrack for minutes. Use Python's `re` only on trusted text (our own data, configuration).
"""

from __future__ import annotations

from typing import Any

import re2

#: how much of one trusted-but-large value (a feed's pattern) `bounded` keeps. Attacker text is never cut:
#: RE2 is linear in its whole input, and padding in front of an indicator must not hide it
MAX_SUBJECT = 64 * 1024

_OPTIONS = re2.Options()
_OPTIONS.max_mem = 64 << 20


def compile(pattern: str | bytes, *, ignore_case: bool = False) -> Any:
    """Compile with RE2; raises ValueError for syntax RE2 does not support (backreferences, lookaround)."""
    opts = re2.Options()
    opts.max_mem = _OPTIONS.max_mem
    opts.case_sensitive = not ignore_case
    opts.log_errors = False
    try:
        return re2.compile(pattern, options=opts)
    except re2.error as exc:
        raise ValueError(f"pattern not supported by RE2: {pattern!r}: {exc}") from None


def bounded(text: str) -> str:
    """`text` cut to MAX_SUBJECT: only for trusted data (threat-intel patterns), never for log content."""
    return text if len(text) <= MAX_SUBJECT else text[:MAX_SUBJECT]
