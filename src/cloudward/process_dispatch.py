"""Which process cards a `ProcessExec` event can reach: each card's declared gate, compiled into one table.

Most process cards return None at once for most executions: the container cards for host processes,
the privileged-container cards unless the process is privileged (or a host command line holds
`--privileged`), the threat-intel card without intel hits, the Windows card on Linux, the exposed-
Docker card unless the program is dockerd. A card says so as data, in its `process_gate` class
attribute: for host processes and for container processes, the one condition without which its
`evaluate` returns None for a `ProcessExec`:

    process_gate = {"host": "never", "container": "always"}
    process_gate = {"host": "privileged_flag", "container": "privileged"}

Conditions (`FACETS`) are cheap facts of the event read once per event; the engine reads them as a
tuple of booleans and looks up the cards that can match in a table built on first sight of each tuple
(at most 2**6 entries). A card without a gate, and every card on other event kinds, is always
offered the event. `tests/test_process_dispatch.py` proves each declared gate against the cards' own
`evaluate` on every host corpus and card sample: an event a gate keeps from a card gets no finding
from it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cloudward.analytics.processes import RUNTIME_CLIS, basename, program, remember

#: a condition's name -> index into the facet tuple; "always"/"never" are not facets
FACETS = ("privileged_flag", "privileged", "elevated", "intel", "windows", "docker_program", "runtime_cli")
_INDEX = {name: i for i, name in enumerate(FACETS)}
_DOCKER_PROGRAMS = frozenset({"dockerd", "docker"})


def facets(event: Any) -> tuple[bool, bool, bool, bool, bool, bool, bool]:
    """What the gates are written against, for one process execution (after the enrichers ran):

    - privileged_flag: the command line holds `--privileged` (docker/podman run|create|exec --privileged);
    - privileged: the event says the process runs privileged;
    - elevated: privileged, or CAP_SYS_ADMIN in its capabilities;
    - intel: threat-intel hits on the command line;
    - windows: a Windows process;
    - docker_program: the program is dockerd or docker;
    - runtime_cli: the program or argv[0] is a container runtime's CLI (docker, podman, nerdctl, ctr, crictl).
    """
    privileged = bool(event.privileged)
    exe = event.executable
    prog = program(exe) if exe else ""
    argv = event.argv
    return ("--privileged" in event.command_line, privileged,
            privileged or "CAP_SYS_ADMIN" in event.capabilities, bool(event.intel), event.os == "windows",
            prog in _DOCKER_PROGRAMS,
            prog in RUNTIME_CLIS or (bool(argv) and program(argv[0]) in RUNTIME_CLIS))


def _condition(card_id: str, where: str, value: Any) -> Callable[[tuple[bool, ...]], bool]:
    if value == "always":
        return lambda f: True
    if value == "never":
        return lambda f: False
    if value not in _INDEX:
        raise ValueError(f"{card_id}: process_gate {where} = {value!r} is not always, never or one of "
                         f"{', '.join(FACETS)}")
    i = _INDEX[value]
    return lambda f: f[i]


#: distinct (flags, names) keys kept before the table starts over
_TABLE_LIMIT = 65536


class ProcessDispatch:
    """The cards subscribed to ProcessExec, selected per event by their gates (order kept).

    A card may also offer `process_names(exe, arg0, parent) -> bool`: whether an execution whose
    executable, argv[0] (None without argv) and parent executable have these lower-case file names can
    give it a finding at all, answered from its own name lists. It is asked once per distinct triple;
    the answer joins the flags in the table's key.

    Or `process_paths(executable, arg0) -> bool`: the same from the executable and argv[0] as given (None without
    argv), full paths, not file names (both are in every key of the values tables).

    And `process_text(event) -> bool`: whether the execution can give it a finding at all, a pure function of
    the event's command line, executable, image and whether it has a container (and the card's lists). The
    values table is then keyed by those too, so a card that finds nothing in an ordinary command line
    (no API server, dashboard or miner named in it) is asked once per distinct command line, not per event.
    """

    def __init__(self, cards: Sequence[Any]) -> None:
        self.cards = list(cards)
        self._gates: list[tuple[Callable[[tuple[bool, ...]], bool], Callable[[tuple[bool, ...]], bool]] | None] = []
        self._names: list[Callable[[str, str | None, str], bool] | None] = []
        self._texts: dict[int, Callable[[Any], bool]] = {}
        self._paths: dict[int, Callable[[str, str | None], bool]] = {}
        for card in self.cards:
            self._names.append(getattr(card, "process_names", None))
            paths = getattr(card, "process_paths", None)
            if paths is not None:
                self._paths[id(card)] = paths
            text = getattr(card, "process_text", None)
            if text is not None:
                self._texts[id(card)] = text
            gate = getattr(card, "process_gate", None)
            if gate is None:
                self._gates.append(None)
                continue
            cid = card.card.id
            unknown = set(gate) - {"host", "container"}
            if unknown:
                raise ValueError(f"{cid}: process_gate has unknown keys {sorted(unknown)}")
            self._gates.append((_condition(cid, "host", gate.get("host", "always")),
                                _condition(cid, "container", gate.get("container", "always"))))
        self.by_names = any(n is not None for n in self._names)
        self._table: dict[tuple[Any, ...], list[Any]] = {}
        #: the same answers keyed by the event's own values (see `select`)
        self._by_values: dict[tuple[Any, ...], list[Any]] = {}
        #: with text gates: the gates' and names' answers by the values they read (`_by_values` adds the text)
        self._by_base: dict[tuple[Any, ...], list[Any]] = {}
        self.by_text = bool(self._texts)
        #: True when no card declares a gate: the engine then skips the dispatch altogether
        self.trivial = all(g is None for g in self._gates) and not self.by_names and not self.by_text \
            and not self._paths

    def select(self, event: Any) -> list[Any]:
        """The cards that can find something in `event` (a ProcessExec whose enrichers have run).

        First looked up by the raw values the facets and file names are read from (one tuple, no calls: an
        exec repeats the same program, parent and flags thousands of times); on a miss, by the facets."""
        argv = event.argv
        if self.by_text:
            command_line = event.command_line
            raw_key: tuple[Any, ...] = (
                event.container_id != "", "--privileged" in command_line, event.privileged,
                "CAP_SYS_ADMIN" in event.capabilities, not event.intel, event.os, event.executable,
                argv[0] if argv else None, event.parent_executable, command_line, event.image)
            found = self._by_values.get(raw_key)
            if found is None:
                # the gates' and names' part, by the values without the command line and image (as below): a
                # host whose command lines rarely repeat still works out the facets once per program and flags
                base_key = raw_key[:9]
                found = self._by_base.get(base_key)
                if found is None:
                    found = self._select_values(event)
                    if len(self._by_base) >= _TABLE_LIMIT:
                        self._by_base.clear()
                    self._by_base[base_key] = found
                texts = self._texts
                if any(id(card) in texts for card in found):
                    found = [card for card in found if id(card) not in texts or texts[id(card)](event)]
                # as the cards' own memos: short command lines only, MEMO_LIMIT of them (bounded memory)
                remember(self._by_values, raw_key, found,
                         len(command_line) + len(event.executable) + len(event.parent_executable))
            return found
        raw_key = (event.container_id != "", "--privileged" in event.command_line, event.privileged,
                   "CAP_SYS_ADMIN" in event.capabilities, not event.intel, event.os, event.executable,
                   argv[0] if argv else None, event.parent_executable)
        found = self._by_values.get(raw_key)
        if found is None:
            found = self._select_values(event)
            if len(self._by_values) >= _TABLE_LIMIT:
                self._by_values.clear()
            self._by_values[raw_key] = found
        return found

    def _select_values(self, event: Any) -> list[Any]:
        """`_select`, then the path gates (read from the executable and argv[0], which the values tables key)."""
        found = self._select(event)
        paths = self._paths
        if paths and any(id(card) in paths for card in found):
            argv = event.argv
            exe, arg0 = event.executable, (argv[0] if argv else None)
            found = [card for card in found if id(card) not in paths or paths[id(card)](exe, arg0)]
        return found

    def _select(self, event: Any) -> list[Any]:
        if self.by_names:
            argv = event.argv
            key: tuple[Any, ...] = (bool(event.container_id), *facets(event), basename(event.executable),
                                    basename(argv[0]) if argv else None, basename(event.parent_executable))
        else:
            key = (bool(event.container_id), *facets(event))
        found = self._table.get(key)
        if found is None:
            if len(self._table) >= _TABLE_LIMIT:
                self._table.clear()
            found = self._table[key] = self._build(key)
        return found

    def _build(self, key: tuple[Any, ...]) -> list[Any]:
        in_container, flags = key[0], key[1 : 1 + len(FACETS)]
        names = key[1 + len(FACETS) :]
        out = []
        for card, gate, by_name in zip(self.cards, self._gates, self._names, strict=True):
            if gate is not None and not gate[1 if in_container else 0](flags):
                continue
            if by_name is not None and names and not by_name(*names):
                continue
            out.append(card)
        return out
