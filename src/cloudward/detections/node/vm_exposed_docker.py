"""VM_ExposedDocker: the Docker daemon listening on TCP without client-certificate verification —
anyone who reaches the port is root on the host.

A loopback address (tcp://127.0.0.1:2375) alerts too, at `loopback_severity`: it is not private - every
local user and process, every container on the host network and, through DNS rebinding, any web page a
local browser opens can reach it (dockerd itself warns about it). `ignore_loopback = true` opts out."""

from __future__ import annotations

import ipaddress
from typing import Any

from cloudward.alerts import Finding
from cloudward.analytics.processes import container_event_entities, process_entities, program
from cloudward.config import SEVERITIES, ConfigError
from cloudward.detections.base import Card, Detection, Sample
from cloudward.detections.node._samples import audit_exec, tetragon_exec
from cloudward.events import ContainerEvent, ProcessExec

_LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})
_NETWORK_REACH = "Anyone who can reach that address can start a privileged container and take over the host."
_NETWORK_REACH_KO = "이 주소에 접근할 수 있는 누구나 권한 있는 컨테이너를 시작해 호스트를 장악할 수 있습니다."
_LOOPBACK_REACH = ("The address is loopback, which does not make it private: every local user and process, every "
                   "container on the host network, and any web page a local browser opens (through DNS rebinding) "
                   "can reach it, start a privileged container and take over the host; dockerd warns about this "
                   "even for localhost.")
_LOOPBACK_REACH_KO = ("루프백 주소라고 해서 안전하지 않습니다. 모든 로컬 사용자와 프로세스, 호스트 네트워크를 쓰는 모든 "
                      "컨테이너, 그리고 로컬 브라우저가 연 웹 페이지(DNS 리바인딩)가 이 주소에 접근해 권한 있는 컨테이너를 "
                      "시작하고 호스트를 장악할 수 있습니다. dockerd도 localhost에 대해서조차 이를 경고합니다.")

CARD = Card(
    id="VM_ExposedDocker",
    title="Exposed Docker daemon detected",
    title_ko="노출된 Docker 데몬 탐지",
    severity="medium",
    tactics=("InitialAccess",),
    techniques=("T1133", "T1610"),
    data_source="HOST",
    looks_at="dockerd command lines (-H/--host tcp://...) and daemon.json `hosts`, without --tlsverify / "
             "\"tlsverify\": true",
    description="[[On {host}, ]]the Docker daemon listens on {bind} without TLS client verification ({source}). "
                "{reach}",
    description_ko="[[{host}에서 ]]Docker 데몬이 TLS 클라이언트 검증 없이 {bind}에서 수신 대기합니다({source_ko}). "
                   "{reach_ko}",
    remediation=(
        "Stop listening on TCP if remote access is not needed: keep only unix:///var/run/docker.sock "
        "(remove -H tcp://... from the service and \"hosts\" from /etc/docker/daemon.json).",
        "If remote access is needed, require client certificates: --tlsverify with --tlscacert/--tlscert/"
        "--tlskey (port 2376), or use SSH (DOCKER_HOST=ssh://user@host).",
        "Block ports 2375/2376 at the firewall or network security group except from management hosts.",
        "Check for containers, images and exec sessions nobody started (docker ps -a, docker events): exposed "
        "daemons are scanned for and abused for mining within hours.",
    ),
    remediation_ko=(
        "원격 접근이 필요 없다면 TCP 수신을 중지하고 unix:///var/run/docker.sock만 유지하십시오(서비스의 -H tcp://... "
        "와 /etc/docker/daemon.json의 \"hosts\" 제거).",
        "원격 접근이 필요하다면 클라이언트 인증서를 요구하십시오: --tlsverify와 --tlscacert/--tlscert/--tlskey(포트 "
        "2376), 또는 SSH(DOCKER_HOST=ssh://user@host)를 사용하십시오.",
        "관리 호스트를 제외하고 방화벽이나 네트워크 보안 그룹에서 2375/2376 포트를 차단하십시오.",
        "아무도 시작하지 않은 컨테이너·이미지·exec 세션이 있는지 확인하십시오(docker ps -a, docker events). 노출된 데몬은 "
        "몇 시간 안에 스캔되어 채굴에 악용됩니다.",
    ),
    false_positives=(
        "Build hosts that expose the daemon to a private CI network on purpose; allow them with "
        "{ host = \"ci-runner-*\" } (better: turn on --tlsverify).",
    ),
    params={"ignore_loopback": False, "loopback_severity": "low"},
    samples=(
        Sample("dockerd -H unix:// -H tcp://0.0.0.0:2375 (auditd, as recorded)", "auditd",
               audit_exec(12394, 15121, 14935, ["dockerd", "-H", "unix:///var/run/docker.sock", "-H",
                                                "tcp://0.0.0.0:2375"], exe="/usr/sbin/dockerd"),
               expect=1, entities={"bind": ["tcp://0.0.0.0:2375"], "process": "dockerd"}),
        Sample("daemon.json with a TCP host and no tlsverify", "docker-daemon-config",
               {"hosts": ["unix:///var/run/docker.sock", "tcp://10.0.4.7:2375"], "log-driver": "json-file",
                "storage-driver": "overlay2"},
               expect=1, entities={"bind": ["tcp://10.0.4.7:2375"]}),
        Sample("--host= form on a node (Tetragon)", "tetragon",
               tetragon_exec("/usr/bin/dockerd", "--host=tcp://:2375 --containerd=/run/containerd/containerd.sock",
                             parent="/usr/lib/systemd/systemd"),
               expect=1),
        Sample("dockerd on the unix socket only (auditd, as recorded)", "auditd",
               audit_exec(12237, 14967, 14935, ["dockerd", "-H", "unix:///var/run/docker.sock"],
                          exe="/usr/sbin/dockerd"),
               expect=0),
        Sample("TCP with --tlsverify", "auditd",
               audit_exec(14020, 31020, 1, ["dockerd", "-H", "fd://", "-H", "tcp://0.0.0.0:2376", "--tlsverify",
                                            "--tlscacert=/etc/docker/ca.pem", "--tlscert=/etc/docker/cert.pem",
                                            "--tlskey=/etc/docker/key.pem"], exe="/usr/bin/dockerd"),
               expect=0),
        Sample("TCP on loopback only: lower severity, and why it still matters", "auditd",
               audit_exec(14021, 31021, 1, ["dockerd", "-H", "fd://", "-H", "tcp://127.0.0.1:2375"],
                          exe="/usr/bin/dockerd"),
               expect=1, severity="low", entities={"bind": ["tcp://127.0.0.1:2375"], "exposure": "loopback"},
               description_has="DNS rebinding"),
        Sample("daemon.json on localhost and [::1]", "docker-daemon-config",
               {"hosts": ["unix:///var/run/docker.sock", "tcp://localhost:2375", "tcp://[::1]:2375"]},
               expect=1, severity="low", entities={"exposure": "loopback"}),
        Sample("loopback and a routable address together: the routable one sets the severity", "auditd",
               audit_exec(14023, 31023, 1, ["dockerd", "-H", "tcp://127.0.0.1:2375", "-H", "tcp://10.0.4.7:2375"],
                          exe="/usr/bin/dockerd"),
               expect=1, severity="medium", entities={"exposure": "network"}),
        Sample("loopback with ignore_loopback set (opt-out)", "auditd",
               audit_exec(14024, 31024, 1, ["dockerd", "-H", "fd://", "-H", "tcp://127.0.0.1:2375"],
                          exe="/usr/bin/dockerd"),
               expect=0, config={"detections": {"VM_ExposedDocker": {"ignore_loopback": True}}}),
        Sample("the docker client naming a remote daemon is not a daemon", "auditd",
               audit_exec(14022, 31022, 1, ["docker", "-H", "tcp://10.0.4.7:2376", "ps"], exe="/usr/bin/docker"),
               expect=0),
    ),
)


def _host_part(bind: str) -> str:
    rest = bind.split("://", 1)[-1]
    if rest.startswith("["):
        return rest[1:].split("]", 1)[0]
    return rest.rsplit(":", 1)[0] if ":" in rest else rest


def _loopback(bind: str) -> bool:
    host = _host_part(bind)
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def daemon_flags(argv: list[str]) -> tuple[list[str], bool]:
    """(listen addresses, TLS verification on) from a dockerd command line."""
    hosts: list[str] = []
    verify = False
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg in ("-H", "--host") and i + 1 < len(argv):
            hosts.append(argv[i + 1])
            i += 1
        elif arg.startswith(("--host=", "-H=")):
            hosts.append(arg.split("=", 1)[1])
        elif arg.startswith("-H") and len(arg) > 2:
            hosts.append(arg[2:])
        elif arg == "--tlsverify" or arg.startswith("--tlsverify="):
            verify = arg.split("=", 1)[-1].lower() not in ("false", "0") if "=" in arg else True
        i += 1
    return hosts, verify


class ExposedDocker(Detection):
    card = CARD
    kinds = (ProcessExec, ContainerEvent)
    #: process executions `evaluate` can find anything in (only dockerd (or `docker daemon`); see cloudward.process_dispatch)
    process_gate = {"host": "docker_program", "container": "docker_program"}

    def setup(self) -> None:
        self.ignore_loopback = bool(self.params["ignore_loopback"])
        self.loopback_severity = str(self.params["loopback_severity"])
        if self.loopback_severity not in SEVERITIES:
            raise ConfigError(f"[detections.VM_ExposedDocker] loopback_severity must be one of "
                              f"{', '.join(SEVERITIES)}, got {self.loopback_severity!r}")

    def _exposed(self, hosts: list[str]) -> list[str]:
        out = []
        for h in hosts:
            if not h.lower().startswith("tcp://"):
                continue
            if self.ignore_loopback and _loopback(h):
                continue
            out.append(h)
        return out

    def evaluate(self, event: ProcessExec | ContainerEvent) -> list[Finding] | None:
        if type(event) is ContainerEvent:
            if event.action != "daemon_config":
                return None
            binds = self._exposed(event.ports)
            if not binds or event.labels.get("tlsverify") == "true":
                return None
            ent = container_event_entities(event)
            ent["bind"] = binds
            return [self._finding(event, ent, binds, f"daemon.json {event.origin}", f"daemon.json {event.origin}")]
        name = program(event.executable) if event.executable else ""
        if name != "dockerd" and not (name == "docker" and len(event.argv) > 1 and event.argv[1] in ("daemon", "-d")):
            return None
        hosts, verify = daemon_flags(event.argv)
        binds = self._exposed(hosts)
        if not binds or verify:
            return None
        ent = process_entities(event)
        ent["bind"] = binds
        return [self._finding(event, ent, binds, "dockerd command line", "dockerd 명령줄")]

    def _finding(self, event: ProcessExec | ContainerEvent, ent: dict[str, Any], binds: list[str], source: str,
                 source_ko: str) -> Finding:
        loopback = all(_loopback(b) for b in binds)
        ent["exposure"] = "loopback" if loopback else "network"
        params = {"source": source, "source_ko": source_ko,
                  "reach": _LOOPBACK_REACH if loopback else _NETWORK_REACH,
                  "reach_ko": _LOOPBACK_REACH_KO if loopback else _NETWORK_REACH_KO}
        severity = self.loopback_severity if loopback and self.settings.severity is None else None
        return Finding(key=f"{event.host}|{','.join(binds)}", entities=ent, event=event, severity=severity,
                       params=params)
