"""Crypto-mining indicators, shared by the Kubernetes and container-host miner cards.

Images are matched against `miner_images`; commands, arguments and environment values against
miner-only flags and URL schemes (`miner_arguments`), mining-pool domains (`miner_pools`) and
wallet-like arguments.

Attacker text is never cut before matching: 64 KiB of padding in front of `stratum+tcp://` must not hide
it. Every search here is linear in the whole value — substring tests and RE2 — so matching all of it is
safe however long it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise

from cloudward import saferegex
from cloudward.datalists import DataLists
from cloudward.detections.common.images import ImagePatterns

_HOSTS = saferegex.compile(r"[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)+", ignore_case=True)
#: Monero addresses are 95 base58 characters starting with 4 (or 8 for sub-addresses)
_MONERO = saferegex.compile(r"(?:^|[^1-9A-Za-z])([48][1-9A-HJ-NP-Za-km-z]{94})(?:$|[^1-9A-Za-z])")
#: a wallet handed to a miner's user flag: Bitcoin bech32 or Ethereum hex
_WALLET_FLAG = saferegex.compile(
    r"(?:^|\s)(?:-u|--user|--wallet|-w|--login)(?:=|\s+)(bc1[ac-hj-np-z02-9]{39,59}|0x[0-9a-fA-F]{40})\b"
)


def _flag_gate(text: str) -> bool:
    return "--" in text or "-a " in text or "stratum" in text


class MinerIndicators:
    def __init__(self, data: DataLists) -> None:
        self.images = ImagePatterns(data.strings("miner_images"))
        self.flags = tuple(f.lower() for f in data.strings("miner_arguments"))
        # a cheap pre-test for the flag loop, valid only while every flag (shipped or configured) passes it
        self._flag_gate = all(_flag_gate(f) for f in self.flags)
        self.pools = frozenset(p.lower().lstrip(".") for p in data.strings("miner_pools"))

    def image(self, image: str) -> str | None:
        return self.images.match(image) if image else None

    def _pool(self, host: str) -> str | None:
        host = host.lower().rstrip(".")
        parts = host.split(".")
        for i in range(len(parts) - 1):
            candidate = ".".join(parts[i:])
            if candidate in self.pools:
                return candidate
        return None

    def text(self, text: str) -> list[str]:
        """Indicators in command lines, arguments or environment values, described briefly.

        The whole text is searched (linear time: substring tests, then RE2 only when a cheap substring test
        says it could match, which for ordinary workloads is never). For a list of arguments use `values`.
        """
        if not text:
            return []
        low = text.lower()
        # cheap gates first: a flag needs "--", "-a " or "stratum" (see _flag_gate); a pool domain a dot
        found = []
        if not self._flag_gate or _flag_gate(low):
            found = [f"miner option {flag!r}" for flag in self.flags if flag in low]
        if "." in low and any(pool in low for pool in self.pools):
            for host in _HOSTS.findall(low):
                pool = self._pool(host)
                if pool and f"mining pool {pool}" not in found:
                    found.append(f"mining pool {pool}")
        if len(text) >= 95 and ("4" in text or "8" in text):
            m = _MONERO.search(text)
            if m:
                found.append(f"Monero wallet {m.group(1)[:12]}…")
        if ("-u" in low or "-w" in low or "--login" in low) and ("bc1" in low or "0x" in low):
            m = _WALLET_FLAG.search(text)
            if m:
                found.append(f"wallet argument {m.group(1)[:12]}…")
        return found

    def values(self, values: Iterable[str]) -> list[str]:
        """Indicators in a command's arguments and environment values, each value searched on its own and
        whole, plus each short flag with the value after it (`--coin monero`, `-u <wallet>`), so neither
        padding inside a value nor in the values around it can hide one."""
        vals = [v for v in values if isinstance(v, str) and v]
        found: list[str] = []

        def add(hits: list[str]) -> None:
            for hit in hits:
                if hit not in found:
                    found.append(hit)

        for value in vals:
            add(self.text(value))
        for flag, value in pairwise(vals):
            if flag.startswith("-") and len(flag) <= _MAX_FLAG:
                add(self.text(f"{flag} {value}"))
        return found


#: a command-line flag that takes its value in the next argument is short; longer "flags" are data
_MAX_FLAG = 40
