"""Fallback connection collector: outbound TCP sockets read from /proc/<pid>/net/tcp{,6} once per
network namespace, mapped to the process holding them (and so to its container).

Used when the audit stream (connect()) cannot be had. A sweep every `proc_net_interval` seconds sees
connections that last at least that long; each (namespace, socket inode) is reported once.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict

from cloudward.agent.collectors import Batch, Collector, Emit
from cloudward.agent.ecs import connection_record
from cloudward.agent.procfs import TCP_ESTABLISHED, TCP_SYN_SENT, all_pids, proc_info, socket_inodes, tcp_sockets
from cloudward.parsers.base import RecordRef
from cloudward.parsers.ecs_process import EcsProcess


class ProcNetCollector(Collector):
    name = "proc_net"
    replaced_by = ("audit",)

    def run(self, emit: Emit) -> None:
        self.health.set("ok", "sweeping /proc/<pid>/net/tcp per network namespace")
        seen: OrderedDict[tuple[str, int], None] = OrderedDict()
        listening_ports: set[int] = set()
        seq = 0
        ecs = EcsProcess()
        while not self.stopping.is_set():
            by_ns: dict[str, list[int]] = {}
            for pid in all_pids():
                try:
                    ns = os.readlink(f"/proc/{pid}/ns/net")
                except OSError:
                    continue
                by_ns.setdefault(ns, []).append(pid)
            for ns, pids in by_ns.items():
                socks = tcp_sockets(pids[0])
                listening_ports = {s.local_port for s in socks if s.state == "0A"}
                fresh = {s.inode: s for s in socks if s.state in (TCP_ESTABLISHED, TCP_SYN_SENT) and s.inode
                         and (ns, s.inode) not in seen and s.local_port not in listening_ports}
                if not fresh:
                    continue
                for pid in pids:
                    owned = socket_inodes(pid) & fresh.keys()
                    for inode in owned:
                        s = fresh.pop(inode)
                        seen[(ns, inode)] = None
                        if len(seen) > 65536:
                            seen.popitem(last=False)
                        info = proc_info(pid)
                        record = connection_record(info, self.ctx.host, s.remote_ip, s.remote_port, when=time.time())
                        seq += 1
                        events = list(ecs.events(record, RecordRef("agent:proc_net", seq), self.ctx))
                        self.health.events += len(events)
                        emit(Batch(self.name, "ecs-process", [record], events))
                    if not fresh:
                        break
            self.stopping.wait(self.settings.proc_net_interval)


COLLECTOR = ProcNetCollector
