"""Mixed-daemon syslog files: each line routed by its program tag; other programs' lines ignored."""

from web_annotated import check, run

from cloudward.parsers._web import split_syslog
from cloudward.parsers.base import ParseContext
from cloudward.parsers.syslog import route_text


def test_annotated_messages():
    check("messages", "syslog")


def test_other_programs_are_counted_as_ignored():
    _, _, ctx = run("messages", "syslog")
    assert ctx.stats.ignored == 11  # the eleven "expect nothing" lines
    assert ctx.stats.rejected == 2


def test_route_one_message_as_a_listener_would():
    ctx = ParseContext()
    event = route_text('<30>Nov  2 10:00:05 ftp1 vsftpd[2101]: [bob] OK LOGIN: Client "203.0.113.5"', "udp:1", ctx,
                       2026)
    assert event is not None and event.client_ip == "203.0.113.5" and event.user == "bob"
    assert route_text("Nov  2 10:00:05 ftp1 CRON[1]: (root) CMD (true)", "udp:2", ctx, 2026) is None
    assert ctx.stats.ignored == 1 and ctx.stats.rejected == 0


def test_syslog_headers_padded_unpadded_and_tags():
    padded = split_syslog("Dec  5 15:44:32 h p[1]: m", 2026)
    for text in ("Dec 5 15:44:32 h p[1]: m", "Dec 05 15:44:32 h p[1]: m", "Dec 5 15:44:32 h p[1] m"):
        line = split_syslog(text, 2026)
        assert line is not None and line.time == padded.time and (line.program, line.pid, line.message) == (
            "p", "1", "m"), text
    pam = split_syslog("Oct 23 21:15:44 vps vsftpd(pam_unix)[31377]: authentication failure;", 2026)
    assert (pam.program, pam.daemon, pam.pid) == ("vsftpd(pam_unix)", "vsftpd", "31377")
    assert split_syslog("Dec 5 1:44:32 h p: m", 2026) is None
    assert split_syslog("Dec 555 15:44:32 h p: m", 2026) is None
    assert split_syslog("Dec  5 15:44:32 h -- MARK --", 2026).program == ""


def test_mixed_file_through_the_pipeline(tmp_path):
    """Sniffed as syslog (its first lines are systemd's, the kernel's, cron's), and the FTP logins from a
    listed address alert."""
    from web_annotated import load

    from cloudward.pipeline import scan_text

    data, _ = load("messages")
    feed = tmp_path / "feed.txt"
    feed.write_text("198.51.100.4\n")
    alerts, stats = scan_text(data, None, display="messages", enrich_options={"intel": [str(feed)]})
    assert set(stats.formats) == {"syslog"}
    hits = [a for a in alerts if a.alert_type == "AppServices_IncomingTiClientIpFtp"]
    assert len(hits) == 1 and hits[0].entities["source_ip"] == "198.51.100.4"
    assert hits[0].count == 4  # vsftpd PAM, proftpd without a colon, proftpd with an unpadded day, pure-ftpd
    assert stats.ignored == 11 and stats.rejected == 2


def test_rfc5424_messages_as_a_listener_receives_them():
    ctx = ParseContext()
    text = ('<30>1 2026-11-02T10:00:05.120Z ftp1 vsftpd 2101 - [meta note="a\\]b"][origin ip="10.0.0.5"] '
            '[bob] OK LOGIN: Client "203.0.113.5"')
    event = route_text(text, "udp:1", ctx, 2026)
    assert event is not None and (event.user, event.client_ip, event.session) == ("bob", "203.0.113.5", "2101")
    line = split_syslog("<86>1 2026-11-02T10:00:09+01:00 - proftpd - - - \ufeffhello", 2026)
    assert (line.host, line.program, line.pid, line.message) == ("", "proftpd", "", "hello")
    assert split_syslog("<86>1 not-a-time h p - - - m", 2026) is None


def test_sshd_lines_are_a_known_program_counted_as_ignored():
    ctx = ParseContext()
    for text in ("Dec 5 15:44:32 bastion sshd[881]: Failed password for root from 203.0.113.9 port 52144 ssh2",
                 "Dec  5 15:44:33 bastion sshd[881]: Accepted publickey for ops from 192.0.2.10 port 50122 ssh2",
                 "Dec 5 15:44:34 bastion sshd[882]: error: kex_exchange_identification: Connection closed"):
        assert route_text(text, "secure:1", ctx, 2026) is None
    assert ctx.stats.ignored == 3 and ctx.stats.rejected == 0


def test_ctime_stamps_padded_unpadded_and_zero_padded():
    from cloudward.parsers._web import ctime_length, ctime_time

    padded = ctime_time("Sat Dec  5 15:44:32 2026")
    for text, n in (("Sat Dec  5 15:44:32 2026 [pid 1]", 24), ("Sat Dec 5 15:44:32 2026 [pid 1]", 23),
                    ("Sat Dec 05 15:44:32 2026", 24)):
        assert ctime_length(text) == n and ctime_time(text[:n]) == padded, text
    for text in ("Sat Dec 5 15:44:32 20261", "Sat Dec  5 1:44:32 2026 x", "Sat Xyz  5 15:44:32 2026", "short"):
        assert ctime_length(text) == 0, text
