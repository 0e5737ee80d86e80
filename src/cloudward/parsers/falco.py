"""Falco alerts as Falco writes them with `json_output: true` (stdout, file output, falcosidekick).

Each line is imported as an alert in our contract (`ExternalAlert`): alert type `FALCO_<rule>` with
every character other than letters and digits turned into `_`, Falco's priority mapped onto our
severities, MITRE tactics and techniques from its `mitre_*` / `T1234` tags, and the Falco record
itself as the evidence. Repeats of one rule for the same process in the same container fold into one
alert.

When the alert names a process (`proc.cmdline`) on an exec or without an event type, a
`ProcessExec` is produced as well, so our own detections see what Falco saw.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from cloudward.events import Event, ExternalAlert, ProcessExec
from cloudward.parsers._values import text_or_number as _s
from cloudward.parsers.base import JsonDialect, ParseContext, RecordRef
from cloudward.timeutil import parse_time

_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")
SEVERITY = {
    "emergency": "high", "alert": "high", "critical": "high", "error": "high", "warning": "medium",
    "notice": "low", "informational": "informational", "info": "informational", "debug": "informational",
}
_TACTICS = {
    "mitre_reconnaissance": "Reconnaissance", "mitre_resource_development": "ResourceDevelopment",
    "mitre_initial_access": "InitialAccess", "mitre_execution": "Execution", "mitre_persistence": "Persistence",
    "mitre_privilege_escalation": "PrivilegeEscalation", "mitre_defense_evasion": "DefenseEvasion",
    "mitre_credential_access": "CredentialAccess", "mitre_discovery": "Discovery",
    "mitre_lateral_movement": "LateralMovement", "mitre_collection": "Collection",
    "mitre_command_and_control": "CommandAndControl", "mitre_exfiltration": "Exfiltration",
    "mitre_impact": "Impact",
}
_TECHNIQUE = re.compile(r"^T\d{4}(?:\.\d{3})?$")
_SOURCES = {"syscall": "process", "k8s_audit": "k8s_audit", "k8saudit": "k8s_audit"}


def alert_type(rule: str) -> str:
    return "FALCO_" + _NOT_ALNUM.sub("_", rule.strip())


class Falco(JsonDialect):
    name = "falco"
    description = "Falco alerts (json_output: true): imported as FALCO_<rule> alerts"
    kinds = ("ExternalAlert", "ProcessExec")
    order = 20

    def claims(self, record: dict[str, Any]) -> bool:
        return isinstance(record.get("rule"), str) and "priority" in record and (
            "output" in record or "output_fields" in record)

    def events(self, record: dict[str, Any], ref: RecordRef, ctx: ParseContext) -> Iterator[Event]:
        rule = record["rule"].strip()
        if not rule:
            raise ValueError("Falco alert without a rule name")
        fields = record.get("output_fields") if isinstance(record.get("output_fields"), dict) else {}
        tags = [t for t in record.get("tags") or () if isinstance(t, str)]
        host = ctx.host or _s(record.get("hostname")) or _s(fields.get("hostname"))
        when = parse_time(record.get("time")) or parse_time(fields.get("evt.time"))
        image = _s(fields.get("container.image.repository"))
        if image and _s(fields.get("container.image.tag")):
            image += ":" + _s(fields["container.image.tag"])
        image = image or _s(fields.get("container.image"))
        container_id = _s(fields.get("container.id"))
        if container_id == "host":
            container_id = ""
        entities: dict[str, Any] = {"host": host, "rule": rule}
        for name, value in (
            ("process", _s(fields.get("proc.name"))), ("command_line", _s(fields.get("proc.cmdline"))),
            ("pid", fields.get("proc.pid")), ("user", _s(fields.get("user.name"))),
            ("parent", _s(fields.get("proc.pname"))), ("container_id", container_id),
            ("container", _s(fields.get("container.name"))), ("image", image),
            ("namespace", _s(fields.get("k8s.ns.name"))), ("pod", _s(fields.get("k8s.pod.name"))),
            ("file", _s(fields.get("fd.name"))),
        ):
            if value not in ("", None, "<NA>"):
                entities[name] = value
        source = _s(record.get("source")) or "syscall"
        priority = _s(record.get("priority")).lower()
        yield ExternalAlert(
            event_id=str(ref), time=when, raw=record, origin=str(ref), alert_type=alert_type(rule), title=rule,
            severity=SEVERITY.get(priority, "medium"),
            tactics=sorted({_TACTICS[t] for t in tags if t in _TACTICS}),
            techniques=sorted({t for t in tags if _TECHNIQUE.match(t)}),
            description=_s(record.get("output")) or rule, entities=entities,
            alert_source=_SOURCES.get(source, source), resource_type="host", resource_name=host or "unknown",
            key="|".join((host, container_id, _s(fields.get("proc.cmdline")) or _s(fields.get("proc.name")))),
        )
        cmdline = _s(fields.get("proc.cmdline"))
        evt_type = _s(fields.get("evt.type"))
        if cmdline and evt_type in ("", "execve", "execveat"):
            exe = _s(fields.get("proc.exepath")) or _s(fields.get("proc.exe")) or cmdline.split(" ", 1)[0]
            pid = fields.get("proc.pid")
            ppid = fields.get("proc.ppid")
            privileged = fields.get("container.privileged")
            yield ProcessExec(
                event_id=f"{ref}#process", time=when, raw=record, origin=str(ref), host=host,
                pid=pid if isinstance(pid, int) else 0, ppid=ppid if isinstance(ppid, int) else 0,
                executable=exe, argv=cmdline.split(), command_line=cmdline, cwd=_s(fields.get("proc.cwd")),
                user=_s(fields.get("user.name")), parent_executable=_s(fields.get("proc.pexepath"))
                or _s(fields.get("proc.pname")), parent_command_line=_s(fields.get("proc.pcmdline")),
                container_id=container_id, container_name=_s(fields.get("container.name")), image=image,
                pod=_s(fields.get("k8s.pod.name")), namespace=_s(fields.get("k8s.ns.name")),
                privileged=privileged if isinstance(privileged, bool) else None,
            )


FORMATS = [Falco()]
