"""Page classification from the data lists: what each path is, after normalization."""

from __future__ import annotations

import pytest

from cloudward.analytics.web_paths import (
    ADMIN,
    FINGERPRINT,
    PHP,
    SENSITIVE,
    THEME_EDIT,
    THEME_PHP,
    TOOL_PATH,
    UPLOAD_PHP,
    PageClassifier,
    PathPatterns,
    normalize,
)
from cloudward.datalists import DataLists


@pytest.fixture(scope="module")
def pages():
    c = PageClassifier()
    c.configure(DataLists())
    return c


@pytest.mark.parametrize(("path", "bits"), [
    ("/.env", SENSITIVE), ("/%2Eenv", SENSITIVE), ("/app/.ENV", SENSITIVE), ("/.git/config", SENSITIVE),
    ("//.git//HEAD", SENSITIVE), ("/backup/site.sql.gz", SENSITIVE),
    ("/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", SENSITIVE | PHP),
    ("/actuator/env", SENSITIVE), ("/server-status", SENSITIVE), ("/wp-login.php", ADMIN | PHP),
    ("/wp-admin/", ADMIN), ("/wp-admin/admin-ajax.php", PHP), ("/administrator/index.php", ADMIN | PHP),
    ("/readme.html", FINGERPRINT), ("/nmaplowercheck1730554201", TOOL_PATH), ("/HNAP1", TOOL_PATH),
    ("/wp-content/uploads/2026/11/x.php", UPLOAD_PHP | PHP), ("/images/a.PHTML/b.gif", UPLOAD_PHP | PHP),
    ("/wp-content/themes/astra/404.php", THEME_PHP | PHP), ("/wp-admin/theme-editor.php", ADMIN | PHP | THEME_EDIT),
    ("/products/12", 0), ("/static/app.js", 0), ("/uploads/photo.jpg", 0), ("/media/logo.php.png", 0),
    ("/upload.php", PHP), ("/blog/environment-news", 0),
])
def test_bits(pages, path, bits):
    assert pages.bits(path) == bits


def test_labels(pages):
    assert pages.label("/.git/config", "sensitive") == "source control metadata"
    assert pages.label("/wp-login.php", "admin") == "WordPress"
    assert pages.label("/misc/drupal.js", "fingerprint") == "Drupal"


def test_normalize():
    assert normalize("/A%2FB//C\\D") == "/a/b/c/d"


def test_patterns_need_a_kind():
    with pytest.raises(ValueError, match="needs one of"):
        PathPatterns([{"category": "x"}])


def test_user_additions_from_configuration():
    from cloudward.config import from_dict

    c = PageClassifier()
    c.configure(DataLists(from_dict({"data": {"web_sensitive_pages": [{"name": "secret.txt", "category": "ours"}]}})))
    assert c.bits("/x/secret.txt") == SENSITIVE


# -- resolving paths as servers do: evasions must not evade, traversal must not false-alert -----------
@pytest.mark.parametrize(("raw", "resolved"), [
    ("/wp-content/uploads/x.php.", "/wp-content/uploads/x.php"),
    ("/wp-content/uploads/x.php%20", "/wp-content/uploads/x.php"),
    ("/wp-content/uploads/x.php%20%20.", "/wp-content/uploads/x.php"),
    ("/wp-content/uploads/x.php::$DATA", "/wp-content/uploads/x.php"),
    ("/wp-content/uploads/x.php;jsessionid=0A1B2C", "/wp-content/uploads/x.php"),
    ("/wp-content/uploads/x.php%00.jpg", "/wp-content/uploads/x.php"),
    ("/wp-content/uploads/%c0%ae%c0%ae/uploads/x.php", "/wp-content/uploads/x.php"),
    ("/wp-content/%c0%afuploads/x.php", "/wp-content/uploads/x.php"),
    ("/wp-content/./uploads//x.php", "/wp-content/uploads/x.php"),
    ("/wp-content;v=1/uploads/x.php", "/wp-content/uploads/x.php"),
    ("\\wp-content\\uploads\\x.php", "/wp-content/uploads/x.php"),
    ("/wp-content/uploads/../../index.php", "/index.php"),
    ("/wp-content/themes/../uploads/photo.jpg", "/wp-content/uploads/photo.jpg"),
    ("/../../../etc/passwd", "/etc/passwd"),
    ("/a/b/..", "/a"),
    ("/wp-admin/", "/wp-admin/"),
    ("/.env", "/.env"),
    ("/", "/"),
])
def test_normalize_resolves_like_a_server(raw, resolved):
    assert normalize(raw) == resolved


@pytest.mark.parametrize("path", [
    "/wp-content/uploads/2026/11/x.php.", "/wp-content/uploads/x.php%20", "/wp-content/uploads/x.php::$DATA",
    "/wp-content/uploads/x.php;jsessionid=0A1B2C", "/wp-content/uploads/x.php%00.jpg",
    "/wp-content/uploads/%c0%ae%c0%ae/uploads/x.php", "/wp-content/./uploads/x.php",
])
def test_evasive_upload_php_paths_are_upload_php(pages, path):
    assert pages.bits(path) & UPLOAD_PHP


@pytest.mark.parametrize("path", ["/wp-content/uploads/../../index.php", "/wp-content/uploads/%2e%2e/%2e%2e/x.php"])
def test_traversal_out_of_the_upload_folder_is_not_upload_php(pages, path):
    assert not pages.bits(path) & UPLOAD_PHP


def test_traversal_out_of_the_themes_folder_is_not_theme_php(pages):
    assert not pages.bits("/wp-content/themes/../uploads/x.php") & THEME_PHP
    assert pages.bits("/wp-content/themes/../uploads/x.php") & UPLOAD_PHP
