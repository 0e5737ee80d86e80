"""The indicator index: IPv4 and IPv6 addresses and networks, domains and URLs, from many feeds.

Networks are kept per prefix length as sorted arrays of network numbers (plus a parallel array of
references to feed and context), so millions of indicators cost a few bytes each and a lookup is one
binary search per prefix length in use. Domains match themselves and their sub-domains.
"""

from __future__ import annotations

import ipaddress
import socket
from array import array
from bisect import bisect_left
from typing import Any

#: references pack the feed index in the low 16 bits and (context index + 1) above
_FEED_BITS = 16
_FEED_MASK = (1 << _FEED_BITS) - 1


class Hit(dict):  # type: ignore[type-arg]
    """One indicator match: feed, indicator, type, matched value, and context (JSON-ready)."""


class IntelIndex:
    def __init__(self) -> None:
        self.feeds: list[str] = []
        self.contexts: list[dict[str, Any]] = []
        #: prefix length -> (network numbers, refs) while building; sorted arrays after finalize()
        self._v4_build: dict[int, tuple[array, array]] = {}
        self._v6_build: dict[int, tuple[list[int], list[int]]] = {}
        self._v4: list[tuple[int, array, array]] = []
        self._v6: list[tuple[int, list[int], array]] = []
        self.domains: dict[str, list[int]] = {}
        self.urls: dict[str, list[int]] = {}
        self.count = 0
        self.finalized = False

    # -- building ---------------------------------------------------------------------------------
    def feed(self, name: str) -> int:
        if name in self.feeds:
            return self.feeds.index(name)
        if len(self.feeds) > _FEED_MASK:
            raise ValueError("too many feeds")
        self.feeds.append(name)
        return len(self.feeds) - 1

    def _ref(self, feed: int, context: dict[str, Any] | None) -> int:
        if not context:
            return feed
        self.contexts.append(context)
        return feed | (len(self.contexts) << _FEED_BITS)

    def add(self, text: str, feed: int, context: dict[str, Any] | None = None) -> str:
        """Add an address, network, domain or URL; returns its type, or "" when it is none of these."""
        text = text.strip()
        if not text:
            return ""
        if "." in text and ":" not in text and "/" not in text:
            try:  # the common case, a plain IPv4 address: no ipaddress objects for millions of them
                number = int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
            except OSError:
                number = -1
            if number >= 0:
                nets4, refs4 = self._v4_build.setdefault(32, (array("Q"), array("Q")))
                nets4.append(number)
                refs4.append(self._ref(feed, context))
                self.count += 1
                self.finalized = False
                return "ipv4-addr"
        if "://" in text:
            self.urls.setdefault(normalize_url(text), []).append(self._ref(feed, context))
            self.count += 1
            return "url"
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            net = None
        if net is not None:
            ref = self._ref(feed, context)
            if net.version == 4:
                nets4, refs4 = self._v4_build.setdefault(net.prefixlen, (array("Q"), array("Q")))
                nets4.append(int(net.network_address) >> (32 - net.prefixlen))
                refs4.append(ref)
            else:
                nets6, refs6 = self._v6_build.setdefault(net.prefixlen, ([], []))
                nets6.append(int(net.network_address) >> (128 - net.prefixlen))
                refs6.append(ref)
            self.count += 1
            self.finalized = False
            return f"ipv{net.version}-addr" if net.num_addresses == 1 else f"ipv{net.version}-net"
        domain = normalize_domain(text)
        if domain:
            self.domains.setdefault(domain, []).append(self._ref(feed, context))
            self.count += 1
            return "domain-name"
        return ""

    def finalize(self) -> None:
        """Sort what was added so lookups can binary-search it."""
        v4: dict[int, tuple[array, array]] = {L: (array("Q", n), array("Q", r)) for L, n, r in self._v4}
        for length, (nets, refs) in self._v4_build.items():
            old = v4.get(length)
            if old is not None:
                nets = old[0] + nets
                refs = old[1] + refs
            order = sorted(range(len(nets)), key=nets.__getitem__)
            v4[length] = (array("Q", (nets[i] for i in order)), array("Q", (refs[i] for i in order)))
        self._v4 = sorted(((L, n, r) for L, (n, r) in v4.items()), key=lambda t: -t[0])
        self._v4_build = {}
        v6: dict[int, tuple[list[int], array]] = {L: (n, r) for L, n, r in self._v6}
        for length, (nets6, refs6) in self._v6_build.items():
            old6 = v6.get(length)
            pairs = sorted(zip((old6[0] if old6 else []) + nets6, list(old6[1] if old6 else []) + refs6,
                               strict=True))
            v6[length] = ([p[0] for p in pairs], array("Q", (p[1] for p in pairs)))
        self._v6 = sorted(((L, n, r) for L, (n, r) in v6.items()), key=lambda t: -t[0])
        self._v6_build = {}
        self.finalized = True

    # -- lookups ----------------------------------------------------------------------------------
    def lookup_ip(self, ip: str) -> list[Hit]:
        if not self.finalized:
            self.finalize()
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return []
        mapped = getattr(addr, "ipv4_mapped", None)
        if mapped is not None:
            addr = mapped
        value = int(addr)
        hits: list[Hit] = []
        if addr.version == 4:
            for length, nets, refs in self._v4:
                key = value >> (32 - length)
                i = bisect_left(nets, key)
                while i < len(nets) and nets[i] == key:
                    hits.append(self._hit(refs[i], _net_text(4, key, length), ip))
                    i += 1
        else:
            for length, nets6, refs6 in self._v6:
                key = value >> (128 - length)
                i = bisect_left(nets6, key)
                while i < len(nets6) and nets6[i] == key:
                    hits.append(self._hit(refs6[i], _net_text(6, key, length), ip))
                    i += 1
        return hits

    def lookup_domain(self, name: str) -> list[Hit]:
        """Hits for `name` and each parent domain (`a.b.evil.example` matches `evil.example`)."""
        domain = normalize_domain(name)
        hits: list[Hit] = []
        while domain:
            for ref in self.domains.get(domain, ()):
                hits.append(self._hit(ref, domain, name, "domain-name"))
            dot = domain.find(".")
            if dot < 0:
                break
            domain = domain[dot + 1:]
            if "." not in domain:
                break  # never match a bare top-level domain
        return hits

    def lookup_url(self, url: str) -> list[Hit]:
        return [self._hit(ref, key, url, "url") for key in (normalize_url(url),) for ref in self.urls.get(key, ())]

    def _hit(self, ref: int, indicator: str, matched: str, kind: str = "") -> Hit:
        hit = Hit(feed=self.feeds[ref & _FEED_MASK], indicator=indicator, matched=matched,
                  type=kind or ("ipv6" if ":" in indicator else "ipv4") + ("-net" if "/" in indicator else "-addr"))
        ctx = ref >> _FEED_BITS
        if ctx:
            hit["context"] = self.contexts[ctx - 1]
        return hit

    def __len__(self) -> int:
        return self.count


def _net_text(version: int, key: int, length: int) -> str:
    bits = 32 if version == 4 else 128
    number = key << (bits - length)
    addr = ipaddress.IPv4Address(number) if version == 4 else ipaddress.IPv6Address(number)
    return str(addr) if length == bits else f"{addr}/{length}"


def normalize_domain(text: str) -> str:
    d = text.strip().strip(".").lower()
    if d.startswith("*."):
        d = d[2:]
    if not d or "." not in d or len(d) > 253 or d.startswith("-") or d.replace(".", "").isdigit():
        return ""
    if not all(c.isalnum() or c in "-._" for c in d):
        try:
            d = d.encode("idna").decode("ascii")
        except UnicodeError:
            return ""
        if not all(c.isalnum() or c in "-._" for c in d):
            return ""
    return d


def normalize_url(text: str) -> str:
    t = text.strip()
    scheme, sep, rest = t.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}{sep}{host.lower()}{slash}{path}"
