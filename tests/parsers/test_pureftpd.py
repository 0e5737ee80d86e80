"""Pure-FTPd syslog messages and its CLF transfer log."""

from web_annotated import check


def test_annotated_pureftpd_syslog():
    check("pureftpd.log", "pure-ftpd")


def test_annotated_pureftpd_transfer_log():
    check("pureftpd_transfer.log", "pure-ftpd")
