"""TAXII 2.1 collection pull against a real HTTP server on 127.0.0.1 (pagination, auth, errors)."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from cloudward.config import ConfigError, from_dict
from cloudward.enrich.intel import build
from cloudward.intel import IntelIndex
from cloudward.intel.feeds import FeedError, load_feed
from cloudward.intel.taxii import MEDIA_TYPE, TaxiiClient

COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"


def _indicator(i: int) -> dict:
    return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{i:08d}-0000-4000-8000-000000000000",
            "created": "2026-11-01T00:00:00.000Z", "modified": "2026-11-01T00:00:00.000Z",
            "pattern": f"[ipv4-addr:value = '203.0.113.{i}']", "pattern_type": "stix",
            "valid_from": "2026-11-01T00:00:00Z", "name": f"bad host {i}"}


class Handler(BaseHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args):  # keep test output clean
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", MEDIA_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        Handler.requests.append(self.path)
        if self.headers.get("Authorization") != "Basic " + base64.b64encode(b"cw:s3cret").decode():
            self._send(401, {"title": "unauthorized"})
            return
        if MEDIA_TYPE not in (self.headers.get("Accept") or ""):
            self._send(406, {"title": "not acceptable"})
            return
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path == "/api1/collections/":
            self._send(200, {"collections": [{"id": COLLECTION, "title": "Bad hosts", "can_read": True}]})
        elif url.path == f"/api1/collections/{COLLECTION}/objects/":
            start = int(query.get("next", ["0"])[0])
            limit = int(query.get("limit", ["2"])[0])
            limit = min(limit, 2)  # the server pages by two, whatever the client asks
            objects = [_indicator(i) for i in range(1, 6)]
            page = objects[start:start + limit]
            more = start + limit < len(objects)
            body = {"more": more, "objects": page}
            if more:
                body["next"] = str(start + limit)
            self._send(200, body)
        else:
            self._send(404, {"title": "not found"})


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Handler.requests = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_pull_follows_pagination(server):
    client = TaxiiClient(server + "/api1/", username="cw", password="s3cret", timeout=5)
    assert [c["id"] for c in client.collections()] == [COLLECTION]
    objects = client.objects(COLLECTION)
    assert len(objects) == 5
    assert sum("/objects/" in r for r in Handler.requests) == 3


def test_feed_spec_and_config_table(server, monkeypatch):
    monkeypatch.setenv("TAXII_PASSWORD", "s3cret")
    index = IntelIndex()
    report = load_feed(index, f"taxii+{server}/api1/collections/{COLLECTION}/#user=cw&password_env=TAXII_PASSWORD")
    index.finalize()
    assert report.loaded == 5 and index.lookup_ip("203.0.113.3")[0]["context"]["name"] == "bad host 3"
    config = from_dict({"intel": {"taxii": [{"url": server + "/api1/", "collection": COLLECTION, "name": "partner",
                                             "username": "cw", "password_env": "TAXII_PASSWORD"}]}})
    enricher = build(config)
    assert enricher is not None
    assert enricher.hits_for_ip("203.0.113.5")[0]["feed"] == "partner"


def test_errors_are_reported_not_raised_as_crashes(server):
    with pytest.raises(FeedError, match="HTTP 401"):
        TaxiiClient(server + "/api1/", username="cw", password="wrong", timeout=5).objects(COLLECTION)
    with pytest.raises(FeedError, match="HTTP 404"):
        TaxiiClient(server + "/api1/", username="cw", password="s3cret", timeout=5).objects("nope")
    config = from_dict({"intel": {"taxii": [{"url": "http://127.0.0.1:9/api1/", "collection": "x", "timeout": 2}]}})
    with pytest.raises(ConfigError, match="TAXII"):
        build(config)
