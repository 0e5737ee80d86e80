"""The real Falco k8s_audit trace files: every file's outcome as its MANIFEST line gives it.

D1 cluster-admin binding, D2 exposed dashboard, D3 high-privilege role, D4 new container in kube-system
(kube-public too: Cloudward watches both by default), D5 miner, D6 privileged, D7 sensitive mount. D8
(exec/attach into a pod) is not among the audit-log alert types, so those files must raise none of ours.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudward.inputs import InputFile
from cloudward.pipeline import Pipeline

DATA = Path(__file__).parent.parent / "data" / "k8s" / "falco-trace-files"

EXPECTED = {
    "attach_cluster_admin_role.json": {"K8S_ClusterAdminBinding"},
    "create_cluster_role_pod_exec.json": {"K8S_HighPrivilegesRole"},
    "create_cluster_role_wildcard_resources.json": {"K8S_HighPrivilegesRole"},
    "create_cluster_role_wildcard_verbs.json": {"K8S_HighPrivilegesRole"},
    "create_cluster_role_write_privileges.json": {"K8S_HighPrivilegesRole"},
    "create_nginx_pod_no_secctx_1st_container_privileged_2nd_container.json": {"K8S_PrivilegedContainer"},
    "create_nginx_pod_privileged.json": {"K8S_PrivilegedContainer"},
    "create_nginx_pod_privileged_2nd_container.json": {"K8S_PrivilegedContainer"},
    "create_nginx_pod_sensitive_mount.json": {"K8S_SensitiveMount"},
    "create_nginx_pod_sensitive_mount_2nd_container.json": {"K8S_SensitiveMount"},
    "create_pod_kube_public_namespace.json": {"K8S_KubeSystemContainer"},
    "create_pod_kube_system_namespace.json": {"K8S_KubeSystemContainer"},
}
FILES = sorted(p.name for p in DATA.glob("*.json"))


def scan(name: str) -> tuple[list, Pipeline]:
    pipe = Pipeline(raise_errors=True)
    pipe.run_input(InputFile(str(DATA / name)))
    return pipe.finish(), pipe


def test_all_47_files_present():
    assert len(FILES) == 47


@pytest.mark.parametrize("name", FILES)
def test_outcome_matches_manifest(name):
    alerts, pipe = scan(name)
    assert {a.alert_type for a in alerts} == EXPECTED.get(name, set())
    if name == "fal_01_003.json":
        assert pipe.stats.rejected == 1
        assert pipe.stats.rejections[0].where.endswith("fal_01_003.json:1")
    else:
        assert pipe.stats.rejected == 0, pipe.stats.rejections


def test_privileged_second_container_is_named():
    alerts, _ = scan("create_nginx_pod_privileged_2nd_container.json")
    (alert,) = alerts
    assert alert.entities["containers"] == ["mysql"]
    assert alert.evidence[0]["event_id"] == alert.evidence[0]["raw"]["auditID"]


def test_sensitive_mount_names_container_and_path():
    alerts, _ = scan("create_nginx_pod_sensitive_mount_2nd_container.json")
    (alert,) = alerts
    assert alert.entities["host_paths"] == ["/etc"]
    assert len(alert.entities["containers"]) == 1
    assert "/etc" in alert.entities["mounts"][0]


def test_jsonl_file_of_six_events_all_parsed():
    _, pipe = scan("create_configmap_sensitive_values.json")
    assert pipe.stats.formats["k8s-audit"] == 6


def test_whole_folder_in_one_run():
    """One cluster's view: same-named objects are one alert each, and the two files that carry the same
    auditID (Falco edited one fixture into another; that happened twice) count as redeliveries."""
    pipe = Pipeline(raise_errors=True)
    pipe.run_paths([str(DATA / name) for name in FILES])
    alerts = pipe.finish()
    counts = {(a.alert_type, a.count) for a in alerts}
    assert counts == {
        ("K8S_ClusterAdminBinding", 1),
        ("K8S_HighPrivilegesRole", 4),  # ClusterRole some-reader, created four times
        ("K8S_PrivilegedContainer", 2),  # Deployment nginx-deployment: three files, two distinct auditIDs
        ("K8S_SensitiveMount", 2),
        ("K8S_KubeSystemContainer", 1),  # kube-system and kube-public: two alerts
    }
    assert len(alerts) == 6
    assert pipe.stats.duplicates == 2
    assert pipe.stats.rejected == 1
