"""Prometheus metrics of a riskwatch process (DESIGN §7).

Instruments live on a ``CollectorRegistry`` passed in (no global registry). Label values
come from closed sets: source, outcome, error code, detector, level, status, table.
Detector internals (active keys, open warnings) are read at scrape time by a custom
collector, not updated per event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["EngineCollector", "Metrics"]


class Metrics:
    """The instruments every runtime updates, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.events = Counter("riskwatch_pipeline_events", "Events read, by source and outcome (valid, duplicate, rejected)",
                              ["source", "outcome"], registry=registry)
        self.dead_letters = Counter("riskwatch_pipeline_dead_letters", "Rejected inputs by first error code", ["code"],
                                    registry=registry)
        self.alerts = Counter("riskwatch_detector_alerts", "Warning state changes emitted", ["detector", "level", "status"],
                              registry=registry)
        self.batch_seconds = Histogram("riskwatch_pipeline_batch_duration_seconds",
                                       "Wall time to validate, detect and store one micro-batch", registry=registry,
                                       buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.sink_rows = Counter("riskwatch_sink_rows", "Rows handed to the ClickHouse sink", ["table"], registry=registry)
        self.sink_errors = Counter("riskwatch_sink_errors", "Failed sink attempts (retried or spooled)", registry=registry)
        self.event_lag = Gauge("riskwatch_pipeline_event_lag_seconds",
                               "Wall-clock time minus the newest event time processed", registry=registry)
        self.watermark = Gauge("riskwatch_pipeline_watermark_seconds", "Newest event time processed (epoch seconds)",
                               registry=registry)


class EngineCollector(Collector):
    """Scrape-time view of detector internals: tracked keys per detector, open warnings per detector."""

    def __init__(self, engine: Callable[[], Any]) -> None:
        self._engine = engine  # a callable, so a restored engine replaces the old one transparently

    def collect(self) -> Iterator[GaugeMetricFamily]:
        engine = self._engine()
        keys = GaugeMetricFamily("riskwatch_detector_active_keys", "Keys with state per detector", labels=["detector"])
        opened = GaugeMetricFamily("riskwatch_detector_open_warnings", "Open warning episodes per detector",
                                   labels=["detector"])
        if engine is not None:
            counts: dict[str, int] = {}
            for ep in list(engine.lifecycle.open.values()):
                counts[ep.detector] = counts.get(ep.detector, 0) + 1
            for det in engine.detectors:
                state = getattr(det, "keys", None)
                keys.add_metric([det.name], float(len(state)) if hasattr(state, "__len__") else 0.0)
                opened.add_metric([det.name], float(counts.get(det.name, 0)))
        yield keys
        yield opened
