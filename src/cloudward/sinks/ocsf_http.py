"""`ocsf_http`: each alert as an OCSF 1.1 Detection Finding (class 2004) POSTed to a collector."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from cloudward.sinks._delivery import DELIVERY_KEYS, DeliverySink, header_table, json_body
from cloudward.sinks.ocsf import to_ocsf


class OcsfHttpSink(DeliverySink):
    type = "ocsf_http"
    options: ClassVar[dict[str, str]] = {**DELIVERY_KEYS, "url": "where to POST",
                                         "headers": "a table of extra headers (Authorization...)"}

    def setup(self) -> None:
        self.url = self.required("url")
        self.headers = header_table(self.settings.get("headers"), f"sink {self.type}")

    def deliver(self, doc: Mapping[str, Any], key: str) -> None:
        from cloudward.store import _alert_from_body

        finding = to_ocsf(_alert_from_body(dict(doc), set()))
        if self.extra:
            finding.setdefault("unmapped", {}).update(self.extra)
        self.post(self.url, json_body(finding), {**self.headers, "Idempotency-Key": key})


SINKS = {"ocsf_http": OcsfHttpSink}
