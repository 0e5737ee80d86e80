"""The shipped examples stay valid: the configuration loads and builds, the audit policy is a Policy."""

from pathlib import Path

import yaml

from cloudward.config import load
from cloudward.pipeline import Pipeline

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_example_configuration_is_valid():
    cfg = load(EXAMPLES / "cloudward.toml")
    pipe = Pipeline(cfg)
    assert cfg.cluster == "prod-aks"
    assert "/srv/secrets" in pipe.data.strings("sensitive_host_paths")
    assert cfg.suppress and cfg.suppress[0].active(now=0)
    assert pipe.engine.settings.allowed_lateness == 300


def test_example_sinks_block_is_valid(tmp_path):
    import tomllib

    from cloudward.config import from_dict
    from cloudward.sinks import from_config

    text = (EXAMPLES / "cloudward.toml").read_text()
    block = text[text.index("# [[sinks]]"):].split("\n\n", 1)[0]
    raw = tomllib.loads("\n".join(line.removeprefix("# ").split("  #")[0] for line in block.splitlines()))
    ((_sink, table),) = from_config(from_dict(raw))
    assert table["type"] == "jsonl_file" and table["min_severity"] == "medium"


def test_audit_policy_records_what_the_cards_read():
    policy = yaml.safe_load((EXAMPLES / "audit-policy.yaml").read_text())
    assert policy["kind"] == "Policy" and policy["apiVersion"] == "audit.k8s.io/v1"
    full = [r for r in policy["rules"] if r["level"] == "RequestResponse"]
    covered = {res for r in full for g in r["resources"] for res in g["resources"]}
    from cloudward import detections

    wanted = set()
    for cls in detections.all_classes():
        wanted |= set(getattr(cls, "audit_resources", None) or ())
    assert wanted <= covered


def test_readme_shows_the_same_policy_as_the_example():
    import re

    readme = (EXAMPLES.parent / "README.md").read_text()
    block = re.search(r"```yaml\n(apiVersion: audit.k8s.io/v1\nkind: Policy.*?)```", readme, re.S).group(1)
    shown = yaml.safe_load(block)
    shipped = yaml.safe_load((EXAMPLES / "audit-policy.yaml").read_text())
    assert shown == shipped
