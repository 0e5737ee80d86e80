"""Docker daemon configuration (`/etc/docker/daemon.json`): where the daemon listens.

A daemon.json with `hosts` becomes one `ContainerEvent` with action `daemon_config`: `ports` holds
the listen addresses and `labels["tlsverify"]` whether client certificates are required, so the
exposed-daemon detection reads the file the same way it reads a `dockerd -H ...` command line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cloudward.events import ContainerEvent, Event
from cloudward.parsers.base import JsonDialect, ParseContext, RecordRef

#: keys only daemon.json has; one of them next to `hosts` tells the file apart from other JSON
_DAEMON_KEYS = frozenset({
    "tlsverify", "tlscacert", "tlscert", "tlskey", "tls", "data-root", "storage-driver", "log-driver",
    "log-opts", "insecure-registries", "registry-mirrors", "live-restore", "exec-opts", "iptables",
    "userns-remap", "default-runtime", "runtimes", "bip", "dns", "features", "containerd", "group",
    "debug", "experimental", "default-address-pools", "icc", "userland-proxy", "selinux-enabled",
})


class DockerDaemonConfig(JsonDialect):
    name = "docker-daemon-config"
    description = "Docker daemon.json (listen addresses and TLS settings)"
    kinds = ("ContainerEvent",)
    order = 25

    def claims(self, record: dict[str, Any]) -> bool:
        hosts = record.get("hosts")
        return isinstance(hosts, list) and (len(record) == 1 or any(k in _DAEMON_KEYS for k in record))

    def events(self, record: dict[str, Any], ref: RecordRef, ctx: ParseContext) -> Iterator[Event]:
        hosts = [h for h in record.get("hosts") or () if isinstance(h, str)]
        tlsverify = record.get("tlsverify") is True
        yield ContainerEvent(
            event_id=str(ref), raw=record, origin=str(ref), host=ctx.host, runtime="docker",
            action="daemon_config", ports=hosts, labels={"tlsverify": "true" if tlsverify else "false"},
        )


FORMATS = [DockerDaemonConfig()]
