"""Running a card's own samples through the real pipeline (tests and `cloudward rules test`)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Any

import orjson

from cloudward.alerts import Alert, entity_matches
from cloudward.config import from_dict
from cloudward.detections.base import Detection, Sample
from cloudward.pipeline import scan_text

#: what a description shows when an entity it names was not in the record (the phrase belongs left out),
#: and template brackets that were not resolved
VAGUE_PROSE = ("On unknown", "unknown에서", "unknown의", "image unknown", "(unknown)", "parent ?", "부모 ?",
               "user ,", "user )", "[[", "]]")


@dataclass
class SampleResult:
    sample: Sample
    alerts: list[Alert]
    rejected: int
    problem: str = ""

    @property
    def passed(self) -> bool:
        return not self.problem


def sample_text(sample: Sample) -> str:
    """The sample as file content: text as is, JSON records one per line."""
    data = sample.data
    if isinstance(data, str):
        return data
    records = data if isinstance(data, list) else [data]
    return "\n".join(orjson.dumps(r).decode() for r in records) + "\n"


def run_sample(cls: type[Detection], sample: Sample) -> SampleResult:
    card = cls.card
    raw: dict[str, Any] = {**sample.config}
    detections = dict(raw.get("detections", {}))
    detections[card.id] = {**detections.get(card.id, {}), **sample.params}
    raw["detections"] = detections
    options: dict[str, Any] = {}
    feed_path = None
    if sample.intel:
        fd, feed_path = tempfile.mkstemp(prefix="cloudward-sample-intel-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(sample.intel)
        options["intel"] = [feed_path]
    try:
        config = from_dict(raw, f"sample {sample.name!r}")
        alerts, stats = scan_text(sample_text(sample), sample.format, config=config, only={card.id},
                                  display=f"sample:{sample.name}", enrich_options=options)
    finally:
        if feed_path:
            os.unlink(feed_path)
    mine = [a for a in alerts if a.alert_type == card.id]
    result = SampleResult(sample, mine, stats.rejected)
    if len(mine) != sample.expect:
        result.problem = f"expected {sample.expect} alert(s), got {len(mine)}"
    elif stats.rejected:
        result.problem = f"{stats.rejected} record(s) rejected: {stats.rejections[0].reason}"
    elif sample.entities and mine and not entity_matches(
        {k: v for k, v in sample.entities.items() if not isinstance(v, list)}, mine[0].entities
    ):
        result.problem = f"entities {mine[0].entities} do not match {sample.entities}"
    elif sample.entities and mine:
        for k, v in sample.entities.items():
            if isinstance(v, list) and sorted(map(str, mine[0].entities.get(k, []))) != sorted(map(str, v)):
                result.problem = f"entity {k}={mine[0].entities.get(k)} expected {v}"
    for alert in mine if not result.problem else ():
        for text in (alert.description, alert.description_ko):
            vague = next((v for v in VAGUE_PROSE if v in text), "")
            if vague:
                result.problem = f"description says {vague!r} instead of leaving it out: {text}"
    if not result.problem and mine:
        first = mine[0]
        if sample.severity and first.severity != sample.severity:
            result.problem = f"severity {first.severity}, expected {sample.severity}"
        elif sample.description_has and sample.description_has not in first.description:
            result.problem = f"description lacks {sample.description_has!r}: {first.description}"
    return result
