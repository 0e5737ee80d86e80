"""`docker inspect` output for containers, images and execs (also `podman inspect`, and `crictl
inspect` for CRI runtimes): a JSON array of objects, or one object per line.

* container: `Id`, `Name`, `Config.Image`, `Path` + `Args`, `State.Pid` / `State.Status`,
  `HostConfig.Privileged`, `HostConfig.CapAdd`, `Mounts`, `HostConfig.PortBindings`, labels;
* exec (`GET /exec/<id>/json`): `ID`, `ContainerID`, `Pid`, `ProcessConfig.entrypoint` +
  `arguments`, `ProcessConfig.privileged` and `user`;
* image: `Id`, `RepoTags` (kept so images named like miners are known; no event of its own);
* daemon (`docker info --format '{{json .}}'`): `Name` (the daemon's host name), `ServerVersion`,
  `ID` - action `daemon_info`, from which the container-context enricher names the host of the
  records read from the same folder that carry none.

Each becomes a `ContainerEvent` with action `inspect`, `exec_inspect` or `image_inspect`; the
container-context enricher learns pid -> container, image and privilege from them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cloudward.events import ContainerEvent, Event
from cloudward.parsers._container_ids import strip_runtime_prefix
from cloudward.parsers._values import mapping as _d
from cloudward.parsers._values import strings as _strs
from cloudward.parsers._values import text as _s
from cloudward.parsers.base import JsonDialect, ParseContext, RecordRef
from cloudward.timeutil import parse_time


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _caps(values: list[str]) -> list[str]:
    return [c.upper() if c.upper().startswith("CAP_") else "CAP_" + c.upper() for c in values]


def kind_of(record: dict[str, Any]) -> str:
    """container | exec | image | cri | '' for records this dialect reads."""
    if isinstance(record.get("HostConfig"), dict) and isinstance(record.get("State"), dict):
        return "container"
    if isinstance(record.get("ProcessConfig"), dict) and "ContainerID" in record:
        return "exec"
    if isinstance(record.get("RepoTags"), list) and isinstance(record.get("RootFS"), dict):
        return "image"
    status = record.get("status")
    if isinstance(status, dict) and isinstance(record.get("info"), dict) and "metadata" in status:
        return "cri"
    if isinstance(record.get("ServerVersion"), str) and isinstance(record.get("Name"), str) and "ID" in record:
        return "info"
    return ""


class DockerInspect(JsonDialect):
    name = "docker-inspect"
    description = "docker/podman inspect (containers, images, execs) and crictl inspect output"
    kinds = ("ContainerEvent",)
    order = 20

    def claims(self, record: dict[str, Any]) -> bool:
        return bool(kind_of(record))

    def events(self, record: dict[str, Any], ref: RecordRef, ctx: ParseContext) -> Iterator[Event]:
        kind = kind_of(record)
        if kind == "container":
            yield self._container(record, ref, ctx)
        elif kind == "exec":
            yield self._exec(record, ref, ctx)
        elif kind == "image":
            yield ContainerEvent(
                event_id=str(ref), time=parse_time(record.get("Created")), raw=record, origin=str(ref),
                host=ctx.host, runtime="docker", action="image_inspect", image=", ".join(_strs(record["RepoTags"])),
                labels={"image_id": _s(record.get("Id"))},
            )
        elif kind == "cri":
            yield self._cri(record, ref, ctx)
        elif kind == "info":
            name = _s(record.get("Name"))[:253]
            yield ContainerEvent(
                event_id=str(ref), time=0.0, raw=record, origin=str(ref), host=ctx.host or name, runtime="docker",
                action="daemon_info", labels={"daemon_name": name, "server_version": _s(record.get("ServerVersion"))},
            )

    def _container(self, record: dict[str, Any], ref: RecordRef, ctx: ParseContext) -> ContainerEvent:
        state = _d(record.get("State"))
        host_config = _d(record.get("HostConfig"))
        config = _d(record.get("Config"))
        mounts = []
        for m in record.get("Mounts") or ():
            if isinstance(m, dict):
                src, dst = _s(m.get("Source")), _s(m.get("Destination"))
                mounts.append(f"{src}:{dst}" if src else dst)
        mounts.extend(_strs(host_config.get("Binds")))
        ports = []
        for port, bindings in _d(host_config.get("PortBindings")).items():
            for b in bindings or ():
                if isinstance(b, dict):
                    ports.append(f"{_s(b.get('HostIp')) or '0.0.0.0'}:{_s(b.get('HostPort'))}->{port}")
        labels = {k: v for k, v in _d(config.get("Labels")).items() if isinstance(v, str)}
        runtime = "podman" if "ImageName" in record or "OCIRuntime" in record else "docker"
        path = _s(record.get("Path"))
        return ContainerEvent(
            event_id=str(ref), time=parse_time(state.get("StartedAt")) or parse_time(record.get("Created")), raw=record,
            origin=str(ref), host=ctx.host, runtime=runtime, action="inspect",
            container_id=_s(record.get("Id")), container_name=_s(record.get("Name")).lstrip("/"),
            image=_s(config.get("Image")) or _s(record.get("ImageName")),
            privileged=host_config.get("Privileged") is True, mounts=list(dict.fromkeys(mounts)), ports=ports,
            command=([path] if path else []) + _strs(record.get("Args")), labels=labels,
            pid=_int(state.get("Pid")), user=_s(config.get("User")),
            capabilities=_caps(_strs(host_config.get("CapAdd"))), state=_s(state.get("Status")),
        )

    def _exec(self, record: dict[str, Any], ref: RecordRef, ctx: ParseContext) -> ContainerEvent:
        proc = _d(record.get("ProcessConfig"))
        entry = _s(proc.get("entrypoint"))
        return ContainerEvent(
            event_id=str(ref), raw=record, origin=str(ref), host=ctx.host, runtime="docker",
            action="exec_inspect", container_id=_s(record.get("ContainerID")),
            privileged=proc.get("privileged") is True,
            command=([entry] if entry else []) + _strs(proc.get("arguments")),
            pid=_int(record.get("Pid")), user=_s(proc.get("user")), exec_id=_s(record.get("ID")),
            state="running" if record.get("Running") is True else "exited",
        )

    def _cri(self, record: dict[str, Any], ref: RecordRef, ctx: ParseContext) -> ContainerEvent:
        status = _d(record.get("status"))
        info = _d(record.get("info"))
        config = _d(info.get("config"))
        security = _d(_d(config.get("linux")).get("security_context"))
        process = _d(_d(info.get("runtimeSpec")).get("process"))
        caps = _strs(_d(process.get("capabilities")).get("effective"))
        runtime, cid = strip_runtime_prefix(_s(status.get("id")))
        labels = {k: v for k, v in _d(status.get("labels")).items() if isinstance(v, str)}
        return ContainerEvent(
            event_id=str(ref), raw=record,
            time=parse_time(status.get("startedAt")) or parse_time(status.get("createdAt")),
            origin=str(ref), host=ctx.host, runtime=runtime or "cri", action="inspect", container_id=cid,
            container_name=_s(_d(status.get("metadata")).get("name")),
            image=_s(_d(status.get("image")).get("image")) or _s(status.get("imageRef")),
            privileged=security.get("privileged") is True, command=_strs(process.get("args")),
            labels=labels, pid=_int(info.get("pid")), capabilities=caps,
            state=_s(status.get("state")).removeprefix("CONTAINER_").lower(),
        )


FORMATS = [DockerInspect()]
