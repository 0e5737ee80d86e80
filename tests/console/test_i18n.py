"""The console's strings: both languages for every key, and Korean pages without English UI text."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from serving import ADMIN, INGEST, cluster_admin_event, event_list, privileged_pod_event
from test_routes import csrf_of, sign_in

from cloudward.console.i18n import Translator, catalogue
from cloudward.datalists import shipped

#: strings that are the same in both languages on purpose (names, abbreviations)
SAME_IN_BOTH = {"detail.mitre", "entity.url", "entity.urls", "entity.source_ip", "entity.source_ips",
                "field.source_ip", "entity.container_id", "entity.status"}


class VisibleText(HTMLParser):
    """The text a reader sees, without data shown as code (<code>, <pre>) and parts marked lang="en"."""

    SKIP = {"code", "pre", "script", "style"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[bool] = []
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"br", "input", "meta", "link", "img", "hr"}:
            return
        given = dict(attrs)
        skip = (tag in self.SKIP or (tag != "html" and given.get("lang") == "en")
                or "entity-link" in (given.get("class") or ""))
        self.stack.append(skip or (bool(self.stack) and self.stack[-1]))

    def handle_endtag(self, tag: str) -> None:
        if tag not in {"br", "input", "meta", "link", "img", "hr"} and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not (self.stack and self.stack[-1]):
            self.parts.append(data)


def visible(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return " ".join(parser.parts)


def test_every_string_has_english_and_korean() -> None:
    strings = catalogue()
    assert len(strings) > 100
    hangul = re.compile(r"[\uac00-\ud7a3]")
    for key, entry in strings.items():
        assert entry["en"] and entry["ko"], key
        if key not in SAME_IN_BOTH:
            assert entry["en"] != entry["ko"] and hangul.search(entry["ko"]), key
    t = Translator("ko")
    assert t("alerts.count", n=3) == "경보 3건" and Translator("xx")("nav.alerts") == "Alerts"


def test_tactics_list_has_korean_titles() -> None:
    for entry in shipped("mitre_tactics"):
        assert re.fullmatch(r"TA\d{4}", entry["id"]) and entry["ko"] and entry["title"]


def test_korean_pages_have_no_english_ui_text(console: Any) -> None:
    reply = console.post("/k8s-audit", json=event_list([privileged_pod_event(), cluster_admin_event()]),
                         headers={"Authorization": f"Bearer {INGEST}"})
    alert_id = reply.json()["alerts_changed"][0]
    csrf = sign_in(console, ADMIN)
    english = sorted({e["en"] for k, e in catalogue().items() if k not in SAME_IN_BOTH and len(e["en"]) >= 4},
                     key=len, reverse=True)

    def english_in(html: str) -> list[str]:
        text = visible(html)
        return [e for e in english if re.search(rf"(?<![\w-]){re.escape(e)}(?![\w-])", text)]

    # the check finds English where there is some: the same detail page before the switch
    found = english_in(console.get(f"/alerts/{alert_id}").text)
    assert {"What happened", "What to do", "Entities", "Evidence"} <= set(found), found
    console.post("/lang", data={"csrf": csrf, "lang": "ko", "next": "/"})
    sim = {"csrf": csrf, "alert_type": "*", "match": "namespace=default", "step": "simulate"}
    pages = {path: console.get(path).text for path in
             ("/", "/alerts", f"/alerts/{alert_id}", "/suppressions", f"/suppressions?similar={alert_id}",
              "/sources", "/alerts?since=bad")}
    pages["simulate"] = console.post("/suppressions", data=sim).text
    for name, html in pages.items():
        assert '<html lang="ko">' in html, name
        assert not english_in(html), (name, english_in(html))
    # the alert's own title, description and remediation are the Korean ones
    detail = pages[f"/alerts/{alert_id}"]
    doc = console.get(f"/api/v1/alerts/{alert_id}", headers={"Authorization": f"Bearer {ADMIN}"}).json()
    assert doc["title_ko"] in detail and doc["title"] not in detail
    assert doc["remediation_ko"][0].split()[0] in detail
    # the choice is kept: a new page in the same browser is Korean; switching back works
    assert '<html lang="ko">' in console.get("/detections").text
    console.post("/lang", data={"csrf": csrf_of(console.get("/").text), "lang": "en", "next": "/"})
    assert '<html lang="en">' in console.get("/").text
