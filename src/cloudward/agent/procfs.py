"""What /proc says about a process: its cgroup (container context), command line, executable, cwd,
ids and capabilities, network namespace; user names; and TCP sockets per network namespace.

Every read tolerates the process being gone already (short-lived processes often are): the answer
is then empty, and the caller falls back to the parent or counts a miss.
"""

from __future__ import annotations

import os
import pwd
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass, field

PROC = "/proc"
_USER_CACHE: dict[int, str] = {}


_O_RDONLY = os.O_RDONLY | os.O_CLOEXEC


def read_text(path: str, limit: int = 1 << 16) -> str:
    # a bare descriptor, not a file object: this runs once per exec on the agent's busy path, where the
    # buffered-reader layers cost as much as the kernel's work
    try:
        fd = os.open(path, _O_RDONLY)
    except OSError:
        return ""
    try:
        data = b""
        while len(data) < limit:
            more = os.read(fd, limit - len(data))
            if not more:
                break
            data += more
    except OSError:
        return ""
    finally:
        os.close(fd)
    return data.decode("utf-8", "replace")


def _read_once(path: str, limit: int) -> str:
    """A /proc file that the kernel renders whole (`single_open` seq files: cgroup): one read is all of it."""
    try:
        fd = os.open(path, _O_RDONLY)
    except OSError:
        return ""
    try:
        return os.read(fd, limit).decode("utf-8", "replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def cgroup_of(pid: int, proc: str = PROC) -> str:
    """The /proc/<pid>/cgroup text ('' when the process is gone)."""
    return _read_once(f"{proc}/{pid}/cgroup", 8192)


def cmdline_of(pid: int, proc: str = PROC) -> list[str]:
    try:
        with open(f"{proc}/{pid}/cmdline", "rb") as fh:
            raw = fh.read(1 << 17)
    except OSError:
        return []
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a] if raw else []


def link_of(pid: int, name: str, proc: str = PROC) -> str:
    try:
        return os.readlink(f"{proc}/{pid}/{name}")
    except OSError:
        return ""


def user_name(uid: int | None) -> str:
    """The account name of `uid` on this host (cached), or the number."""
    if uid is None:
        return ""
    name = _USER_CACHE.get(uid)
    if name is None:
        try:
            name = pwd.getpwuid(uid).pw_name
        except (KeyError, OverflowError):
            name = str(uid)
        if len(_USER_CACHE) < 4096:
            _USER_CACHE[uid] = name
    return name


@dataclass
class ProcInfo:
    """One process as /proc shows it; empty fields when it exited before being read."""

    pid: int
    ppid: int = 0
    executable: str = ""
    argv: list[str] = field(default_factory=list)
    cwd: str = ""
    uid: int | None = None
    euid: int | None = None
    capabilities: list[str] = field(default_factory=list)
    cgroup: str = ""
    comm: str = ""
    start_ticks: int = 0

    @property
    def complete(self) -> bool:
        return bool(self.argv and self.executable)


#: capability numbers (linux/capability.h) for CapEff, in order
_CAPS = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)


def capabilities(mask: int) -> list[str]:
    return [name for bit, name in enumerate(_CAPS) if mask >> bit & 1]


def proc_info(pid: int, proc: str = PROC) -> ProcInfo:
    """Read what is still there; the cgroup first, since it is what a short-lived process loses first."""
    info = ProcInfo(pid, cgroup=cgroup_of(pid, proc))
    status = read_text(f"{proc}/{pid}/status", 8192)
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key == "PPid":
            info.ppid = int(value.strip() or 0)
        elif key == "Uid":
            parts = value.split()
            if len(parts) >= 2:
                info.uid, info.euid = int(parts[0]), int(parts[1])
        elif key == "CapEff":
            try:
                info.capabilities = capabilities(int(value.strip(), 16))
            except ValueError:
                pass
        elif key == "Name":
            info.comm = value.strip()
    info.argv = cmdline_of(pid, proc)
    info.executable = link_of(pid, "exe", proc)
    info.cwd = link_of(pid, "cwd", proc)
    stat = read_text(f"{proc}/{pid}/stat", 4096)
    close = stat.rfind(")")
    if close > 0:
        parts = stat[close + 2 :].split()
        if len(parts) > 19:
            info.start_ticks = int(parts[19])
    return info


class CgroupCache:
    """cgroup text by pid (bounded), so a parent's is not read again for each of its children.

    A process's own cgroup is always read while it lives (a runtime moves a container's first process
    into its cgroup just before the exec); the cached entry stands in once it is gone, and a parent's
    cached entry is trusted for `parent_ttl` seconds.
    """

    def __init__(self, size: int = 65536, proc: str = PROC, parent_ttl: float = 1.0) -> None:
        self.size = size
        self.proc = proc
        self.parent_ttl = parent_ttl
        self.by_pid: OrderedDict[int, tuple[str, float]] = OrderedDict()
        self.misses = 0

    def lookup(self, pid: int, ppid: int = 0) -> str:
        """The process's cgroup, else its parent's (a child starts in its parent's cgroup)."""
        text = cgroup_of(pid, self.proc)
        now = time.monotonic()
        if text:
            self.remember(pid, text, now)
            return text
        cached = self.by_pid.get(pid)
        if cached is not None:
            return cached[0]
        if ppid:
            cached = self.by_pid.get(ppid)
            if cached is not None and now - cached[1] <= self.parent_ttl:
                text = cached[0]
            else:
                text = cgroup_of(ppid, self.proc)
                if text:
                    self.remember(ppid, text, now)
        if not text:
            self.misses += 1
        return text

    def remember(self, pid: int, text: str, now: float) -> None:
        by_pid = self.by_pid
        if pid in by_pid:
            by_pid.move_to_end(pid)
        elif len(by_pid) >= self.size:
            by_pid.popitem(last=False)
        by_pid[pid] = (text, now)


def all_pids(proc: str = PROC) -> list[int]:
    try:
        return [int(n) for n in os.listdir(proc) if n.isdigit()]
    except OSError:
        return []


# -- TCP sockets per network namespace ---------------------------------------------------------
#: /proc/net/tcp states: 01 ESTABLISHED, 02 SYN_SENT, 0A LISTEN
TCP_ESTABLISHED = "01"
TCP_SYN_SENT = "02"
TCP_LISTEN = "0A"


@dataclass(frozen=True)
class TcpSocket:
    local_ip: str
    local_port: int
    remote_ip: str
    remote_port: int
    state: str
    uid: int
    inode: int


def _addr(hexed: str) -> tuple[str, int]:
    ip_hex, _, port_hex = hexed.partition(":")
    raw = bytes.fromhex(ip_hex)
    if len(raw) == 4:
        ip = socket.inet_ntop(socket.AF_INET, raw[::-1])
    else:
        # four little-endian 32-bit words
        ip = socket.inet_ntop(socket.AF_INET6, b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))
        if ip.startswith("::ffff:") and "." in ip:
            ip = ip[7:]
    return ip, int(port_hex, 16)


def tcp_sockets(pid: int | str, proc: str = PROC) -> list[TcpSocket]:
    """The TCP sockets of the network namespace process `pid` lives in (or of /proc/net with pid 'self')."""
    out = []
    for name in ("tcp", "tcp6"):
        text = read_text(f"{proc}/{pid}/net/{name}", 1 << 22)
        for line in text.splitlines()[1:]:
            parts = line.split()
            if len(parts) < 10:
                continue
            try:
                lip, lport = _addr(parts[1])
                rip, rport = _addr(parts[2])
                out.append(TcpSocket(lip, lport, rip, rport, parts[3], int(parts[7]), int(parts[9])))
            except ValueError:
                continue
    return out


def socket_inodes(pid: int, proc: str = PROC) -> set[int]:
    """Inodes of the sockets process `pid` holds open."""
    out = set()
    base = f"{proc}/{pid}/fd"
    try:
        names = os.listdir(base)
    except OSError:
        return out
    for name in names:
        try:
            target = os.readlink(f"{base}/{name}")
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(int(target[8:-1]))
    return out
