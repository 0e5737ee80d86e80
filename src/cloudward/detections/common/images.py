"""Container image references, normalized the way registries resolve them."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class ImageRef:
    registry: str
    repository: str
    tag: str
    digest: str

    @property
    def name(self) -> str:
        """`registry/repository` without tag or digest: what image lists match against."""
        return f"{self.registry}/{self.repository}"


@lru_cache(maxsize=65536)
def parse_image(ref: str) -> ImageRef:
    """`nginx` -> docker.io/library/nginx:latest; `quay.io/cilium/cilium:v1.14@sha256:..` -> parts."""
    ref = ref.strip()
    digest = ""
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    tag = ""
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        ref, tag = ref[:colon], ref[colon + 1 :]
    parts = ref.split("/", 1)
    if len(parts) == 2 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        registry, repository = parts[0].lower(), parts[1]
    else:
        registry, repository = "docker.io", ref
        if "/" not in repository:
            repository = "library/" + repository
    if registry in ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"):
        registry = "docker.io"
    return ImageRef(registry, repository.lower(), tag or ("" if digest else "latest"), digest)


class ImagePatterns:
    """Shell-style patterns over normalized image names (and, when a pattern has no '/', the last
    path component), with a cache: the same images recur across millions of events."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.patterns = tuple(p.lower() for p in patterns)
        self._cache: dict[str, str | None] = {}

    def match(self, image: str) -> str | None:
        """The first pattern `image` matches, or None."""
        if image in self._cache:
            return self._cache[image]
        ref = parse_image(image)
        name = ref.name
        short = name.rsplit("/", 1)[-1]
        found = None
        for p in self.patterns:
            if fnmatch.fnmatchcase(name, p) or ("/" not in p and fnmatch.fnmatchcase(short, p)):
                found = p
                break
        if len(self._cache) < 65536:
            self._cache[image] = found
        return found
