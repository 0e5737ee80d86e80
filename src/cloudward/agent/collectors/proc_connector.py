"""Fallback process collector: the netlink process connector (PROC_EVENTS fork/exec/exit), each exec
enriched from /proc (exe, cmdline, cwd, uids, capabilities, cgroup).

Used when the audit stream cannot be had. A process that exits before /proc is read still gives a
record with what is known (its pid, its parent from the fork, the parent's cgroup); those are counted
as misses in the collector's health.
"""

from __future__ import annotations

import socket
import struct
import time
from collections import OrderedDict

from cloudward.agent.collectors import Batch, Collector, Emit
from cloudward.agent.containers import ContainerResolver
from cloudward.agent.cri import CriMetadata
from cloudward.agent.ecs import process_record
from cloudward.agent.procfs import ProcInfo, proc_info
from cloudward.parsers.base import RecordRef
from cloudward.parsers.ecs_process import EcsProcess

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_CN_MCAST_IGNORE = 2
PROC_EVENT_FORK = 0x1
PROC_EVENT_EXEC = 0x2
PROC_EVENT_EXIT = 0x80000000
_CN_MSG = struct.Struct("=IIIIHH")  # cb_id idx, val; seq; ack; len; flags
_EVENT_HEAD = struct.Struct("=IIQ")  # what, cpu, timestamp_ns


def _subscribe_message(op: int) -> bytes:
    payload = struct.pack("=I", op)
    cn = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(payload), 0) + payload
    return struct.pack("=IHHII", 16 + len(cn), 3, 0, 0, 0) + cn  # NLMSG_DONE carries connector messages


class ProcConnectorCollector(Collector):
    name = "proc_connector"
    replaced_by = ("audit",)

    def available(self) -> str:
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
            sock.close()
        except OSError as exc:
            return f"netlink process connector unavailable: {exc.strerror or exc}"
        return ""

    def run(self, emit: Emit) -> None:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
        self.sock = sock
        try:
            sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)
        except OSError:
            pass
        sock.bind((0, CN_IDX_PROC))
        sock.send(_subscribe_message(PROC_CN_MCAST_LISTEN))
        sock.settimeout(0.25)
        self.health.set("ok", "netlink process connector, /proc enrichment")
        parents: OrderedDict[int, int] = OrderedDict()
        known: OrderedDict[int, ProcInfo] = OrderedDict()
        seq = 0
        ecs = EcsProcess()
        host = self.ctx.host
        resolver = ContainerResolver(CriMetadata(self.settings.containerd_root, self.settings.crio_root))
        try:
            while not self.stopping.is_set():
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    self.health.misses += 1  # ENOBUFS: the kernel dropped events for us
                    continue
                off = 16 + _CN_MSG.size
                if len(data) < off + _EVENT_HEAD.size:
                    continue
                what, _, _ = _EVENT_HEAD.unpack_from(data, off)
                body = off + _EVENT_HEAD.size
                if what == PROC_EVENT_FORK:
                    _, ptgid, _, ctgid = struct.unpack_from("=IIII", data, body)
                    parents[ctgid] = ptgid
                    if len(parents) > 65536:
                        parents.popitem(last=False)
                    continue
                if what == PROC_EVENT_EXIT:
                    _, tgid = struct.unpack_from("=II", data, body)
                    known.pop(tgid, None)
                    continue
                if what != PROC_EVENT_EXEC:
                    continue
                _, tgid = struct.unpack_from("=II", data, body)
                info = proc_info(tgid)
                if not info.ppid:
                    info.ppid = parents.get(tgid, 0)
                parent = known.get(info.ppid)
                if parent is None and info.ppid:
                    parent = proc_info(info.ppid)
                if not info.complete:
                    self.health.misses += 1  # gone before /proc could be read: what is known is kept
                    if not info.cgroup and parent is not None:
                        info.cgroup = parent.cgroup
                known[tgid] = info
                if len(known) > 32768:
                    known.popitem(last=False)
                record = process_record(info, host, parent=parent, when=time.time())
                if info.cgroup:
                    cid, pod = resolver.resolve(info.cgroup)
                    if pod is not None:
                        record["container"] = {"id": cid, "name": pod.container_name}
                        record["kubernetes"] = {"pod": {"name": pod.pod}, "namespace": pod.namespace}
                seq += 1
                events = list(ecs.events(record, RecordRef("agent:proc_connector", seq), self.ctx))
                self.health.events += len(events)
                emit(Batch(self.name, "ecs-process", [record], events))
        finally:
            try:
                sock.send(_subscribe_message(PROC_CN_MCAST_IGNORE))
            except OSError:
                pass
            sock.close()


COLLECTOR = ProcConnectorCollector
