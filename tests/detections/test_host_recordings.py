"""The host cards on real telemetry: the auditd and Docker recording (tests/data/host/record.sh) and the
Tetragon and Falco corpus. Each scenario the recording script acted out must raise its alert, and the
benign look-alikes it also ran must not."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudward.pipeline import Pipeline

DATA = Path(__file__).parents[1] / "data" / "host"
SYSADMIN = "4e8db7bec41dc786308ba2fc2e813e94bcb599495f3e21b5de9e23cd482606a3"
SSH = "aa6f5cb0078b10ca0c51c8321983b7b9dcdd1994a1b11bf37a7cbc93a7e6f5a0"


@pytest.fixture(scope="module")
def recorded():
    pipe = Pipeline()
    pipe.run_paths([str(DATA / "recorded")])
    alerts = pipe.finish()
    assert pipe.stats.rejected == 0, pipe.stats.rejections
    return alerts


def of(alerts, alert_type):
    return [a for a in alerts if a.alert_type == alert_type]


def test_exposed_docker_only_for_the_tcp_daemon(recorded):
    (alert,) = of(recorded, "VM_ExposedDocker")
    assert alert.entities["bind"] == ["tcp://0.0.0.0:2375"]
    assert alert.evidence[0]["event_id"] == "1795931046.425:12394"  # the audit serial


def test_privileged_container(recorded):
    (alert,) = of(recorded, "K8S.NODE_PrivilegedContainerArtifacts")
    assert alert.entities["container"] == "cw-privileged" and alert.count == 3  # run command, create event, inspect


def test_privileged_exec_and_host_impacting_commands(recorded):
    alerts = of(recorded, "K8S.NODE_PrivilegedExecutionInContainer")
    lines = {a.entities.get("command_line") for a in alerts}
    assert "docker exec --privileged cw-plain id" in lines
    assert "mount -t tmpfs tmpfs /mnt" in lines and "nsenter -t 1 -m -u -n -i -p true" in lines
    mount = next(a for a in alerts if a.entities.get("command_line") == "mount -t tmpfs tmpfs /mnt")
    assert mount.entities["container_id"] == SYSADMIN and mount.entities["user"] == "root"
    # the plain `docker exec cw-plain ls /` is not among them
    assert not any("ls /" in str(a.entities.get("command_line")) for a in alerts)


def test_ssh_in_container(recorded):
    (alert,) = of(recorded, "K8S.NODE_ContainerSSH")
    assert alert.entities["container_id"] == SSH and alert.entities["process"] == "dropbear"
    assert alert.entities["pid"] == 15660 and alert.entities["host"] == "unknown"


def test_miner(recorded):
    alerts = of(recorded, "VM_MinerInContainerImage")
    assert {a.entities["container"] for a in alerts} == {"cw-miner", "cw-plain"}
    stratum = next(a for a in alerts if a.entities["container"] == "cw-plain")
    assert "mining pool supportxmr.com" in stratum.entities["indicators"]


def test_kubernetes_api_and_dashboard(recorded):
    (api,) = of(recorded, "K8S.NODE_KubernetesAPI")
    (dash,) = of(recorded, "K8S.NODE_KubernetesDashboard")
    assert api.entities["container"] == dash.entities["container"] == "cw-plain"
    assert "kubernetes.default.svc" in api.entities["indicators"]


def test_web_app_process_cards(recorded):
    php = of(recorded, "AppServices_SuspectPhp")
    assert {a.entities["user"] for a in php} <= {"www-data", "33"} and len(php) == 3
    assert not any(a.entities["command_line"] == "php -v" for a in php)
    tmp = of(recorded, "AppServices_TmpFolderExecution")
    web_tmp = next(a for a in tmp if a.entities["path"] == "/tmp/.cw-drop/kworkerd")
    assert web_tmp.severity == "high" and web_tmp.count == 2  # ENRICHED and RAW phases
    high = of(recorded, "AppServices_HighPrivilegeCommand")
    assert {a.entities["matched"] for a in high} == {"sudo -n /usr/sbin/useradd -o -u 0 svc",
                                                    "chmod u+s /tmp/.cw-drop/kworkerd"}
    # the administrator's own `sudo -n id` (auid set, login shell) raised nothing
    assert not any("sudo -n id" in a.entities["command_line"] for a in high)


def test_tetragon_and_falco_corpus():
    pipe = Pipeline()
    falco = DATA / "falco" / "single_rule_with_cat_write.json"
    files = [*sorted(str(p) for p in (DATA / "tetragon").rglob("*.json")), str(falco)]
    pipe.run_paths(files)
    alerts = pipe.finish()
    assert pipe.stats.rejected == 0
    types = {a.alert_type for a in alerts}
    assert {"FALCO_open_from_cat", "K8S.NODE_PrivilegedExecutionInContainer", "K8S.NODE_PrivilegedContainerArtifacts",
            "AppServices_TmpFolderExecution"} <= types
    nsenter = of(alerts, "K8S.NODE_PrivilegedExecutionInContainer")[0]
    assert nsenter.entities["pod"] == "privileged-pod" and nsenter.entities["process"] == "nsenter"
    tmp = of(alerts, "AppServices_TmpFolderExecution")[0]
    assert tmp.entities["path"].startswith("/tmp/go-build")
    # the benign Tetragon events (curl www.google.com, netserver, starwars) raise nothing of ours
    assert not any(a.entities.get("process") in ("curl", "netserver", "starwars-docker") for a in alerts)


def test_exposed_docker_loopback_severity_is_validated():
    import pytest

    from cloudward.config import ConfigError, from_dict
    from cloudward.pipeline import Pipeline

    with pytest.raises(ConfigError, match="loopback_severity"):
        Pipeline(from_dict({"detections": {"VM_ExposedDocker": {"loopback_severity": "severe"}}}),
                 only={"VM_ExposedDocker"})
