"""Shared pieces of the web cards: the page and agent classifiers, entity helpers, and builders for
sample log lines in the real formats."""

from __future__ import annotations

from typing import Any

from cloudward.analytics.agents import AgentClassifier
from cloudward.analytics.web_filter import WebLineFilter
from cloudward.analytics.web_paths import PageClassifier
from cloudward.detections.base import Detection
from cloudward.events import HttpRequest

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/126.0.0.0 Safari/537.36")
SUCCESS = range(200, 300)


def pages(det: Detection) -> PageClassifier:
    classifier = det.shared_analytics(PageClassifier)
    classifier.configure(det.data)
    return classifier


def agents(det: Detection) -> AgentClassifier:
    classifier = det.shared_analytics(AgentClassifier)
    classifier.configure(det.data)
    return classifier


def line_filter(det: Detection, **needs: Any) -> WebLineFilter:
    """The pipeline's shared web-line prefilter, told what `det` needs to see."""
    flt = det.shared_analytics(WebLineFilter)
    flt.want(pages=pages(det), agents=agents(det), **needs)
    return flt


def target(event: HttpRequest) -> str:
    return event.path + ("?" + event.query if event.query else "")


def request_entities(event: HttpRequest) -> dict[str, Any]:
    out: dict[str, Any] = {"source_ip": event.client_ip, "site": event.site}
    if event.user_agent:
        out["user_agent"] = event.user_agent
    if event.forwarded_for:
        out["forwarded_for"] = list(event.forwarded_for)
    return out


# -- sample builders ----------------------------------------------------------------------------
def clf(ip: str, when: str, request: str, status: int, *, agent: str = FIREFOX, size: int = 5120,
        referer: str = "-", host: str | None = None, user: str = "-") -> str:
    """One `combined` line (vhost-first when `host` is given); `when` is `02/Nov/2026:09:15:27`."""
    line = f'{ip} - {user} [{when} +0000] "{request}" {status} {size} "{referer}" "{agent}"'
    return f"{host} {line}" if host else line


def lines(*rows: str) -> str:
    return "\n".join(rows) + "\n"
