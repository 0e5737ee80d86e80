"""`syslog`: each alert as an RFC 5424 syslog message whose body is CEF, over UDP or TCP (RFC 6587
octet counting).

    <PRI>1 2026-11-02T09:15:27.401Z host cloudward - K8S_PrivilegedContainer [cloudward@32473 id="…"] CEF:0|…

CEF header fields escape `\\` and `|`; extension values escape `\\`, `=` and line breaks; RFC 5424
structured-data values escape `"`, `\\` and `]`. Other control characters are shown as escapes, so
attacker-controlled text never forges a field or a second message."""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from cloudward import __version__
from cloudward.config import ConfigError
from cloudward.sinks._delivery import DELIVERY_KEYS, DeliveryError, DeliverySink, first_values
from cloudward.textsafe import terminal_safe
from cloudward.timeutil import format_time, parse_time

CEF_SEVERITY = {"informational": 1, "low": 3, "medium": 5, "high": 8}
#: syslog severity per alert severity (local4 facility)
SYSLOG_SEVERITY = {"informational": 6, "low": 5, "medium": 4, "high": 3}
FACILITY_LOCAL4 = 20
#: the private enterprise number placeholder of RFC 5612 (documentation use)
SD_ID = "cloudward@32473"
#: alert entities sent as CEF extension keys
ENTITY_KEYS = {"source_ip": "src", "user": "suser", "host": "dhost", "namespace": "cs2", "image": "cs3"}


def cef_header(text: Any) -> str:
    return terminal_safe(str(text), 512).replace("\\", "\\\\").replace("|", "\\|")


def cef_value(text: Any) -> str:
    s = str(text).replace("\\", "\\\\").replace("=", "\\=").replace("\r\n", "\\n").replace("\n", "\\n")
    return terminal_safe(s.replace("\r", "\\r"), 2000)


def sd_value(text: Any) -> str:
    return terminal_safe(str(text), 256).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def cef_message(doc: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> str:
    sev = str(doc.get("severity", "informational"))
    resource = doc.get("resource") or {}
    ext: list[tuple[str, Any]] = [
        ("rt", int(parse_time(str(doc.get("last_seen", ""))) * 1000) or int(time.time() * 1000)),
        ("externalId", doc.get("id", "")),
        ("cat", ",".join(doc.get("tactics") or ())),
        ("cnt", doc.get("count", 0)),
        ("cs1Label", "resource"), ("cs1", f"{resource.get('type', '')}/{resource.get('name', '')}"),
    ]
    found = first_values(doc.get("entities") or {}, ENTITY_KEYS)
    if "namespace" in found:
        ext.append(("cs2Label", "namespace"))
    if "image" in found:
        ext.append(("cs3Label", "image"))
    ext += [(ENTITY_KEYS[name], value) for name, value in found.items()]
    for key, value in (extra or {}).items():
        if str(key).isalnum():
            ext.append((str(key), value))
    ext.append(("msg", doc.get("description", "")))
    header = "|".join(["CEF:0", "Cloudward", "Cloudward", cef_header(__version__),
                       cef_header(doc.get("alert_type", "")), cef_header(doc.get("title", "")),
                       str(CEF_SEVERITY.get(sev, 1))])
    return header + "|" + " ".join(f"{k}={cef_value(v)}" for k, v in ext)


def syslog_message(doc: Mapping[str, Any], hostname: str, extra: Mapping[str, Any] | None = None) -> bytes:
    sev = str(doc.get("severity", "informational"))
    pri = FACILITY_LOCAL4 * 8 + SYSLOG_SEVERITY.get(sev, 6)
    stamp = format_time(time.time())
    msgid = "".join(c for c in str(doc.get("alert_type", "-")) if 33 <= ord(c) <= 126)[:32] or "-"
    sd = f'[{SD_ID} id="{sd_value(doc.get("id", ""))}" severity="{sd_value(sev)}"]'
    return f"<{pri}>1 {stamp} {hostname} cloudward - {msgid} {sd} {cef_message(doc, extra)}".encode()


class SyslogSink(DeliverySink):
    type = "syslog"
    options: ClassVar[dict[str, str]] = {**DELIVERY_KEYS, "address": "HOST:PORT of the syslog receiver",
                                         "protocol": "udp or tcp (RFC 6587 octet counting); default udp",
                                         "hostname": "HOSTNAME field (default: this machine's name)"}

    def setup(self) -> None:
        address = self.required("address")
        host, sep, port = address.rpartition(":")
        if not sep or not port.isdigit():
            raise ConfigError(f"sink {self.type}.address: expected HOST:PORT, got {address!r}")
        self.address = (host.strip("[]"), int(port))
        self.protocol = str(self.settings.get("protocol", "udp"))
        if self.protocol not in ("udp", "tcp"):
            raise ConfigError(f"sink {self.type}.protocol: expected udp or tcp")
        name = str(self.settings.get("hostname") or socket.gethostname() or "-")
        self.hostname = "".join(c for c in name if 33 <= ord(c) <= 126)[:255] or "-"

    def deliver(self, doc: Mapping[str, Any], key: str) -> None:
        message = syslog_message(self.document(doc), self.hostname, self.extra)
        try:
            if self.protocol == "udp":
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.sendto(message, self.address)
            else:
                with socket.create_connection(self.address, timeout=self.timeout) as s:
                    s.sendall(str(len(message)).encode() + b" " + message)
        except OSError as exc:
            raise DeliveryError(f"syslog {self.address[0]}:{self.address[1]}: {exc}") from None


SINKS = {"syslog": SyslogSink}
