"""The `[server]` configuration section (`cloudward serve`), described in one place and validated."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from cloudward.config import Config, ConfigError

DEFAULT_LISTEN = "127.0.0.1:8765"
DEFAULT_DB = "cloudward.db"
ROLES = ("ingest", "reader", "admin")

#: the `[server]` section: key -> (type, default, meaning)
SERVER_SECTION: dict[str, tuple[type, Any, str]] = {
    "listen": (str, DEFAULT_LISTEN, "HOST:PORT to listen on"),
    "db": (str, DEFAULT_DB, "the SQLite store (alerts, state, tokens, outbox)"),
    "max_body_bytes": (int, 64 * 1024 * 1024, "largest request body, after gzip decoding (413 past it)"),
    "max_event_bytes": (int, 4 * 1024 * 1024, "largest single event or line in a body (413 past it)"),
    "max_queue": (int, 64, "batches waiting for the engine; past it requests get 429 with Retry-After"),
    "tls_cert": (str, "", "certificate file (PEM) to serve HTTPS"),
    "tls_key": (str, "", "the certificate's key file (PEM)"),
    "client_ca": (str, "", "CA file: clients must present a certificate it signed (the API server can)"),
    "dashboard_url": (str, "", "base URL links to an alert start with (Slack messages)"),
    "redelivery_keys": (int, 100_000, "audit events (auditID + stage) and client batches remembered to make "
                                      "a redelivery a no-op; memory and store keep at most twice this many"),
    "retention_days": (int, 0, "delete closed alerts, delivered outbox rows and redelivery keys older than "
                               "this many days (0: keep everything)"),
    "tokens": (list, [], "[[server.tokens]] tables: name, role (ingest, reader or admin), and one of "
                         "secret, secret_file, secret_env"),
}
#: the `[server.syslog]` section: key -> (type, default, meaning)
SYSLOG_SECTION: dict[str, tuple[type, Any, str]] = {
    "tcp": (str, "", "HOST:PORT for TCP (octet counting or newline framing)"),
    "udp": (str, "", "HOST:PORT for UDP"),
    "tls": (str, "", "HOST:PORT for syslog over TLS (RFC 5425, octet counting; 6514 is the usual port)"),
    "tls_cert": (str, "", "certificate file (PEM) of the TLS listener"),
    "tls_key": (str, "", "the TLS listener's key file (PEM)"),
    "tls_client_ca": (str, "", "CA file: TLS senders must present a certificate it signed ('' = any sender)"),
    "format": (str, "", "the bodies' format (default: sniffed per batch)"),
    "site_from": (str, "app_name", "app_name, hostname or none: what names the site of web and FTP logs"),
    "sites": (dict, {}, "app name -> site name, overriding site_from"),
    "flush_ms": (int, 200, "longest a message waits to be batched"),
    "max_message_bytes": (int, 64 * 1024, "longest message accepted (longer ones are dropped and counted)"),
}
TOKEN_KEYS = {"name": "what the token is for (shown in status history)", "role": "ingest, reader or admin",
              "secret": "the token itself", "secret_file": "a file holding the token",
              "secret_env": "an environment variable holding the token"}


@dataclasses.dataclass(frozen=True)
class TokenSpec:
    name: str
    role: str
    secret: str


@dataclasses.dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8765
    db: str = DEFAULT_DB
    max_body_bytes: int = 64 * 1024 * 1024
    max_event_bytes: int = 4 * 1024 * 1024
    max_queue: int = 64
    tls_cert: str = ""
    tls_key: str = ""
    client_ca: str = ""
    dashboard_url: str = ""
    redelivery_keys: int = 100_000
    retention_days: int = 0
    tokens: tuple[TokenSpec, ...] = ()

    @classmethod
    def from_config(cls, config: Config, *, listen: str | None = None, db: str | None = None) -> ServerSettings:
        section = config.section("server")
        where = f"{config.source}: [server]"
        unknown = sorted(set(section) - set(SERVER_SECTION) - {"syslog"})
        if unknown:
            raise ConfigError(f"{where} has unknown keys {', '.join(unknown)} (known: {', '.join(SERVER_SECTION)})")
        values: dict[str, Any] = {}
        for key, (kind, default, _) in SERVER_SECTION.items():
            value = section.get(key, default)
            least = 0 if key == "retention_days" else 1
            if kind is int and (not isinstance(value, int) or isinstance(value, bool) or value < least):
                raise ConfigError(f"{where} {key}: expected an integer of at least {least}, got {value!r}")
            if kind is str and not isinstance(value, str):
                raise ConfigError(f"{where} {key}: expected a string, got {value!r}")
            if kind is list and not isinstance(value, list):
                raise ConfigError(f"{where} {key}: expected an array of tables ([[server.{key}]])")
            values[key] = value
        host, port = parse_listen(listen or values.pop("listen"), where)
        values.pop("listen", None)
        if bool(values["tls_cert"]) != bool(values["tls_key"]):
            raise ConfigError(f"{where} tls_cert and tls_key: give both or neither")
        if values["client_ca"] and not values["tls_cert"]:
            raise ConfigError(f"{where} client_ca: client certificates need TLS (tls_cert, tls_key)")
        tokens = tuple(_token(t, f"{config.source}: server.tokens[{i}]") for i, t in enumerate(values.pop("tokens")))
        names = [t.name for t in tokens]
        if len(set(names)) != len(names):
            raise ConfigError(f"{config.source}: server.tokens: two tokens share a name")
        if db:
            values["db"] = db
        elif "db" not in section and config.store_path:
            values["db"] = config.store_path
        return cls(host=host, port=port, tokens=tokens, **values)


def parse_listen(text: str, where: str = "--listen") -> tuple[str, int]:
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise ConfigError(f"{where} listen: expected HOST:PORT such as 127.0.0.1:8765, got {text!r}")
    return host.strip("[]"), int(port_text)


def _token(table: Any, where: str) -> TokenSpec:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(table) - set(TOKEN_KEYS))
    if unknown:
        raise ConfigError(f"{where} has unknown keys {', '.join(unknown)} (known: {', '.join(TOKEN_KEYS)})")
    name = table.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}.name: expected a non-empty string")
    role = table.get("role")
    if role not in ROLES:
        raise ConfigError(f"{where}.role: expected one of {', '.join(ROLES)}, got {role!r}")
    given = [k for k in ("secret", "secret_file", "secret_env") if k in table]
    if len(given) != 1:
        raise ConfigError(f"{where}: give exactly one of secret, secret_file, secret_env (got {len(given)})")
    key = given[0]
    value = table[key]
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}.{key}: expected a non-empty string")
    if key == "secret":
        secret = value
    elif key == "secret_file":
        try:
            secret = Path(value).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{where}.secret_file: cannot read {value}: {exc.strerror or exc}") from None
    else:
        secret = os.environ.get(value, "").strip()
        if not secret:
            raise ConfigError(f"{where}.secret_env: the environment variable {value} is not set or empty")
    if len(secret) < 16:
        raise ConfigError(f"{where}: the token must be at least 16 characters")
    return TokenSpec(name=name, role=role, secret=secret)


def _schema_keys() -> dict[str, Any]:
    """`[server]` (with `[server.syslog]` and `[[server.tokens]]`) in the whole-file validator's terms, so
    `cloudward config check` sees its mistakes and `docs/configuration.md` lists its keys."""
    from cloudward.config_schema import Key

    kinds = {str: "string", int: "integer", dict: "map"}

    def key(kind: type, default: Any, doc: str, least: int | None = None) -> Key:
        if kind is dict:
            return Key("map", doc, values=Key("string", ""))
        return Key(kinds[kind], doc, default if default != "" else None, minimum=least)

    out: dict[str, Any] = {}
    for name, (kind, default, doc) in SERVER_SECTION.items():
        if name == "tokens":
            out[name] = Key("list", doc, items=Key("table", "one API token", keys={
                k: Key("string", d) for k, d in TOKEN_KEYS.items()}))
        else:
            out[name] = key(kind, default, doc, (0 if name == "retention_days" else 1) if kind is int else None)
    out["syslog"] = Key("table", "the syslog listener (TCP, TLS, UDP)", keys={
        name: key(kind, default, doc, 1 if kind is int else None)
        for name, (kind, default, doc) in SYSLOG_SECTION.items()})
    return out


def _register() -> None:
    from cloudward.config_schema import register_section

    register_section("server", _schema_keys())


_register()
