"""The kernel audit stream over netlink (NETLINK_AUDIT), the way auditd, auditbeat and go-audit read it.

Two ways to receive records:

* **multicast** (`AUDIT_NLGRP_READLOG`): a read-only copy of every record, next to a running auditd;
  needs CAP_AUDIT_READ;
* **owner**: when no auditd runs, this socket registers itself as the audit daemon (`AUDIT_SET` pid),
  so the kernel unicasts records to it instead of printing them to the kernel log; needs
  CAP_AUDIT_CONTROL. On close the registration is dropped and the previous status restored.

Rules are loaded as `audit_rule_data` structures (the same binary form auditctl sends) and removed on
close: only the rules this process added, identified by their key. Records come out as text lines in
auditd's RAW log layout (`type=SYSCALL msg=audit(...): ...`), so the auditd log parser reads them.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

NETLINK_AUDIT = 9
AUDIT_NLGRP_READLOG = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
AUDIT_GET = 1000
AUDIT_SET = 1001
AUDIT_LIST_RULES = 1013
AUDIT_ADD_RULE = 1011
AUDIT_DEL_RULE = 1012
AUDIT_STATUS_ENABLED = 0x1
AUDIT_STATUS_PID = 0x4
AUDIT_STATUS_BACKLOG_LIMIT = 0x10
AUDIT_FILTER_EXIT = 0x04
AUDIT_FILTER_EXCLUDE = 0x05
AUDIT_NEVER = 0
AUDIT_MSGTYPE = 12
AUDIT_PATH_RECORD = 1302
AUDIT_ALWAYS = 2
AUDIT_ARCH = 11
AUDIT_ARG2 = 202
AUDIT_FILTERKEY = 210
AUDIT_EQUAL = 0x40000000
AUDIT_BITMASK_SIZE = 64
AUDIT_MAX_FIELDS = 64
SOL_NETLINK = 270

#: record types the auditd parser reads, by number
RECORD_TYPES: dict[int, bytes] = {
    1300: b"SYSCALL", 1302: b"PATH", 1306: b"SOCKADDR", 1307: b"CWD", 1309: b"EXECVE", 1320: b"EOE",
    1327: b"PROCTITLE",
}
ARCH_X86_64 = 0xC000003E
ARCH_I386 = 0x40000003
ARCH_AARCH64 = 0xC00000B7
#: (arch, exec syscalls, connect syscalls) per machine; execveat is absent on old i386 tables
_MACHINE_RULES: dict[str, list[tuple[int, tuple[int, ...], tuple[int, ...]]]] = {
    "x86_64": [(ARCH_X86_64, (59, 322), (42,)), (ARCH_I386, (11, 358), ())],
    "aarch64": [(ARCH_AARCH64, (221, 281), (203,))],
}
_STATUS = struct.Struct("=11I")

try:  # the optional C extension: the socket drained with recvmmsg (setup.py builds it where it can)
    from cloudward._auditd import recv_records as _recv_records
except ImportError:  # pragma: no cover - the extension is optional
    _recv_records = None
_NLHDR = struct.Struct("=IHHII")


class AuditError(OSError):
    """The audit subsystem refused a request (errno set)."""


@dataclass
class AuditStatus:
    enabled: int
    failure: int
    pid: int
    rate_limit: int
    backlog_limit: int
    lost: int
    backlog: int


@dataclass(frozen=True)
class AuditRule:
    """One exit-filter rule: `-a always,exit -F arch=A -S nr... [-F a2=N] -k key`; or, with `msgtype`,
    an exclude rule `-a never,exclude -F msgtype=N` (records of that type are not generated at all)."""

    arch: int
    syscalls: tuple[int, ...]
    key: str
    arg2: int | None = None
    msgtype: int | None = None

    def pack(self) -> bytes:
        mask = [0] * AUDIT_BITMASK_SIZE
        if self.msgtype is not None:
            mask = [0xFFFFFFFF] * AUDIT_BITMASK_SIZE
            fields = [(AUDIT_MSGTYPE, self.msgtype, b"")]
            return self._pack(AUDIT_FILTER_EXCLUDE, AUDIT_NEVER, mask, fields)
        for nr in self.syscalls:
            mask[nr // 32] |= 1 << (nr % 32)
        fields = [(AUDIT_ARCH, self.arch, b"")]
        if self.arg2 is not None:
            fields.append((AUDIT_ARG2, self.arg2, b""))
        key = self.key.encode()
        fields.append((AUDIT_FILTERKEY, len(key), key))
        return self._pack(AUDIT_FILTER_EXIT, AUDIT_ALWAYS, mask, fields)

    @staticmethod
    def _pack(flags_: int, action_: int, mask: list[int], fields: list[tuple[int, int, bytes]]) -> bytes:
        names = [0] * AUDIT_MAX_FIELDS
        values = [0] * AUDIT_MAX_FIELDS
        flags = [0] * AUDIT_MAX_FIELDS
        buf = b""
        for i, (name, value, extra) in enumerate(fields):
            names[i], values[i], flags[i] = name, value, AUDIT_EQUAL
            buf += extra
        return struct.pack(
            f"=3I{AUDIT_BITMASK_SIZE}I{AUDIT_MAX_FIELDS}I{AUDIT_MAX_FIELDS}I{AUDIT_MAX_FIELDS}II",
            flags_, action_, len(fields), *mask, *names, *values, *flags, len(buf),
        ) + buf


def agent_rules(key_exec: str = "cloudward_agent_exec", key_net: str = "cloudward_agent_net",
                machine: str | None = None) -> list[AuditRule]:
    """The execve/execveat and IPv4/IPv6 connect rules the agent loads (docs/host-telemetry.md)."""
    rules = []
    for arch, execs, connects in _MACHINE_RULES.get(machine or os.uname().machine, _MACHINE_RULES["x86_64"]):
        rules.append(AuditRule(arch, execs, key_exec))
        for addrlen in (16, 28) if connects else ():
            rules.append(AuditRule(arch, connects, key_net, arg2=addrlen))
    return rules


class _Control:
    """Request/ack exchanges on a netlink audit socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.seq = 0

    def request(self, mtype: int, payload: bytes = b"", *, ack: bool = True) -> list[tuple[int, bytes]]:
        self.seq += 1
        flags = NLM_F_REQUEST | (NLM_F_ACK if ack else 0)
        self.sock.send(_NLHDR.pack(_NLHDR.size + len(payload), mtype, flags, self.seq, 0) + payload)
        replies: list[tuple[int, bytes]] = []
        while True:
            data = self.sock.recv(65536)
            for rtype, _, rseq, body in split_messages(data):
                if rseq != self.seq:
                    continue  # a record or an old reply
                if rtype == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", body)[0]
                    if code:
                        raise AuditError(code, f"audit request {mtype}: {os.strerror(code)}")
                    return replies
                if rtype == NLMSG_DONE:
                    return replies
                replies.append((rtype, body))
                if not ack and mtype != AUDIT_LIST_RULES:
                    return replies


def split_messages(data: bytes) -> Iterator[tuple[int, int, int, bytes]]:
    """(type, flags, seq, payload) of each netlink message in one datagram."""
    off = 0
    n = len(data)
    while off + 16 <= n:
        length, mtype, flags, seq, _ = _NLHDR.unpack_from(data, off)
        if length < 16:
            return
        yield mtype, flags, seq, data[off + 16 : off + length]
        off += (length + 3) & ~3


def _open(timeout: float | None = 5.0) -> socket.socket:
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_AUDIT)
        sock.settimeout(timeout)  # a control exchange never waits forever on a kernel that does not answer
        return sock
    except OSError as exc:
        raise AuditError(exc.errno or errno.EPROTONOSUPPORT,
                         f"no kernel audit netlink socket: {exc.strerror or exc}") from None


def get_status() -> AuditStatus:
    sock = _open()
    try:
        replies = _Control(sock).request(AUDIT_GET, ack=False)
    finally:
        sock.close()
    for rtype, body in replies:
        if rtype == AUDIT_GET:
            vals = _STATUS.unpack_from(body.ljust(_STATUS.size, b"\0"))
            return AuditStatus(*vals[1:8])
    raise AuditError(errno.EPROTO, "no audit status reply")


def set_status(*, enabled: int | None = None, backlog_limit: int | None = None) -> None:
    """Set the audit subsystem's enabled flag and backlog limit (what `auditctl -e` and `-b` do)."""
    mask = (AUDIT_STATUS_ENABLED if enabled is not None else 0) | (
        AUDIT_STATUS_BACKLOG_LIMIT if backlog_limit is not None else 0)
    if not mask:
        return
    sock = _open()
    try:
        _Control(sock).request(AUDIT_SET, _STATUS.pack(mask, enabled or 0, 0, 0, 0, backlog_limit or 0,
                                                       0, 0, 0, 0, 0))
    finally:
        sock.close()


def list_rule_keys() -> list[str]:
    """Keys of the loaded rules (for tests and `--status`)."""
    sock = _open()
    try:
        replies = _Control(sock).request(AUDIT_LIST_RULES, ack=False)
    finally:
        sock.close()
    keys = []
    head = struct.calcsize(f"=3I{AUDIT_BITMASK_SIZE}I{AUDIT_MAX_FIELDS}I{AUDIT_MAX_FIELDS}I{AUDIT_MAX_FIELDS}II")
    for rtype, body in replies:
        if rtype != AUDIT_LIST_RULES or len(body) < head:
            continue
        count = struct.unpack_from("=I", body, 8)[0]
        names = struct.unpack_from(f"={AUDIT_MAX_FIELDS}I", body, 12 + 4 * AUDIT_BITMASK_SIZE)
        values = struct.unpack_from(f"={AUDIT_MAX_FIELDS}I", body, 12 + 4 * (AUDIT_BITMASK_SIZE + AUDIT_MAX_FIELDS))
        buf = body[head:]
        pos = 0
        for i in range(min(count, AUDIT_MAX_FIELDS)):
            if names[i] == AUDIT_FILTERKEY:
                keys.append(buf[pos : pos + values[i]].decode("utf-8", "replace"))
            if names[i] in (AUDIT_FILTERKEY, 105, 106, 107, 213):  # fields with a string in buf
                pos += values[i]
    return keys


class AuditStream:
    """Receives audit records; loads its rules on `open` and removes them (and its ownership) on `close`."""

    def __init__(self, rules: list[AuditRule] | None = None, *, mode: str = "auto", backlog_limit: int = 8192,
                 rcvbuf: int = 16 << 20) -> None:
        self.rules = agent_rules() if rules is None else rules
        self.requested_mode = mode
        self.mode = ""
        self.backlog_limit = backlog_limit
        self.rcvbuf = rcvbuf
        self.sock: socket.socket | None = None
        self.control: socket.socket | None = None
        self.added: list[AuditRule] = []
        self.enabled_by_us = False
        self.previous: AuditStatus | None = None
        self.records = 0
        self.overruns = 0
        #: read with the C extension's `recv_records` where it is built (tests switch it off)
        self.accelerated = _recv_records is not None
        #: set by `stop_reading`; the reader notices within `poll_seconds`
        self.closing = False
        self.poll_seconds = 0.25
        #: after the socket ran dry, wait this long once data is there again, so a burst of records is read in
        #: one go rather than one wake-up a record. 50 ms (not less): at 500 execs/s that makes batches of ~25
        #: events, and the per-exec CPU falls by a third against 5 ms (the per-batch work, and the decoder and
        #: cards starting cold for each small batch); alerts still come out within 0.1 s
        self.coalesce_seconds = 0.05

    def open(self) -> None:
        status = get_status()
        self.previous = status
        mode = self.requested_mode
        if mode == "auto":
            mode = "multicast" if status.pid and _alive(status.pid) else "owner"
        self.control = _open()
        ctl = _Control(self.control)
        sock = _open()
        try:
            sock.setsockopt(socket.SOL_SOCKET, 33, self.rcvbuf)  # SO_RCVBUFFORCE, beyond rmem_max (root)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        if mode == "multicast":
            sock.bind((0, 1 << (AUDIT_NLGRP_READLOG - 1)))
        else:
            sock.bind((0, 0))
        self.sock = sock
        rules = list(self.rules)
        if mode == "owner":
            # nobody else reads the stream: PATH records (two an exec, unused) are not made at all
            rules.append(AuditRule(0, (), "", msgtype=AUDIT_PATH_RECORD))
        try:
            for rule in rules:
                try:
                    ctl.request(AUDIT_ADD_RULE, rule.pack())
                except AuditError as exc:
                    if exc.errno != errno.EEXIST:
                        raise
                    # the rule is there already. Owning the socket, nobody else reads it: it is left by an
                    # agent that was killed, adopt it (and remove it on exit). Next to another reader (auditd,
                    # another agent) it is theirs: use it, leave it.
                    if mode != "owner":
                        continue
                self.added.append(rule)
            if mode == "owner":
                mask = AUDIT_STATUS_ENABLED | AUDIT_STATUS_PID | AUDIT_STATUS_BACKLOG_LIMIT
                payload = _STATUS.pack(mask, 1, 0, os.getpid(), 0, max(self.backlog_limit, status.backlog_limit),
                                       0, 0, 0, 0, 0)
                _Control(sock).request(AUDIT_SET, payload)
            elif not status.enabled:
                ctl.request(AUDIT_SET, _STATUS.pack(AUDIT_STATUS_ENABLED, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0))
                self.enabled_by_us = True
        except BaseException:
            self.close()
            raise
        self.mode = mode

    def lines(self, on_idle: Callable[[], None] | None = None) -> Iterator[bytes]:
        """Audit records as auditd RAW log lines, until `stop_reading`: `batches`, one record at a time.

        `on_idle` is called each time the socket runs dry (before waiting), so a consumer can hand on
        what it has in one go rather than record by record.
        """
        for records, dry in self.batches():
            yield from records
            if dry and on_idle is not None:
                on_idle()

    def batches(self, max_records: int = 2048,
                types: dict[int, bytes] | None = None) -> Iterator[tuple[list[bytes], bool]]:
        """What the socket holds, drained without blocking: (records as auditd RAW lines, ran dry), until
        `stop_reading`. One step of the generator per burst rather than per record: the consumer's loop
        is the only per-record Python work. After the socket ran dry (an empty or short list with
        `ran dry` true) the next step waits for data, then `coalesce_seconds` more so a burst is read
        in one go. `types`: the record types to hand on (default `RECORD_TYPES`), the others dropped."""
        sock = self.sock
        assert sock is not None
        sock.setblocking(False)
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        wait_ms = int(self.poll_seconds * 1000)
        types = RECORD_TYPES if types is None else types
        recv = sock.recv
        from_bytes = int.from_bytes
        fast = _recv_records if self.accelerated else None
        fd = sock.fileno()
        while not self.closing:
            out: list[bytes] = []
            append = out.append
            dry = False
            try:
                if fast is not None:  # the same loop in C, many datagrams a system call (recvmmsg)
                    out, dry, overruns = fast(fd, types, max_records)
                    self.overruns += overruns
                while fast is None and len(out) < max_records:
                    data = recv(1 << 16)
                    # kauditd sends one record a datagram, and its nlmsg_len counts the payload only (not the
                    # 16-byte header, unlike every other netlink family): the record is the rest of the datagram
                    if len(data) < 16:
                        continue
                    name = types.get(from_bytes(data[4:6], "little"))
                    if name is None:
                        continue
                    end = data.find(b"\0", 16)
                    append(b"type=" + name + b" msg=" + (data[16:] if end < 0 else data[16:end]).rstrip(b"\n"))
            except BlockingIOError:
                dry = True
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    self.overruns += 1  # the kernel dropped records for us; counted, keep reading
                elif exc.errno in (errno.EBADF, errno.ENOTSOCK) or self.sock is None:
                    self.records += len(out)
                    if out:
                        yield out, True
                    return
                else:
                    raise
            self.records += len(out)
            yield out, dry
            if dry and poller.poll(wait_ms) and self.coalesce_seconds:
                time.sleep(self.coalesce_seconds)

    def stop_reading(self) -> None:
        self.closing = True

    def close(self) -> None:
        """Remove the rules this stream added, give up ownership, restore the previous status."""
        if self.control is not None:
            ctl = _Control(self.control)
            for rule in self.added:
                try:
                    ctl.request(AUDIT_DEL_RULE, rule.pack())
                except OSError:
                    pass
            self.added = []
            if self.mode == "owner" and self.previous is not None:
                try:
                    prev = self.previous
                    mask = AUDIT_STATUS_PID | AUDIT_STATUS_ENABLED | AUDIT_STATUS_BACKLOG_LIMIT
                    ctl.request(AUDIT_SET, _STATUS.pack(mask, prev.enabled, 0, 0, 0, prev.backlog_limit,
                                                        0, 0, 0, 0, 0))
                except OSError:
                    pass
            elif self.enabled_by_us:
                try:
                    ctl.request(AUDIT_SET, _STATUS.pack(AUDIT_STATUS_ENABLED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
                except OSError:
                    pass
            self.control.close()
            self.control = None
        if self.sock is not None:
            sock, self.sock = self.sock, None
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def lost(self) -> int:
        """Records the kernel reports lost since the stream opened."""
        try:
            now = get_status().lost
        except OSError:
            return 0
        return max(0, now - (self.previous.lost if self.previous else 0))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
