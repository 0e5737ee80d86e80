"""`jsonl` (one alert object per line) and `json` (one array) per the alert contract."""

from __future__ import annotations

from typing import Any, BinaryIO

import orjson

from cloudward.alerts import Alert
from cloudward.sinks import Sink

_OPTS = orjson.OPT_NON_STR_KEYS


def alert_json(alert: Alert) -> bytes:
    return orjson.dumps(alert.to_dict(), option=_OPTS, default=str)


def write_jsonl(alerts: list[Alert], out: BinaryIO, options: dict[str, Any]) -> None:
    for alert in alerts:
        out.write(alert_json(alert) + b"\n")


def write_json(alerts: list[Alert], out: BinaryIO, options: dict[str, Any]) -> None:
    out.write(orjson.dumps([a.to_dict() for a in alerts], option=_OPTS | orjson.OPT_INDENT_2, default=str))
    out.write(b"\n")


OUTPUTS = {"jsonl": write_jsonl, "json": write_json}


class JsonLinesSink(Sink):
    """`jsonl`: one alert object per line, written as alerts change (a changed alert is written again)."""

    type = "jsonl"

    def send(self, alerts: list[Alert]) -> None:
        assert self.stream is not None
        for alert in self.wanted(alerts):
            self.stream.write(alert_json(alert) + b"\n")
        self.stream.flush()


class JsonLinesFileSink(JsonLinesSink):
    """`jsonl_file`: the same, appended to the file at `path`."""

    type = "jsonl_file"
    needs_path = True


SINKS = {"jsonl": JsonLinesSink, "jsonl_file": JsonLinesFileSink}
