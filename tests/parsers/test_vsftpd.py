"""vsftpd.log, natively and through syslog, with user-name injection negatives."""

from web_annotated import check


def test_annotated_vsftpd():
    check("vsftpd.log", "vsftpd")
