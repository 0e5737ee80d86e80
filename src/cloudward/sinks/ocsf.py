"""`ocsf`: alerts as OCSF 1.1 Detection Finding events (class 2004), one JSON object per line."""

from __future__ import annotations

from typing import Any, BinaryIO

import orjson

from cloudward import __version__
from cloudward.alerts import Alert

SEVERITY_ID = {"informational": 1, "low": 2, "medium": 3, "high": 4}
STATUS_ID = {"active": 1, "dismissed": 3, "resolved": 4}


def _ms(ts: float) -> int:
    return int(ts * 1000)


def to_ocsf(a: Alert) -> dict[str, Any]:
    attacks = [{"tactic": {"name": t}} for t in a.tactics]
    attacks += [{"technique": {"uid": t}} for t in a.techniques]
    return {
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": 1,
        "type_uid": 200401,
        "severity_id": SEVERITY_ID.get(a.severity, 0),
        "severity": a.severity.capitalize(),
        "status_id": STATUS_ID.get(a.status, 99),
        "status": a.status.capitalize(),
        "time": _ms(a.last_seen),
        "count": a.count,
        "message": a.description,
        "finding_info": {
            "uid": a.id,
            "title": a.title,
            "desc": a.description,
            "types": [a.alert_type],
            "first_seen_time": _ms(a.first_seen),
            "last_seen_time": _ms(a.last_seen),
            "attacks": attacks,
            "analytic": {"uid": a.alert_type, "name": a.alert_type, "type_id": 1, "type": "Rule"},
        },
        "resources": [{"type": a.resource.get("type"), "name": a.resource.get("name")}],
        "evidences": [{"data": e} for e in a.evidence],
        "remediation": {"desc": " ".join(a.remediation)},
        "metadata": {"version": "1.1.0", "product": {"name": "Cloudward", "vendor_name": "Cloudward",
                                                     "version": __version__}},
        "unmapped": {"entities": a.entities, "source": a.source},
    }


def write_ocsf(alerts: list[Alert], out: BinaryIO, options: dict[str, Any]) -> None:
    for a in alerts:
        out.write(orjson.dumps(to_ocsf(a), option=orjson.OPT_NON_STR_KEYS, default=str) + b"\n")


OUTPUTS = {"ocsf": write_ocsf}
