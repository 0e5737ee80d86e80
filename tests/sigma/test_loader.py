"""Loading rules with pySigma: files, multi-document collections, folders; every bad rule is reported
with its file and reason and the rest still load."""

from __future__ import annotations

from sigma_helpers import K8S, WEB

from cloudward.sigma.loader import load_paths, load_text

GOOD = """
title: Good rule
id: 5b1f4a53-7c55-4d6c-9a49-1a0b6c1f0001
logsource: {category: webserver}
detection:
  sel: {cs-method: POST}
  condition: sel
level: low
"""


def test_single_file_and_folder():
    one = load_paths([WEB / "web_jndi_exploit.yml"])
    assert [r.title for r in one.rules] == ["JNDIExploit Pattern"] and not one.problems
    folder = load_paths([K8S])
    assert len(folder.rules) == 16 and folder.files == 16 and not folder.problems


def test_multi_document_collection_with_global_action():
    text = """
action: global
title: Shared title
logsource: {category: webserver}
level: medium
---
id: 5b1f4a53-7c55-4d6c-9a49-1a0b6c1f0002
detection:
  sel: {cs-method: PUT}
  condition: sel
---
id: 5b1f4a53-7c55-4d6c-9a49-1a0b6c1f0003
detection:
  sel: {cs-method: DELETE}
  condition: sel
"""
    loaded = load_text(text, "collection.yml")
    assert [str(r.id)[-4:] for r in loaded.rules] == ["0002", "0003"]
    assert all(r.title == "Shared title" for r in loaded.rules) and not loaded.problems


def test_invalid_rules_are_reported_and_the_rest_load(tmp_path):
    (tmp_path / "good.yml").write_text(GOOD)
    (tmp_path / "bad_modifier.yml").write_text(GOOD.replace("cs-method:", "cs-method|nosuchmodifier:")
                                                .replace("0001", "0004"))
    (tmp_path / "bad_condition.yml").write_text(GOOD.replace("condition: sel", "condition: sel and missing")
                                                 .replace("0001", "0005"))
    (tmp_path / "broken.yml").write_text("title: [unclosed\n  - x: {")
    (tmp_path / "notes.txt").write_text("not a rule")
    (tmp_path / ".hidden.yml").write_text("title: [unclosed")
    loaded = load_paths([tmp_path, tmp_path / "missing.yml"])
    assert sorted(str(r.id)[-4:] for r in loaded.rules) == ["0001", "0005"]
    problems = {p.path.rsplit("/", 1)[-1]: p for p in loaded.problems}
    assert set(problems) == {"bad_modifier.yml", "broken.yml", "missing.yml"}
    assert "nosuchmodifier" in problems["bad_modifier.yml"].reason
    assert all(p.kind == "invalid" for p in loaded.problems)
    # the undefined identifier is only found when the condition is compiled: see test_ruleset


def test_unreadable_bytes_are_invalid(tmp_path):
    (tmp_path / "latin1.yml").write_bytes(b"title: caf\xe9\n")
    loaded = load_paths([tmp_path])
    assert loaded.problems and "cannot read" in loaded.problems[0].reason
