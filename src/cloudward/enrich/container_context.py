"""Container context for host telemetry: which container a process or connection belongs to, and
that container's name, image, privilege and added capabilities.

It learns from every `ContainerEvent` it sees (docker events, `docker inspect` / `crictl inspect`
output) and fills in what process and connection records lack:

* container id from a cgroup path the record carries (`/docker/<id>`, `/kubepods/.../<id>`,
  `cri-containerd-<id>.scope`, `crio-<id>.scope`, `libpod-<id>.scope`);
* container id from pids: a container's main pid (`State.Pid`), an exec's pid, and the children of
  processes already placed in a container;
* name, image, privileged and capabilities by container id (short ids match by prefix);
* for exec records, privileged and the pid from the exec's own inspect data.

Inspect snapshots carry no event time, so the engine runs their events before any timed record:
inspect files among the inputs help records read before them without being read twice. More inspect
files can be named with the `docker_inspect` option or `[containers] docker_inspect = [...]` in the
configuration (read once, at start); `prepare` loads the inspect files among given paths ahead, for
callers that feed events without an engine. State is keyed by container id (facts) and host (pids).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from cloudward.config import Config
from cloudward.enrich import Enricher
from cloudward.events import ContainerEvent, NetConnection, ProcessExec
from cloudward.inputs import InputFile, is_regular
from cloudward.parsers._container_ids import from_cgroup

MAX_CONTAINERS = 50_000
MAX_PIDS = 200_000
#: markers of `docker inspect` output in the first bytes of a file
_INSPECT_MARKERS = (b'"HostConfig"', b'"ProcessConfig"', b'"RepoTags"')
#: marker of `docker info` output
_INFO_MARKER = b'"ServerVersion"'


def _folder(origin: str) -> str:
    path = origin.rsplit(":", 1)[0]
    cut = path.rfind("/")
    return path[:cut] if cut >= 0 else ""


@dataclass(slots=True)
class ContainerFacts:
    container_id: str
    name: str = ""
    image: str = ""
    privileged: bool | None = None
    capabilities: list[str] = field(default_factory=list)
    pid: int = 0


class ContainerContext(Enricher):
    kinds = (ProcessExec, NetConnection, ContainerEvent)
    name = "container_context"

    def __init__(self, inspect_paths: list[str] | None = None) -> None:
        self.containers: OrderedDict[str, ContainerFacts] = OrderedDict()
        #: (host, pid) -> container id, from inspect pids and from processes placed in a container
        self.pids: OrderedDict[tuple[str, int], str] = OrderedDict()
        #: exec id -> (privileged, pid, container id)
        self.execs: dict[str, tuple[bool | None, int, str]] = {}
        #: (host, pid) -> privileged, for exec'd processes whose exec inspect said so
        self.exec_pids: dict[tuple[str, int], bool] = {}
        self._prefix_cache: dict[str, str] = {}
        #: folder of a `docker info` input -> the daemon's name
        self.daemon_names: dict[str, str] = {}
        self.loaded: set[str] = set()
        for path in inspect_paths or ():
            self.load(path)

    # -- learning -----------------------------------------------------------------------------
    def learn(self, ev: ContainerEvent) -> None:
        if ev.action == "daemon_info":
            name = ev.labels.get("daemon_name", "")
            if name and len(self.daemon_names) < 10_000:
                self.daemon_names[_folder(ev.origin)] = name
            return
        if ev.action == "exec_inspect":
            if ev.exec_id:
                self.execs[ev.exec_id] = (ev.privileged, ev.pid, ev.container_id)
            if ev.pid and ev.container_id:
                self._remember_pid(ev.host, ev.pid, ev.container_id)
                if ev.privileged:
                    self.exec_pids[(ev.host, ev.pid)] = True
            return
        if not ev.container_id or ev.action in ("image_inspect", "daemon_config"):
            return
        facts = self.containers.get(ev.container_id)
        if facts is None:
            if len(self.containers) >= MAX_CONTAINERS:
                self.containers.popitem(last=False)
            facts = self.containers[ev.container_id] = ContainerFacts(ev.container_id)
            self._prefix_cache.clear()
        facts.name = ev.container_name or facts.name
        facts.image = ev.image or facts.image
        if ev.action == "inspect":
            facts.privileged = ev.privileged
            facts.capabilities = list(ev.capabilities)
            if ev.pid:
                facts.pid = ev.pid
                self._remember_pid(ev.host, ev.pid, ev.container_id)

    def _remember_pid(self, host: str, pid: int, container_id: str) -> None:
        key = (host, pid)
        if key in self.pids:
            del self.pids[key]
        elif len(self.pids) >= MAX_PIDS:
            self.pids.popitem(last=False)
        self.pids[key] = container_id

    def facts(self, container_id: str) -> ContainerFacts | None:
        """Facts for a full or short (12+ characters, Tetragon's 31) container id."""
        found = self.containers.get(container_id)
        if found is not None or len(container_id) >= 64 or len(container_id) < 12:
            return found
        full = self._prefix_cache.get(container_id)
        if full is None:
            full = next((cid for cid in self.containers if cid.startswith(container_id)), "")
            self._prefix_cache[container_id] = full
        return self.containers.get(full) if full else None

    # -- enriching ----------------------------------------------------------------------------
    def _name_host(self, event: Any) -> None:
        if not event.host and self.daemon_names:
            name = self.daemon_names.get(_folder(event.origin))
            if name:
                event.host = name

    def enrich(self, event: Any) -> None:
        if not event.host and self.daemon_names:  # (`_name_host` inline: one call fewer an event)
            self._name_host(event)
        if type(event) is ContainerEvent:
            self._enrich_container_event(event)
            self.learn(event)
            return
        if not event.container_id:
            if event.cgroup:
                found = from_cgroup(event.cgroup)
                if found:
                    event.container_id = found[1]
            if not event.container_id and self.pids:
                host = event.host
                cid = self.pids.get((host, event.pid)) or self.pids.get((host, event.ppid))
                if cid:
                    event.container_id = cid
                    if type(event) is ProcessExec and event.pid:
                        # its children belong to the same container
                        self._remember_pid(host, event.pid, cid)
        if not event.container_id:
            return
        facts = self.facts(event.container_id) if self.containers else None
        if facts is not None:
            if len(event.container_id) < len(facts.container_id):
                event.container_id = facts.container_id
            event.container_name = event.container_name or facts.name
            event.image = event.image or facts.image
            if type(event) is ProcessExec:
                if event.privileged is None:
                    event.privileged = facts.privileged
                if facts.capabilities and not event.capabilities:
                    event.capabilities = list(facts.capabilities)
        exec_pids = self.exec_pids
        # (no `docker exec --privileged` seen: no key to build)
        if exec_pids and type(event) is ProcessExec and exec_pids.get((event.host, event.pid)):
            event.privileged = True

    def _enrich_container_event(self, ev: ContainerEvent) -> None:
        if ev.exec_id and ev.exec_id in self.execs:
            privileged, pid, _ = self.execs[ev.exec_id]
            if ev.privileged is None:
                ev.privileged = privileged
            ev.pid = ev.pid or pid
        if ev.container_id and ev.action not in ("inspect", "image_inspect"):
            facts = self.facts(ev.container_id)
            if facts is not None:
                ev.container_name = ev.container_name or facts.name
                ev.image = ev.image or facts.image
                if ev.action.startswith("exec_"):
                    ev.labels.setdefault("container_privileged", str(bool(facts.privileged)).lower())
                elif ev.privileged is None:
                    ev.privileged = facts.privileged
                if not ev.capabilities:
                    ev.capabilities = list(facts.capabilities)

    # -- keyed state -----------------------------------------------------------------------------
    partition = "container id (facts, execs) and host (pids)"

    def state(self) -> dict[str, Any]:
        pids: dict[str, list[list[Any]]] = {}
        for (host, pid), cid in self.pids.items():
            pids.setdefault(host, []).append([pid, cid, bool(self.exec_pids.get((host, pid)))])
        return {
            "containers": {cid: [f.name, f.image, f.privileged, list(f.capabilities), f.pid]
                           for cid, f in self.containers.items()},
            "execs": {eid: list(v) for eid, v in self.execs.items()},
            "pids": pids,
            "daemon_names": dict(self.daemon_names),
        }

    def merge(self, state: dict[str, Any]) -> None:
        """Union; for a container both sides know, a fact one side lacks is taken from the other."""
        for cid, (name, image, privileged, caps, pid) in (state.get("containers") or {}).items():
            facts = self.containers.get(cid)
            if facts is None:
                facts = self.containers[cid] = ContainerFacts(cid)
                self._prefix_cache.clear()
            facts.name = facts.name or name
            facts.image = facts.image or image
            facts.privileged = facts.privileged if facts.privileged is not None else privileged
            facts.capabilities = facts.capabilities or list(caps)
            facts.pid = facts.pid or int(pid)
        for eid, (privileged, pid, cid) in (state.get("execs") or {}).items():
            self.execs.setdefault(eid, (privileged, int(pid), str(cid)))
        for folder, name in (state.get("daemon_names") or {}).items():
            self.daemon_names.setdefault(str(folder), str(name))
        for host, rows in (state.get("pids") or {}).items():
            for pid, cid, privileged in rows:
                self.pids.setdefault((str(host), int(pid)), str(cid))
                if privileged:
                    self.exec_pids[(str(host), int(pid))] = True

    # -- loading inspect files ahead of the run -------------------------------------------------
    def prepare(self, paths: list[str]) -> None:
        """Load the `docker info` and `docker inspect` files among a run's inputs before any input is
        parsed (info first, so inspect data is keyed by the host it names)."""
        info, inspect = [], []
        for path in paths:
            if path == "-" or path in self.loaded or not is_regular(path):
                continue  # a stream (pipe, /dev/stdin) can be read once only: by the scan itself
            src = InputFile(path)
            try:
                head = src.head
            except OSError:
                continue
            finally:
                src.close()
            stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
            if stripped[:1] in (b"[", b"{"):
                if _INFO_MARKER in head:
                    info.append(path)
                elif any(m in head for m in _INSPECT_MARKERS):
                    inspect.append(path)
        for path in info + inspect:
            self.load(path)

    def load(self, path: str) -> None:
        from cloudward.parsers.base import ParseContext
        from cloudward.parsers.docker_inspect import DockerInspect
        from cloudward.parsers.json_records import JsonRecords

        self.loaded.add(path)
        ctx = ParseContext()  # counted in the main pass, not here
        src = InputFile(path)
        try:
            for event in JsonRecords().parse(src, ctx, forced=DockerInspect()):
                if isinstance(event, ContainerEvent):
                    self._name_host(event)
                    self.learn(event)
        except OSError:
            return
        finally:
            src.close()


def build(config: Config, **options: Any) -> ContainerContext:
    paths = list(options.get("docker_inspect") or ())
    host = config.section("containers")
    configured = host.get("docker_inspect", [])
    if isinstance(configured, list):
        paths.extend(p for p in configured if isinstance(p, str))
    return ContainerContext(paths)

