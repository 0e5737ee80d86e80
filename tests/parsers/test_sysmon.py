"""Sysmon: rendered XML (Windows, Sysmon for Linux in syslog), winlogbeat and NXLog JSON, and hostile XML."""

from __future__ import annotations

import time

import orjson

from cloudward.detections.node._samples import sysmon_xml, winlogbeat
from cloudward.events import NetConnection, ProcessExec
from cloudward.inputs import InputFile
from cloudward.parsers import by_name, sniff
from cloudward.parsers.base import Head, ParseContext
from cloudward.parsers.json_records import JsonRecords
from cloudward.parsers.sysmon_xml import SysmonXml

W3WP = "C:\\Windows\\System32\\inetsrv\\w3wp.exe"
CMD = "C:\\Windows\\System32\\cmd.exe"


def parse_xml(text: str) -> tuple[list, ParseContext]:
    ctx = ParseContext()
    return list(SysmonXml().parse(InputFile.from_bytes(text.encode(), "sysmon.xml"), ctx)), ctx


def one(**kw) -> str:
    defaults = {"parent_image": W3WP, "parent_command_line": "w3wp.exe -ap shop", "user": "IIS APPPOOL\\shop"}
    return sysmon_xml(CMD, 'cmd.exe /c "echo a & whoami"', **{**defaults, **kw})


def test_one_event_per_line_and_fields():
    text = one() + one(pid=6000, record_id=2)
    head = Head.of(InputFile.from_bytes(text.encode(), "x"))
    assert sniff(head) is by_name("sysmon-xml")
    events, ctx = parse_xml(text)
    assert ctx.stats.rejected == 0 and len(events) == 2
    ev = events[0]
    assert isinstance(ev, ProcessExec)
    assert (ev.os, ev.host, ev.executable, ev.parent_executable, ev.user) == (
        "windows", "WEBAPP01", CMD, W3WP, "IIS APPPOOL\\shop")
    assert ev.command_line == 'cmd.exe /c "echo a & whoami"'  # XML entities unescaped
    assert ev.argv == ["cmd.exe", "/c", "echo a & whoami"]
    assert ev.event_id == "sysmon.xml:1" and ev.time > 1.7e9 and ev.pid == 5124 and ev.ppid == 3216


def test_pretty_printed_document_with_wrapper():
    body = one().replace("><", ">\n  <")
    text = '<?xml version="1.0" encoding="utf-8"?>\n<Events>\n' + body + body + "</Events>\n"
    events, ctx = parse_xml(text)
    assert ctx.stats.rejected == 0 and len(events) == 2
    assert events[0].event_id == "sysmon.xml:3"
    assert events[1].event_id == f"sysmon.xml:{3 + body.count(chr(10))}"


def test_sysmon_for_linux_in_syslog():
    xml = sysmon_xml("/usr/bin/curl", "curl -s http://203.0.113.9/x", parent_image="/usr/bin/bash",
                     parent_command_line="bash", user="www-data", provider="Linux-Sysmon", computer="web-01",
                     cwd="/var/www")
    line = "Nov  2 09:15:27 web-01 sysmon: " + xml
    events, _ctx = parse_xml(line)
    assert events[0].os == "linux" and events[0].host == "web-01" and events[0].user == "www-data"


def test_network_connect_event():
    xml = one().replace("<EventID>1</EventID>", "<EventID>3</EventID>").replace(
        '<Data Name="CommandLine">', '<Data Name="Initiated">true</Data><Data Name="DestinationIp">10.0.0.5</Data>'
        '<Data Name="DestinationPort">445</Data><Data Name="CommandLine">')
    events, _ = parse_xml(xml)
    assert isinstance(events[0], NetConnection) and events[0].destination_port == 445


def test_other_event_ids_are_skipped():
    events, ctx = parse_xml(one().replace("<EventID>1</EventID>", "<EventID>11</EventID>"))
    assert events == [] and ctx.stats.skipped == 1 and ctx.stats.rejected == 0


def test_xml_bomb_is_refused_quickly():
    lol = "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    bomb = ('<?xml version="1.0"?>\n<!DOCTYPE Event [<!ENTITY lol0 "lol">' + lol + "]>\n"
            + one().replace("whoami", "&lol9;"))
    start = time.perf_counter()
    events, ctx = parse_xml(bomb)
    assert time.perf_counter() - start < 1.0
    assert events == []
    assert ctx.stats.rejected >= 1
    assert any("DTD" in r.reason or "XML" in r.reason for r in ctx.stats.rejections)


def test_entity_in_a_line_is_refused():
    events, ctx = parse_xml(one().replace("whoami", "&xxe;"))
    assert events == [] and ctx.stats.rejected == 1


def test_truncated_and_malformed_xml():
    events, ctx = parse_xml("<Events>\n" + one()[:200])
    assert events == [] and ctx.stats.rejected == 1
    events, ctx = parse_xml(one().replace("</System>", "</Sys>"))
    assert events == [] and "malformed" in ctx.stats.rejections[0].reason


def test_winlogbeat_and_nxlog_json():
    ctx = ParseContext()
    nxlog = {"EventTime": "2026-11-02 09:15:27", "Hostname": "WEBAPP02", "SourceName": "Microsoft-Windows-Sysmon",
             "EventID": 1, "Image": CMD, "CommandLine": "cmd /c ver", "ParentImage": W3WP, "User": "IIS APPPOOL\\x",
             "ProcessId": "77", "ParentProcessId": "76", "UtcTime": "2026-11-02 09:15:27.000"}
    wl = winlogbeat(CMD, "cmd /c dir", parent_image=W3WP, parent_command_line="w3wp.exe", user="IIS APPPOOL\\y")
    data = b"\n".join(orjson.dumps(r) for r in (wl, nxlog)) + b"\n"
    events = list(JsonRecords().parse(InputFile.from_bytes(data, "s.json"), ctx))
    assert ctx.stats.formats["sysmon-json"] == 2 and ctx.stats.rejected == 0
    assert [e.host for e in events] == ["WEBAPP01", "WEBAPP02"]
    assert events[0].os == "windows" and events[0].parent_executable == W3WP and events[1].pid == 77
