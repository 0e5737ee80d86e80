"""Data lists: the YAML files are the source; `data/_lists.json` is generated from them and read instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudward import datalists
from cloudward.config import ConfigError, from_dict


def test_compiled_lists_are_in_sync_with_the_yaml_files():
    stale = Path(datalists.COMPILED).read_bytes() != datalists.compiled_source()
    assert not stale, "run `python -m cloudward.datalists > src/cloudward/data/_lists.json`"


def test_every_list_reads_the_same_from_the_compiled_file_and_from_yaml():
    names = [n for n in datalists.available() if n not in datalists.NOT_LISTS]
    assert len(names) > 30
    for name in names:
        assert datalists.shipped(name) == datalists._from_yaml(name), name


def test_without_the_compiled_file_the_yaml_files_are_read(monkeypatch, tmp_path):
    monkeypatch.setattr(datalists, "COMPILED", str(tmp_path / "missing.json"))
    datalists._compiled.cache_clear()
    datalists.shipped.cache_clear()
    try:
        assert "xmrig" in " ".join(map(str, datalists.shipped("miner_images")))
    finally:
        datalists._compiled.cache_clear()
        datalists.shipped.cache_clear()


def test_a_scan_with_cards_reads_no_yaml(tmp_path, fresh_cli):
    """The compiled lists spare PyYAML and importlib.resources at start-up."""
    log = tmp_path / "access.log"
    log.write_text('203.0.113.9 - - [02/Nov/2026:09:15:00 +0000] "GET /wp-login.php HTTP/1.1" 404 1 "-" "x"\n')
    done = fresh_cli("scan", str(log), "--output", "jsonl", "--quiet")
    assert done.code == 0, done.stderr
    assert not done.loaded("yaml")

def test_unknown_and_extended_lists_in_the_configuration():
    lists = datalists.DataLists(from_dict({"data": {"miner_images": ["evil/miner"]}}))
    assert lists.get("miner_images")[-1] == "evil/miner"
    with pytest.raises(ConfigError, match="no_such_list"):  # the configuration's check names it
        from_dict({"data": {"no_such_list": ["x"]}})
