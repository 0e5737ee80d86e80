"""Containers from the Docker Engine API: the event stream, each container and exec inspected as it
appears, and every existing container inspected when the connection is (re)made — so a restart of
dockerd, or of the agent, loses no container's context. Records are read by the `docker-events` and
`docker-inspect` parsers, as `docker events` / `docker inspect` exports are."""

from __future__ import annotations

import os
import time
from typing import Any

from cloudward.agent.collectors import Batch, Collector, Emit
from cloudward.agent.docker_api import DockerAPI, DockerError
from cloudward.parsers.base import RecordRef
from cloudward.parsers.docker_events import DockerEvents
from cloudward.parsers.docker_inspect import DockerInspect

#: actions after which the container's inspect data is worth reading again
_INSPECT_ON = frozenset({"create", "start", "update", "restart"})


class DockerCollector(Collector):
    name = "docker"

    def available(self) -> str:
        path = self.settings.docker_socket
        if not os.path.exists(path):
            return f"no Docker socket at {path}"
        return ""

    def run(self, emit: Emit) -> None:
        self.api = DockerAPI(self.settings.docker_socket)
        self.seq = 0
        self.events_dialect = DockerEvents()
        self.inspect_dialect = DockerInspect()
        self.extra["reconnects"] = 0
        since: int | None = None
        first = True
        while not self.stopping.is_set():
            try:
                version = self.api.version()
                self.health.set("ok", f"Docker {version.get('Version', '?')} at {self.settings.docker_socket}")
                if not first:
                    self.extra["reconnects"] += 1
                first = False
                for summary in self.api.containers():
                    self._inspect(emit, str(summary.get("Id", "")))
                for record in self.api.events(since=since):
                    if self.stopping.is_set():
                        return
                    if record is None:
                        continue
                    since = int(record.get("time") or 0) or since
                    self._event(emit, record)
                self.health.set("degraded", "the Docker event stream ended (dockerd restarting?); reconnecting")
            except (OSError, DockerError) as exc:
                self.health.set("degraded", f"cannot reach dockerd at {self.settings.docker_socket}: {exc}; "
                                            "retrying")
            self.stopping.wait(1.0)

    def _ref(self, record: dict[str, Any]) -> RecordRef:
        """A reference that is the same when the same thing is read again (an event replayed by `since`
        after a reconnect, an unchanged container inspected again), so its alerts do not count it twice."""
        if "timeNano" in record:
            actor = record.get("Actor") if isinstance(record.get("Actor"), dict) else {}
            key = f"docker-event:{record.get('timeNano')}:{str(actor.get('ID', ''))[:12]}:{record.get('Action', '')}"
        elif "State" in record and "Id" in record:
            state = record.get("State") if isinstance(record.get("State"), dict) else {}
            key = f"docker-inspect:{str(record['Id'])[:12]}:{state.get('Status', '')}:{state.get('StartedAt', '')}"
        elif "ProcessConfig" in record and "ID" in record:
            key = f"docker-exec:{str(record['ID'])[:12]}:{record.get('Pid', '')}"
        else:
            self.seq += 1
            key = f"agent:docker:{self.seq}"
        return RecordRef(key, 1)

    def _event(self, emit: Emit, record: dict[str, Any]) -> None:
        action = str(record.get("Action") or "").split(":", 1)[0].strip()
        actor = record.get("Actor") if isinstance(record.get("Actor"), dict) else {}
        cid = str(actor.get("ID") or record.get("id") or "")
        if action in _INSPECT_ON and cid:
            self._inspect(emit, cid)
        if action.startswith("exec_") and isinstance(actor.get("Attributes"), dict):
            exec_id = str(actor["Attributes"].get("execID") or "")
            if exec_id:
                try:
                    data = self.api.inspect_exec(exec_id)
                except (OSError, DockerError):
                    data = None
                if isinstance(data, dict):
                    self._emit(emit, "docker-inspect", self.inspect_dialect, data)
        self._emit(emit, "docker-events", self.events_dialect, record)

    def _inspect(self, emit: Emit, container_id: str) -> None:
        if not container_id:
            return
        try:
            data = self.api.inspect_container(container_id)
        except (OSError, DockerError):
            return
        if isinstance(data, dict):
            self._emit(emit, "docker-inspect", self.inspect_dialect, data)

    def _emit(self, emit: Emit, fmt: str, dialect: Any, record: dict[str, Any]) -> None:
        events = list(dialect.events(record, self._ref(record), self.ctx))
        for ev in events:
            if not ev.time:
                ev.time = time.time()
        self.health.events += len(events)
        emit(Batch(self.name, fmt, [record], events))


COLLECTOR = DockerCollector
