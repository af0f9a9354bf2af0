"""The default detector catalogue (DESIGN §3) and how configuration selects and tunes it.

``settings`` is the ``detectors:`` mapping of the configuration file: per detector name, its
parameters (``enabled: false`` switches one off). Unknown names or keys raise ``ConfigError``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from detectors.base import Context, Detector, DetectorConfig, config_from_mapping
from schemas.errors import ConfigError

__all__ = ["CATALOGUE", "build_detectors", "detector_configs"]

# name → (module, detector class, config class), in the engine's evaluation order.
CATALOGUE: dict[str, tuple[str, str, str]] = {
    "complaint_surge": ("detectors.complaint_surge", "ComplaintSurge", "ComplaintSurgeConfig"),
    "injury_signal": ("detectors.injury_signal", "InjurySignal", "InjurySignalConfig"),
    "sampling_failure": ("detectors.sampling_failure", "SamplingFailure", "SamplingFailureConfig"),
    "repeat_offender": ("detectors.repeat_offender", "RepeatOffender", "RepeatOffenderConfig"),
    "enforcement_cluster": ("detectors.enforcement_cluster", "EnforcementCluster", "EnforcementClusterConfig"),
    "opinion_burst": ("detectors.opinion_burst", "OpinionBurst", "OpinionBurstConfig"),
    "cross_source": ("detectors.cross_source", "CrossSource", "CrossSourceConfig"),
    "rules": ("detectors.rules", "Rules", "RulesConfig"),
}


def _classes(name: str) -> tuple[Any, Any]:
    module, cls, cfg = CATALOGUE[name]
    mod = importlib.import_module(module)
    return getattr(mod, cls), getattr(mod, cfg)


def detector_configs(settings: Mapping[str, Any] | None) -> dict[str, DetectorConfig]:
    """Every catalogued detector's frozen config (defaults overridden by ``settings``)."""
    settings = dict(settings or {})
    unknown = set(settings) - set(CATALOGUE)
    if unknown:
        raise ConfigError(f"detectors.{sorted(unknown)[0]}", f"unknown detector (known: {', '.join(CATALOGUE)})")
    out = {}
    for name in CATALOGUE:
        _, cfg_cls = _classes(name)
        values = settings.get(name)
        if hasattr(cfg_cls, "from_mapping"):
            out[name] = cfg_cls.from_mapping(values) if values is not None else cfg_cls.from_mapping(None)
        else:
            out[name] = config_from_mapping(cfg_cls, values, f"detectors.{name}")
    return out


def build_detectors(configs: Mapping[str, DetectorConfig], context: Context,
                    states: Mapping[str, Mapping[str, Any]] | None = None) -> list[Detector]:
    """Instances of the enabled detectors, restored from ``states`` where given."""
    out = []
    for name, config in configs.items():
        if not config.enabled:
            continue
        cls, _ = _classes(name)
        state = (states or {}).get(name)
        out.append(cls.restore(config, state, context) if state is not None else cls(config, context))
    return out
