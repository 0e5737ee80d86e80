"""The syslog listener of `cloudward serve` (`[server.syslog]`): TCP (RFC 6587 octet counting and
newline framing), TLS (RFC 5425, the same framing inside TLS) and UDP, RFC 5424 and RFC 3164
messages. The message body goes to the sniffed parser
(or `format`); the app name (or `sites`, a mapping of app name to site) gives the site, the syslog
hostname the host. Messages are grouped per (site, host) for up to `flush_ms` into one engine batch."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import queue
import ssl
from typing import Any

from cloudward.config import Config, ConfigError
from cloudward.server.settings import SYSLOG_SECTION, parse_listen
from cloudward.server.worker import IngestWorker, Job


@dataclasses.dataclass(frozen=True)
class SyslogSettings:
    tcp: tuple[str, int] | None = None
    udp: tuple[str, int] | None = None
    #: RFC 5425: syslog over TLS (octet counting; newline framing accepted too)
    tls: tuple[str, int] | None = None
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    format: str | None = None
    site_from: str = "app_name"
    sites: dict[str, str] = dataclasses.field(default_factory=dict)
    flush_ms: int = 200
    max_message_bytes: int = 64 * 1024

    @classmethod
    def from_config(cls, config: Config) -> SyslogSettings | None:
        section = config.section("server").get("syslog")
        if section is None:
            return None
        where = f"{config.source}: [server.syslog]"
        if not isinstance(section, dict):
            raise ConfigError(f"{where} must be a table")
        unknown = sorted(set(section) - set(SYSLOG_SECTION))
        if unknown:
            raise ConfigError(f"{where} has unknown keys {', '.join(unknown)} (known: {', '.join(SYSLOG_SECTION)})")
        for key, (kind, _, _) in SYSLOG_SECTION.items():
            if key in section and not isinstance(section[key], kind):
                raise ConfigError(f"{where} {key}: expected a {kind.__name__}")
        if section.get("site_from", "app_name") not in ("app_name", "hostname", "none"):
            raise ConfigError(f"{where} site_from: expected app_name, hostname or none")
        tcp = parse_listen(section["tcp"], f"{where} tcp") if section.get("tcp") else None
        udp = parse_listen(section["udp"], f"{where} udp") if section.get("udp") else None
        tls = parse_listen(section["tls"], f"{where} tls") if section.get("tls") else None
        if not tcp and not udp and not tls:
            raise ConfigError(f"{where}: give at least one of tcp, udp and tls (HOST:PORT)")
        cert, key, client_ca = (section.get(k, "") for k in ("tls_cert", "tls_key", "tls_client_ca"))
        if tls and not (cert and key):
            raise ConfigError(f"{where} tls: needs tls_cert and tls_key (PEM files)")
        if (cert or key or client_ca) and not tls:
            raise ConfigError(f"{where} tls_cert, tls_key, tls_client_ca: only with tls (HOST:PORT)")
        for name, path in (("tls_cert", cert), ("tls_key", key), ("tls_client_ca", client_ca)):
            if path and not os.path.isfile(path):
                raise ConfigError(f"{where} {name}: no such file {path}")
        return cls(tcp=tcp, udp=udp, tls=tls, tls_cert=cert, tls_key=key, tls_client_ca=client_ca,
                   format=section.get("format") or None,
                   site_from=section.get("site_from", "app_name"),
                   sites={str(k): str(v) for k, v in (section.get("sites") or {}).items()},
                   flush_ms=int(section.get("flush_ms", 200)),
                   max_message_bytes=int(section.get("max_message_bytes", 64 * 1024)))


@dataclasses.dataclass
class Message:
    hostname: str
    app_name: str
    body: bytes


def _token(data: bytes, pos: int) -> tuple[bytes, int]:
    end = data.find(b" ", pos)
    if end < 0:
        return data[pos:], len(data)
    return data[pos:end], end + 1


def parse_message(data: bytes) -> Message | None:
    """An RFC 5424 or RFC 3164 message; None when it has no `<PRI>`."""
    data = data.rstrip(b"\r\n\x00")
    if not data.startswith(b"<"):
        return None
    close = data.find(b">", 1, 5)
    if close < 0 or not data[1:close].isdigit():
        return None
    pos = close + 1
    if data[pos:pos + 2] == b"1 ":  # RFC 5424: VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG
        pos += 2
        _, pos = _token(data, pos)
        host, pos = _token(data, pos)
        app, pos = _token(data, pos)
        _, pos = _token(data, pos)
        _, pos = _token(data, pos)
        if data[pos:pos + 1] == b"[":  # structured data: skip elements, honouring escapes in values
            i = pos
            in_value = False
            while i < len(data):
                c = data[i:i + 1]
                if in_value:
                    if c == b"\\":
                        i += 1
                    elif c == b'"':
                        in_value = False
                elif c == b'"':
                    in_value = True
                elif c == b"]" and data[i + 1:i + 2] != b"[":
                    i += 1
                    break
                i += 1
            pos = i + 1 if data[i:i + 1] == b" " else i
        else:
            _, pos = _token(data, pos)
        body = data[pos:]
        if body.startswith(b"\xef\xbb\xbf"):
            body = body[3:]
        return Message(host.decode("utf-8", "replace").strip("-"), app.decode("utf-8", "replace").strip("-"), body)
    # RFC 3164: TIMESTAMP (Mmm dd hh:mm:ss) HOSTNAME TAG: MSG
    rest = data[pos:]
    if len(rest) > 16 and rest[3:4] == b" " and rest[6:7] == b" " and rest[9:10] == b":":
        rest = rest[16:]
    host, next_pos = _token(rest, 0)
    after = rest[next_pos:]
    colon = after.find(b": ")
    if colon < 0 or b" " in after[:colon]:
        whole = rest.find(b": ")
        if whole < 0 or b" " in rest[:whole]:  # no tag: all of it is the message
            return Message(host.decode("utf-8", "replace"), "", after)
        host, after, colon = b"", rest, whole  # no hostname: the tag starts the message
    tag = after[:colon]
    bracket = tag.find(b"[")
    app = tag[:bracket] if bracket >= 0 else tag
    return Message(host.decode("utf-8", "replace"), app.decode("utf-8", "replace"), after[colon + 2:])


class SyslogListener:
    def __init__(self, settings: SyslogSettings, worker: IngestWorker) -> None:
        self.settings = settings
        self.worker = worker
        self.pending: dict[tuple[str, str], list[bytes]] = {}
        self.dropped = 0
        self._servers: list[Any] = []
        self._flusher: asyncio.Task[None] | None = None

    def origin(self, msg: Message) -> dict[str, str]:
        out = {}
        site = self.settings.sites.get(msg.app_name)
        if site is None and self.settings.site_from == "app_name":
            site = msg.app_name
        elif site is None and self.settings.site_from == "hostname":
            site = msg.hostname
        if site:
            out["site"] = site[:256]
        if msg.hostname:
            out["host"] = msg.hostname[:256]
        return out

    def take(self, raw: bytes) -> None:
        if len(raw) > self.settings.max_message_bytes:
            self.dropped += 1
            return
        msg = parse_message(raw)
        if msg is None or not msg.body.strip():
            self.dropped += 1
            return
        origin = self.origin(msg)
        key = (origin.get("site", ""), origin.get("host", ""))
        self.pending.setdefault(key, []).append(msg.body.replace(b"\n", b" ") + b"\n")

    async def flush(self) -> None:
        batches, self.pending = self.pending, {}
        for (site, host), lines in batches.items():
            defaults = {k: v for k, v in (("site", site), ("host", host)) if v}
            job = Job(source="syslog" + (f" site={site}" if site else ""), data=b"".join(lines),
                      fmt=self.settings.format, defaults=defaults)
            while True:
                try:
                    future = self.worker.submit(job)
                    break
                except queue.Full:  # TCP senders wait (backpressure); UDP datagrams queue in the kernel
                    await asyncio.sleep(0.05)
            with contextlib.suppress(Exception):
                await asyncio.wrap_future(future)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flush_ms / 1000)
            if self.pending:
                await self.flush()

    async def _tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        limit = self.settings.max_message_bytes
        try:
            while True:
                first = await reader.read(1)
                if not first:
                    break
                if first.isdigit():  # octet counting: LEN SP MSG
                    digits = first + await reader.readuntil(b" ")
                    length = int(digits[:-1])
                    if length > limit:
                        await reader.readexactly(length)
                        self.dropped += 1
                        continue
                    self.take(await reader.readexactly(length))
                else:
                    self.take(first + await reader.readuntil(b"\n"))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, ConnectionError):
            pass
        finally:
            writer.close()

    def tls_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.settings.tls_cert, self.settings.tls_key)
        if self.settings.tls_client_ca:  # RFC 5425 mutual authentication: senders present a certificate
            ctx.load_verify_locations(self.settings.tls_client_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.settings.tcp:
            host, port = self.settings.tcp
            self._servers.append(await asyncio.start_server(self._tcp, host, port,
                                                            limit=self.settings.max_message_bytes + 64))
        if self.settings.tls:
            host, port = self.settings.tls
            self._servers.append(await asyncio.start_server(self._tcp, host, port, ssl=self.tls_context(),
                                                            limit=self.settings.max_message_bytes + 64,
                                                            ssl_handshake_timeout=30))
        if self.settings.udp:
            listener = self

            class Datagrams(asyncio.DatagramProtocol):
                def datagram_received(self, data: bytes, addr: Any) -> None:
                    listener.take(data)

            host, port = self.settings.udp
            transport, _ = await loop.create_datagram_endpoint(Datagrams, local_addr=(host, port))
            self._servers.append(transport)
        self._flusher = asyncio.create_task(self._flush_loop())

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
        for server in self._servers:
            server.close()
        if self.pending:
            await self.flush()
