"""Feed loaders: plain lists, CSV, STIX 2.1 bundles, MISP events; specs and errors."""

from __future__ import annotations

import json

import pytest

from cloudward.intel import IntelIndex
from cloudward.intel.feeds import FeedError, load_feed, parse_spec, stix_values


def _load(tmp_path, name, text, spec_suffix=""):
    path = tmp_path / name
    path.write_text(text)
    index = IntelIndex()
    report = load_feed(index, f"{path}{spec_suffix}")
    index.finalize()
    return index, report


def test_plain_list_with_comments_cidrs_domains_and_urls(tmp_path):
    index, report = _load(tmp_path, "block.txt", "\n".join([
        "# Spamhaus-style DROP list", "203.0.113.0/24 ; SBL123", "198.51.100.7   # scanner", "2001:db8:bad::/48",
        "evil.example.com", "http://evil.example.com/payload.sh", "not an indicator!", "", "; comment",
    ]))
    assert (report.loaded, report.skipped, report.format) == (5, 1, "list")
    hit = index.lookup_ip("203.0.113.77")[0]
    assert hit["feed"] == "block.txt" and hit["indicator"] == "203.0.113.0/24"
    assert hit["context"] == {"line": 2, "comment": "SBL123"}
    assert index.lookup_ip("198.51.100.7")[0]["type"] == "ipv4-addr"
    assert index.lookup_ip("2001:db8:bad:1::9")[0]["indicator"] == "2001:db8:bad::/48"
    assert index.lookup_ip("::ffff:203.0.113.1")[0]["indicator"] == "203.0.113.0/24"
    assert index.lookup_ip("192.0.2.1") == []
    assert index.lookup_domain("cdn.evil.example.com")[0]["indicator"] == "evil.example.com"
    assert index.lookup_domain("example.com") == []
    assert index.lookup_url("HTTP://EVIL.example.com/payload.sh")


def test_overlapping_entries_of_two_feeds_both_hit(tmp_path):
    index = IntelIndex()
    for name, text in (("a.txt", "203.0.113.0/24\n"), ("b.txt", "203.0.113.5\n203.0.0.0/16\n")):
        (tmp_path / name).write_text(text)
        load_feed(index, str(tmp_path / name))
    index.finalize()
    hits = index.lookup_ip("203.0.113.5")
    assert sorted((h["feed"], h["indicator"]) for h in hits) == [
        ("a.txt", "203.0.113.0/24"), ("b.txt", "203.0.0.0/16"), ("b.txt", "203.0.113.5")]


def test_csv_by_column_name_and_position_with_context(tmp_path):
    text = "first_seen,ip_address,malware\n2026-10-01,203.0.113.66,Mirai\n2026-10-02,bogus,x\n"
    index, report = _load(tmp_path, "feed.csv", text, "#column=ip_address&name=abuse")
    assert (report.loaded, report.skipped, report.name) == (1, 1, "abuse")
    hit = index.lookup_ip("203.0.113.66")[0]
    assert hit["feed"] == "abuse" and hit["context"] == {"first_seen": "2026-10-01", "malware": "Mirai"}
    index, _ = _load(tmp_path, "semi.txt", "x;y\n1;198.51.100.9\n", "#column=2&delimiter=;")
    assert index.lookup_ip("198.51.100.9")


def test_csv_guesses_the_indicator_column(tmp_path):
    index, report = _load(tmp_path, "iocs.csv", "id,indicator,description\n1,evil.example.net,c2\n")
    assert report.loaded == 1 and index.lookup_domain("evil.example.net")[0]["context"]["description"] == "c2"


def test_csv_unknown_column_is_an_error(tmp_path):
    with pytest.raises(FeedError, match="no column 'ipaddr'"):
        _load(tmp_path, "feed.csv", "ip,x\n1.2.3.4,y\n", "#column=ipaddr")


BUNDLE = {
    "type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
    "objects": [
        {"type": "identity", "spec_version": "2.1", "id": "identity--1", "name": "ACME CERT"},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--a", "name": "Scanner range",
         "indicator_types": ["malicious-activity"], "pattern_type": "stix", "confidence": 80,
         "pattern": "[ipv4-addr:value ISSUBSET '198.51.100.0/24' OR ipv4-addr:value = '203.0.113.9']",
         "valid_from": "2026-01-01T00:00:00Z"},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--b", "pattern_type": "stix",
         "pattern": "[domain-name:value IN ('c2.example.org', 'drop.example.org')]",
         "valid_from": "2026-01-01T00:00:00Z"},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--c", "pattern_type": "stix",
         "pattern": "[ipv6-addr:value = '2001:db8::66']", "valid_from": "2026-01-01T00:00:00Z"},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--d", "pattern_type": "stix",
         "pattern": "[url:value = 'http://drop.example.org/x.sh']", "valid_from": "2026-01-01T00:00:00Z"},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--e", "pattern_type": "stix",
         "pattern": "[ipv4-addr:value = '192.0.2.1' AND network-traffic:dst_port = 22]",
         "valid_from": "2026-01-01T00:00:00Z"},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--f", "pattern_type": "stix", "revoked": True,
         "pattern": "[ipv4-addr:value = '192.0.2.2']", "valid_from": "2026-01-01T00:00:00Z"},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--g", "pattern_type": "stix",
         "pattern": "[ipv4-addr:value = '192.0.2.3']", "valid_from": "2020-01-01T00:00:00Z",
         "valid_until": "2021-01-01T00:00:00Z"},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--h", "pattern_type": "sigma",
         "pattern": "title: x", "valid_from": "2026-01-01T00:00:00Z"},
    ],
}


def test_stix_bundle(tmp_path):
    index, report = _load(tmp_path, "bundle.json", json.dumps(BUNDLE))
    assert report.format == "stix" and report.loaded == 6
    assert report.skipped == 4  # AND pattern, revoked, expired, not a STIX pattern
    hit = index.lookup_ip("198.51.100.200")[0]
    assert hit["context"]["id"] == "indicator--a" and hit["context"]["confidence"] == 80
    assert index.lookup_ip("203.0.113.9")
    assert index.lookup_ip("2001:db8::66")[0]["context"]["id"] == "indicator--c"
    assert index.lookup_domain("www.drop.example.org")[0]["context"]["id"] == "indicator--b"
    for absent in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        assert index.lookup_ip(absent) == []


@pytest.mark.parametrize(("pattern", "values"), [
    ("[ipv4-addr:value = '1.2.3.4']", [("ipv4-addr", "1.2.3.4")]),
    ("[ipv4-addr:value = '1.2.3.4'] OR [domain-name:value = 'a.example']",
     [("ipv4-addr", "1.2.3.4"), ("domain-name", "a.example")]),
    ("[url:value = 'http://x.example/it\\'s']", [("url", "http://x.example/it's")]),
    ("[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [ipv4-addr:value = '5.6.7.8']", None),
    ("[file:hashes.'SHA-256' = 'abc']", None),
    ("[ipv4-addr:value != '1.2.3.4']", None),
])
def test_stix_patterns(pattern, values):
    assert stix_values(pattern) == values


MISP = {"Event": {
    "id": "1337", "uuid": "5f1c", "info": "Phishing kit infrastructure", "threat_level_id": "2",
    "Tag": [{"name": "tlp:amber"}],
    "Attribute": [
        {"type": "ip-dst", "value": "203.0.113.80", "to_ids": True, "category": "Network activity"},
        {"type": "ip-src|port", "value": "198.51.100.80|8080", "to_ids": True, "category": "Network activity"},
        {"type": "domain|ip", "value": "kit.example.net|192.0.2.80", "to_ids": True},
        {"type": "url", "value": "https://kit.example.net/login", "to_ids": True},
        {"type": "ip-dst", "value": "192.0.2.99", "to_ids": False, "comment": "sinkhole"},
        {"type": "md5", "value": "d41d8cd98f00b204e9800998ecf8427e", "to_ids": True},
    ],
    "Object": [{"name": "ip-port", "Attribute": [{"type": "ip-dst", "value": "203.0.113.81", "to_ids": True}]}],
}}


def test_misp_event(tmp_path):
    index, report = _load(tmp_path, "misp.json", json.dumps(MISP))
    assert report.format == "misp" and report.loaded == 5 and report.skipped == 1
    hit = index.lookup_ip("203.0.113.80")[0]
    assert hit["context"]["event"] == "Phishing kit infrastructure" and hit["context"]["tags"] == ["tlp:amber"]
    assert index.lookup_ip("198.51.100.80") and index.lookup_ip("192.0.2.80") and index.lookup_ip("203.0.113.81")
    assert index.lookup_domain("kit.example.net")
    assert index.lookup_ip("192.0.2.99") == []
    index, _ = _load(tmp_path, "misp2.json", json.dumps({"response": [MISP]}), "#all=1")
    assert index.lookup_ip("192.0.2.99")[0]["context"]["comment"] == "sinkhole"


def test_spec_parsing_and_errors(tmp_path):
    spec = parse_spec("feeds/a b.csv#column=ip&name=partner&format=csv")
    assert (spec.path, spec.column, spec.name, spec.format) == ("feeds/a b.csv", "ip", "partner", "csv")
    assert parse_spec({"path": "x.txt", "name": "n"}).feed_name == "n"
    assert parse_spec("dir#1/list.txt").path == "dir#1/list.txt"
    with pytest.raises(FeedError, match="unknown format"):
        parse_spec("x.txt#format=yaml")
    with pytest.raises(FeedError, match="No such file"):
        load_feed(IntelIndex(), str(tmp_path / "missing.txt"))
    (tmp_path / "odd.json").write_text('{"hello": 1}')
    with pytest.raises(FeedError, match="neither a STIX"):
        load_feed(IntelIndex(), str(tmp_path / "odd.json"))
