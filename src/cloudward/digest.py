"""SHA-256 without loading OpenSSL.

`hashlib` loads libcrypto when first imported, a visible share of a small scan's start-up. Input identities
and alert ids hash a few kilobytes at most, so CPython's own SHA-256 module (`_sha2` from 3.12, `_sha256`
before) is as good, and gives the same digests; `hashlib` is the fallback where neither is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_sha256: Callable[[bytes], Any]
try:
    from _sha2 import sha256 as _sha256  # type: ignore[import-not-found,no-redef]
except ImportError:
    try:
        from _sha256 import sha256 as _sha256  # type: ignore[import-not-found,no-redef]
    except ImportError:  # pragma: no cover - a CPython built without its own SHA-2
        from hashlib import sha256 as _sha256


def sha256_hex(data: bytes) -> str:
    """The hex SHA-256 digest of `data` (the same as `hashlib.sha256(data).hexdigest()`)."""
    return _sha256(data).hexdigest()
