"""Builders for the host cards' samples, in the real wire formats: auditd records laid out as
auditd 3 writes them (ENRICHED by default), Tetragon export objects, `docker events` and `docker
inspect` objects, Sysmon rendered XML and winlogbeat JSON, ECS process records.

The layouts follow the recordings in tests/data/host/recorded/ (made by tests/data/host/record.sh).
"""

from __future__ import annotations

import hashlib
from typing import Any

GS = "\x1d"  # auditd's separator between the raw and the enriched part of a record
HOST = "web-01"
T0 = 1795931070.0
_SYSCALL_NO = {"execve": 59, "connect": 42}
_WELL_KNOWN = {0: "root", 33: "www-data", 1000: "alice", 1001: "cwadmin"}


def container_id(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def _audit_str(value: str) -> str:
    """How the kernel logs an untrusted string: quoted when plain, hex when it holds a space, a quote
    or a byte outside 0x21-0x7e."""
    raw = value.encode()
    if raw and all(0x21 <= b <= 0x7E and b != 0x22 for b in raw):
        return f'"{value}"'
    return raw.hex().upper()


def audit_exec(serial: int, pid: int, ppid: int, argv: list[str], *, exe: str | None = None, uid: int = 0,
               euid: int | None = None, auid: int | None = None, cwd: str = "/", enriched: bool = True,
               ts: float | None = None) -> str:
    """One execve event: SYSCALL, EXECVE, CWD, PATH, PROCTITLE."""
    exe = exe or argv[0]
    euid = uid if euid is None else euid
    auid_v = 4294967295 if auid is None else auid
    stamp = f"{(ts or T0 + serial / 1000):.3f}:{serial}"
    comm = exe.rsplit("/", 1)[-1][:15]
    syscall = (
        f"type=SYSCALL msg=audit({stamp}): arch=c000003e syscall=59 success=yes exit=0 a0=55d4b226e180 "
        f"a1=55d4b226e660 a2=55d4b22587a0 a3=8 items=2 ppid={ppid} pid={pid} auid={auid_v} uid={uid} gid={uid} "
        f"euid={euid} suid={euid} fsuid={euid} egid={uid} sgid={uid} fsgid={uid} tty=(none) "
        f"ses={4294967295 if auid is None else 3} comm={_audit_str(comm)} exe={_audit_str(exe)} key=\"cw_exec\""
    )
    if enriched:
        name = _WELL_KNOWN.get(uid, str(uid))
        ename = _WELL_KNOWN.get(euid, str(euid))
        aname = "unset" if auid is None else _WELL_KNOWN.get(auid, str(auid))
        syscall += (f'{GS}ARCH=x86_64 SYSCALL=execve AUID="{aname}" UID="{name}" GID="{name}" EUID="{ename}" '
                    f'SUID="{ename}" FSUID="{ename}" EGID="{name}" SGID="{name}" FSGID="{name}"')
    args = " ".join(f"a{i}={_audit_str(a)}" for i, a in enumerate(argv))
    title = "\x00".join(argv).encode()[:128].hex().upper()
    path_tail = f'{GS}OUID="root" OGID="root"' if enriched else ""
    return "\n".join([
        syscall,
        f"type=EXECVE msg=audit({stamp}): argc={len(argv)} {args}",
        f"type=CWD msg=audit({stamp}): cwd={_audit_str(cwd)}",
        f"type=PATH msg=audit({stamp}): item=0 name={_audit_str(argv[0] if '/' in argv[0] else exe)} inode=260601 "
        f"dev=fe:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 "
        f"cap_frootid=0{path_tail}",
        f"type=PROCTITLE msg=audit({stamp}): proctitle={title}",
    ]) + "\n"


def audit_connect(serial: int, pid: int, ppid: int, exe: str, argv: list[str], ip: str, port: int,
                  *, uid: int = 0) -> str:
    """One connect event on an IPv4 socket: SYSCALL, SOCKADDR, PROCTITLE."""
    import socket

    stamp = f"{T0 + serial / 1000:.3f}:{serial}"
    saddr = (b"\x02\x00" + port.to_bytes(2, "big") + socket.inet_aton(ip) + b"\x00" * 8).hex().upper()
    name = _WELL_KNOWN.get(uid, str(uid))
    return "\n".join([
        f"type=SYSCALL msg=audit({stamp}): arch=c000003e syscall=42 success=no exit=-115 a0=3 a1=7ffd0 a2=10 a3=0 "
        f"items=0 ppid={ppid} pid={pid} auid=4294967295 uid={uid} gid={uid} euid={uid} suid={uid} fsuid={uid} "
        f"egid={uid} sgid={uid} fsgid={uid} tty=(none) ses=4294967295 comm={_audit_str(exe.rsplit('/', 1)[-1])} "
        f'exe={_audit_str(exe)} key="cw_net"{GS}ARCH=x86_64 SYSCALL=connect AUID="unset" UID="{name}" '
        f'GID="{name}" EUID="{name}" SUID="{name}" FSUID="{name}" EGID="{name}" SGID="{name}" FSGID="{name}"',
        f"type=SOCKADDR msg=audit({stamp}): saddr={saddr}{GS}SADDR={{ saddr_fam=inet laddr={ip} lport={port} }}",
        f"type=PROCTITLE msg=audit({stamp}): proctitle={chr(0).join(argv).encode().hex().upper()}",
    ]) + "\n"


def shim(serial: int, pid: int, cid: str) -> str:
    """A containerd shim exec (docker's moby namespace): its children run in container `cid`."""
    return audit_exec(serial, pid, 900, ["/usr/bin/containerd-shim-runc-v2", "-namespace", "moby", "-id", cid,
                                         "-address", "/var/run/docker/containerd/containerd.sock"])


# -- Tetragon ----------------------------------------------------------------------------------
ALL_CAPS = [
    "CAP_CHOWN", "DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
]
DEFAULT_CAPS = ["CAP_CHOWN", "DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
                "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_MKNOD",
                "CAP_AUDIT_WRITE", "CAP_SETFCAP"]


def _tetragon_process(binary: str, arguments: str, pid: int, *, pod: str, namespace: str, container: str,
                      image: str, cid: str, caps: list[str] | None, uid: int = 0, cwd: str = "/",
                      container_pid: int | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"id": f"containerd://{cid}", "name": container,
                         "image": {"id": f"{image}@sha256:{container_id(image)}", "name": image},
                         "start_time": "2026-11-02T09:15:20Z"}
    if container_pid is not None:
        c["pid"] = container_pid
    proc: dict[str, Any] = {
        "exec_id": f"bm9kZS0xOjEyMzQ1Njc4OTA6{pid}", "pid": pid, "uid": uid, "cwd": cwd, "binary": binary,
        "arguments": arguments, "flags": "execve clone", "start_time": "2026-11-02T09:15:27.401Z",
        "auid": 4294967295, "pod": {"namespace": namespace, "name": pod, "container": c},
        "docker": cid[:31], "parent_exec_id": f"bm9kZS0xOjEyMzQ1Njc4MDA6{pid - 1}", "refcnt": 1,
    }
    if caps is not None:
        proc["cap"] = {"permitted": caps, "effective": caps, "inheritable": caps}
    return proc


def tetragon_exec(binary: str, arguments: str, *, pid: int = 4242, parent: str = "/bin/bash",
                  parent_arguments: str = "", pod: str = "web-7d9f8b6c5d-x2x9q", namespace: str = "shop",
                  container: str = "web", image: str = "docker.io/library/nginx:1.27", caps: list[str] | None = None,
                  uid: int = 0, container_pid: int | None = None, node: str = "node-1") -> dict[str, Any]:
    cid = container_id(pod + container)
    return {
        "process_exec": {
            "process": _tetragon_process(binary, arguments, pid, pod=pod, namespace=namespace, container=container,
                                         image=image, cid=cid, caps=caps, uid=uid, container_pid=container_pid),
            "parent": _tetragon_process(parent, parent_arguments, pid - 1, pod=pod, namespace=namespace,
                                        container=container, image=image, cid=cid, caps=caps, uid=uid),
        },
        "node_name": node, "time": "2026-11-02T09:15:27.401Z",
    }


def tetragon_connect(binary: str, arguments: str, ip: str, port: int, *, pod: str = "web-7d9f8b6c5d-x2x9q",
                     namespace: str = "shop", container: str = "web",
                     image: str = "docker.io/library/nginx:1.27", node: str = "node-1") -> dict[str, Any]:
    """A kprobe on tcp_connect, as current Tetragon reports connections."""
    cid = container_id(pod + container)
    return {
        "process_kprobe": {
            "process": _tetragon_process(binary, arguments, 5151, pod=pod, namespace=namespace, container=container,
                                         image=image, cid=cid, caps=None),
            "parent": _tetragon_process("/bin/sh", "", 5150, pod=pod, namespace=namespace, container=container,
                                        image=image, cid=cid, caps=None),
            "function_name": "tcp_connect",
            "args": [{"sock_arg": {"family": "AF_INET", "type": "SOCK_STREAM", "protocol": "IPPROTO_TCP",
                                   "saddr": "10.244.1.17", "daddr": ip, "sport": 43122, "dport": port}}],
            "action": "KPROBE_ACTION_POST",
        },
        "node_name": node, "time": "2026-11-02T09:15:28.001Z",
    }


# -- Docker --------------------------------------------------------------------------------------
def docker_event(action: str, cid: str, name: str, image: str, *, exec_id: str = "", command: str = "",
                 nano: int = 1795931064698636689) -> dict[str, Any]:
    attrs: dict[str, str] = {"image": image, "name": name}
    if exec_id:
        attrs["execID"] = exec_id
    full = f"{action}: {command}" if command else action
    return {"status": full, "id": cid, "from": image, "Type": "container", "Action": full,
            "Actor": {"ID": cid, "Attributes": attrs}, "scope": "local", "time": nano // 10**9, "timeNano": nano}


def inspect_container(cid: str, name: str, image: str, *, privileged: bool = False, pid: int = 15533,
                      path: str = "sleep", args: tuple[str, ...] = ("600",), cap_add: list[str] | None = None,
                      status: str = "running") -> dict[str, Any]:
    """The fields of a `docker inspect` container object the parser reads, shaped as Docker 20.10 writes."""
    return {
        "Id": cid, "Created": "2026-11-29T05:44:24.697Z", "Path": path, "Args": list(args),
        "State": {"Status": status, "Running": status == "running", "Paused": False, "Restarting": False,
                  "OOMKilled": False, "Dead": False, "Pid": pid if status == "running" else 0, "ExitCode": 0,
                  "Error": "", "StartedAt": "2026-11-29T05:44:25.497Z", "FinishedAt": "0001-01-01T00:00:00Z"},
        "Image": "sha256:" + container_id(image), "Name": "/" + name, "RestartCount": 0, "Driver": "overlay2",
        "Platform": "linux", "ExecIDs": None,
        "HostConfig": {"Binds": None, "NetworkMode": "default", "PortBindings": {}, "Privileged": privileged,
                       "CapAdd": cap_add, "CapDrop": None, "PidMode": "", "IpcMode": "private",
                       "SecurityOpt": ["label=disable"] if privileged else None},
        "Mounts": [],
        "Config": {"Hostname": cid[:12], "User": "", "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"],
                   "Cmd": [path, *args], "Image": image, "Entrypoint": None, "Labels": {}},
    }


def inspect_exec(exec_id: str, cid: str, entrypoint: str, arguments: list[str], *, privileged: bool = False,
                 pid: int = 15779) -> dict[str, Any]:
    return {"ID": exec_id, "Running": False, "ExitCode": 0,
            "ProcessConfig": {"tty": False, "entrypoint": entrypoint, "arguments": arguments,
                              "privileged": privileged},
            "OpenStdin": False, "OpenStderr": True, "OpenStdout": True, "CanRemove": False, "ContainerID": cid,
            "DetachKeys": "", "Pid": pid}


# -- Sysmon and ECS ----------------------------------------------------------------------------------
def _escape(text: str) -> str:
    """XML character data, as `xml.sax.saxutils.escape` writes it: that module imports `urllib.request`
    (http.client, ssl, email), ~14 ms of every run's start-up, for three replacements while samples are built."""
    return text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")


def sysmon_xml(image: str, command_line: str, *, parent_image: str, parent_command_line: str, user: str,
               pid: int = 5124, ppid: int = 3216, computer: str = "WEBAPP01", record_id: int = 48213,
               cwd: str = "C:\\home\\site\\wwwroot\\", provider: str = "Microsoft-Windows-Sysmon") -> str:
    """One Sysmon event 1 as `wevtutil qe ... /f:xml` renders it (one line)."""
    guid = "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}" if provider.startswith("Microsoft") else \
        "{ff032593-a8d3-4f13-b0d6-01fc615a0f97}"
    data = {
        "RuleName": "-", "UtcTime": "2026-11-02 09:15:27.401", "ProcessGuid": "{3b7c2f9e-3a1f-6565-1b03-000000000c00}",
        "ProcessId": str(pid), "Image": image, "FileVersion": "-", "Description": "-", "Product": "-",
        "Company": "-", "OriginalFileName": "-", "CommandLine": command_line, "CurrentDirectory": cwd,
        "User": user, "LogonGuid": "{3b7c2f9e-0000-0000-e703-000000000000}", "LogonId": "0x3e7",
        "TerminalSessionId": "0", "IntegrityLevel": "High", "Hashes": "SHA256=" + container_id(image).upper(),
        "ParentProcessGuid": "{3b7c2f9e-3a1f-6565-1a03-000000000c00}", "ParentProcessId": str(ppid),
        "ParentImage": parent_image, "ParentCommandLine": parent_command_line, "ParentUser": user,
    }
    items = "".join(f'<Data Name="{k}">{_escape(v)}</Data>' for k, v in data.items())
    return (
        '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>'
        f'<Provider Name="{provider}" Guid="{guid}"/><EventID>1</EventID><Version>5</Version>'
        '<Level>4</Level><Task>1</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords>'
        '<TimeCreated SystemTime="2026-11-02T09:15:27.4021190Z"/>'
        f'<EventRecordID>{record_id}</EventRecordID><Correlation/><Execution ProcessID="2980" ThreadID="3904"/>'
        f'<Channel>{provider}/Operational</Channel><Computer>{computer}</Computer>'
        '<Security UserID="S-1-5-18"/></System>'
        f'<EventData>{items}</EventData></Event>\n'
    )


def winlogbeat(image: str, command_line: str, *, parent_image: str, parent_command_line: str, user: str,
               pid: int = 5124, ppid: int = 3216, computer: str = "WEBAPP01") -> dict[str, Any]:
    """A Sysmon event 1 as winlogbeat 8 ships it (winlog.* plus ECS fields)."""
    return {
        "@timestamp": "2026-11-02T09:15:27.402Z",
        "event": {"code": "1", "kind": "event", "provider": "Microsoft-Windows-Sysmon", "module": "sysmon",
                  "category": ["process"], "type": ["start"], "action": "Process Create (rule: ProcessCreate)"},
        "host": {"name": computer.lower(), "os": {"type": "windows", "family": "windows"}},
        "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational", "provider_name": "Microsoft-Windows-Sysmon",
                   "event_id": "1", "computer_name": computer, "record_id": 48213, "api": "wineventlog",
                   "user": {"identifier": "S-1-5-18", "domain": "NT AUTHORITY", "name": "SYSTEM", "type": "User"},
                   "event_data": {"RuleName": "-", "UtcTime": "2026-11-02 09:15:27.401", "ProcessId": str(pid),
                                  "Image": image, "CommandLine": command_line, "CurrentDirectory":
                                  "C:\\home\\site\\wwwroot\\", "User": user, "IntegrityLevel": "High",
                                  "ParentProcessId": str(ppid), "ParentImage": parent_image,
                                  "ParentCommandLine": parent_command_line}},
        "process": {"pid": pid, "executable": image, "command_line": command_line, "name": image.rsplit("\\", 1)[-1],
                    "parent": {"pid": ppid, "executable": parent_image, "command_line": parent_command_line}},
    }


def ecs_exec(executable: str, args: list[str], *, parent: str = "/bin/bash", user: str = "root", uid: str = "0",
             container: dict[str, Any] | None = None, host: str = "node-2", pid: int = 7001,
             ppid: int = 7000) -> dict[str, Any]:
    record: dict[str, Any] = {
        "@timestamp": "2026-11-02T09:15:27.402Z",
        "event": {"category": ["process"], "type": ["start"], "action": "exec", "module": "auditd"},
        "host": {"name": host, "os": {"type": "linux"}},
        "process": {"pid": pid, "executable": executable, "args": args, "name": executable.rsplit("/", 1)[-1],
                    "working_directory": "/", "parent": {"pid": ppid, "executable": parent}},
        "user": {"name": user, "id": uid},
    }
    if container:
        record["container"] = container
    return record
