"""Warning lifecycle: one open episode per (detector, scope); signals → graded alerts.

- The first signal at or above blue opens an episode and emits ``open``.
- Later signals update it (window, evidence; score, title and explanation when stronger); a
  level rise emits ``escalated``.
- Quiet for the detector's cool-down (event time) emits ``resolved``.
- A signal at a region level nested in (or containing) an open episode of the same
  detector and category, whose evidence is mostly that episode's evidence, is folded into
  it (listed under ``explanation.also_at``) instead of opening a second warning — as an update
  of it, so a stronger signal escalates it; episodes that
  do open at nested levels name each other in ``explanation.related_alert_ids``.

``alert_id`` derives from detector, scope, episode key and the episode's first evidence
window start — never from the triggering event — so every runtime gives the same ids.
Output order is a pure function of event time, independent of batch boundaries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from detectors.base import Context, Signal, rfc3339
from detectors.grading import Grading
from schemas.alert import LEVEL_RANK, Alert, Scope

__all__ = ["DetectorInfo", "Lifecycle"]

LAYOUT = 1
MAX_EVIDENCE = 100
_NESTED_OVERLAP = 0.6


@dataclass(frozen=True)
class DetectorInfo:
    """What the lifecycle needs to know of a detector: version, config hash, cool-down (s)."""

    version: str
    config_hash: str
    cooldown: float


class _Episode:
    __slots__ = ("alert_id", "detector", "episode_key", "evidence", "explanation", "last_ts", "level", "scope",
                 "score", "title", "triggered_at", "window_end", "window_start")

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__ if k != "scope"} | {
            "scope": [self.scope.region_code, self.scope.category, self.scope.uscc]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> _Episode:
        e = cls()
        for k in cls.__slots__:
            if k != "scope":
                setattr(e, k, d[k])
        e.scope = Scope(*d["scope"])
        e.evidence, e.explanation = list(e.evidence), dict(e.explanation)
        return e


class Lifecycle:
    """Turns signals into alerts. ``grading`` maps scores to levels; ``detectors`` gives each
    detector's version, config hash and cool-down. Called by the engine in event-time order:
    ``advance(ts)`` before each signal, then ``apply(signal)``."""

    def __init__(self, grading: Grading, detectors: Mapping[str, DetectorInfo], context: Context) -> None:
        self.grading, self.detectors, self.context = grading, dict(detectors), context
        self.open: dict[str, _Episode] = {}
        self._next_deadline = float("inf")

    def _key(self, s: Signal) -> str:
        return f"{s.detector}|{s.scope.key()}|{s.episode_key}"

    def apply(self, s: Signal) -> list[Alert]:
        """Fold one signal in; returns the alerts it causes (zero or one)."""
        level = self.grading.level(s.score)
        if level is None or s.detector not in self.detectors:
            return []
        key = self._key(s)
        ep = self.open.get(key)
        if ep is None:
            ep = self._nesting_host(s)
            if ep is None:
                ep = self._open(key, s, level)
                return [self._alert(ep, "open")]
            # the same events seen at an enclosing level: they update the warning they caused
            # (a cluster spilling into the next city is graver, not a second warning)
            also = ep.explanation.setdefault("also_at", [])
            if s.scope.region_code not in also:
                also.append(s.scope.region_code)
        ep.window_end = max(ep.window_end, s.window_end)
        ep.last_ts = max(ep.last_ts, s.ts)
        ep.evidence = list(dict.fromkeys(s.evidence + ep.evidence))[:MAX_EVIDENCE]
        self._deadline(ep)
        if LEVEL_RANK[level] > LEVEL_RANK[ep.level]:
            ep.level, ep.triggered_at = level, s.ts
            self._adopt(ep, s)
            return [self._alert(ep, "escalated")]
        if s.score > ep.score:
            self._adopt(ep, s)
        return []

    @staticmethod
    def _adopt(ep: _Episode, s: Signal) -> None:
        """The episode's score, title and explanation become the stronger signal's, so the score
        an alert shows is always the one its explanation accounts for."""
        ep.score, ep.title = s.score, s.title
        ep.explanation = s.explanation | {k: v for k, v in ep.explanation.items() if k in ("also_at", "related_alert_ids")}

    def advance(self, ts: float) -> list[Alert]:
        """Resolve every episode quiet for its cool-down by event time ``ts``, in deadline order."""
        if ts < self._next_deadline:
            return []
        due = []
        for key, ep in self.open.items():
            deadline = ep.last_ts + self.detectors[ep.detector].cooldown
            if deadline <= ts:
                due.append((deadline, ep.alert_id, key))
        out = []
        for deadline, _, key in sorted(due):
            ep = self.open.pop(key)
            out.append(self._alert(ep, "resolved", resolved_at=deadline))
        self._next_deadline = min((e.last_ts + self.detectors[e.detector].cooldown for e in self.open.values()),
                                  default=float("inf"))
        return out

    def _deadline(self, ep: _Episode) -> None:
        self._next_deadline = min(self._next_deadline, ep.last_ts + self.detectors[ep.detector].cooldown)

    def _open(self, key: str, s: Signal, level: str) -> _Episode:
        ep = _Episode()
        ident = f"{s.detector}|{s.scope.key()}|{s.episode_key}|{rfc3339(s.window_start)}"
        ep.alert_id = hashlib.sha256(ident.encode()).hexdigest()[:24]
        ep.detector, ep.scope, ep.episode_key = s.detector, s.scope, s.episode_key
        ep.window_start, ep.window_end, ep.last_ts, ep.triggered_at = s.window_start, s.window_end, s.ts, s.ts
        ep.level, ep.score, ep.title = level, s.score, s.title
        ep.explanation, ep.evidence = dict(s.explanation), list(s.evidence)[:MAX_EVIDENCE]
        related = [o for o in self._nested(s)]
        if related:
            ep.explanation["related_alert_ids"] = sorted(o.alert_id for o in related)
            for o in related:
                o.explanation.setdefault("related_alert_ids", [])
                o.explanation["related_alert_ids"] = sorted({*o.explanation["related_alert_ids"], ep.alert_id})
        self.open[key] = ep
        self._deadline(ep)
        return ep

    def _nested(self, s: Signal) -> list[_Episode]:
        """Open episodes of the same detector, category and enterprise at an enclosing or enclosed region."""
        region = s.scope.region_code
        if not region:
            return []
        mine = set(self.context.regions.chain(region))
        out = []
        for ep in self.open.values():
            r = ep.scope.region_code
            if (ep.detector != s.detector or not r or r == region or ep.scope.category != s.scope.category
                    or ep.scope.uscc != s.scope.uscc):
                continue
            if r in mine or region in self.context.regions.chain(r) or r == "000000" or region == "000000":
                out.append(ep)
        return out

    def _nesting_host(self, s: Signal) -> _Episode | None:
        """An open episode at a more specific region whose evidence covers most of this signal's."""
        if not s.evidence:
            return None
        ev = set(s.evidence)
        for ep in self._nested(s):
            r = ep.scope.region_code or ""
            more_specific = s.scope.region_code == "000000" or s.scope.region_code in self.context.regions.chain(r)
            if more_specific and len(ev.intersection(ep.evidence)) >= _NESTED_OVERLAP * len(ev):
                return ep
        return None

    def _alert(self, ep: _Episode, status: str, resolved_at: float | None = None) -> Alert:
        info = self.detectors[ep.detector]
        explanation = dict(ep.explanation)
        if resolved_at is not None:
            explanation["resolved_at"] = rfc3339(resolved_at)
        return Alert(
            alert_id=ep.alert_id, detector=ep.detector, detector_version=info.version, config_hash=info.config_hash,
            level=ep.level, score=round(ep.score, 2), scope=ep.scope, window_start=rfc3339(ep.window_start),
            window_end=rfc3339(ep.window_end), triggered_at=rfc3339(ep.triggered_at), status=status,
            title=ep.title, explanation=explanation, evidence_event_ids=list(ep.evidence),
        )

    def snapshot(self) -> dict[str, Any]:
        return {"layout": LAYOUT, "open": {k: e.to_json() for k, e in sorted(self.open.items())}}

    @classmethod
    def restore(cls, grading: Grading, detectors: Mapping[str, DetectorInfo], context: Context,
                state: Mapping[str, Any]) -> Lifecycle:
        lc = cls(grading, detectors, context)
        for k, e in state.get("open", {}).items():
            lc.open[k] = _Episode.from_json(e)
            lc._deadline(lc.open[k])
        return lc
