"""`slack`: a readable message to a Slack incoming webhook (severity, title, resource, top entities, a
link to the alert in the dashboard). Text from events is escaped for Slack's markup."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from cloudward.sinks._delivery import DELIVERY_KEYS, DeliverySink, json_body
from cloudward.textsafe import terminal_safe

SEVERITY_MARK = {"high": ":red_circle:", "medium": ":large_orange_circle:", "low": ":large_yellow_circle:",
                 "informational": ":white_circle:"}
TOP_ENTITIES = 6


def slack_escape(text: Any, limit: int = 300) -> str:
    """Slack mrkdwn escaping (&, <, >) of attacker-controllable text, control characters removed."""
    safe = terminal_safe(str(text), limit)
    return safe.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(doc: Mapping[str, Any], dashboard_url: str = "") -> dict[str, Any]:
    sev = str(doc.get("severity", ""))
    title = slack_escape(doc.get("title", ""), 150)
    resource = doc.get("resource") or {}
    lines = [f"{SEVERITY_MARK.get(sev, '')} *{sev.upper()}* {title}",
             f"*Resource:* {slack_escape(resource.get('type', ''))} {slack_escape(resource.get('name', ''))}"]
    entities = doc.get("entities") or {}
    for name, value in list(entities.items())[:TOP_ENTITIES]:
        shown = ", ".join(str(v) for v in value[:3]) if isinstance(value, list) else value
        lines.append(f"*{slack_escape(name, 40)}:* {slack_escape(shown, 200)}")
    lines.append(f"{slack_escape(doc.get('description', ''), 500)}")
    if dashboard_url:
        lines.append(f"<{dashboard_url.rstrip('/')}/alerts/{doc.get('id')}|Open in Cloudward>")
    text = "\n".join(lines)
    return {"text": f"[{sev}] {title}",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


class SlackSink(DeliverySink):
    type = "slack"
    options: ClassVar[dict[str, str]] = {
        **DELIVERY_KEYS, "url": "the incoming webhook URL", "url_env": "environment variable holding the URL",
        "dashboard_url": "base URL of the dashboard, for the link to the alert"}

    def setup(self) -> None:
        self.url = self.secret("url")
        if not self.url:
            self.required("url")
        self.dashboard = str(self.settings.get("dashboard_url", ""))

    def deliver(self, doc: Mapping[str, Any], key: str) -> None:
        self.post(self.url, json_body(slack_message(self.document(doc), self.dashboard)), {"Idempotency-Key": key})


SINKS = {"slack": SlackSink}
