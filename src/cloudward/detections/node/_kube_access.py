"""What the Kubernetes API and dashboard cards share: indicators in command lines, the API server and
dashboard addresses, client programs, and which containers are known cluster components."""

from __future__ import annotations

from cloudward.analytics.processes import NamePatterns, basename
from cloudward.datalists import DataLists
from cloudward.detections.common.images import ImagePatterns
from cloudward.events import NetConnection, ProcessExec

#: kubeadm, AKS, EKS (two ranges) defaults for the `kubernetes` Service's cluster IP
_API_GATE = ("kube", "6443", "/api", "serviceaccount")
DEFAULT_API_ADDRESSES = ["10.96.0.1", "10.0.0.1", "10.100.0.1", "172.20.0.1"]


class KubeAccess:
    def __init__(self, data: DataLists, api_addresses: list[str], api_ports: list[int],
                 dashboard_addresses: list[str]) -> None:
        self.api_indicators = tuple(i.lower() for i in data.strings("kube_api_indicators"))
        # a cheap pre-test, valid only while every indicator (shipped or configured) contains a gate word
        self._api_gated = all(any(g in i for g in _API_GATE) for i in self.api_indicators)
        names = [n.lower() for n in data.strings("dashboard_names")]
        self.dashboard_names = tuple(names)
        self.dashboard_indicators = tuple(i.lower() for i in data.strings("dashboard_indicators")) + tuple(
            f"{n}{sep}" for n in names for sep in (".", ":", "/"))
        self.dashboard_ports = frozenset(int(p) for p in data.get("dashboard_ports") if isinstance(p, int))
        self.clients = NamePatterns(data.strings("kube_api_clients"))
        self.system = ImagePatterns(data.strings("known_system_components") + data.strings("kube_system_images"))
        self.api_addresses = frozenset(api_addresses)
        self.api_ports = frozenset(api_ports)
        self.dashboard_addresses = frozenset(dashboard_addresses)

    def system_component(self, event: ProcessExec | NetConnection) -> bool:
        return bool(event.image) and self.system.match(event.image) is not None

    def api_hits(self, low: str) -> list[str]:
        if self._api_gated and not any(g in low for g in _API_GATE):
            return []
        return [i for i in self.api_indicators if i in low]

    def dashboard_hits(self, low: str) -> list[str]:
        if "dashboard" not in low and "/#/" not in low and "csrftoken" not in low:
            return []
        return [i for i in self.dashboard_indicators if i in low]

    def client(self, event: ProcessExec | NetConnection) -> bool:
        return self.clients(basename(event.executable)) if event.executable else False

    def api_connection(self, event: NetConnection) -> bool:
        return event.destination_ip in self.api_addresses or event.destination_port in self.api_ports

    def dashboard_connection(self, event: NetConnection) -> bool:
        if event.destination_ip in self.dashboard_addresses:
            return True
        host = event.destination_host.lower()
        return event.destination_port in self.dashboard_ports and any(n in host for n in self.dashboard_names)
