"""What every detector consumes and emits, and the protocol it follows.

``Observation`` is the enriched, detector-ready view of one valid event (built by
``pipeline.enrich``); an opinion post that names several categories yields one
observation per category with ``weight`` = the inference confidence. Detectors turn
observations into ``Signal``s — "this scope looks risky now, here is why" — and
``detectors.lifecycle`` turns signals into graded warnings with one open episode per
(detector, scope).

Time is event time in epoch seconds; days and hours are counted in China Standard Time
(UTC+8), the regulators' calendar.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Protocol, Self, TypeVar

import msgspec

from schemas.alert import Scope
from schemas.errors import ConfigError

__all__ = [
    "CST_OFFSET", "DAY", "HOUR", "Detector", "DetectorConfig", "Observation", "Signal", "config_from_mapping",
    "day_index", "hour_index", "rfc3339",
]

HOUR = 3600
DAY = 86400
CST_OFFSET = 8 * HOUR


def hour_index(ts: float) -> int:
    """Whole hours since the epoch."""
    return int(ts // HOUR)


def day_index(ts: float) -> int:
    """Whole days since 1970-01-01 in China Standard Time."""
    return int((ts + CST_OFFSET) // DAY)


def rfc3339(ts: float) -> str:
    """Event time as RFC 3339 in +08:00, to the second: ``rfc3339(0) == '1970-01-01T08:00:00+08:00'``."""
    import time

    t = time.gmtime(int(ts) + CST_OFFSET)
    return (f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}+08:00")


class Observation(msgspec.Struct, frozen=True, gc=False):
    """One event as detectors see it. Empty strings / zeros mean "not applicable".

    ``chain`` is the region and its parents (county → city → province); ``injury`` is the
    complaint's injury or ``"reported"`` when an opinion text reports a person hurt;
    ``critical``/``major``/``minor`` count a failed sample's items by severity;
    ``reach`` is an opinion post's audience (followers + 10·reposts + comments + likes).
    """

    event_id: str
    source: str
    ts: float
    region: str
    chain: tuple[str, ...]
    category: str = ""
    weight: float = 1.0
    uscc: str = ""
    brand: str = ""
    complainant: str = ""
    issue: str = ""
    injury: str = ""
    failed: bool = False
    critical: int = 0
    major: int = 0
    minor: int = 0
    violation: str = ""
    reach: float = 0.0
    sentiment: float = 0.0
    hazard: float = 0.0
    risk_terms: tuple[str, ...] = ()


class Signal(msgspec.Struct):
    """A detector's finding at event time ``ts``: the scope, a 0–100 ``score`` (already raised
    for vulnerable groups, safety-critical categories, injuries, corroboration — see
    ``detectors.grading``), the evidence window, a Chinese ``title`` and an ``explanation``
    with observed, expected, statistic, threshold and contributing sources."""

    detector: str
    scope: Scope
    ts: float
    window_start: float
    window_end: float
    score: float
    title: str
    explanation: dict[str, Any]
    evidence: list[str]
    episode_key: str = ""  # defaults to the scope; a detector may split one scope into episodes
    trigger: str = ""  # event_id of the observation that fired it: orders same-second signals


@dataclass(frozen=True)
class DetectorConfig:
    """Base of every detector's frozen configuration. ``enabled`` switches it off;
    ``cooldown_hours`` of event time without a new signal resolves a warning;
    ``min_history_days`` of stream history before a baseline-based detector may fire."""

    enabled: bool = True
    cooldown_hours: float = 72.0
    min_history_days: float = 14.0

    def digest(self) -> str:
        """Content hash of the configuration (``config_hash`` on warnings)."""
        return hashlib.sha256(msgspec.json.encode(asdict(self), order="sorted")).hexdigest()[:12]


C = TypeVar("C", bound=DetectorConfig)


def config_from_mapping(kind: type[C], values: Mapping[str, Any] | None, where: str) -> C:
    """Build a frozen config from a YAML mapping; ``ConfigError`` names an unknown key or bad value."""
    values = dict(values or {})
    known = {f.name: f for f in fields(kind)}
    for key in values:
        if key not in known:
            raise ConfigError(f"{where}.{key}", "unknown setting")
    try:
        return kind(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items()})
    except (TypeError, ValueError) as exc:
        raise ConfigError(where, str(exc)) from exc


class Detector(Protocol):
    """A stateful, deterministic detector over event time.

    ``update`` scores the batch *before* learning from it and returns signals in event
    order; it never raises on odd observations and is quiet until it has the configured
    history. ``snapshot`` is a JSON-able dict carrying a layout version; ``restore``
    rebuilds an instance that continues identically.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    sources: ClassVar[frozenset[str]]
    config: DetectorConfig

    def update(self, batch: Sequence[Observation]) -> list[Signal]: ...

    def snapshot(self) -> dict[str, Any]: ...

    @classmethod
    def restore(cls, config: Any, state: Mapping[str, Any], context: Context) -> Self: ...


@dataclass(frozen=True)
class Context:
    """What every detector may consult (read-only): regions, the catalogue, the grading rules."""

    regions: Any  # schemas.regions.RegionTable
    catalogue: Any  # schemas.categories.Catalogue
    grading: Any  # detectors.grading.Grading

    def scope_name(self, scope: Scope) -> str:
        """Chinese name of a scope: ``西湖区 口罩`` / ``全国 口罩`` / an enterprise's USCC."""
        parts = []
        if scope.region_code:
            parts.append(self.regions.full_name(scope.region_code) or self.regions.name(scope.region_code))
        if scope.category:
            cat = self.catalogue.get(scope.category)
            parts.append(cat.name_zh if cat else scope.category)
        if scope.uscc:
            parts.append(f"企业{scope.uscc}")
        return " ".join(parts)


__all__ += ["Context"]
