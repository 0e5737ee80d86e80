"""Per-key windows (per client address, or per site and address): explicit, serializable, bounded.

A window opens at a key's first event and covers `length` seconds of event time from there; an
event outside it (later, or earlier by more than `length`, as when rotated files are read newest
first) starts a fresh window. Memory is bounded twice over: a sweep every `sweep_every` new windows
drops windows that ended well before the time of the stream's latest event, and past `max_keys` the
oldest-opened windows go first. "Latest", not "newest": inputs are read one file after another, and
each file of a multi-site scan starts back at the beginning of the period, so windows opened by a
later part of the period (an earlier file) are kept until the stream catches up with them - that is
what lets one address's windows meet across files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, Protocol, TypeVar


class Window(Protocol):
    start: float
    last: float

    def to_state(self) -> dict[str, Any]: ...


W = TypeVar("W", bound=Window)


class KeyedWindows(Generic[W]):
    def __init__(self, length: float, factory: Callable[[float], W], *, max_keys: int = 200_000,
                 sweep_every: int = 50_000) -> None:
        self.length = length
        self.factory = factory
        self.max_keys = max_keys
        self.sweep_every = sweep_every
        self.windows: dict[Any, W] = {}
        #: time of the latest event that opened or touched a window (the stream's "now")
        self.now = 0.0
        self._opened = 0
        self.expired = 0

    def __len__(self) -> int:
        return len(self.windows)

    def get(self, key: Any) -> W | None:
        return self.windows.get(key)

    def open(self, key: Any, now: float) -> W:
        """The window of `key` that covers `now`, opening a fresh one when needed."""
        w = self.windows.get(key)
        if w is not None and w.start <= now <= w.start + self.length and now >= w.start - self.length:
            if now > w.last:
                w.last = now
            self.now = now
            return w
        if w is not None and w.start - self.length <= now < w.start:  # slightly out of order
            w.start = now
            return w
        if w is not None:
            del self.windows[key]
        w = self.factory(now)
        self.windows[key] = w
        self.now = now
        self._opened += 1
        if self._opened >= self.sweep_every or len(self.windows) > self.max_keys:
            self.sweep()
        return w

    def sweep(self) -> None:
        """Drop windows that ended more than one length before the stream's latest event; then the cap."""
        self._opened = 0
        horizon = self.now - 2 * self.length
        stale = [k for k, w in self.windows.items() if w.last < horizon]
        for k in stale:
            del self.windows[k]
        self.expired += len(stale)
        excess = len(self.windows) - self.max_keys
        if excess > 0:
            oldest = list(self.windows)[: excess + self.max_keys // 10]
            for k in oldest:
                del self.windows[k]
            self.expired += len(oldest)

    def items(self) -> Iterator[tuple[Any, W]]:
        return iter(list(self.windows.items()))

    def drop(self, key: Any) -> None:
        self.windows.pop(key, None)

    def state(self) -> dict[str, Any]:
        return {"now": self.now,
                "windows": [[_key_out(k), w.to_state()] for k, w in self.windows.items()]}

    def restore(self, state: dict[str, Any], loader: Callable[[dict[str, Any]], W]) -> None:
        self.now = max(self.now, float(state.get("now", 0.0)))
        for key, body in state.get("windows", []):
            self.windows[_key_in(key)] = loader(body)

    # -- keyed state: {partition key: window} ---------------------------------------------------
    def keyed(self, key_text: Callable[[Any], str] = str) -> dict[str, Any]:
        return {key_text(k): w.to_state() for k, w in self.windows.items()}

    def merge(self, keyed: dict[str, Any], loader: Callable[[dict[str, Any]], W],
              key_of: Callable[[str], Any] = str) -> None:
        """Fold windows of another instance in. A key only one side holds is taken as it is; when both
        hold one and they overlap in time, the window that opened first absorbs the other (its counts,
        paths, pending events), else the earlier window is kept - exact when the input was partitioned
        by this key (every event of one key in one instance), which is how workers are meant to split it."""
        for text, body in keyed.items():
            key = key_of(text)
            other = loader(body)
            mine = self.windows.get(key)
            if other.last > self.now:
                self.now = other.last
            if mine is None:
                self.windows[key] = other
                continue
            first, second = (mine, other) if (mine.start, mine.last) <= (other.start, other.last) else (other, mine)
            absorb = getattr(first, "absorb", None)
            if absorb is not None and second.start <= first.start + self.length:
                absorb(second)
            self.windows[key] = first

    def advance(self, watermark: float) -> None:
        """Drop windows that ended more than one length before `watermark` (no later event can reach them)."""
        horizon = watermark - 2 * self.length
        stale = [k for k, w in self.windows.items() if w.last < horizon]
        for k in stale:
            del self.windows[k]
        self.expired += len(stale)


def _key_out(key: Any) -> Any:
    return list(key) if isinstance(key, tuple) else key


def _key_in(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key
