"""xferlog transfer logs (vsftpd, ProFTPD TransferLog, wu-ftpd)."""

from web_annotated import check


def test_annotated_xferlog():
    check("xferlog", "xferlog")
