"""K8S.NODE_ContainerSSH: an SSH server (sshd, dropbear...) running inside a container — a backdoor
into the container, or an image built to be logged into rather than deployed."""

from __future__ import annotations

from cloudward.alerts import Finding
from cloudward.analytics.processes import NamePatterns, basename, container_event_entities, process_entities
from cloudward.detections.base import Card, Detection, Sample
from cloudward.detections.node._samples import (
    audit_exec,
    container_id,
    ecs_exec,
    inspect_container,
    shim,
    tetragon_exec,
)
from cloudward.events import ContainerEvent, ProcessExec

SSH_ID = container_id("cw-ssh")
_ACTIONS = frozenset({"inspect", "create", "start"})

CARD = Card(
    id="K8S.NODE_ContainerSSH",
    title="SSH server is running inside a container",
    title_ko="컨테이너 내부에서 SSH 서버 실행 중",
    severity="medium",
    tactics=("Execution",),
    techniques=("T1021.004", "T1133"),
    data_source="HOST",
    looks_at="process starts inside containers (audit with runtime lineage, Tetragon, Falco, ECS) and container "
             "inspect data whose program is in ssh_servers",
    description="[[On {host}, ]]SSH server {process} runs inside container {container}[[ ({image})]]: {command_line}. "
                "Containers are managed through their runtime; an SSH server inside one is a way in that bypasses it, "
                "often left by an attacker for persistence.",
    description_ko="[[{host}의 ]]컨테이너 {container}[[({image})]] 안에서 SSH 서버 {process}이(가) 실행 중입니다: "
                   "{command_line}. 컨테이너는 런타임을 통해 관리되며, 내부의 SSH 서버는 이를 우회하는 진입점으로 "
                   "공격자가 지속성을 위해 남기는 경우가 많습니다.",
    remediation=(
        "Find out whether the image ships an SSH server on purpose (its Dockerfile) or the server was started "
        "later (look at the parent process and the exec history).",
        "Remove the SSH server; use kubectl exec / docker exec for maintenance.",
        "Check authorized_keys and accounts inside the container, and which addresses connected to the port.",
        "Rebuild the container from a clean image if the server was not part of it.",
    ),
    remediation_ko=(
        "이미지가 의도적으로 SSH 서버를 포함하는지(Dockerfile) 아니면 나중에 시작되었는지(부모 프로세스와 exec 기록) "
        "확인하십시오.",
        "SSH 서버를 제거하고 유지 보수에는 kubectl exec / docker exec를 사용하십시오.",
        "컨테이너 안의 authorized_keys와 계정, 그리고 해당 포트에 접속한 주소를 확인하십시오.",
        "서버가 이미지에 포함되지 않은 것이라면 깨끗한 이미지로 컨테이너를 다시 만드십시오.",
    ),
    false_positives=(
        "Bastion or Git-over-SSH containers (gitea, gitlab-shell, sftp servers); allow them by image, e.g. "
        "{ image = \"*gitea*\" }.",
    ),
    samples=(
        Sample("dropbear started as a container's command (auditd with runtime lineage, as recorded)", "auditd",
               shim(12669, 15512, SSH_ID)
               + audit_exec(12676, 15660, 15512, ["/usr/sbin/dropbear", "-F", "-E", "-R", "-p", "2222"]),
               expect=1, entities={"container_id": SSH_ID, "process": "dropbear", "pid": 15660}),
        Sample("inspect data of a container whose command is dropbear", "docker-inspect",
               inspect_container(SSH_ID, "cw-ssh", "cloudward-test/base:1", path="/usr/sbin/dropbear",
                                 args=("-F", "-E", "-R", "-p", "2222"), pid=15660),
               expect=1, entities={"container": "cw-ssh"}),
        Sample("sshd started in a pod (Tetragon)", "tetragon",
               tetragon_exec("/usr/sbin/sshd", "-D -e", parent="/bin/sh", parent_arguments="/start.sh"),
               expect=1, entities={"pod": "web-7d9f8b6c5d-x2x9q"}),
        Sample("sshd in a container, from Auditbeat (ECS)", "ecs-process",
               ecs_exec("/usr/sbin/sshd", ["/usr/sbin/sshd", "-D"], parent="/usr/bin/containerd-shim-runc-v2",
                        container={"id": SSH_ID, "name": "legacy-app", "image": {"name": "acme/legacy:2019"}}),
               expect=1, entities={"container": "legacy-app", "image": "acme/legacy:2019"}),
        Sample("sshd on the host is normal", "auditd",
               audit_exec(14030, 800, 1, ["/usr/sbin/sshd", "-D"]), expect=0),
        Sample("the ssh client inside a container", "tetragon",
               tetragon_exec("/usr/bin/ssh", "-i /root/.ssh/id_rsa git@github.com"), expect=0),
        Sample("ssh-keygen inside a container", "tetragon",
               tetragon_exec("/usr/bin/ssh-keygen", "-A"), expect=0),
    ),
)


class ContainerSSH(Detection):
    card = CARD
    kinds = (ProcessExec, ContainerEvent)
    #: process executions `evaluate` can find anything in (only container processes; see cloudward.process_dispatch)
    process_gate = {"host": "never", "container": "always"}

    def setup(self) -> None:
        self.servers = NamePatterns(self.data.strings("ssh_servers"))

    def process_names(self, exe: str, arg0: str | None, parent: str) -> bool:
        """Whether an execution with these file names can be an SSH server's: the executable's or argv[0]'s
        name is one (see cloudward.process_dispatch; `evaluate` returns None for anything else)."""
        return self.servers(exe) or (arg0 is not None and self.servers(arg0))

    def evaluate(self, event: ProcessExec | ContainerEvent) -> list[Finding] | None:
        if type(event) is ContainerEvent:
            if event.action not in _ACTIONS or not event.command or not event.container_id:
                return None
            name = basename(event.command[0])
            if not self.servers(name):
                return None
            ent = container_event_entities(event)
            ent["process"] = name
            return [Finding(key=f"{event.host}|{event.container_name or event.container_id}", entities=ent, event=event)]
        if not event.container_id:
            return None
        name = basename(event.executable)
        if not self.servers(name):
            if not event.argv or not self.servers(basename(event.argv[0])):
                return None
            name = basename(event.argv[0])
        ent = process_entities(event)
        ent["process"] = name
        return [Finding(key=f"{event.host}|{event.container_name or event.container_id}", entities=ent, event=event)]
