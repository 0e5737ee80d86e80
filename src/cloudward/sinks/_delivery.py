"""Base of the sinks that deliver one alert at a time to a remote receiver (webhook, Slack, syslog,
Alertmanager, OCSF over HTTP). `serve` and `tail` deliver through the store's outbox (at-least-once,
retried with backoff, an idempotency key of alert id + revision); `scan` calls `send`, which delivers
directly. `deliver` raises `DeliveryError` when the receiver did not take the alert."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import orjson

from cloudward.alerts import Alert
from cloudward.config import ConfigError, severity_rank
from cloudward.sinks import Sink
from cloudward.timeutil import parse_duration

#: keys every delivering sink takes, besides `COMMON_KEYS`
DELIVERY_KEYS: dict[str, str] = {
    "name": "the sink's name in the outbox and in `cloudward sinks test` (default: type#index)",
    "include": "alert types to send (default: all)",
    "exclude": "alert types never to send",
    "extra": "a table of static fields added to every alert sent (team = \"platform\")",
    "renotify": "an updated alert is sent again at most this often (a duration, default 1h)",
    "timeout": "seconds to wait for the receiver (default 10)",
}


class DeliveryError(RuntimeError):
    """The receiver did not accept the alert (it will be retried)."""


class DeliverySink(Sink):
    options: ClassVar[dict[str, str]] = dict(DELIVERY_KEYS)

    def open(self, config: Mapping[str, Any]) -> None:
        self.settings = dict(config)
        self.min_rank = severity_rank(str(self.settings.get("min_severity", "informational")))
        where = f"sink {self.settings.get('name') or self.type}"
        for key in ("include", "exclude"):
            value = self.settings.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}.{key}: expected a list of alert types")
        self.include = set(self.settings.get("include") or ())
        self.exclude = set(self.settings.get("exclude") or ())
        extra = self.settings.get("extra", {})
        if not isinstance(extra, dict):
            raise ConfigError(f"{where}.extra: expected a table")
        self.extra: dict[str, Any] = dict(extra)
        try:
            self.renotify = parse_duration(self.settings.get("renotify", "1h"))
        except ValueError as exc:
            raise ConfigError(f"{where}.renotify: {exc}") from None
        self.timeout = float(self.settings.get("timeout", 10))
        self.setup()

    def setup(self) -> None:
        """Read this sink's own options (raise ConfigError naming the key)."""

    def required(self, key: str) -> str:
        value = self.settings.get(key)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"sink {self.settings.get('name') or self.type}.{key}: required (a string)")
        return value

    def secret(self, key: str) -> str:
        """An option given as `key` or `key_env` (the name of an environment variable)."""
        env = self.settings.get(f"{key}_env")
        if env:
            return os.environ.get(str(env), "")
        return str(self.settings.get(key, "") or "")

    def wants(self, doc: Mapping[str, Any]) -> bool:
        if severity_rank(str(doc.get("severity", "informational"))) < self.min_rank:
            return False
        kind = doc.get("alert_type")
        if self.include and kind not in self.include:
            return False
        return kind not in self.exclude

    def document(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """The alert contract object with the sink's static extra fields (never overriding contract keys)."""
        out = dict(doc)
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    def deliver(self, doc: Mapping[str, Any], key: str) -> None:
        raise NotImplementedError

    def send(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            doc = alert.to_dict()
            if self.wants(doc):
                self.deliver(doc, f"{alert.id}:{alert.count}")

    def close(self) -> None:
        pass

    # -- HTTP --------------------------------------------------------------------------------
    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> bytes:
        # imported on first delivery: every scan discovers the sinks, few post (urllib costs ~40 ms to import)
        import urllib.error
        import urllib.request

        req = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "cloudward",
                                              **headers})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.read(65536)
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"{url} answered {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise DeliveryError(f"{url}: {getattr(exc, 'reason', exc)}") from None


def json_body(doc: Any) -> bytes:
    return orjson.dumps(doc, default=str)


def header_table(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(f"{where}.headers: expected a table of strings")
    return {str(k): v for k, v in value.items()}


def first_values(entities: Mapping[str, Any], names: Iterable[str]) -> dict[str, str]:
    out = {}
    for name in names:
        value = entities.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if value not in (None, ""):
            out[name] = str(value)
    return out
