"""The process cards' declared gates (cloudward.process_dispatch) are exact where it matters: on every
host corpus, the benchmark generator's inputs and every process card's samples, an execution a gate keeps
from a card would have given that card no finding; and the dispatch offers the rest in card order."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudward import detections
from cloudward.detections.testing import run_sample
from cloudward.events import ProcessExec
from cloudward.process_dispatch import FACETS, ProcessDispatch

HERE = Path(__file__).resolve().parent
MAKER = HERE / "data" / "host" / "expected" / "make_expected.py"
spec = importlib.util.spec_from_file_location("make_expected", MAKER)
assert spec is not None and spec.loader is not None
make_expected = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_expected)

GATED = sorted(cls.card.id for cls in detections.all_classes()
               if ProcessExec in cls.kinds and (getattr(cls, "process_gate", None) is not None
                                                or hasattr(cls, "process_names") or hasattr(cls, "process_text")
                                                or hasattr(cls, "process_paths")))


class Checked:
    """Wraps ProcessDispatch.select: every card it leaves out is run anyway and must find nothing."""

    def __init__(self) -> None:
        self.kept_out = 0
        self.offered = 0
        self.wrong: list[str] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = ProcessDispatch.select

        def select(dispatch: ProcessDispatch, event: Any) -> list[Any]:
            chosen = original(dispatch, event)
            self.offered += len(chosen)
            for card in dispatch.cards:
                if card in chosen:
                    continue
                self.kept_out += 1
                if card.evaluate(event):
                    self.wrong.append(f"{card.card.id} kept from {event.origin}: {event.command_line[:120]}")
            order = [c for c in dispatch.cards if c in chosen]
            assert order == chosen, "the dispatch changed the cards' order"
            return chosen

        monkeypatch.setattr(ProcessDispatch, "select", select)


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> Iterator[Checked]:
    check = Checked()
    check.install(monkeypatch)
    yield check
    assert not check.wrong, "\n".join(check.wrong[:20])


def test_gates_hold_on_every_host_corpus(checked: Checked, tmp_path: Path) -> None:
    for path in [*make_expected.corpora(), *make_expected.generated(tmp_path)]:
        make_expected.alerts_of(path)
    assert checked.kept_out > checked.offered  # the gates keep most cards away from most executions
    assert checked.offered > 0


@pytest.mark.parametrize("card_id", GATED)
def test_gates_hold_on_the_cards_samples(card_id: str, checked: Checked) -> None:
    cls = detections.by_id(card_id)
    assert cls is not None
    results = [run_sample(cls, s) for s in cls.card.samples]
    assert results and all(r.passed for r in results), [r.problem for r in results if not r.passed]


def test_gates_name_known_facets_only() -> None:
    for cls in detections.all_classes():
        gate = getattr(cls, "process_gate", None)
        if gate is None:
            continue
        assert set(gate) <= {"host", "container"}, cls.card.id
        assert set(gate.values()) <= {"always", "never", *FACETS}, cls.card.id


def test_an_ordinary_host_exec_reaches_few_cards() -> None:
    from cloudward.engine import Engine

    engine = Engine()
    dispatch = engine._process_dispatch
    assert dispatch is not None
    argv = ["/usr/sbin/logrotate", "/etc/logrotate.conf"]
    cron = ProcessExec(event_id="1", executable=argv[0], argv=argv,
                       command_line="/usr/sbin/logrotate /etc/logrotate.conf", parent_executable="/usr/sbin/cron")
    total = len(dispatch.cards)
    offered = [c.card.id for c in dispatch.select(cron)]
    assert len(offered) <= 3 < total, offered
    shell = ProcessExec(event_id="2", executable="/bin/sh", argv=["sh", "-c", "id"], command_line="sh -c id",
                        parent_executable="/usr/sbin/php-fpm8.2", container_id="ab" * 32)
    offered = {c.card.id for c in dispatch.select(shell)}
    assert {"K8S.NODE_Webshell", "AppServices_SuspectPhp"} <= offered
    # the API server, dashboard and miner cards read the command line (`process_text`): `id` names none
    assert not {"K8S.NODE_KubernetesAPI", "K8S.NODE_KubernetesDashboard", "VM_MinerInContainerImage"} & offered
    code = "wget -qO- https://kubernetes.default.svc/api/v1/secrets"
    api = ProcessExec(event_id="4", executable="/bin/sh", argv=["sh", "-c", code], command_line=f"sh -c {code}",
                      parent_executable="/usr/sbin/php-fpm8.2", container_id="ab" * 32)
    offered = {c.card.id for c in dispatch.select(api)}
    assert "K8S.NODE_KubernetesAPI" in offered and "K8S.NODE_KubernetesDashboard" not in offered
    # a host process's miner finding reads argv (`docker run <image>`): always offered, whatever it runs
    host = ProcessExec(event_id="5", executable="/usr/bin/docker", argv=["docker", "run", "alpine:3.20", "id"],
                       command_line="docker run alpine:3.20 id")
    assert "VM_MinerInContainerImage" in {c.card.id for c in dispatch.select(host)}
    # the SSH card reads program names: a shell is not a server, sshd is
    assert "K8S.NODE_ContainerSSH" not in offered
    sshd = ProcessExec(event_id="3", executable="/usr/sbin/sshd", argv=["/usr/sbin/sshd", "-D"],
                       command_line="/usr/sbin/sshd -D", parent_executable="/bin/sh", container_id="ab" * 32)
    assert "K8S.NODE_ContainerSSH" in {c.card.id for c in dispatch.select(sshd)}


def test_command_lines_that_never_repeat_work_out_the_gates_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The text gates key the table by the command line; the facets and names are still worked out once per
    program and flags, not once per command line."""
    from cloudward.engine import Engine

    dispatch = Engine()._process_dispatch
    assert dispatch is not None and dispatch.by_text
    calls = []
    original = ProcessDispatch._select
    monkeypatch.setattr(ProcessDispatch, "_select", lambda self, event: calls.append(1) or original(self, event))
    chosen = []
    for i in range(200):
        code = f"gzip -9 /var/log/app/old-{i}.log"
        chosen.append([c.card.id for c in dispatch.select(ProcessExec(
            event_id=str(i), executable="/bin/sh", argv=["sh", "-c", code], command_line=f"sh -c {code}",
            parent_executable="/usr/sbin/cron", container_id="ab" * 32))])
    assert len(calls) == 1
    assert all(c == chosen[0] for c in chosen) and "K8S.NODE_KubernetesAPI" not in chosen[0]
