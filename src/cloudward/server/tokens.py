"""Bearer tokens: kept only as SHA-256 hashes, compared in constant time, each with one role.

Tokens are random (generated) or long secrets from the configuration, so a plain SHA-256 is enough: the
hash hides the token in the store; nobody can search a 256-bit space for it."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from dataclasses import dataclass

from cloudward.server.settings import TokenSpec

#: what each role may do
GRANTS = {"ingest": {"ingest"}, "reader": {"read"}, "admin": {"ingest", "read", "admin"}}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    name: str
    role: str

    def may(self, action: str) -> bool:
        return action in GRANTS.get(self.role, set())


class TokenBook:
    def __init__(self, entries: list[tuple[str, str, str]]) -> None:
        #: (hash, name, role)
        self.entries = entries

    def identify(self, token: str) -> Principal | None:
        """The holder of `token`; every entry is compared (constant time each), so timing tells nothing."""
        presented = token_hash(token)
        found: Principal | None = None
        for digest, name, role in self.entries:
            if hmac.compare_digest(digest, presented):
                found = Principal(name, role)
        return found


def load_tokens(db: sqlite3.Connection,
                configured: tuple[TokenSpec, ...]) -> tuple[TokenBook, list[tuple[str, str, str]]]:
    """Configured tokens plus those kept in the store. With neither, an admin and an ingest token are
    generated and kept (hashed); they are returned once as (name, role, token) so they can be printed."""
    stored = [(h, n, r) for n, r, h in db.execute("SELECT name, role, hash FROM api_tokens ORDER BY name")]
    fresh: list[tuple[str, str, str]] = []
    if not configured and not stored:
        with db:
            for name, role in (("admin", "admin"), ("ingest", "ingest")):
                token = "cw_" + secrets.token_urlsafe(32)
                db.execute("INSERT INTO api_tokens VALUES (?,?,?,?)", (name, role, token_hash(token), time.time()))
                stored.append((token_hash(token), name, role))
                fresh.append((name, role, token))
    entries = [(token_hash(t.secret), t.name, t.role) for t in configured] + stored
    return TokenBook(entries), fresh
