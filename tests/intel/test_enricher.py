"""The intel enricher: feeds from options and configuration, hits on web, FTP and network events."""

from __future__ import annotations

from cloudward.config import from_dict
from cloudward.enrich.intel import build
from cloudward.events import FtpEvent, HttpRequest, NetConnection


def test_no_feeds_no_enricher():
    assert build(from_dict({})) is None


def test_feeds_from_options_and_config(tmp_path):
    (tmp_path / "a.txt").write_text("203.0.113.0/24\n")
    (tmp_path / "b.csv").write_text("ip,why\n198.51.100.7,scanner\n")
    (tmp_path / "c.txt").write_text("c2.example.org\n")
    config = from_dict({"intel": {"feeds": [str(tmp_path / "c.txt"), {"path": str(tmp_path / "b.csv"), "column": "ip",
                                                                       "name": "partner"}]}})
    enricher = build(config, intel=[str(tmp_path / "a.txt")])
    assert [s["feed"] for s in enricher.summary()] == ["a.txt", "c.txt", "partner"]
    web = HttpRequest(event_id="x:1", client_ip="203.0.113.5")
    enricher.enrich(web)
    assert web.intel[0]["feed"] == "a.txt" and web.intel[0]["field"] == "client_ip"
    ftp = FtpEvent(event_id="x:2", client_ip="198.51.100.7")
    enricher.enrich(ftp)
    assert ftp.intel[0]["context"] == {"why": "scanner"}
    clean = HttpRequest(event_id="x:3", client_ip="192.0.2.1")
    enricher.enrich(clean)
    assert clean.intel == []
    conn = NetConnection(event_id="x:4", destination_ip="192.0.2.1", destination_host="api.c2.example.org")
    enricher.enrich(conn)
    assert conn.intel[0]["indicator"] == "c2.example.org"
    # hits are copies: changing one event's list leaves the cache alone
    web.intel[0]["feed"] = "tampered"
    again = HttpRequest(event_id="x:5", client_ip="203.0.113.5")
    enricher.enrich(again)
    assert again.intel[0]["feed"] == "a.txt"
