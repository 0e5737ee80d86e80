"""X-Forwarded-For chains in front of access-log lines, and which address of a chain is the client.

nginx writes `$http_x_forwarded_for` or `$proxy_add_x_forwarded_for` in front of a combined line
behind a load balancer: `10.0.0.2, 10.0.0.1, 85.181.35.98 - - [...] "GET / HTTP/1.1" ...`. Every
address left of the last was written by whoever sent the request (a client can send any header), so
the chain is read from the right: the client is the rightmost address that is not a trusted proxy.
By default private, loopback and link-local addresses are trusted (the proxies of one's own network);
`[web] trusted_proxies` lists the networks instead.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from cloudward.config import ConfigError
from cloudward.parsers._web import client_ip

#: the keys of the `[web]` section this module reads, and their types
SCHEMA: dict[str, str] = {
    "trusted_proxies": "list of addresses or networks (CIDR); default: private, loopback and link-local",
}
#: longest chain kept as an entity (a client can send a header of any length)
MAX_CHAIN = 20

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: what "private or loopback" means here: RFC 1918, shared address space (CGNAT), loopback, link-local,
#: IPv6 unique-local (not `ipaddress.is_private`, which also counts the documentation ranges)
PRIVATE_NETWORKS: tuple[IpNetwork, ...] = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "::1/128", "fc00::/7", "fe80::/10"))


@dataclass(frozen=True)
class TrustedProxies:
    networks: tuple[IpNetwork, ...] = ()
    #: True when no list was configured: private, loopback and link-local addresses are trusted
    default: bool = True
    _cache: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_section(cls, section: dict[str, Any], source: str = "configuration") -> TrustedProxies:
        value = section.get("trusted_proxies")
        if value is None:
            return cls()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{source}: web.trusted_proxies: expected {SCHEMA['trusted_proxies']}, got {value!r}")
        nets = []
        for v in value:
            try:
                nets.append(ipaddress.ip_network(v.strip(), strict=False))
            except ValueError:
                raise ConfigError(f"{source}: web.trusted_proxies: {v!r} is not an address or network") from None
        return cls(tuple(nets), default=False)

    def trusted(self, ip: str) -> bool:
        hit = self._cache.get(ip)
        if hit is None:
            addr = ipaddress.ip_address(ip)
            nets = PRIVATE_NETWORKS if self.default else self.networks
            hit = any(addr.version == n.version and addr in n for n in nets)
            if len(self._cache) < 65536:
                self._cache[ip] = hit
        return hit


DEFAULT = TrustedProxies()


def is_chain_start(token: str) -> bool:
    """The first space-separated token of a line that starts with a chain of two or more addresses."""
    return token.endswith(",") and len(token) > 1


def split_chain(prefix_tokens: list[str]) -> tuple[list[str], str] | None:
    """(chain elements, user) of the tokens before `[time]` in a `chain - user` prefix; None when the
    prefix does not end in `<address> - <user>` (the user is one token: with spaces it would be
    ambiguous where the client-written chain ends)."""
    if len(prefix_tokens) < 4 or prefix_tokens[-2] != "-":
        return None
    elements = [e.strip() for e in " ".join(prefix_tokens[:-2]).split(",")]
    if not client_ip(elements[-1]):
        return None
    return elements, prefix_tokens[-1]


def pick_client(elements: list[str], trusted: TrustedProxies = DEFAULT) -> str:
    """The rightmost address that is not a trusted proxy; walking left stops at anything that is not
    an address (then the last address seen is the client). '' when the last element is no address."""
    client = ""
    for element in reversed(elements):
        ip = client_ip(element)
        if not ip:
            break
        client = ip
        if not trusted.trusted(ip):
            break
    return client


def chain_entity(elements: list[str]) -> list[str]:
    """The chain as kept in `forwarded_for`: bounded in length and element size."""
    kept = [e[:64] for e in elements[-MAX_CHAIN:]]
    if len(elements) > MAX_CHAIN:
        kept.insert(0, f"... {len(elements) - MAX_CHAIN} more")
    return kept
