"""Container ids from the places host telemetry carries them: cgroup paths, runtime-prefixed ids
(`containerd://…`), and the command lines of container runtimes (shims and runc)."""

from __future__ import annotations

import re

_HEX64 = re.compile(r"[0-9a-f]{64}")
#: a 64-hex id in a cgroup path: /docker/<id>, docker-<id>.scope, cri-containerd-<id>.scope,
#: crio-<id>.scope, libpod-<id>.scope, /kubepods/<qos>/pod<uid>/<id>
_CGROUP_ID = re.compile(
    r"(?:^|/)(?:(docker|cri-containerd|crio|libpod|containerd)-)?([0-9a-f]{64})(?:\.scope)?(?:/|$)"
)
_RUNTIME_OF_PREFIX = {"docker": "docker", "cri-containerd": "containerd", "containerd": "containerd",
                      "crio": "cri-o", "libpod": "podman"}
_SHIMS = ("containerd-shim", "containerd-shim-runc-v1", "containerd-shim-runc-v2", "docker-containerd-shim")
#: runtime subcommands whose children run inside the container (runc create's children are hooks)
_RUNC_INSIDE = frozenset({"exec", "run"})


def from_cgroup(path: str) -> tuple[str, str] | None:
    """(runtime, container id) from a cgroup path or a /proc/<pid>/cgroup text, else None."""
    if not path or "/" not in path:
        return None
    for line in path.splitlines():
        # cgroup v1 lines look like "9:pids:/docker/<id>"; keep the path part
        part = line.rsplit(":", 1)[-1] if ":" in line else line
        m = _CGROUP_ID.search(part)
        if m is None:
            continue
        prefix = m.group(1) or ""
        runtime = _RUNTIME_OF_PREFIX.get(prefix, "")
        if not runtime:
            if "/docker/" in part:
                runtime = "docker"
            elif "kubepods" in part:
                runtime = "kubernetes"
        return runtime, m.group(2)
    return None


def strip_runtime_prefix(container_id: str) -> tuple[str, str]:
    """`containerd://abc` -> ("containerd", "abc"); an id without a scheme -> ("", id)."""
    scheme, sep, rest = container_id.partition("://")
    if sep:
        return scheme, rest
    return "", container_id


def is_runtime(executable: str) -> bool:
    """A container runtime's own process (shim, runc), which runs on the host even under a shim."""
    name = executable.rsplit("/", 1)[-1]
    return name in ("runc", "crun", "youki", "conmon") or name.startswith("containerd-shim")


def names_child_container(executable: str) -> bool:
    """Whether `child_container(executable, argv)` can be anything but "" for some argv: a shim, runc, crun,
    youki or conmon (the programs it reads)."""
    name = executable.rsplit("/", 1)[-1]
    return name.startswith(_SHIMS) or name.startswith("containerd-shim") or name in ("runc", "crun", "youki",
                                                                                      "conmon")


def child_container(executable: str, argv: list[str]) -> str:
    """The container a runtime process starts its children in, from its command line, or ''.

    containerd shims name the container with `-id <id>` (`docker-containerd-shim <id> …` for old
    Docker); `runc exec|run … <id>` and `crun exec|run … <id>` end with it; conmon uses `-c <id>`.
    """
    name = executable.rsplit("/", 1)[-1]
    if not argv:
        return ""
    if name.startswith(_SHIMS) or name.startswith("containerd-shim"):
        for i, arg in enumerate(argv[:-1]):
            if arg == "-id":
                return argv[i + 1]
        if name == "docker-containerd-shim" and len(argv) > 1 and _HEX64.fullmatch(argv[1]):
            return argv[1]
        return ""
    if name in ("runc", "crun", "youki"):
        if not any(a in _RUNC_INSIDE for a in argv[1:]):
            return ""
        last = argv[-1]
        return last if _HEX64.fullmatch(last) else ""
    if name == "conmon":
        for i, arg in enumerate(argv[:-1]):
            if arg in ("-c", "--cid"):
                return argv[i + 1]
    return ""
