"""`webhook`: the alert contract as a JSON POST to any HTTPS endpoint, signed with HMAC-SHA256.

Headers: `X-Cloudward-Signature: sha256=<hex HMAC of the body with the secret>`, `Idempotency-Key:
<alert id>:<revision>` (a receiver that saw the key may drop the request), and any `headers` given."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from cloudward.sinks._delivery import DELIVERY_KEYS, DeliverySink, header_table, json_body

SIGNATURE_HEADER = "X-Cloudward-Signature"


def signature(secret: str, body: bytes) -> str:
    import hashlib  # here: sink discovery imports this module on every scan, and hashlib loads OpenSSL
    import hmac

    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookSink(DeliverySink):
    type = "webhook"
    options: ClassVar[dict[str, str]] = {
        **DELIVERY_KEYS, "url": "where to POST", "secret": "HMAC-SHA256 key for the signature header",
        "secret_env": "environment variable holding the secret", "headers": "a table of extra headers"}

    def setup(self) -> None:
        self.url = self.required("url")
        self.key = self.secret("secret")
        self.headers = header_table(self.settings.get("headers"), f"sink {self.type}")

    def deliver(self, doc: Mapping[str, Any], key: str) -> None:
        body = json_body(self.document(doc))
        headers = {**self.headers, "Idempotency-Key": key}
        if self.key:
            headers[SIGNATURE_HEADER] = signature(self.key, body)
        self.post(self.url, body, headers)


SINKS = {"webhook": WebhookSink}
