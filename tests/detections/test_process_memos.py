"""The process cards' remembered answers (issue 10) are exact: on every host corpus, the benchmark
generator's inputs and the cards' samples, each execution is evaluated once as the scan does (answers
remembered from earlier command lines) and once with every remembered answer forgotten; both must give the
same findings. Command lines repeat in these inputs, so remembered answers are used, and checked."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudward import detections
from cloudward.analytics.processes import InterpreterArgs, WebContext
from cloudward.detections.testing import run_sample
from cloudward.events import ProcessExec

HERE = Path(__file__).resolve().parent
MAKER = HERE.parent / "data" / "host" / "expected" / "make_expected.py"
spec = importlib.util.spec_from_file_location("make_expected", MAKER)
assert spec is not None and spec.loader is not None
make_expected = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_expected)

#: card id -> the attributes holding what it remembers per command line
MEMOS = {
    "AppServices_TmpFolderExecution": ("_paths",),
    "K8S.NODE_Webshell": ("_code_cache", "_words_cache", "_allowed_cache", "_server_raw"),
    "AppServices_HighPrivilegeCommand": ("_matched_cache",),
    "VM_MinerInContainerImage": ("_process_cache",),
    "K8S.NODE_KubernetesAPI": ("_cache",),
    "K8S.NODE_KubernetesDashboard": ("_cache",),
}


def _memos(card: Any) -> list[dict]:
    found = [getattr(card, name) for name in MEMOS[card.card.id]]
    for value in vars(card).values():
        if isinstance(value, InterpreterArgs):
            found.append(value._reads)
        elif isinstance(value, WebContext):
            found.append(value._origins_cache)
    return found


def _shape(findings: Any) -> Any:
    if not findings:
        return None
    return [(f.key, f.entities, f.params, f.severity) for f in findings]


class Twice:
    """Wraps the cards' `evaluate`: the remembered answer, then the same with nothing remembered."""

    def __init__(self) -> None:
        self.evaluated = 0
        self.remembered = 0
        self.wrong: list[str] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for card_id in MEMOS:
            cls = detections.by_id(card_id)
            assert cls is not None
            original = cls.evaluate

            def evaluate(card: Any, event: Any, original: Any = original) -> Any:
                if type(event) is not ProcessExec:
                    return original(card, event)
                memos = _memos(card)
                before = sum(len(m) for m in memos)
                first = original(card, event)
                if before and sum(len(m) for m in memos) == before:
                    self.remembered += 1
                saved = [dict(m) for m in memos]
                for m in memos:
                    m.clear()
                second = original(card, event)
                for m, s in zip(memos, saved, strict=True):
                    m.update(s)
                self.evaluated += 1
                if _shape(first) != _shape(second):
                    self.wrong.append(f"{card.card.id} on {event.origin}: {event.command_line[:120]}")
                return first

            monkeypatch.setattr(cls, "evaluate", evaluate)


@pytest.fixture
def twice(monkeypatch: pytest.MonkeyPatch) -> Iterator[Twice]:
    check = Twice()
    check.install(monkeypatch)
    yield check
    assert not check.wrong, "\n".join(check.wrong[:20])


def test_remembered_answers_hold_on_every_host_corpus(twice: Twice, tmp_path: Path) -> None:
    for path in [*make_expected.corpora(), *make_expected.generated(tmp_path)]:
        make_expected.alerts_of(path)
    assert twice.evaluated > 1000 and twice.remembered > twice.evaluated // 2


@pytest.mark.parametrize("card_id", sorted(MEMOS))
def test_remembered_answers_hold_on_the_cards_samples(card_id: str, twice: Twice) -> None:
    cls = detections.by_id(card_id)
    assert cls is not None
    results = [run_sample(cls, s) for s in cls.card.samples]
    assert results and all(r.passed for r in results), [r.problem for r in results if not r.passed]
    assert twice.evaluated > 0


def test_the_memo_keys_hold_everything_the_answer_reads() -> None:
    """Same program and arguments, another working directory: another answer (the cwd is in the key)."""
    cls = detections.by_id("AppServices_TmpFolderExecution")
    assert cls is not None
    from cloudward.config import from_dict
    from cloudward.pipeline import Pipeline

    pipe = Pipeline(from_dict({}), only={cls.card.id})
    card = next(d for d in pipe.engine.detections if d.card.id == cls.card.id)
    argv = ["bash", "./stage2.sh"]
    here = ProcessExec(event_id="1", executable="/usr/bin/bash", argv=argv, command_line="bash ./stage2.sh",
                       cwd="/home/u")
    tmp = ProcessExec(event_id="2", executable="/usr/bin/bash", argv=list(argv), command_line="bash ./stage2.sh",
                      cwd="/tmp")
    assert card.evaluate(here) is None
    found = card.evaluate(tmp)
    assert found and found[0].entities["path"] == "/tmp/stage2.sh"
    assert card.evaluate(here) is None and card.evaluate(tmp)


def _card(card_id: str) -> Any:
    from cloudward.config import from_dict
    from cloudward.pipeline import Pipeline

    pipe = Pipeline(from_dict({}), only={card_id})
    return next(d for d in pipe.engine.detections if d.card.id == card_id)


def test_the_container_memo_keys_hold_the_image_and_the_program() -> None:
    """The same command line in a cluster component's image and in an application's: different answers, in
    either order; the same for a miner image, and for kubectl by program name."""
    cid = "ab" * 32
    cmd = "/usr/bin/curl -sk https://kubernetes.default.svc/api/v1/namespaces/kube-system/secrets"

    def exe(image: str, executable: str = "/usr/bin/curl", command_line: str = cmd) -> ProcessExec:
        return ProcessExec(event_id="1", executable=executable, argv=command_line.split(), command_line=command_line,
                           container_id=cid, image=image)

    api = _card("K8S.NODE_KubernetesAPI")
    system = "registry.k8s.io/metrics-server/metrics-server:v0.7.1"
    for _ in range(2):
        assert api.evaluate(exe("acme/web:1")) and not api.evaluate(exe(system))
    plain = "kubectl get pods"
    assert api.evaluate(exe("acme/web:1", "/usr/local/bin/kubectl", plain))
    assert not api.evaluate(exe("acme/web:1", "/usr/local/bin/kubectx", plain))
    miner = _card("VM_MinerInContainerImage")
    for _ in range(2):
        assert miner.evaluate(exe("docker.io/metal3d/xmrig:latest", "/app", "/app --run"))
        assert not miner.evaluate(exe("acme/web:1", "/app", "/app --run"))
        assert miner.evaluate(exe("acme/web:1", "/usr/bin/xmrig", "/app --run"))
    dash = _card("K8S.NODE_KubernetesDashboard")
    proxy = ("/usr/bin/curl -sk https://10.96.0.1/api/v1/namespaces/kubernetes-dashboard/services/"
             "https:kubernetes-dashboard:/proxy/")
    for _ in range(2):
        assert dash.evaluate(exe("acme/web:1", command_line=proxy))
        assert not dash.evaluate(exe("docker.io/kubernetesui/dashboard-web:1.6.0", command_line=proxy))


def test_the_high_privilege_memo_key_holds_root() -> None:
    """crontab counts only as root: the same command line as root and as a user, in either order."""
    card = _card("AppServices_HighPrivilegeCommand")

    def run(uid: int) -> ProcessExec:
        return ProcessExec(event_id="1", executable="/usr/bin/crontab", argv=["crontab", "-l"],
                           command_line="crontab -l", uid=uid, euid=uid, user="www-data",
                           parent_executable="/usr/sbin/php-fpm8.2")

    for _ in range(2):
        assert card.evaluate(run(0)) and not card.evaluate(run(33))
