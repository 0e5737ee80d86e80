"""VM_MinerInContainerImage: a container started from a crypto-miner image, or a miner process (by name
or by stratum / pool / wallet arguments) inside a container. The indicators are the ones the
Kubernetes miner card uses (detections.common.miners)."""

from __future__ import annotations

from cloudward.alerts import Finding
from cloudward.analytics.processes import (
    basename,
    container_event_entities,
    process_entities,
    remember,
    runtime_command,
)
from cloudward.detections.base import Card, Detection, Sample
from cloudward.detections.common.miners import MinerIndicators
from cloudward.detections.node._samples import (
    audit_exec,
    container_id,
    docker_event,
    inspect_container,
    shim,
    tetragon_exec,
)
from cloudward.events import ContainerEvent, ProcessExec

MINER_ID = container_id("cw-miner")
PLAIN_ID = container_id("cw-plain")
_ACTIONS = frozenset({"create", "start", "inspect", "restart"})
_CACHE_LIMIT = 65536
WALLET = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"

CARD = Card(
    id="VM_MinerInContainerImage",
    title="Container with a miner image detected",
    title_ko="채굴 이미지를 사용하는 컨테이너 탐지",
    severity="high",
    tactics=("Execution",),
    techniques=("T1496", "T1610"),
    data_source="HOST",
    looks_at="container create/start/inspect records and runtime run/create command lines whose image matches "
             "miner_images; processes in containers named like miners or with miner_arguments, miner_pools or "
             "wallet arguments",
    description="[[On {host}, ]]container {container} runs crypto-mining software ({indicators}[[; image {image}]]). "
                "Miners are the most common payload of a hijacked container host; they burn the node's CPU and "
                "your money.",
    description_ko="[[{host}의 ]]컨테이너 {container}에서 암호화폐 채굴 소프트웨어가 실행됩니다({indicators}[[; 이미지 "
                   "{image}]]). 채굴기는 탈취된 컨테이너 호스트에서 가장 흔한 페이로드로, 노드의 CPU와 비용을 소모합니다.",
    remediation=(
        "Stop and remove the container, and delete the image from the host (docker rmi) and from any registry "
        "it came from.",
        "Find how it was started: docker events / audit log for the creating command, an exposed Docker daemon "
        "(VM_ExposedDocker), stolen credentials, or a compromised workload that pulled it.",
        "Block the mining pools' domains and ports at the egress firewall.",
        "Restrict which registries and images may run (an admission policy or Docker's authorization plug-ins).",
    ),
    remediation_ko=(
        "컨테이너를 중지·삭제하고 호스트(docker rmi)와 출처 레지스트리에서 이미지를 삭제하십시오.",
        "어떻게 시작되었는지 확인하십시오: 생성 명령에 대한 docker events/감사 로그, 노출된 Docker 데몬"
        "(VM_ExposedDocker), 탈취된 자격 증명, 또는 이미지를 내려받은 침해된 워크로드.",
        "송신 방화벽에서 채굴 풀의 도메인과 포트를 차단하십시오.",
        "실행할 수 있는 레지스트리와 이미지를 제한하십시오(승인 정책 또는 Docker 권한 부여 플러그인).",
    ),
    false_positives=(
        "Deliberate mining or benchmarking hosts; allow them with { host = \"mining-rig-*\" }.",
    ),
    samples=(
        Sample("container created from xmrig/xmrig (docker events, as recorded)", "docker-events",
               docker_event("create", MINER_ID, "cw-miner", "xmrig/xmrig:6.21.0"),
               expect=1, entities={"container_id": MINER_ID, "image": "xmrig/xmrig:6.21.0"}),
        Sample("inspect data of the miner container", "docker-inspect",
               inspect_container(MINER_ID, "cw-miner", "xmrig/xmrig:6.21.0", pid=15725), expect=1),
        Sample("a renamed miner with stratum arguments in a container (auditd with runtime lineage, as recorded)",
               "auditd",
               shim(12659, 15512, PLAIN_ID)
               + audit_exec(12724, 15881, 15512, ["/tmp/xmrig", "-o", "stratum+tcp://pool.supportxmr.com:3333", "-u",
                                                  WALLET, "--donate-level", "1"]),
               expect=1, entities={"container_id": PLAIN_ID, "process": "xmrig"}),
        Sample("docker run of a miner image from the command line", "auditd",
               audit_exec(14040, 31040, 1, ["docker", "run", "-d", "--restart", "always", "--name", "sysupdate",
                                            "metal3d/xmrig:latest"], exe="/usr/bin/docker"),
               expect=1, entities={"container": "sysupdate"}),
        Sample("a pod whose image is a miner (Tetragon)", "tetragon",
               tetragon_exec("/xmrig/xmrig", "--config=/xmrig/config.json", image="docker.io/metal3d/xmrig:latest",
                             parent="/usr/bin/containerd-shim-runc-v2"),
               expect=1),
        Sample("an nginx container", "docker-events",
               docker_event("create", PLAIN_ID, "web", "nginx:1.27"), expect=0),
        Sample("an ordinary process in a container", "tetragon",
               tetragon_exec("/usr/local/bin/python", "app.py --port 9080"), expect=0),
        Sample("a miner on the host itself is not a container alert", "auditd",
               audit_exec(14041, 31041, 1, ["/opt/xmrig/xmrig", "-o", "stratum+tcp://pool.supportxmr.com:3333"]),
               expect=0),
    ),
)


class MinerInContainerImage(Detection):
    card = CARD
    kinds = (ContainerEvent, ProcessExec)
    #: process executions `evaluate` can find anything in (any container process; on the host only
    #: `docker|podman|nerdctl|ctr|crictl run|create`; see cloudward.process_dispatch)
    process_gate = {"host": "runtime_cli", "container": "always"}

    def setup(self) -> None:
        self.miners = MinerIndicators(self.data)
        self._text_cache: dict[str, list[str]] = {}
        self._process_cache: dict[tuple[str, str, str], tuple[str, ...]] = {}

    def _text(self, text: str) -> list[str]:
        found = self._text_cache.get(text)
        if found is None:
            found = self.miners.text(text)
            if len(self._text_cache) >= _CACHE_LIMIT:
                self._text_cache.clear()
            self._text_cache[text] = found
        return found

    def _process_hits(self, event: ProcessExec) -> tuple[str, ...]:
        found = []
        pattern = self.miners.image(event.image) if event.image else None
        if pattern:
            found.append(f"image matches {pattern}")
        name = basename(event.executable)
        if name and self.miners.image(name):
            found.append(f"miner program {name}")
        found.extend(self._text(event.command_line))
        return tuple(found)

    def _remembered_hits(self, event: ProcessExec) -> tuple[str, ...]:
        # a pure function of the image, the executable and the command line (and the card's lists)
        key = (event.image, event.executable, event.command_line)
        hits = self._process_cache.get(key)
        if hits is None:
            hits = self._process_hits(event)
            remember(self._process_cache, key, hits, len(event.command_line))
        return hits

    def process_text(self, event: ProcessExec) -> bool:
        """Whether an execution can give a finding at all (see cloudward.process_dispatch): in a container, only
        with indicators (a pure function of the image, executable and command line); a host process reads its
        argv (`docker run <image>`), which the command line does not determine, so it is always offered."""
        return not event.container_id or bool(self._remembered_hits(event))

    def evaluate(self, event: ContainerEvent | ProcessExec) -> list[Finding] | None:
        if type(event) is ContainerEvent:
            if event.action not in _ACTIONS or not event.container_id:
                return None
            found = []
            pattern = self.miners.image(event.image)
            if pattern:
                found.append(f"image matches {pattern}")
            if event.command:
                found.extend(self._text(" ".join(event.command)))
            if not found:
                return None
            ent = container_event_entities(event)
            ent["indicators"] = found
            return [Finding(key=f"{event.host}|{event.container_name or event.container_id}", entities=ent, event=event)]
        if event.container_id:
            hits = self._remembered_hits(event)
            if not hits:
                return None
            found = list(hits)
            ent = process_entities(event)
            ent["indicators"] = found
            return [Finding(key=f"{event.host}|{event.container_name or event.container_id}", entities=ent, event=event)]
        if len(event.argv) < 3:
            return None
        cmd = runtime_command(event.argv, event.executable)
        if cmd is None or cmd.verb not in ("run", "create") or not cmd.target:
            return None
        pattern = self.miners.image(cmd.target)
        if not pattern:
            return None
        ent = process_entities(event)
        ent["container"] = cmd.name or "(unnamed)"
        ent["image"] = cmd.target
        ent["indicators"] = [f"image matches {pattern}"]
        return [Finding(key=f"{event.host}|{cmd.name or cmd.target}", entities=ent, event=event)]
