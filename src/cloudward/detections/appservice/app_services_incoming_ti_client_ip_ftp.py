"""AppServices_IncomingTiClientIpFtp: an FTP client whose address is on a threat-intelligence feed.

The intel enricher marks each FTP event whose client address matches a feed (exact address or
network, IPv4 or IPv6). Every such event folds into one alert per address and site, which therefore
lists the user names tried or used and the files read, written and deleted in those sessions, plus
the feeds and indicators that matched.
"""

from __future__ import annotations

from typing import Any

from cloudward.alerts import Finding
from cloudward.detections.base import Card, Detection, Sample
from cloudward.events import FtpEvent

FEED = """# partner blocklist (sample)
198.51.100.0/24 ; bulletproof hosting range
203.0.113.66 # credential-stuffing botnet node
2001:db8:bad::/48
"""

VSFTPD = (
    'Mon Nov  2 10:00:00 2026 [pid 4101] CONNECT: Client "::ffff:198.51.100.23"\n'
    'Mon Nov  2 10:00:02 2026 [pid 4100] [webdeploy] OK LOGIN: Client "::ffff:198.51.100.23"\n'
    'Mon Nov  2 10:00:09 2026 [pid 4102] [webdeploy] OK UPLOAD: Client "::ffff:198.51.100.23", '
    '"/var/www/html/wp-content/uploads/2026/11/cache.php", 4211 bytes, 81.20Kbyte/sec\n'
    'Mon Nov  2 10:00:12 2026 [pid 4102] [webdeploy] OK DOWNLOAD: Client "::ffff:198.51.100.23", '
    '"/var/www/html/wp-config.php", 3120 bytes, 250.11Kbyte/sec\n'
    'Mon Nov  2 10:05:00 2026 [pid 4200] CONNECT: Client "192.0.2.44"\n'
    'Mon Nov  2 10:05:01 2026 [pid 4199] [webdeploy] OK LOGIN: Client "192.0.2.44"\n'
)

CARD = Card(
    id="AppServices_IncomingTiClientIpFtp",
    title="IP connected to FTP interface found in threat intelligence",
    title_ko="위협 인텔리전스에 있는 IP가 FTP 인터페이스에 연결됨",
    severity="medium",
    tactics=("InitialAccess",),
    techniques=("T1078", "T1133"),
    data_source="FTP",
    looks_at="FTP events (IIS/App Service W3C, vsftpd, xferlog, ProFTPD, Pure-FTPd) whose client address the "
             "intel enricher found on a feed (--intel, [intel] feeds, [[intel.taxii]])",
    description="{source_ip}, listed in threat intelligence ({feeds}: {indicators}), connected to the FTP service "
                "of [[{site}||the site]]. Users: {users}. Files written: {files_written}. Files read: {files_read}.",
    description_ko="위협 인텔리전스({feeds}: {indicators})에 등록된 {source_ip}이(가) [[{site}||사이트]]의 FTP 서비스에 "
                   "연결했습니다. 사용자: {users}. 기록한 파일: {files_written}. 읽은 파일: {files_read}.",
    remediation=(
        "If a login succeeded, treat the account as compromised: reset its password and review its other sessions.",
        "Check every file written in these sessions (web shells in the web root are the usual goal) and restore "
        "them from a clean copy.",
        "Block the address, and consider allowing FTP only from known networks or replacing it with SFTP.",
        "On App Service, disable FTP or allow FTPS only in the app's configuration.",
    ),
    remediation_ko=(
        "로그인이 성공했다면 계정이 침해된 것으로 보고 비밀번호를 재설정한 뒤 그 계정의 다른 세션을 검토하십시오.",
        "이 세션에서 기록된 모든 파일을 확인하고(웹 루트의 웹 셸이 흔한 목표입니다) 깨끗한 사본으로 복원하십시오.",
        "해당 주소를 차단하고, FTP를 알려진 네트워크에서만 허용하거나 SFTP로 대체하는 것을 검토하십시오.",
        "App Service에서는 앱 구성에서 FTP를 끄거나 FTPS만 허용하십시오.",
    ),
    false_positives=(
        "Feeds that list shared infrastructure (VPN providers, cloud ranges) your own deployments use; allow the "
        "address, e.g. { source_ip = \"198.51.100.23\" }, or drop the feed entry.",
    ),
    samples=(
        Sample("listed address logs in, uploads a PHP file and reads wp-config.php", "vsftpd", VSFTPD, expect=1,
               intel=FEED, config={"site": "ftp.example.com"},
               entities={"source_ip": "198.51.100.23", "site": "ftp.example.com", "users": ["webdeploy"],
                         "files_written": ["/var/www/html/wp-content/uploads/2026/11/cache.php"],
                         "files_read": ["/var/www/html/wp-config.php"]}),
        Sample("listed IPv6 network on IIS FTP", "w3c-ftp",
               "#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n"
               "#Fields: date time s-sitename c-ip cs-username cs-method cs-uri-stem sc-status x-session x-fullpath\n"
               "2026-11-02 10:00:00 FTPSVC2 2001:db8:bad::17 - ControlChannelOpened - - 9a1f -\n"
               "2026-11-02 10:00:01 FTPSVC2 2001:db8:bad::17 - USER admin 331 9a1f -\n"
               "2026-11-02 10:00:02 FTPSVC2 2001:db8:bad::17 admin PASS *** 530 9a1f -\n",
               expect=1, intel=FEED,
               entities={"source_ip": "2001:db8:bad::17", "site": "ftpsvc2", "users": ["admin"]}),
        Sample("clients not on the feed", "vsftpd", VSFTPD.replace("198.51.100.23", "192.0.2.45"), expect=0,
               intel=FEED),
        Sample("nothing alerts without a feed", "vsftpd", VSFTPD, expect=0),
    ),
)


class IncomingTiClientIpFtp(Detection):
    card = CARD
    kinds = (FtpEvent,)

    def evaluate(self, event: FtpEvent) -> list[Finding] | None:
        if not event.intel:
            return None
        entities: dict[str, Any] = {
            "source_ip": event.client_ip, "site": event.site,
            "feeds": sorted({str(h.get("feed")) for h in event.intel}),
            "indicators": sorted({str(h.get("indicator")) for h in event.intel}),
            "intel": list(event.intel),
            "users": [event.user] if event.user else [],
            "actions": [event.action],
            "files_written": [], "files_read": [], "files_deleted": [],
        }
        if event.file_path:
            slot = {"upload": "files_written", "download": "files_read", "delete": "files_deleted"}.get(event.action)
            if slot:
                entities[slot] = [event.file_path]
        if event.session:
            entities["sessions"] = [event.session]
        return [Finding(key=event.client_ip, entities=entities, event=event)]
