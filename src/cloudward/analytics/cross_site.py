"""Cross-site scanner profiles: which sites one client address probed for sensitive pages, and when.

No single site's log shows a scanner that tries two paths on each of forty sites; a profile per
address across every site in the input does. Profiles are bounded (hits per address, addresses in
all) and plain data, so a long-running `serve` or `tail` keeps them in the store.
"""

from __future__ import annotations

from typing import Any

MAX_HITS_PER_IP = 256


class Profile:
    __slots__ = ("alerted_sites", "hits")

    def __init__(self) -> None:
        #: (time, site, path), in arrival order
        self.hits: list[tuple[float, str, str]] = []
        #: sites already named in a cross-site alert for this address
        self.alerted_sites: set[str] = set()

    def sites(self) -> set[str]:
        return {h[1] for h in self.hits}


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
        hit = (when, site, path)
        if hit not in prof.hits:
            prof.hits.append(hit)
            if len(prof.hits) > MAX_HITS_PER_IP:
                del prof.hits[0]
        if len({h[1] for h in prof.hits}) < self.min_sites:
            return None
        return self._window_with(prof.hits, when)

    def _window_with(self, hits: list[tuple[float, str, str]], when: float) -> list[tuple[float, str, str]] | None:
        """The hits of the window of `self.window` seconds containing `when` that spans most sites."""
        near = sorted(h for h in hits if abs(h[0] - when) <= self.window)
        best: list[tuple[float, str, str]] | None = None
        best_sites = 0
        lo = 0
        for hi in range(len(near)):
            while near[hi][0] - near[lo][0] > self.window:
                lo += 1
            if near[hi][0] < when:
                continue  # windows must contain the new hit
            chunk = near[lo: hi + 1]
            if chunk[0][0] > when:
                break
            n = len({h[1] for h in chunk})
            if n > best_sites:
                best, best_sites = chunk, n
        return best if best_sites >= self.min_sites else None

    def profile(self, ip: str) -> Profile | None:
        return self.profiles.get(ip)

    def state(self) -> dict[str, Any]:
        return {"profiles": {ip: {"hits": [list(h) for h in p.hits], "alerted": sorted(p.alerted_sites)}
                             for ip, p in self.profiles.items()}}

    def restore(self, state: dict[str, Any]) -> None:
        for ip, body in (state.get("profiles") or {}).items():
            prof = self.profiles.setdefault(ip, Profile())
            for t, site, path in body.get("hits", []):
                if (t, site, path) not in prof.hits:
                    prof.hits.append((float(t), str(site), str(path)))
            prof.alerted_sites.update(body.get("alerted", []))
