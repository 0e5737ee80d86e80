"""AppServices_PhpInUploadFolder: a successful request for a PHP file below an upload folder."""

from __future__ import annotations

from cloudward.alerts import Finding
from cloudward.analytics.web_filter import WebLineFilter
from cloudward.analytics.web_paths import UPLOAD_PHP, normalize, upload_folder_of
from cloudward.detections.appservice._web import CHROME, clf, line_filter, lines, pages, request_entities
from cloudward.detections.base import Card, Detection, Sample
from cloudward.events import HttpRequest

W3C_HEADER = (
    "#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n#Date: 2026-11-02 00:00:00\n"
    "#Fields: date time s-sitename cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) "
    "cs(Cookie) cs(Referer) cs-host sc-status sc-substatus sc-win32-status sc-bytes cs-bytes time-taken\n"
)

CARD = Card(
    id="AppServices_PhpInUploadFolder",
    title="PHP file in upload folder",
    title_ko="업로드 폴더의 PHP 파일",
    severity="medium",
    tactics=("Execution", "Persistence"),
    techniques=("T1505.003", "T1190"),
    data_source="HTTP",
    looks_at="successful (2xx) HTTP requests for .php/.phtml/.php3-8/.phar files (any path segment, so "
             "PATH_INFO tricks count) below an upload folder (web_upload_folders: wp-content/uploads, uploads, "
             "files, images, media, ...)",
    description="{source_ip} successfully requested {path} on [[{site}||the site]], a PHP file inside the upload folder "
                "{upload_folder}. Upload folders hold visitors' and editors' files; a PHP file there that the "
                "server runs is the usual shape of an uploaded web shell.",
    description_ko="{source_ip}이(가) [[{site}||사이트]]의 업로드 폴더 {upload_folder} 안에 있는 PHP 파일 {path}을(를) 성공적으로 "
                   "요청했습니다. 업로드 폴더에는 방문자와 편집자의 파일만 있어야 하며, 서버가 실행하는 PHP 파일이 "
                   "있다면 업로드된 웹 셸일 가능성이 높습니다.",
    remediation=(
        "Take the file out of the web root (keep a copy for analysis) and look for others like it in the same folder.",
        "Find how it got there: upload form, plugin, FTP or deployment logs around its creation time.",
        "Stop the server from running scripts in upload folders (php_flag engine off / a deny rule for *.php).",
        "Rotate credentials the site holds (database, storage keys) if the shell was reachable.",
    ),
    remediation_ko=(
        "파일을 웹 루트 밖으로 옮기고(분석용 사본 보관) 같은 폴더에 비슷한 파일이 더 있는지 확인하십시오.",
        "파일이 생긴 경로를 찾으십시오: 생성 시각 전후의 업로드 폼, 플러그인, FTP 또는 배포 로그.",
        "업로드 폴더에서 스크립트가 실행되지 않도록 서버를 설정하십시오(php_flag engine off 또는 *.php 차단 규칙).",
        "웹 셸에 접근 가능했다면 사이트가 가진 자격 증명(데이터베이스, 스토리지 키)을 교체하십시오.",
    ),
    false_positives=(
        "A few plugins ship PHP helpers inside their uploads sub-folder (image resizers); add the exact path to "
        "allow, e.g. { path = \"/wp-content/uploads/some-plugin/resize.php\" }.",
    ),
    samples=(
        Sample("web shell in wp-content/uploads", "combined", lines(
            clf("198.51.100.23", "02/Nov/2026:09:15:27", "GET /wp-content/uploads/2026/11/photo.jpg HTTP/1.1", 200,
                agent=CHROME),
            clf("203.0.113.77", "02/Nov/2026:09:16:02", "POST /wp-content/uploads/2026/11/x7.php?c=id HTTP/1.1",
                200, size=312, agent="python-requests/2.31.0"),
        ), expect=1, config={"site": "blog.example.com"},
            entities={"source_ip": "203.0.113.77", "site": "blog.example.com",
                      "path": "/wp-content/uploads/2026/11/x7.php", "upload_folder": "wp-content/uploads"}),
        Sample("upper-case extension and PATH_INFO on IIS", "w3c-http", W3C_HEADER +
            "2026-11-02 09:20:11 SHOP GET /Images/logo.PhTmL/a.gif - 443 - 203.0.113.78 curl/8.4.0 - - "
            "shop.example.com 200 0 0 812 190 15\n", expect=1, entities={"site": "shop", "source_ip": "203.0.113.78"}),
        Sample("images and documents in uploads are normal", "combined", lines(
            clf("198.51.100.23", "02/Nov/2026:09:15:27", "GET /wp-content/uploads/2026/11/photo.jpg HTTP/1.1", 200),
            clf("198.51.100.24", "02/Nov/2026:09:15:29", "GET /uploads/report.pdf HTTP/1.1", 200),
            clf("198.51.100.24", "02/Nov/2026:09:15:30", "GET /media/logo.php.png HTTP/1.1", 200),
        ), expect=0, config={"site": "blog.example.com"}),
        Sample("blocked or missing PHP in uploads does not alert", "combined", lines(
            clf("203.0.113.77", "02/Nov/2026:09:16:02", "GET /wp-content/uploads/shell.php HTTP/1.1", 404),
            clf("203.0.113.77", "02/Nov/2026:09:16:03", "GET /uploads/cmd.php HTTP/1.1", 403),
        ), expect=0, config={"site": "blog.example.com"}),
        Sample("upload handlers named upload.php are not in an upload folder", "combined", lines(
            clf("198.51.100.30", "02/Nov/2026:09:17:00", "POST /upload.php HTTP/1.1", 200),
            clf("198.51.100.30", "02/Nov/2026:09:17:01", "POST /wp-content/plugins/forms/upload.php HTTP/1.1", 200),
        ), expect=0, config={"site": "blog.example.com"}),
    ),
)


class PhpInUploadFolder(Detection):
    card = CARD
    kinds = (HttpRequest,)

    def setup(self) -> None:
        self.pages = pages(self)
        self.cache_get = self.pages.cache.get
        self.prefilter = line_filter(self, path_mask=UPLOAD_PHP)

    def line_prefilter(self) -> WebLineFilter:
        return self.prefilter

    def evaluate(self, event: HttpRequest) -> list[Finding] | None:
        bits = self.cache_get(event.path)
        if bits is None:
            bits = self.pages.bits(event.path)
        if not bits & UPLOAD_PHP or not 200 <= event.status < 300:
            return None
        entities = request_entities(event)
        entities["path"] = event.path
        entities["upload_folder"] = upload_folder_of(self.pages, event.path)
        entities["method"] = event.method
        return [Finding(key=normalize(event.path), entities=entities, event=event)]
