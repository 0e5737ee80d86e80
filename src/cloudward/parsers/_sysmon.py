"""Sysmon's event fields (Windows Sysmon and Sysmon for Linux share the schema) -> events.

Event 1 (ProcessCreate) becomes a `ProcessExec`, event 3 (NetworkConnect) a `NetConnection`; the
other event ids are counted and skipped. Used by the XML and the JSON (winlogbeat, NXLog) readers.
"""

from __future__ import annotations

from typing import Any

from cloudward.events import Event, NetConnection, ProcessExec
from cloudward.parsers.tetragon import split_arguments
from cloudward.timeutil import parse_time

PROCESS_CREATE = 1
NETWORK_CONNECT = 3


def _int(v: Any) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str):
        v = v.strip()
        if v.isdigit():
            return int(v)
        if v.lower().startswith("0x"):
            try:
                return int(v, 16)
            except ValueError:
                return 0
    return 0


def _s(v: Any) -> str:
    if isinstance(v, str):
        return "" if v == "-" else v
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return ""


def os_of(provider: str, image: str) -> str:
    if provider.lower().startswith("linux"):
        return "linux"
    if provider or (len(image) > 2 and image[1] == ":") or image.startswith("\\"):
        return "windows"
    return "linux"


def sysmon_event(event_id: int, data: dict[str, Any], *, computer: str, provider: str, when: Any,
                 ref: str, raw: Any, host_override: str = "") -> Event | None:
    """The event for one Sysmon record's EventData, or None for event ids not read."""
    host = host_override or computer
    t = parse_time(_s(data.get("UtcTime")).replace(" ", "T") + "Z") if data.get("UtcTime") else 0.0
    t = t or parse_time(when)
    image = _s(data.get("Image"))
    os_name = os_of(provider, image)
    if event_id == PROCESS_CREATE:
        command_line = _s(data.get("CommandLine")) or image
        return ProcessExec(
            event_id=ref, time=t, raw=raw, origin=ref, host=host, pid=_int(data.get("ProcessId")),
            ppid=_int(data.get("ParentProcessId")), executable=image,
            argv=split_arguments(command_line), command_line=command_line,
            cwd=_s(data.get("CurrentDirectory")), user=_s(data.get("User")),
            parent_executable=_s(data.get("ParentImage")), parent_command_line=_s(data.get("ParentCommandLine")),
            os=os_name,
        )
    if event_id == NETWORK_CONNECT:
        if _s(data.get("Initiated")).lower() == "false":
            return None  # an inbound connection accepted by the process
        return NetConnection(
            event_id=ref, time=t, raw=raw, origin=ref, host=host, pid=_int(data.get("ProcessId")),
            executable=image, destination_ip=_s(data.get("DestinationIp")),
            destination_port=_int(data.get("DestinationPort")),
            destination_host=_s(data.get("DestinationHostname")), user=_s(data.get("User")), os=os_name,
        )
    return None
