"""`cloudward/detections/_index.py`: the cards a run knows without importing them, generated from the cards."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cloudward import detections
from cloudward.config import ConfigError, from_dict
from cloudward.detections import _index


def test_index_is_in_sync_with_the_cards():
    stale = Path(_index.__file__).read_text(encoding="utf-8") != detections.index_source()
    assert not stale, "run `python -m cloudward.detections > src/cloudward/detections/_index.py`"


def test_index_names_every_discovered_card_and_its_class():
    classes = {cls.card.id: cls for cls in detections.all_classes()}
    assert set(_index.CARDS) == set(classes) == detections.known_ids()
    for card_id, entry in _index.CARDS.items():
        assert entry["module"] == classes[card_id].__module__
        assert entry["class"] == classes[card_id].__name__


def test_unknown_alert_types_fail_without_importing_a_card():
    with pytest.raises(ConfigError, match="unknown detections K8S_Nope"):
        detections.check_ids(from_dict({}), {"K8S_Nope"})
    with pytest.raises(ConfigError, match="unknown detections K8S_Typo"):
        detections.check_ids(from_dict({"detections": {"K8S_PrivilegedContainer": {}}}), None) or \
            detections.check_ids(from_dict({}), {"K8S_Typo"})
    detections.check_ids(from_dict({}), {"K8S_PrivilegedContainer", "SIGMA_anything"})
    code = ("import sys\n"
            "from cloudward.detections import check_ids\n"
            "from cloudward.config import from_dict\n"
            "check_ids(from_dict({}), {'K8S_PrivilegedContainer'})\n"
            "cards = [m for m in sys.modules if m.startswith(('cloudward.detections.kubernetes',"
            " 'cloudward.detections.appservice', 'cloudward.detections.node'))]\n"
            "assert not cards, cards\n")
    subprocess.run([sys.executable, "-c", code], check=True)
