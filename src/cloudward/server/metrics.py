"""Prometheus metrics of one server, in a registry of its own (two apps in one process never clash)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events_in = Counter("cloudward_events_in", "Events decoded, by source and format",
                                 ["source", "format"], registry=r)
        self.rejected = Counter("cloudward_records_rejected", "Records refused (malformed), by source",
                                ["source"], registry=r)
        self.requests_refused = Counter("cloudward_requests_refused", "Ingest requests refused, by HTTP status",
                                        ["status"], registry=r)
        self.alerts_changed = Counter("cloudward_alerts_changed", "Alerts created or updated, by type and severity",
                                      ["alert_type", "severity"], registry=r)
        self.queue_depth = Gauge("cloudward_queue_depth", "Batches waiting for the engine", registry=r)
        self.sink_failures = Counter("cloudward_sink_delivery_failures", "Failed deliveries, by sink",
                                     ["sink"], registry=r)
        self.sink_delivered = Counter("cloudward_sink_deliveries", "Delivered alerts, by sink", ["sink"], registry=r)
        self.batch_seconds = Histogram("cloudward_batch_seconds", "Time to process and commit one group of batches",
                                       registry=r, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

    def render(self) -> bytes:
        return generate_latest(self.registry)
