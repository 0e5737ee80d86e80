"""Deciding from a few raw bytes of a web log line whether any enabled card can use it.

Most requests are ordinary - a page, an asset, a 200 - and no web card does anything with them. Each
card says what it needs (which kinds of page, client errors, tool agents, addresses it is watching,
the first line of each site), and the parsers ask this filter before building an event: a line is
skipped only when it provably matters to none of them. The answers for a request target and a user
agent are cached by their exact bytes, so the filter costs a few lookups per line.

The pipeline hands the filter to parsers only when every card subscribed to HttpRequest offers it
(see `Pipeline`: `line_prefilter`), so a card that needs every request still gets every request.
"""

from __future__ import annotations

from collections.abc import Callable

from cloudward.analytics.agents import AgentClassifier
from cloudward.analytics.web_paths import THEME_EDIT, THEME_EDIT_ACTIONS, PageClassifier, split_target

_CACHE_LIMIT = 200_000
SKIP, EVENT, ERROR_ONLY = 0, 1, 2


class WebLineFilter:
    def __init__(self) -> None:
        #: page kinds (web_paths bits) some card wants to see
        self.path_mask = 0
        #: some card wants every 4xx answer, and how many such cards there are
        self.client_errors = False
        self.error_cards = 0
        #: some card wants requests whose agent names a tool (any purpose)
        self.tool_agents = False
        #: cards judging addresses: (the addresses being judged now, a function counting n ordinary
        #: requests of one of them); parsers count those requests instead of building events for them
        self.watched: list[tuple[Callable[[], list[str]], Callable[[str, int], None]]] = []
        #: some card needs every request of a Kudu/SCM site
        self.scm_sites = False
        #: cards that can take a client error on an ordinary page without an event: (ip, time, path,
        #: user agent) -> True when the card wants the full event after all
        self.error_sinks: list[Callable[[str, float, str, str], bool]] = []
        self.pages: PageClassifier | None = None
        self.agents: AgentClassifier | None = None
        self.targets: dict[bytes, int] = {}
        self.agent_tools: dict[bytes, bool] = {}

    def want(self, *, path_mask: int = 0, client_errors: bool = False, tool_agents: bool = False,
             watched: tuple[Callable[[], list[str]], Callable[[str, int], None]] | None = None,
             pages: PageClassifier | None = None, agents: AgentClassifier | None = None,
             scm_sites: bool = False, error_sink: Callable[[str, float, str, str], bool] | None = None) -> None:
        self.scm_sites = self.scm_sites or scm_sites
        if error_sink is not None:
            self.error_sinks.append(error_sink)
        self.path_mask |= path_mask
        self.client_errors = self.client_errors or client_errors
        self.error_cards += 1 if client_errors else 0
        self.tool_agents = self.tool_agents or tool_agents
        if watched is not None and not any(w[0] is watched[0] for w in self.watched):
            self.watched.append(watched)
        self.pages = pages or self.pages
        self.agents = agents or self.agents

    def stateless(self) -> None:
        """Answer from the line alone: no address-dependent counting, client errors become events.

        The engine runs cards in event-time order after decoding, so a verdict that reads card state
        while a line is parsed would depend on the order inputs arrive in."""
        self.watched.clear()
        self.error_sinks.clear()

    def site_always(self, site: str) -> bool:
        """Every line of this site must be parsed (an App Service Kudu/SCM site, where all is admin)."""
        return self.scm_sites and (site.lower().startswith("~1") or ".scm." in site.lower())

    def target_bits(self, target: bytes) -> int:
        """Page-kind bits of a raw request target (`/path?query`); the query only adds THEME_EDIT."""
        bits = self.targets.get(target)
        if bits is None:
            path, query = split_target(target.decode("utf-8", errors="replace"))
            bits = self.pages.bits(path) if self.pages is not None else -1
            if any(action in query for action in THEME_EDIT_ACTIONS):
                bits |= THEME_EDIT
            if len(self.targets) >= _CACHE_LIMIT:
                self.targets.clear()
            self.targets[target] = bits
        return bits

    def agent_is_tool(self, agent: bytes) -> bool:
        hit = self.agent_tools.get(agent)
        if hit is None:
            text = agent.decode("utf-8", errors="replace").replace("+", " ")
            hit = self.agents is None or self.agents.tool(text) is not None
            if len(self.agent_tools) >= 50_000:
                self.agent_tools.clear()
            self.agent_tools[agent] = hit
        return hit

    def wants(self, target: bytes, status: bytes, agent: bytes) -> int:
        """What a line needs, from its raw target, three status digits and agent: SKIP (no card can use
        it; watched addresses aside, which the caller counts), EVENT, or ERROR_ONLY (a client error on
        an ordinary page: hand it to `take_error` instead of building an event)."""
        bits = self.targets.get(target)
        if bits is None:
            bits = self.target_bits(target)
        if bits & self.path_mask:
            return EVENT
        if self.tool_agents:
            hit = self.agent_tools.get(agent)
            if hit is None:
                hit = self.agent_is_tool(agent)
            if hit:
                return EVENT
        if self.client_errors and status[:1] == b"4":
            return ERROR_ONLY if self.error_sinks and len(self.error_sinks) == self.error_cards else EVENT
        return SKIP

    def take_error(self, ip: str, when: float, path: str, agent: str) -> bool:
        """Give a client error on an ordinary page to the cards; True when one wants the event anyway."""
        wanted = False
        for sink in self.error_sinks:
            wanted = sink(ip, when, path, agent) or wanted
        return wanted

    def pending_ips(self) -> list[str]:
        """Addresses some card is judging now (their ordinary requests count)."""
        if not self.watched:
            return []
        out: list[str] = []
        for pending, _ in self.watched:
            out.extend(pending())
        return out

    def count_watched(self, ip: str, n: int) -> None:
        for _, count in self.watched:
            count(ip, n)
