"""Reading /proc: TCP socket tables (IPv4, IPv6, mapped), capabilities, and the cgroup cache's
fallbacks for processes that are gone — on a /proc laid out in a temporary folder, and on this
process's real /proc entry."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from cloudward.agent.procfs import CgroupCache, capabilities, proc_info, socket_inodes, tcp_sockets

TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41001 1 0
   1: 0A00020F:D2B4 01000A0A:192B 01 00000000:00000000 00:00000000 00000000    33        0 41002 1 0
   2: garbage
"""
_REST = "00000000:00000000 00:00000000 00000000     0        0"
TCP6 = "\n".join([
    "  sl  local_address                         remote_address                        st tx_queue rx_queue",
    f"   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A {_REST} 42001 1",
    f"   1: 0000000000000000FFFF00000F02000A:A1B2 0000000000000000FFFF00000701A8C0:01BB 02 {_REST} 42002 1",
]) + "\n"


def test_tcp_tables(tmp_path: Path) -> None:
    net = tmp_path / "77" / "net"
    net.mkdir(parents=True)
    (net / "tcp").write_text(TCP)
    (net / "tcp6").write_text(TCP6)
    socks = tcp_sockets(77, proc=str(tmp_path))
    by_inode = {s.inode: s for s in socks}
    assert by_inode[41001].local_ip == "127.0.0.1" and by_inode[41001].local_port == 8080
    assert by_inode[41001].state == "0A"
    assert (by_inode[41002].remote_ip, by_inode[41002].remote_port, by_inode[41002].uid) == ("10.10.0.1", 6443, 33)
    assert by_inode[42001].local_ip == "::1"
    assert (by_inode[42002].remote_ip, by_inode[42002].remote_port) == ("192.168.1.7", 443)
    assert len(socks) == 4  # the garbage line is skipped


def test_capabilities_from_a_mask() -> None:
    assert capabilities(0x1 | 1 << 21) == ["CAP_CHOWN", "CAP_SYS_ADMIN"]


def test_this_process_as_proc_shows_it() -> None:
    info = proc_info(os.getpid())
    assert info.complete and info.ppid == os.getppid()
    assert info.uid == os.getuid() and info.cgroup
    with socket.socket() as sock:
        inode = os.fstat(sock.fileno()).st_ino
        assert inode in socket_inodes(os.getpid())


def test_cgroup_cache_falls_back_to_the_parent_and_counts_misses(tmp_path: Path) -> None:
    (tmp_path / "10").mkdir()
    (tmp_path / "10" / "cgroup").write_text("0::/system.slice/docker-" + "ab" * 32 + ".scope\n")
    cache = CgroupCache(proc=str(tmp_path))
    assert "docker-" in cache.lookup(11, 10)  # 11 is gone: its parent's cgroup
    assert cache.lookup(12, 0) == "" and cache.misses == 1
    (tmp_path / "13").mkdir()
    (tmp_path / "13" / "cgroup").write_text("0::/kubepods/pod1/" + "cd" * 32 + "\n")
    assert "kubepods" in cache.lookup(13, 10)
    (tmp_path / "13" / "cgroup").unlink()
    assert "kubepods" in cache.lookup(13, 10)  # gone now: what was read while it lived


def test_read_text_reads_to_its_limit_or_the_end(tmp_path: Path) -> None:
    from cloudward.agent.procfs import read_text

    big = tmp_path / "big"
    big.write_bytes(b"a" * 100_000 + "\u00e9".encode())
    assert read_text(str(big), 70_000) == "a" * 70_000
    assert read_text(str(big), 1 << 20) == "a" * 100_000 + "\u00e9"
    assert read_text(str(tmp_path / "gone")) == ""
    assert read_text(str(tmp_path)) == ""  # a directory: not readable as a file, not an error


def test_cgroup_of_a_live_and_a_gone_process() -> None:
    from cloudward.agent.procfs import cgroup_of

    mine = cgroup_of(os.getpid())
    assert mine and mine == Path(f"/proc/{os.getpid()}/cgroup").read_text()
    assert cgroup_of(2**22 + 12345) == ""  # above pid_max: never a process
