"""Repository-wide invariants of detection cards, and every card's own samples through the pipeline."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cloudward import detections
from cloudward.config import SEVERITIES
from cloudward.detections.testing import run_sample

CARDS = detections.all_classes()
CATALOG = Path(__file__).parent / "catalog.txt"
TACTICS = {
    "Reconnaissance", "ResourceDevelopment", "InitialAccess", "Execution", "Persistence", "PrivilegeEscalation",
    "DefenseEvasion", "CredentialAccess", "Discovery", "LateralMovement", "Collection", "CommandAndControl",
    "Exfiltration", "Impact",
}


def _samples():
    for cls in CARDS:
        for sample in cls.card.samples:
            yield pytest.param(cls, sample, id=f"{cls.card.id}:{sample.name}")


@pytest.mark.parametrize(("cls", "sample"), list(_samples()))
def test_sample(cls, sample):
    result = run_sample(cls, sample)
    assert result.passed, result.problem


@pytest.mark.parametrize("cls", CARDS, ids=lambda c: c.card.id)
def test_card_metadata(cls):
    card = cls.card
    module_file = Path(cls.__module__.replace(".", "/")).name
    assert module_file == detections.snake_case(card.id), "file name must be the snake-case alert type"
    assert card.severity in SEVERITIES
    assert card.tactics and set(card.tactics) <= TACTICS
    assert card.techniques and all(re.fullmatch(r"T\d{4}(\.\d{3})?", t) for t in card.techniques)
    assert card.title and card.title_ko and card.description and card.description_ko
    assert card.remediation and len(card.remediation) == len(card.remediation_ko)
    assert card.data_source in {"AUDIT", "HTTP", "FTP", "PROC", "HOST"}
    assert card.looks_at
    assert any(s.expect > 0 for s in card.samples), "needs a positive sample"
    assert any(s.expect == 0 for s in card.samples), "needs a negative sample"
    assert cls.kinds


def test_catalog_titles_follow_design():
    """Ids, titles and severities are the contract in DESIGN.md §2."""
    rows = [ln.split(" | ") for ln in CATALOG.read_text().splitlines() if ln.strip()]
    by_id = {cls.card.id: cls.card for cls in CARDS}
    for alert_type, title, severity in rows:
        if alert_type in by_id:
            assert by_id[alert_type].title == title
            assert by_id[alert_type].severity == severity
