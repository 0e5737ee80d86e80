"""Cross-site scanner profiles: which sites one client address probed for sensitive pages, and when.

No single site's log shows a scanner that tries two paths on each of forty sites; a profile per
address across every site in the input does. Profiles are bounded (hits per address, addresses in
all) and plain data, so a long-running `serve` or `tail` keeps them in the store.
"""

from __future__ import annotations

import bisect
from typing import Any

MAX_HITS_PER_IP = 256


class Profile:
    __slots__ = ("alerted_sites", "hits", "seen", "site_counts", "times")

    def __init__(self) -> None:
        #: (time, site, path), kept in time order whatever order the files were read in
        self.hits: list[tuple[float, str, str]] = []
        self.times: list[float] = []
        self.seen: set[tuple[float, str, str]] = set()
        #: hits per site, so "how many sites at all" is one len()
        self.site_counts: dict[str, int] = {}
        #: sites already named in a cross-site alert for this address
        self.alerted_sites: set[str] = set()

    def sites(self) -> set[str]:
        return set(self.site_counts)

    def add(self, hit: tuple[float, str, str]) -> bool:
        if hit in self.seen:
            return False
        i = bisect.bisect_right(self.times, hit[0])
        self.times.insert(i, hit[0])
        self.hits.insert(i, hit)
        self.seen.add(hit)
        self.site_counts[hit[1]] = self.site_counts.get(hit[1], 0) + 1
        if len(self.hits) > MAX_HITS_PER_IP:  # forget the oldest in time
            old = self.hits.pop(0)
            self.times.pop(0)
            self.seen.discard(old)
            left = self.site_counts[old[1]] - 1
            if left:
                self.site_counts[old[1]] = left
            else:
                del self.site_counts[old[1]]
        return True


class CrossSiteProfiles:
    def __init__(self, window: float, min_sites: int, max_ips: int = 100_000) -> None:
        self.window = window
        self.min_sites = min_sites
        self.max_ips = max_ips
        self.profiles: dict[str, Profile] = {}

    def record(self, ip: str, site: str, path: str, when: float) -> list[tuple[float, str, str]] | None:
        """Add a hit; when `ip` has now probed at least `min_sites` sites within one window that
        contains this hit, return the hits of that window (every site and path), else None."""
        prof = self.profiles.get(ip)
        if prof is None:
            if len(self.profiles) >= self.max_ips:
                for k in list(self.profiles)[: self.max_ips // 10 or 1]:
                    del self.profiles[k]
            prof = self.profiles[ip] = Profile()
        prof.add((when, site, path))
        if len(prof.site_counts) < self.min_sites:
            return None
        return self._window_with(prof, when)

    def _window_with(self, prof: Profile, when: float) -> list[tuple[float, str, str]] | None:
        """The hits of the window of `self.window` seconds containing `when` that spans most sites.

        One pass over the hits within a window of `when`, counting sites as the window slides."""
        lo_i = bisect.bisect_left(prof.times, when - self.window)
        hi_i = bisect.bisect_right(prof.times, when + self.window)
        near = prof.hits[lo_i:hi_i]
        counts: dict[str, int] = {}
        best: tuple[int, int] | None = None
        best_sites = 0
        lo = 0
        window = self.window
        for hi, (t, site, _) in enumerate(near):
            counts[site] = counts.get(site, 0) + 1
            while t - near[lo][0] > window:
                old = near[lo][1]
                left = counts[old] - 1
                if left:
                    counts[old] = left
                else:
                    del counts[old]
                lo += 1
            if t < when:
                continue  # windows must contain the new hit
            if near[lo][0] > when:
                break
            if len(counts) > best_sites:
                best, best_sites = (lo, hi), len(counts)
        if best is None or best_sites < self.min_sites:
            return None
        return near[best[0] : best[1] + 1]

    def profile(self, ip: str) -> Profile | None:
        return self.profiles.get(ip)

    def state(self) -> dict[str, Any]:
        return {"profiles": {ip: {"hits": [list(h) for h in p.hits], "alerted": sorted(p.alerted_sites)}
                             for ip, p in self.profiles.items()}}

    def keyed(self) -> dict[str, Any]:
        """{source address: profile}: the partition key of cross-site state is the address."""
        return {ip: {"hits": [list(h) for h in p.hits], "alerted": sorted(p.alerted_sites)}
                for ip, p in self.profiles.items()}

    def merge(self, keyed: dict[str, Any]) -> None:
        """Union of hits and alerted sites per address (a set: commutative and idempotent)."""
        self.restore({"profiles": keyed})

    def restore(self, state: dict[str, Any]) -> None:
        for ip, body in (state.get("profiles") or {}).items():
            prof = self.profiles.setdefault(ip, Profile())
            for t, site, path in body.get("hits", []):
                prof.add((float(t), str(site), str(path)))
            prof.alerted_sites.update(body.get("alerted", []))
