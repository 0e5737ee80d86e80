"""IIS / App Service FTP logs in W3C format."""

from web_annotated import check


def test_annotated_w3c_ftp():
    check("ftp_u_ex261102.log", "w3c-ftp")
