"""The deployment files: the systemd unit and the DaemonSet grant the same, minimal capabilities,
mount the host read-only, take the ingest token from a Secret and bound the agent's resources."""

from __future__ import annotations

import configparser
import tomllib
from pathlib import Path

import yaml

from cloudward.agent.settings import agent_settings
from cloudward.config import from_dict

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NEEDED = {"AUDIT_CONTROL", "AUDIT_READ", "NET_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH"}


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "cloudward-agent.service")
    return parser


def test_systemd_unit_has_only_the_needed_capabilities() -> None:
    service = _unit()["Service"]
    caps = {c.removeprefix("CAP_") for c in service["CapabilityBoundingSet"].split()}
    assert caps == NEEDED
    assert {c.removeprefix("CAP_") for c in service["AmbientCapabilities"].split()} == NEEDED
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    assert service["KillSignal"] == "SIGTERM"
    assert "MemoryMax" in service and "CPUQuota" in service


def test_daemonset_is_minimal() -> None:
    docs = list(yaml.safe_load_all((DEPLOY / "daemonset.yaml").read_text()))
    ds = next(d for d in docs if d["kind"] == "DaemonSet")
    pod = ds["spec"]["template"]["spec"]
    assert pod["hostPID"] is True and pod.get("hostNetwork") is False
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"]
    assert sc["capabilities"]["drop"] == ["ALL"] and set(sc["capabilities"]["add"]) == NEEDED
    assert container["resources"]["limits"]["cpu"] and container["resources"]["limits"]["memory"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for name, volume in volumes.items():
        if "hostPath" in volume and name != "spool":
            assert mounts[name].get("readOnly") is True, name
    assert volumes["ingest-token"]["secret"]["secretName"]
    args = container["args"]
    assert args[args.index("--token-file") + 1].startswith(mounts["ingest-token"]["mountPath"])
    sa = next(d for d in docs if d["kind"] == "ServiceAccount")
    assert sa["automountServiceAccountToken"] is False


def test_shipped_configurations_are_valid() -> None:
    config = yaml.safe_load_all((DEPLOY / "daemonset.yaml").read_text())
    cm = next(d for d in config if d["kind"] == "ConfigMap")
    for text in (cm["data"]["agent.toml"], (DEPLOY / "agent.toml").read_text()):
        agent_settings(from_dict(tomllib.loads(text), "deploy"))
