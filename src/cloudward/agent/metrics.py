"""Prometheus metrics of the running agent on 127.0.0.1:`metrics_port` (prometheus-client): events and
events per second per collector, misses, collector health, kernel audit losses, spool depth, delivery.

Values are read from the agent's status at scrape time, so the hot path does no metric bookkeeping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

_STATES = ("ok", "degraded", "unavailable", "standby", "starting", "stopped")


class AgentMetrics(Collector):
    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        self.status = status

    def collect(self) -> Iterator[Any]:
        st = self.status()
        collectors: dict[str, Any] = st.get("collectors", {})
        events = CounterMetricFamily("cloudward_agent_events", "Events read, per collector", labels=["collector"])
        rate = GaugeMetricFamily("cloudward_agent_events_per_second", "Events per second over the last status "
                                 "interval, per collector", labels=["collector"])
        misses = CounterMetricFamily("cloudward_agent_misses", "Records with missing context (processes gone "
                                     "before /proc was read, events dropped by the kernel)", labels=["collector"])
        state = GaugeMetricFamily("cloudward_agent_collector_state", "1 for the collector's current state",
                                  labels=["collector", "state"])
        for name, c in collectors.items():
            events.add_metric([name], float(c.get("events", 0)))
            rate.add_metric([name], float(c.get("events_per_second", 0.0)))
            misses.add_metric([name], float(c.get("misses", 0)))
            for s in _STATES:
                state.add_metric([name, s], 1.0 if c.get("state") == s else 0.0)
        yield from (events, rate, misses, state)
        audit = collectors.get("audit", {})
        lost = CounterMetricFamily("cloudward_agent_audit_lost", "Audit records the kernel lost since the start")
        lost.add_metric([], float(audit.get("kernel_lost", 0)) + float(audit.get("overruns", 0)))
        yield lost
        alerts = CounterMetricFamily("cloudward_agent_alert_updates", "Alerts written (new or changed)")
        alerts.add_metric([], float(st.get("alerts_written", 0)))
        yield alerts
        spool = st.get("spool")
        if spool is not None:
            depth = GaugeMetricFamily("cloudward_agent_spool_batches", "Batches waiting in the spool")
            depth.add_metric([], float(spool.get("batches", 0)))
            size = GaugeMetricFamily("cloudward_agent_spool_bytes", "Bytes waiting in the spool")
            size.add_metric([], float(spool.get("bytes", 0)))
            dropped = CounterMetricFamily("cloudward_agent_spool_dropped_batches",
                                          "Batches dropped because the spool was full")
            dropped.add_metric([], float(spool.get("dropped_batches", 0)))
            yield from (depth, size, dropped)
        delivery = st.get("delivery")
        if delivery is not None:
            sent = CounterMetricFamily("cloudward_agent_sent_batches", "Batches the server acknowledged")
            sent.add_metric([], float(delivery.get("sent_batches", 0)))
            failed = CounterMetricFamily("cloudward_agent_failed_posts", "Delivery attempts that failed")
            failed.add_metric([], float(delivery.get("failed_attempts", 0)))
            yield from (sent, failed)


def serve_metrics(port: int, status: Callable[[], dict[str, Any]]) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(AgentMetrics(status))
    start_http_server(port, addr="127.0.0.1", registry=registry)
    return registry
