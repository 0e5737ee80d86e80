"""Detection cards: one module per alert type, holding its metadata, its logic and its own samples.

A card module defines one `Detection` subclass with a `card` attribute. The module's file name is the
snake-case form of the alert type (`K8S_PrivilegedContainer` -> `k8s_privileged_container.py`), so
finding the code for an alert is a file-name search.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from cloudward.alerts import Finding
from cloudward.config import ConfigError, DetectionSettings
from cloudward.datalists import DataLists
from cloudward.events import Event
from cloudward.timeutil import parse_duration

T = TypeVar("T")


@dataclass(frozen=True)
class Sample:
    """An input a card must (expect > 0) or must not (expect == 0) alert on.

    `data` is raw input in `format`: text as it would appear in a file, or JSON records (a dict, or a
    list of dicts written one per line). Samples run through the real pipeline in tests and in
    `cloudward rules test`.
    """

    name: str
    format: str
    data: Any
    #: alerts of the card's type expected from this input
    expect: int
    note: str = ""
    #: the card's parameters for this sample (a short learning period, say)
    params: dict[str, Any] = field(default_factory=dict)
    #: other configuration for the run (`site`, `cluster`, `data`...), merged into the defaults
    config: dict[str, Any] = field(default_factory=dict)
    #: threat-intel feed text for the run, when the card needs one
    intel: str = ""
    #: entity values the alert must carry (checked on the first alert)
    entities: dict[str, Any] = field(default_factory=dict)
    #: the severity the first alert must have ('' = not checked)
    severity: str = ""
    #: text the first alert's English description must contain ('' = not checked)
    description_has: str = ""


@dataclass(frozen=True)
class Card:
    id: str
    title: str
    title_ko: str
    severity: str
    tactics: tuple[str, ...]
    techniques: tuple[str, ...]
    #: data source, as in the alert catalog: AUDIT, HTTP, FTP, PROC or HOST
    data_source: str
    #: what the card reads, for `rules show`
    looks_at: str
    description: str
    description_ko: str
    remediation: tuple[str, ...]
    remediation_ko: tuple[str, ...]
    false_positives: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    #: experimental | test | stable (as Falco rules mark theirs)
    maturity: str = "stable"
    #: the card's own parameters and their defaults
    params: dict[str, Any] = field(default_factory=dict)
    samples: tuple[Sample, ...] = ()


class Detection:
    """Base of every card's logic.

    `evaluate` sees each event of the subscribed kinds and returns findings (or None, the cheap
    common answer). Stateful cards keep explicit, serializable state: `state()` returns it as plain
    data and `restore()` takes it back, so a store or another runner can hold it.
    """

    card: ClassVar[Card]
    kinds: ClassVar[tuple[type[Event], ...]] = ()
    #: for Kubernetes audit subscribers: the verbs and resources this card can use (None = all); parsers skip
    #: events no card can use without parsing them
    audit_verbs: ClassVar[frozenset[str] | None] = None
    audit_resources: ClassVar[frozenset[str] | None] = None

    def __init__(self, settings: DetectionSettings | None = None, data: DataLists | None = None,
                 shared: dict[type, Any] | None = None) -> None:
        self.settings = settings or DetectionSettings()
        self.data = data or DataLists()
        #: analytics shared by the cards of one pipeline, one instance per class (see `shared_analytics`)
        self._shared = shared if shared is not None else {}
        #: True while the pipeline feeds a `--baseline-from` pass: learn, raise nothing
        self.learning = False
        #: findings a learning period held back in this run, and when the latest such period ends (epoch s)
        self.held_back = 0
        self.held_until = 0.0
        unknown = set(self.settings.params) - set(self.card.params)
        if unknown:
            known = ", ".join(sorted(self.card.params)) or "none"
            raise ConfigError(
                f"[detections.{self.card.id}] has unknown keys {', '.join(sorted(unknown))} (parameters: {known})"
            )
        self.params: dict[str, Any] = {**self.card.params, **self.settings.params}
        self.setup()

    # -- for subclasses ---------------------------------------------------------------------
    def setup(self) -> None:
        """Read parameters and data lists once; called by __init__."""

    def evaluate(self, event: Any) -> Iterable[Finding] | None:
        raise NotImplementedError

    def finish(self) -> Iterable[Finding]:
        """Findings that only the end of the input reveals (windows still open)."""
        return ()

    #: what the card's state is keyed by ("source IP", "site", "cluster"...); "" for stateless cards
    partition: ClassVar[str] = ""

    def state(self) -> dict[str, Any] | None:
        """Plain, keyed state: `{namespace: {partition key: body}}` (None for stateless cards)."""
        return None

    def restore(self, state: dict[str, Any]) -> None:
        """Take back what `state()` returned (into a fresh card: the same as `merge`)."""
        self.merge(state)

    def merge(self, state: dict[str, Any]) -> None:
        """Fold another instance's `state()` in, key by key; commutative for disjoint keys."""

    def advance(self, watermark: float) -> None:
        """Event time has passed `watermark`: forget what no later event can use."""

    # -- helpers ----------------------------------------------------------------------------
    def hold_back(self, until: float) -> None:
        """Note a finding not raised because a learning period is running (until `until`), for the summary."""
        if not self.learning:  # a --baseline-from pass raises nothing anyway
            self.held_back += 1
            self.held_until = max(self.held_until, until)

    def duration(self, name: str) -> float:
        try:
            return parse_duration(self.params[name])
        except ValueError as exc:
            raise ConfigError(f"[detections.{self.card.id}] {name}: {exc}") from None

    def shared_analytics(self, cls: type[T]) -> T:
        """The pipeline's one instance of analytics class `cls` (created on first use)."""
        inst = self._shared.get(cls)
        if inst is None:
            inst = self._shared[cls] = cls()
        return inst  # type: ignore[no-any-return]

    @property
    def severity(self) -> str:
        return self.settings.severity or self.card.severity


def snake_case(alert_type: str) -> str:
    """`K8S.NODE_ContainerSSH` -> `k8s_node_container_ssh`."""
    s = alert_type.replace(".", "_")
    s = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", s)
    s = re.sub(r"(?<=[A-Z])(?=[A-Z][a-z])", "_", s)
    return re.sub(r"_+", "_", s).lower()
