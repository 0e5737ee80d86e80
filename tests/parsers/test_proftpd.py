"""ProFTPD system log, native and syslog forms."""

from web_annotated import check


def test_annotated_proftpd():
    check("proftpd.log", "proftpd")
