"""The indicator index at scale: many networks, both families, fast lookups."""

from __future__ import annotations

import random
import socket
import time

from cloudward.intel import IntelIndex


def test_a_million_indicators_load_and_look_up_fast():
    rng = random.Random(3)
    index = IntelIndex()
    feed = index.feed("big")
    add = index.add
    for _ in range(1_000_000):
        add(socket.inet_ntoa(rng.getrandbits(32).to_bytes(4, "big")), feed)
    for i in range(2000):
        index.add(f"{10 + i % 100}.{i // 100}.0.0/16", feed)
        index.add(f"2001:db8:{i:x}::/48", feed)
    index.add("100.64.0.0/10", feed)
    index.finalize()
    assert len(index) == 1_004_001
    probes = [socket.inet_ntoa(rng.getrandbits(32).to_bytes(4, "big")) for _ in range(20_000)]
    start = time.perf_counter()
    for ip in probes:
        index.lookup_ip(ip)
    per_lookup = (time.perf_counter() - start) / len(probes)
    assert per_lookup < 200e-6, f"{per_lookup * 1e6:.0f} us per lookup"
    assert index.lookup_ip("100.127.255.254")[0]["indicator"] == "100.64.0.0/10"
    assert index.lookup_ip("2001:db8:7cf:1::1")[0]["indicator"] == "2001:db8:7cf::/48"
    assert index.lookup_ip("2001:db9::1") == []


def test_adding_after_finalize_keeps_earlier_entries():
    index = IntelIndex()
    feed = index.feed("f")
    index.add("192.0.2.0/24", feed)
    index.finalize()
    index.add("192.0.2.0/24", index.feed("g"))
    index.add("198.51.100.1", feed)
    assert {h["feed"] for h in index.lookup_ip("192.0.2.9")} == {"f", "g"}
    assert index.lookup_ip("198.51.100.1")


def test_garbage_is_not_an_indicator():
    index = IntelIndex()
    feed = index.feed("f")
    for junk in ("", "1.2.3", "300.1.1.1/8", "-bad.example", "a..", "*", "x" * 300 + ".com"):
        assert index.add(junk, feed) == "", junk
    assert index.add("*.wild.example", feed) == "domain-name"
