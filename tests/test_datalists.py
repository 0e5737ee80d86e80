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


def test_a_scan_with_cards_reads_no_yaml(tmp_path):
    """The compiled lists spare PyYAML and importlib.resources at start-up."""
    import subprocess
    import sys

    log = tmp_path / "access.log"
    log.write_text('203.0.113.9 - - [02/Nov/2026:09:15:00 +0000] "GET /wp-login.php HTTP/1.1" 404 1 "-" "x"\n')
    code = ("import sys\n"
            "from cloudward.cli import main\n"
            f"sys.argv = ['cloudward', 'scan', {str(log)!r}, '--output', 'jsonl', '--quiet']\n"
            "try:\n"
            "    main()\n"
            "except SystemExit as exc:\n"
            "    assert exc.code == 0, exc.code\n"
            "loaded = [m for m in sys.modules if m.split('.')[0] == 'yaml']\n"
            "assert not loaded, loaded\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_unknown_and_extended_lists_in_the_configuration():
    lists = datalists.DataLists(from_dict({"data": {"miner_images": ["evil/miner"]}}))
    assert lists.get("miner_images")[-1] == "evil/miner"
    with pytest.raises(ConfigError, match="no_such_list"):  # the configuration's check names it
        from_dict({"data": {"no_such_list": ["x"]}})
