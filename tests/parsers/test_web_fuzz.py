"""Attacker text in every field a client controls: no crash, and never the wrong address.

Each generated line has a known client address at the format's address position; whatever the
hypothesis-chosen text put into user agents, paths, user names and file names (quotes, spaces,
brackets, copies of other lines, newlines, undecodable bytes), a line either becomes an event with
that address or is rejected with its file:line.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudward import parsers
from cloudward.inputs import InputFile
from cloudward.parsers.base import ParseContext
from cloudward.pipeline import Pipeline

PIECES = [*'ab "\\[]():,;@#-/.\t', "6.6.6.6", '" 200 1 "-" "', "\r", '] "GET /', 'Client "', "\u00e9", "\udcff",
          "rhost=", ", ", " - "]
ATTACK = st.lists(st.sampled_from(PIECES), max_size=12).map("".join)
IPS = [f"203.0.113.{i}" for i in range(1, 40)]


def _lines(fmt: str, values: list[tuple[int, str]]) -> tuple[bytes, dict[int, str]]:
    out: list[str] = []
    expected: dict[int, str] = {}
    if fmt == "w3c-http":
        out.append("#Fields: date time c-ip cs-method cs-uri-stem cs(User-Agent) sc-status")
    for i, text in values:
        ip = IPS[i % len(IPS)]
        clean = text.replace("\n", " ")
        if fmt == "combined":
            line = f'{ip} - {clean or "-"} [02/Nov/2026:09:15:27 +0000] "GET /{clean} HTTP/1.1" 200 1 "-" "{clean}"'
        elif fmt == "w3c-http":
            line = f"2026-11-02 09:15:27 {ip} GET /{clean} {clean} 200"
        elif fmt == "vsftpd":
            line = (f'Mon Nov  2 10:00:05 2026 [pid 1] [{clean}] OK UPLOAD: Client "{ip}", "/{clean}", 1 bytes, '
                    "1Kbyte/sec")
        elif fmt == "combined-chain":  # the left of an X-Forwarded-For chain is the client's own text
            line = (f'{clean or "x"}, 10.0.0.9, {ip} - - [02/Nov/2026:09:15:27 +0000] "GET /{clean} HTTP/1.1" 200 1 '
                    f'"-" "{clean}"')
        elif fmt == "syslog":  # PAM's ruser and user are the client's
            line = (f"Nov 2 10:00:02 ftp1 vsftpd: pam_unix(vsftpd:auth): authentication failure; logname= uid=0 "
                    f"euid=0 tty=ftp ruser={clean} rhost={ip}  user={clean}")
        elif fmt == "pure-ftpd":
            line = f"Nov  2 10:00:02 ftp1 pure-ftpd: (?@{ip}) [WARNING] Authentication failed for user [{clean}]"
        else:  # proftpd
            line = f"Nov  2 10:00:02 ftp1 proftpd[1]: ftp.example.com ({ip}[{ip}]) - USER {clean} (Login failed): x"
        out.append(line)
        expected[len(out)] = ip
    return ("\n".join(out) + "\n").encode("utf-8", "surrogatepass"), expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fmt=st.sampled_from(["combined", "w3c-http", "vsftpd", "pure-ftpd", "proftpd", "combined-chain", "syslog"]),
       values=st.lists(st.tuples(st.integers(0, 100), ATTACK), min_size=1, max_size=12))
def test_never_the_wrong_address(fmt, values):
    data, expected = _lines(fmt, values)
    ctx = ParseContext()
    events = list(parsers.by_name(fmt.split("-chain")[0]).parse(InputFile.from_bytes(data, "f.log"), ctx))
    seen = set()
    for e in events:
        line = int(e.event_id.rsplit(":", 1)[1])
        assert line not in seen
        seen.add(line)
        assert e.client_ip == expected[line], (e.raw, e.client_ip)
    rejected = {int(r.where.rsplit(":", 1)[1]) for r in ctx.stats.rejections}
    assert not seen & rejected


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=200), max_size=20), st.sampled_from(["combined", "w3c-http", "vsftpd", "xferlog",
                                                                        "proftpd", "pure-ftpd", "w3c-ftp", "syslog"]))
def test_arbitrary_bytes_through_the_whole_pipeline(chunks, fmt):
    good = {
        "combined": b'203.0.113.9 - - [02/Nov/2026:09:15:27 +0000] "GET /.env HTTP/1.1" 404 1 "-" "x"',
        "w3c-http": b"#Fields: date time c-ip cs-method cs-uri-stem sc-status\n"
                    b"2026-11-02 09:15:27 203.0.113.9 GET /.env 404",
        "vsftpd": b'Mon Nov  2 10:00:00 2026 [pid 1] CONNECT: Client "203.0.113.9"',
        "xferlog": b"Mon Nov  2 10:00:05 2026 1 203.0.113.9 1 /x b _ i r u ftp 0 * c",
        "proftpd": b"Nov  2 10:00:02 f proftpd[1]: s (203.0.113.9[203.0.113.9]) - FTP session opened.",
        "pure-ftpd": b"Nov  2 10:00:00 f pure-ftpd: (?@203.0.113.9) [INFO] New connection from 203.0.113.9",
        "w3c-ftp": b"#Fields: date time c-ip cs-method sc-status\n2026-11-02 10:00:00 203.0.113.9 USER 331",
        "syslog": b"Nov 2 10:00:02 f vsftpd: pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 "
                  b"tty=ftp ruser= rhost=203.0.113.9  user=root",
    }[fmt]
    data = good + b"\n" + b"\n".join(chunks) + b"\n" + good + b"\n"
    pipe = Pipeline(raise_errors=True)
    pipe.run_input(InputFile.from_bytes(data, "fuzz.log"), fmt)
    pipe.finish()
    assert pipe.stats.events >= 1
