"""Deciding from a few raw bytes of a web log line whether any enabled card can use it.

Most requests are ordinary - a page, an asset, a 200 - and no web card does anything with them. Each
card declares what it needs (which kinds of page, client errors, tool agents, summaries of the rest,
every line of a Kudu site), and the decoders ask this filter before building an event: a line is
skipped only when it provably matters to none of them. What a card takes in summary (client errors on
ordinary pages, ordinary requests of recently active addresses) reaches it as `HttpSummary` events in
line order, never through calls from the parser into the card. The answers for a request target and a user
agent are cached by their exact bytes, so the filter costs a few lookups per line.

The pipeline hands the filter to parsers only when every card subscribed to HttpRequest offers it
(see `Pipeline`: `line_prefilter`), so a card that needs every request still gets every request.
"""

from __future__ import annotations

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
        #: every card that wants client errors takes those on ordinary pages as HttpSummary entries, and
        #: the ordinary requests of recently active addresses counted there (`summaries`)
        self.summary_cards = 0
        #: some card needs every request of a Kudu/SCM site
        self.scm_sites = False
        self.pages: PageClassifier | None = None
        self.agents: AgentClassifier | None = None
        self.targets: dict[bytes, int] = {}
        self.agent_tools: dict[bytes, bool] = {}

    def want(self, *, path_mask: int = 0, client_errors: bool = False, tool_agents: bool = False,
             pages: PageClassifier | None = None, agents: AgentClassifier | None = None,
             scm_sites: bool = False, summaries: bool = False) -> None:
        self.scm_sites = self.scm_sites or scm_sites
        self.path_mask |= path_mask
        self.client_errors = self.client_errors or client_errors
        self.error_cards += 1 if client_errors else 0
        self.summary_cards += 1 if summaries and client_errors else 0
        self.tool_agents = self.tool_agents or tool_agents
        self.pages = pages or self.pages
        self.agents = agents or self.agents

    @property
    def summaries(self) -> bool:
        """Client errors on ordinary pages and ordinary requests of recent addresses go to HttpSummary."""
        return self.summary_cards > 0 and self.summary_cards == self.error_cards

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
        it; the decoder still counts it for a recently active address), EVENT, or ERROR_ONLY (a client
        error on an ordinary page: an `HttpSummary` entry instead of an event)."""
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
            return ERROR_ONLY if self.summaries else EVENT
        return SKIP
