"""The detection engine: enrich → detect → lifecycle over batches of validated records.

The same object runs inside every runtime (embedded, Faust worker, replay). Its output is
a pure function of the records' order and the configuration — never of batch boundaries:
signals are put in (event time, trigger event, detector) order before the lifecycle sees
them, and cool-downs resolve by event time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from detectors.base import Context, Detector, DetectorConfig, Observation, Signal
from detectors.lifecycle import DetectorInfo, Lifecycle
from detectors.registry import build_detectors
from pipeline.enrich import Enricher
from pipeline.entities import EntityRegistry
from schemas.alert import Alert
from schemas.event import Record

__all__ = ["Engine"]

LAYOUT = 1
_SOURCES = frozenset({"complaint", "sampling", "enforcement", "opinion"})


class Engine:
    """Stateful detection over a stream of ``Record``s.

    Parameters: the detector configs (name → frozen config), the shared ``Context``, the
    ``Enricher``. ``process`` is called with each micro-batch in stream order and returns the
    alerts (open/escalated/resolved) it caused, in event-time order.
    """

    def __init__(self, configs: Mapping[str, DetectorConfig], context: Context, enricher: Enricher,
                 state: Mapping[str, Any] | None = None) -> None:
        self.configs, self.context, self.enricher = dict(configs), context, enricher
        states = (state or {}).get("detectors")
        self.detectors: list[Detector] = build_detectors(self.configs, context, states)
        infos = {d.name: DetectorInfo(d.version, self.configs[d.name].digest(), self.configs[d.name].cooldown_hours * 3600)
                 for d in self.detectors}
        lc_state = (state or {}).get("lifecycle")
        self.lifecycle = (Lifecycle.restore(context.grading, infos, context, lc_state) if lc_state
                          else Lifecycle(context.grading, infos, context))
        self._feeds = [_feed(d.sources) for d in self.detectors]
        self.entities = EntityRegistry(enricher.lexicon, (state or {}).get("entities"))
        mark = (state or {}).get("watermark")
        self.watermark = float("-inf") if mark is None else float(mark)

    def process(self, records: Sequence[Record]) -> list[Alert]:
        """Run one batch; records must be valid and masked (the validator's output)."""
        if not records:
            return []
        # The observations in order, and per source; detectors only read their batches, so
        # the lists are shared.
        every: list[Observation] = []
        by_source: dict[str, list[Observation]] = {src: [] for src in _SOURCES}
        observe = self.enricher.observe
        entities = self.entities
        last = self.watermark
        for record in records:
            lexicon = entities.lexicon(record.ts)
            entities.learn(record)
            for obs in observe(record, lexicon):
                every.append(obs)
                by_source[obs.source].append(obs)
            if record.ts > last:
                last = record.ts
        signals: list[tuple[float, str, int, int, Signal]] = []
        for i, (det, feed) in enumerate(zip(self.detectors, self._feeds, strict=True)):
            if feed is None:
                batch = every
            elif isinstance(feed, str):
                batch = by_source[feed]
            else:
                batch = [o for o in every if o.source in feed]
            if batch:
                for j, s in enumerate(det.update(batch)):
                    signals.append((s.ts, s.trigger, i, j, s))
        signals.sort(key=lambda x: x[:4])
        alerts: list[Alert] = []
        lc = self.lifecycle
        for ts, _, _, _, s in signals:
            alerts += lc.advance(ts)
            alerts += lc.apply(s)
        alerts += lc.advance(last)
        self.watermark = last
        return alerts

    def snapshot(self) -> dict[str, Any]:
        """All detector states and open episodes, JSON-able."""
        return {"layout": LAYOUT, "watermark": self.watermark if self.watermark != float("-inf") else None,
                "detectors": {d.name: d.snapshot() for d in self.detectors},
                "lifecycle": self.lifecycle.snapshot(), "entities": self.entities.snapshot()}


def _feed(sources: frozenset[str]) -> frozenset[str] | str | None:
    """What a detector is fed: every observation (``None``), one source's (its name), or the
    observations of several sources (the set), in stream order."""
    if sources >= _SOURCES:
        return None
    if len(sources) == 1 and sources <= _SOURCES:
        return next(iter(sources))
    return sources
