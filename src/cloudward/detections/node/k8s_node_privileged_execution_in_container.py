"""K8S.NODE_PrivilegedExecutionInContainer: `docker exec --privileged`, or a host-impacting command
(mount, nsenter, chroot, insmod, modprobe, unshare, debugfs...) run in a privileged container or with
CAP_SYS_ADMIN — the usual ways out of a container onto its node."""

from __future__ import annotations

from cloudward.alerts import Finding
from cloudward.analytics.processes import (
    NamePatterns,
    basename,
    container_event_entities,
    process_entities,
    program,
    runtime_command,
)
from cloudward.detections.base import Card, Detection, Sample
from cloudward.detections.node._samples import (
    ALL_CAPS,
    DEFAULT_CAPS,
    audit_exec,
    container_id,
    docker_event,
    inspect_exec,
    tetragon_exec,
)
from cloudward.events import ContainerEvent, ProcessExec

PLAIN_ID = container_id("cw-plain")
_EXEC_ACTIONS = frozenset({"exec_create", "exec_start", "exec_inspect"})
_WHAT_KO = {
    "a host-impacting command ran privileged": "호스트에 영향을 주는 명령이 권한 모드로 실행됨",
    "a host-impacting command ran with CAP_SYS_ADMIN": "호스트에 영향을 주는 명령이 CAP_SYS_ADMIN으로 실행됨",
    "a privileged exec was started": "권한 있는 exec가 시작됨",
    "a host-impacting command was exec'd into a privileged container": "권한 있는 컨테이너에 호스트 영향 명령이 exec됨",
}

CARD = Card(
    id="K8S.NODE_PrivilegedExecutionInContainer",
    title="Privileged command run in container",
    title_ko="컨테이너에서 권한 있는 명령 실행",
    severity="low",
    tactics=("PrivilegeEscalation",),
    techniques=("T1611", "T1609"),
    data_source="HOST",
    looks_at="docker/podman/nerdctl exec --privileged command lines, exec inspect data (ProcessConfig.privileged), "
             "and container processes from host_impacting_commands in a privileged container or with CAP_SYS_ADMIN",
    description="[[On {host}, ]]{what} in container {container}: {command_line}. With that privilege a process can "
                "mount the host's disks, join its namespaces or load kernel code: a container escape.",
    description_ko="[[{host}의 ]]컨테이너 {container}에서 {what_ko}: {command_line}. 이런 권한이 있으면 프로세스가 호스트 "
                   "디스크를 마운트하거나 네임스페이스에 들어가거나 커널 코드를 적재할 수 있어 컨테이너 탈출이 가능합니다.",
    remediation=(
        "Find who ran it (the docker exec caller, the pod's owner) and whether it was planned maintenance.",
        "Check the node for what the command changed: mounts, new kernel modules, files written through "
        "/proc/1/root or nsenter, new users or SSH keys on the host.",
        "Remove --privileged and CAP_SYS_ADMIN from the container; give it only what it needs.",
        "Limit who may call docker exec / kubectl exec (RBAC on pods/exec, the Docker socket's group).",
    ),
    remediation_ko=(
        "누가 실행했는지(docker exec 호출자, 파드 소유자)와 계획된 유지 보수였는지 확인하십시오.",
        "명령이 노드에 가한 변경을 확인하십시오: 마운트, 새 커널 모듈, /proc/1/root나 nsenter로 쓴 파일, 호스트의 새 "
        "사용자나 SSH 키.",
        "컨테이너에서 --privileged와 CAP_SYS_ADMIN을 제거하고 필요한 권한만 부여하십시오.",
        "docker exec / kubectl exec를 호출할 수 있는 사람을 제한하십시오(pods/exec에 대한 RBAC, Docker 소켓 그룹).",
    ),
    false_positives=(
        "Storage and network agents that mount or enter namespaces by design (CSI node plug-ins, CNI); allow "
        "them by image, e.g. { image = \"*csi-node*\" }.",
    ),
    samples=(
        Sample("docker exec --privileged into a plain container (auditd, as recorded)", "auditd",
               audit_exec(12701, 15766, 14935, ["docker", "exec", "--privileged", "cw-plain", "id"],
                          exe="/usr/bin/docker"),
               expect=1, entities={"container": "cw-plain", "process": "docker"}),
        Sample("nsenter into PID 1's namespaces from a privileged pod (Tetragon)", "tetragon",
               tetragon_exec("/usr/bin/nsenter", "-t 1 -m -u -n -i -p bash", parent="/bin/bash",
                             pod="privileged-pod", namespace="default", container="privileged-pod",
                             image="nginx:latest", caps=ALL_CAPS),
               expect=1, entities={"process": "nsenter", "pod": "privileged-pod"}),
        Sample("exec inspect data says privileged", "docker-inspect",
               inspect_exec("89d6fe3e9453fd2c5925954a44e83742c545c05a9d8b884eff350136b124f445", PLAIN_ID, "id", [],
                            privileged=True, pid=15801),
               expect=1),
        Sample("mount with CAP_SYS_ADMIN only (Tetragon)", "tetragon",
               tetragon_exec("/bin/mount", "-t tmpfs tmpfs /mnt", caps=[*DEFAULT_CAPS, "CAP_SYS_ADMIN"]),
               expect=1, entities={"process": "mount"}),
        Sample("Falco reports nsenter in a privileged container", "falco",
               {"hostname": "node-7", "output": "09:15:27.401: Notice Namespace change (setns) by unexpected program",
                "priority": "Notice", "rule": "Change namespace privileges via unshare", "source": "syscall",
                "tags": ["container", "mitre_privilege_escalation", "T1611"], "time": "2026-11-02T09:15:27.401Z",
                "output_fields": {"container.id": "3ad7b26ded6d", "container.name": "debug", "container.privileged": True,
                                  "proc.cmdline": "nsenter -t 1 -m -u -n -i -p sh", "proc.exepath": "/usr/bin/nsenter",
                                  "proc.name": "nsenter", "proc.pid": 4711, "user.name": "root",
                                  "container.image.repository": "docker.io/library/alpine"}},
               expect=1, entities={"container": "debug", "process": "nsenter"}),
        Sample("a plain docker exec ls (auditd, as recorded)", "auditd",
               audit_exec(12696, 15760, 14935, ["docker", "exec", "cw-plain", "ls", "/"], exe="/usr/bin/docker"),
               expect=0),
        Sample("a plain exec in docker events", "docker-events",
               docker_event("exec_create", PLAIN_ID, "cw-plain", "cloudward-test/base:1",
                            exec_id="0fb049b918d369aa5085ffa00a1dbbe715b981fb2e0550b37648934fad9b27e3", command="ls /"),
               expect=0),
        Sample("mount in a container with the default capabilities (Tetragon)", "tetragon",
               tetragon_exec("/bin/mount", "", caps=DEFAULT_CAPS), expect=0),
        Sample("nsenter on the host itself", "auditd",
               audit_exec(14010, 31010, 1, ["nsenter", "-t", "1", "-m", "true"], exe="/usr/bin/nsenter"), expect=0),
    ),
)


class PrivilegedExecutionInContainer(Detection):
    card = CARD
    kinds = (ContainerEvent, ProcessExec)
    #: process executions `evaluate` can find anything in (a host `... exec --privileged`, or a container process that is privileged or holds CAP_SYS_ADMIN; see cloudward.process_dispatch)
    process_gate = {"host": "privileged_flag", "container": "elevated"}

    def setup(self) -> None:
        self.host_impacting = NamePatterns(self.data.strings("host_impacting_commands"))

    def evaluate(self, event: ContainerEvent | ProcessExec) -> list[Finding] | None:
        if type(event) is ContainerEvent:
            return self._container_event(event)
        if event.container_id:
            name = basename(event.executable)
            if not (self.host_impacting(name) or (event.argv and self.host_impacting(basename(event.argv[0])))):
                return None
            if event.privileged:
                what = "a host-impacting command ran privileged"
            elif "CAP_SYS_ADMIN" in event.capabilities:
                what = "a host-impacting command ran with CAP_SYS_ADMIN"
            else:
                return None
            ent = process_entities(event)
            return [Finding(key=f"{event.host}|{event.container_name or event.container_id}|{event.command_line}", entities=ent,
                            event=event, params={"what": what, "what_ko": _WHAT_KO.get(what, what)})]
        if len(event.argv) < 3 or "--privileged" not in event.command_line:
            return None
        cmd = runtime_command(event.argv, event.executable)
        if cmd is None or cmd.verb != "exec" or not cmd.privileged:
            return None
        ent = process_entities(event)
        ent["container"] = cmd.target
        ent["exec_command"] = " ".join(cmd.command)
        return [Finding(key=f"{event.host}|{cmd.target}|{' '.join(cmd.command)}", entities=ent, event=event,
                        params={"what": f"{cmd.tool} exec --privileged",
                                "what_ko": f"{cmd.tool} exec --privileged 실행"})]

    def _container_event(self, event: ContainerEvent) -> list[Finding] | None:
        if event.action not in _EXEC_ACTIONS:
            return None
        if event.privileged:
            what = "a privileged exec was started"
        elif (event.labels.get("container_privileged") == "true" and event.command
              and self.host_impacting(program(event.command[0]))):
            what = "a host-impacting command was exec'd into a privileged container"
        else:
            return None
        ent = container_event_entities(event)
        if event.exec_id:
            ent["exec_id"] = event.exec_id
        key = f"{event.host}|{event.container_name or event.container_id}|{' '.join(event.command)}"
        return [Finding(key=key, entities=ent, event=event, params={"what": what, "what_ko": _WHAT_KO.get(what, what)})]
