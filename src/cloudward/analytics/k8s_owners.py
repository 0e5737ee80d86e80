"""Which workload a pod belongs to, so a workload's pods join the alert its spec raised.

Controllers chain: Deployment -> ReplicaSet -> Pod, CronJob -> Job -> Pod. The index learns each link
from the audit events that create ReplicaSets and Jobs (their ownerReferences), and falls back on the
names controllers generate when that event is not in the input: a ReplicaSet named
`<deployment>-<pod-template-hash>` and a Job named `<cronjob>-<scheduled minute>`.
"""

from __future__ import annotations

import re
from typing import Any

#: the alphabet of pod-template-hash suffixes (k8s.io/apimachinery rand.SafeEncodeString)
_TEMPLATE_HASH = re.compile(r"^(.+)-[bcdfghjklmnpqrstvwxz2456789]{5,10}$")
_CRON_SUFFIX = re.compile(r"^(.+)-\d{8,}$")
MAX_LINKS = 200_000


def controller_of(metadata: dict[str, Any]) -> tuple[str, str] | None:
    """(kind, name) of the controlling owner reference, else of the first owner, else None."""
    refs = metadata.get("ownerReferences")
    if not isinstance(refs, list):
        return None
    owners = [r for r in refs if isinstance(r, dict) and isinstance(r.get("kind"), str)]
    if not owners:
        return None
    chosen = next((r for r in owners if r.get("controller") is True), owners[0])
    return chosen["kind"], str(chosen.get("name", ""))


class OwnerIndex:
    partition = "namespace"

    def __init__(self) -> None:
        #: (namespace, kind, name) -> (owner kind, owner name)
        self.links: dict[tuple[str, str, str], tuple[str, str]] = {}
        self._last: tuple[object, Any] = (None, None)

    def record(self, namespace: str, kind: str, name: str, owner: tuple[str, str] | None) -> None:
        if owner and name and len(self.links) < MAX_LINKS:
            self.links[(namespace, kind, name)] = owner

    def resolve(self, namespace: str, kind: str, name: str) -> tuple[str, str]:
        """The top-level workload of (kind, name)."""
        for _ in range(4):
            parent = self.links.get((namespace, kind, name))
            if parent is None:
                if kind == "ReplicaSet" and (m := _TEMPLATE_HASH.match(name)):
                    return "Deployment", m.group(1)
                if kind == "Job" and (m := _CRON_SUFFIX.match(name)):
                    return "CronJob", m.group(1)
                return kind, name
            kind, name = parent
        return kind, name

    # a one-event memo: the cards of a pipeline look at the same event one after another
    # (the event itself is held, not its id(), which a later object could reuse)
    def memo(self, event: object) -> Any:
        last, value = self._last
        return value if last is event else None

    def remember(self, event: object, value: Any) -> None:
        self._last = (event, value)

    def state(self) -> dict[str, Any]:
        return {"links": [[*k, *v] for k, v in self.links.items()]}

    def merge(self, state: dict[str, Any]) -> None:
        """Union of the links (a workload's owner never changes, so both sides agree on a shared link)."""
        self.restore(state)

    def restore(self, state: dict[str, Any]) -> None:
        for ns, kind, name, okind, oname in state.get("links", []):
            self.links[(ns, kind, name)] = (okind, oname)
