"""Delivering sinks' wire formats, and `cloudward sinks test` against real receivers."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import orjson
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from serving import Receiver

from cloudward.cli import main
from cloudward.sinks.slack import slack_escape, slack_message
from cloudward.sinks.syslog_cef import cef_header, cef_message, cef_value, sd_value
from cloudward.sinks.webhook import signature


def test_cef_escaping() -> None:
    assert cef_header("a|b\\c") == "a\\|b\\\\c"
    assert cef_value("k=v\r\nnext\\") == "k\\=v\\nnext\\\\"
    assert "\x1b" not in cef_value("\x1b[31mred")
    assert sd_value('x"]y') == 'x\\"\\]y'
    msg = cef_message({"id": "a1", "alert_type": "T", "title": "t|x", "severity": "high", "tactics": ["Execution"],
                       "resource": {"type": "cluster", "name": "c"}, "entities": {"source_ip": ["192.0.2.1"]},
                       "description": "d=1", "last_seen": "2026-11-02T09:15:27.401Z", "count": 2})
    assert msg.startswith("CEF:0|Cloudward|Cloudward|") and "|T|t\\|x|8|" in msg
    assert "src=192.0.2.1" in msg and msg.endswith("msg=d\\=1") and "rt=1793610927401" in msg


def test_slack_text_is_escaped() -> None:
    assert slack_escape("<!channel> & <http://x|y>") == "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"
    msg = slack_message({"id": "a1", "severity": "high", "title": "T", "resource": {"type": "site", "name": "s"},
                         "entities": {"user_agent": "<script>"}, "description": "d"}, "https://cw")
    text = msg["blocks"][0]["text"]["text"]
    assert "&lt;script&gt;" in text and "<https://cw/alerts/a1|Open in Cloudward>" in text


def test_sinks_test_reports_every_sink(tmp_path: Path) -> None:
    receiver = Receiver()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[[sinks]]\ntype = "webhook"\nname = "ok-hook"\nurl = "{receiver.url}/h"\nsecret = "s3cret"\n'
                   f'[[sinks]]\ntype = "webhook"\nname = "dead-hook"\nurl = "http://127.0.0.1:{dead_port}/h"\n'
                   f'[[sinks]]\ntype = "jsonl_file"\npath = "{tmp_path / "out.jsonl"}"\n')
    try:
        result = CliRunner().invoke(main, ["sinks", "test", "--config", str(cfg)])
    finally:
        receiver.close()
    assert result.exit_code == 1, result.output
    assert "ok   ok-hook (webhook): delivered" in result.output
    assert "FAIL dead-hook (webhook)" in result.output
    assert "ok   jsonl_file#2 (jsonl_file)" in result.output
    (_, headers, body), = receiver.requests
    assert headers["x-cloudward-signature"] == signature("s3cret", body)
    assert orjson.loads(body)["title"] == "Cloudward sink test (not a real alert)"
    assert "Cloudward_SinkTest" in (tmp_path / "out.jsonl").read_text()
