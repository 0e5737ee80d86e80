"""Per-site baselines of client addresses (who uses this site's admin pages), with a learning period
counted from the first event of each site. Plain data in and out, so the store can keep it."""

from __future__ import annotations

from typing import Any


class SiteBaseline:
    __slots__ = ("first_seen", "full", "ips")

    def __init__(self, first_seen: float) -> None:
        self.first_seen = first_seen
        self.ips: set[str] = set()
        #: the address cap was reached: new addresses are no longer learned
        self.full = False


class SiteBaselines:
    def __init__(self, learning_period: float, max_ips_per_site: int = 50_000, max_sites: int = 20_000) -> None:
        self.learning_period = learning_period
        self.max_ips = max_ips_per_site
        self.max_sites = max_sites
        self.sites: dict[str, SiteBaseline] = {}

    def site(self, site: str, now: float) -> SiteBaseline:
        b = self.sites.get(site)
        if b is None:
            if len(self.sites) >= self.max_sites:  # forget the site opened first; it will relearn
                del self.sites[next(iter(self.sites))]
            b = self.sites[site] = SiteBaseline(now)
        elif now and (now < b.first_seen or not b.first_seen):
            b.first_seen = now
        return b

    def learning(self, b: SiteBaseline, now: float) -> bool:
        return now < b.first_seen + self.learning_period

    def learn(self, b: SiteBaseline, ip: str) -> None:
        if ip in b.ips:
            return
        if len(b.ips) >= self.max_ips:
            b.full = True
            return
        b.ips.add(ip)

    def state(self) -> dict[str, Any]:
        return {"sites": {name: {"first_seen": b.first_seen, "ips": sorted(b.ips)} for name, b in self.sites.items()}}

    def merge(self, state: dict[str, Any]) -> None:
        """Union of learned addresses per site; the earlier start wins (commutative)."""
        self.restore(state)

    def restore(self, state: dict[str, Any]) -> None:
        for name, body in (state.get("sites") or {}).items():
            b = self.site(name, float(body.get("first_seen") or 0.0))
            for ip in body.get("ips", []):
                self.learn(b, str(ip))
