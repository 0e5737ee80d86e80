"""vsftpd.log, natively and through syslog, with user-name injection negatives."""

from web_annotated import check


def test_annotated_vsftpd():
    check("vsftpd.log", "vsftpd")


def test_annotated_vsftpd_through_syslog():
    """PAM failures (both forms) and vsftpd's own lines; sniffed as vsftpd though few lines carry `Client "`."""
    check("vsftpd_syslog.log", "vsftpd")
