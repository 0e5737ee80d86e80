"""The web console of `cloudward serve`: server-rendered pages at `/` for reading and triaging alerts.

Jinja2 templates with autoescaping (attacker-controlled text is everywhere in alerts), one stylesheet
and one script of our own served from `/static/`, and a strict Content-Security-Policy. Readers of the
store go through `cloudward.server.queries`; status changes through the same function the REST API
uses, so the console and the API cannot disagree."""

from cloudward.console.routes import mount_console

__all__ = ["mount_console"]
