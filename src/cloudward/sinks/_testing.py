"""`cloudward sinks test`: one clearly marked sample alert through every configured sink."""

from __future__ import annotations

import time
import uuid

from cloudward.alerts import Alert
from cloudward.config import Config, ConfigError
from cloudward.sinks import from_config
from cloudward.sinks._delivery import DeliverySink


def sample_alert() -> Alert:
    now = time.time()
    return Alert(
        id="test-" + uuid.uuid4().hex[:19], alert_type="Cloudward_SinkTest",
        title="Cloudward sink test (not a real alert)", title_ko="Cloudward 싱크 테스트 (실제 경보 아님)",
        severity="high", tactics=[], techniques=[], source="cloudward", first_seen=now, last_seen=now, count=1,
        resource={"type": "test", "name": "cloudward-sinks-test"}, entities={"note": "sent by cloudward sinks test"},
        description="This is a test message sent by `cloudward sinks test`; no action is needed.",
        description_ko="`cloudward sinks test`가 보낸 테스트 메시지입니다. 조치가 필요하지 않습니다.",
        remediation=[], remediation_ko=[], evidence=[])


def test_sinks(config: Config) -> list[tuple[str, str, bool, str]]:
    """(name, type, ok, detail) per configured sink. Filters (severity, include/exclude) are ignored:
    the point is to see that each receiver takes a message."""
    results = []
    alert = sample_alert()
    for i, (sink, table) in enumerate(from_config(config)):
        name = str(table.get("name") or f"{table['type']}#{i}")
        try:
            sink.open(table)
            if isinstance(sink, DeliverySink):
                sink.deliver(alert.to_dict(), f"{alert.id}:1")
            else:
                sink.send([alert])
            sink.close()
            results.append((name, str(table["type"]), True, "delivered"))
        except (ConfigError, OSError, RuntimeError) as exc:
            results.append((name, str(table["type"]), False, str(exc)))
    return results
