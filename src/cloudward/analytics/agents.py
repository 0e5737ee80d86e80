"""Which tool a user agent names (fingerprinting tools and vulnerability scanners), cached by the
exact agent text: a log has few distinct agents and many lines."""

from __future__ import annotations

from typing import Any

from cloudward.datalists import DataLists

_CACHE_LIMIT = 50_000
#: an agent longer than this is judged by its start (tools put their name first or early)
MAX_AGENT = 1024


class AgentClassifier:
    def __init__(self) -> None:
        self.configured = False
        self.cache: dict[str, dict[str, Any] | None] = {}
        self.entries: list[tuple[str, dict[str, Any]]] = []

    def configure(self, data: DataLists) -> None:
        if self.configured:
            return
        for raw in data.get("web_scanner_agents"):
            entry = {"match": raw} if isinstance(raw, str) else dict(raw)
            entry.setdefault("tool", entry["match"])
            entry.setdefault("purpose", "scanner")
            self.entries.append((str(entry["match"]).lower(), entry))
        self.configured = True

    def tool(self, agent: str) -> dict[str, Any] | None:
        """The agent list entry naming the tool in `agent`, or None."""
        if not agent:
            return None
        try:
            return self.cache[agent]
        except KeyError:
            pass
        low = agent[:MAX_AGENT].lower()
        found = next((entry for token, entry in self.entries if token in low), None)
        if len(self.cache) >= _CACHE_LIMIT:
            self.cache.clear()
        self.cache[agent] = found
        return found
