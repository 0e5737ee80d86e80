"""Host configuration: the dockerd command line, /etc/docker/daemon.json and listening sockets,
checked at start and again whenever a dockerd (re)starts (a new pid or start time).

The command line is handed on as an ECS process record (what `VM_ExposedDocker` reads from any
process source), daemon.json as the `docker-daemon-config` record it is.
"""

from __future__ import annotations

import json
import os

from cloudward.agent.collectors import Batch, Collector, Emit
from cloudward.agent.ecs import process_record
from cloudward.agent.procfs import TCP_LISTEN, all_pids, proc_info, read_text, socket_inodes, tcp_sockets
from cloudward.parsers.base import RecordRef
from cloudward.parsers.docker_daemon_config import DockerDaemonConfig
from cloudward.parsers.ecs_process import EcsProcess

_DAEMONS = ("dockerd", "containerd", "podman")


class HostConfigCollector(Collector):
    name = "host_config"

    def run(self, emit: Emit) -> None:
        self.seq = 0
        known: dict[int, int] = {}
        self.health.set("ok", "watching for dockerd (re)starts")
        while not self.stopping.is_set():
            current = {}
            for pid in all_pids():
                if read_text(f"/proc/{pid}/comm", 64).strip() == "dockerd":
                    info = proc_info(pid)
                    current[pid] = info.start_ticks
                    if known.get(pid) != info.start_ticks and info.argv:
                        self._daemon(emit, info)
            known = current
            self.extra["dockerd_pids"] = sorted(current)
            self.stopping.wait(self.settings.host_config_interval)

    def _ref(self) -> RecordRef:
        self.seq += 1
        return RecordRef("agent:host_config", self.seq)

    def _daemon(self, emit: Emit, info: object) -> None:
        from cloudward.agent.procfs import ProcInfo

        assert isinstance(info, ProcInfo)
        host = self.ctx.host
        record = process_record(info, host, action="running")
        events = list(EcsProcess().events(record, self._ref(), self.ctx))
        emit(Batch(self.name, "ecs-process", [record], events))
        self.health.events += len(events)
        # what the daemon really listens on, next to what it was told
        inodes = socket_inodes(info.pid)
        listening = sorted({f"{s.local_ip}:{s.local_port}" for s in tcp_sockets(info.pid)
                            if s.state == TCP_LISTEN and s.inode in inodes})
        self.extra["dockerd_listening"] = listening
        self._listening(emit, info, listening)
        path = self.settings.docker_daemon_json
        if os.path.exists(path):
            try:
                with open(path, encoding="utf-8") as fh:
                    doc = json.load(fh)
            except (OSError, ValueError) as exc:
                self.extra["daemon_json_error"] = f"{path}: {exc}"
                return
            dialect = DockerDaemonConfig()
            if isinstance(doc, dict) and dialect.claims(doc):
                events = list(dialect.events(doc, RecordRef(path, 1), self.ctx))
                emit(Batch(self.name, "docker-daemon-config", [doc], events))
                self.health.events += len(events)


    def _listening(self, emit: Emit, info: object, listening: list[str]) -> None:
        """TCP sockets dockerd listens on that its command line does not name (socket activation with
        `-H fd://`, a systemd socket unit): reported as listen addresses, as daemon.json's would be."""
        from cloudward.agent.procfs import ProcInfo
        from cloudward.detections.node.vm_exposed_docker import daemon_flags

        assert isinstance(info, ProcInfo)
        hosts, verify = daemon_flags(info.argv)
        named = {h.split("://", 1)[-1] for h in hosts if h.startswith("tcp://")}
        metrics = {a.split("=", 1)[1] for a in info.argv if a.startswith("--metrics-addr=")}
        extra = []
        for addr in listening:
            port = int(addr.rsplit(":", 1)[1])
            if addr in named or addr in metrics or port in _SWARM_PORTS:
                continue
            host = addr.rsplit(":", 1)[0]
            extra.append(f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{addr}")
        if not extra:
            return
        record = {"hosts": extra, "tlsverify": verify}
        ref = RecordRef(f"(TCP sockets dockerd pid {info.pid} listens on)", 1)
        events = list(DockerDaemonConfig().events(record, ref, self.ctx))
        emit(Batch(self.name, "docker-daemon-config", [record], events))
        self.health.events += len(events)


#: swarm's own ports (cluster management, node gossip): not the Engine API
_SWARM_PORTS = frozenset({2377, 7946})

COLLECTOR = HostConfigCollector
