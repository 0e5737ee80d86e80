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

from typing import Any

from cloudward.analytics.agents import AgentClassifier
from cloudward.analytics.web_paths import (
    ADMIN,
    FINGERPRINT,
    SENSITIVE,
    THEME_EDIT,
    THEME_EDIT_ACTIONS,
    THEME_PHP,
    TOOL_PATH,
    UPLOAD_PHP,
    PageClassifier,
    split_target,
)
from cloudward.parsers.base import ERROR_ONLY, EVENT, SKIP

_CACHE_LIMIT = 200_000
__all__ = ["ERROR_ONLY", "EVENT", "SKIP", "WebLineFilter", "trigger_pattern"]


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
        #: built trigger patterns by format layout and needs
        self._triggers: dict[tuple[Any, ...], str] = {}

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

    def scan_caches(self) -> tuple[dict[bytes, int], dict[bytes, bool], int, int]:
        """What a compiled block scan (`_webscan.c`) needs to give `wants`'s answer without calling it: the
        caches `wants` fills (raw target -> page bits, raw agent -> is a tool), the page kinds wanted, and
        flags (1: tool agents, 2: client errors, 4: client errors on ordinary pages go to summaries). A value
        not yet cached stops the scan, and the line is parsed here, which caches it."""
        flags = (1 if self.tool_agents else 0) | (2 if self.client_errors else 0) | (4 if self.summaries else 0)
        return self.targets, self.agent_tools, self.path_mask, flags

    def trigger_pattern(self, *, target_prefix: str, target_start: str, target_end: str, status_4xx: str) -> str:
        """The RE2 pattern a decoder's block scan uses (see `trigger_pattern`), built once per format layout
        and set of needs (a scan of many files asks for the same one per file)."""
        key = (target_prefix, target_start, target_end, status_4xx, self.path_mask, self.client_errors,
               self.tool_agents, id(self.pages), id(self.agents))
        pattern = self._triggers.get(key)
        if pattern is None:
            pattern = self._triggers[key] = trigger_pattern(
                self, target_prefix=target_prefix, target_start=target_start, target_end=target_end,
                status_4xx=status_4xx)
        return pattern


# -- compiling the declared needs into one trigger pattern -----------------------------------------
def _lit(text: str) -> str:
    """`text` as an RE2 literal (non-alphanumerics as \\x escapes)."""
    return "".join(c if c.isalnum() and c.isascii() else f"\\x{ord(c):02x}" for c in text.encode("utf-8").decode(
        "latin-1"))


def _not_exactly(words: list[str]) -> str:
    """RE2 for a target continuation that is not exactly one of `words` (a word followed by the end
    of the target - space, `?` or quote - is excluded; anything longer or different matches)."""
    trie: dict[str, Any] = {}
    for w in words:
        node = trie
        for ch in w.lower():
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        chars = [c for c in node if c]
        other = "".join(_lit(c) for c in chars)
        if "" in node:
            alts = [f"[^{other} ?\\x22]" if other else "[^ ?\\x22]"]
        else:
            alts = [f"[^{other}]"] if other else []
        alts += [_lit(c) + build(node[c]) for c in chars]
        return "(?:" + "|".join(alts) + ")"

    return build(trie)


def _token(value: str) -> str:
    """The most distinctive part of a path pattern: its last segment (a file name, usually), or its
    longest segment when the last is too short to be telling (`/actuator/env` -> `actuator`)."""
    value = value.lower()
    if value.startswith(".") and "/" not in value:
        return value
    segments = [s for s in value.split("/") if s]
    if not segments:
        return ""
    return segments[-1] if len(segments[-1]) >= 4 else max(segments, key=len)


def trigger_pattern(flt: WebLineFilter, *, target_prefix: str, target_start: str, target_end: str,
                    status_4xx: str) -> str:
    """The RE2 pattern of lines that may matter to the cards behind `flt`.

    In this format, `target_start` is what comes right before a request target, `target_prefix` that
    plus any part of the target (what file-name tokens follow), `target_end` what ends a target, and
    `status_4xx` a pattern for a client-error status."""
    pages = flt.pages
    alternatives: list[str] = ["^#"]
    tokens: set[str] = set()
    mask = flt.path_mask
    if pages is not None:
        lists = []
        if mask & SENSITIVE:
            lists.append(pages.sensitive)
        if mask & ADMIN:
            lists.append(pages.admin)
        if mask & FINGERPRINT:
            lists.append(pages.fingerprint)
        if mask & TOOL_PATH:
            lists.append(pages.tools)
        anchored: list[str] = []  # whole paths and prefixes, matched where the target starts
        for patterns in lists:
            for entry in patterns.entries:
                kind, _, value = entry["pattern"].partition(":")
                if kind in ("path", "prefix") and value.startswith("/"):
                    below = [e[len(value):] for e in patterns.excluded if kind == "prefix" and e.startswith(value)]
                    bare = value.rstrip("/")
                    if kind == "path":
                        anchored.append(f"{_lit(bare)}/?{target_end}")
                    elif below and value.endswith("/"):
                        # everything below the prefix except exactly the excluded pages (/wp-admin/ but not
                        # admin-ajax.php, a busy public endpoint)
                        anchored.append(f"{_lit(bare)}(?:{target_end}|/{_not_exactly(below)})")
                    elif value.endswith("/"):
                        anchored.append(f"{_lit(bare)}(?:/|{target_end})")
                    else:
                        anchored.append(_lit(value))
                else:
                    tokens.add(_token(value))
        if anchored:
            alternatives.append(f"{target_start}(?:{'|'.join(sorted(set(anchored)))})")
        # paths the classifier normalizes before matching (//x, /./x) are looked at closely
        alternatives.append(f"{target_start}/[/.]")
        php = "|".join(_lit(e) for e in pages.php_exts)
        if mask & UPLOAD_PHP:
            for folder in pages.upload_folders:
                alternatives.append(f"{target_prefix}{_lit(folder.lstrip('/'))}[^ \"]*(?:{php})")
        if mask & THEME_PHP:
            alternatives.append(f"{target_prefix}wp-content/themes/[^ \"]*(?:{php})")
        if mask & THEME_EDIT:
            # admin-ajax.php and update.php are busy endpoints; only their theme-editing actions matter
            tokens.update(("theme-editor.php", "theme-install.php"))
            # the filter marks a theme-editing action in the query of any page (`target_bits`): the action
            # anywhere in the line (W3C keeps the query in a field of its own)
            alternatives.append("(?:" + "|".join(_lit(a) for a in THEME_EDIT_ACTIONS) + ")")
    tokens.discard("")
    if tokens:
        alternatives.append(f"{target_prefix}(?:{'|'.join(sorted(_lit(t) for t in tokens))})")
    # the classifier resolves paths as servers do (web_paths.normalize: percent-decoding, backslashes, `;`
    # parameters, `.`/`..` and empty segments); any target needing that is looked at closely
    alternatives.append(f"{target_prefix}(?:[%\\x5c;]|/\\.{{0,2}}/)")
    if flt.client_errors:
        alternatives.append(status_4xx)
    if flt.tool_agents and flt.agents is not None:
        alternatives.append("(?:" + "|".join(sorted({_lit(t) for t, _ in flt.agents.entries})) + ")")
    return "(?m)" + "|".join(alternatives)
