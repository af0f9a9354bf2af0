"""Assembly: settings → the validator, detection context, enricher and engine every runtime uses.

The only place that turns configuration into objects; runtimes receive what it builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from detectors.base import Context
from detectors.grading import Grading
from detectors.lexicon import Lexicon
from detectors.registry import detector_configs
from pipeline.engine import Engine
from pipeline.enrich import Enricher
from pipeline.settings import Settings
from schemas.categories import Catalogue
from schemas.privacy import Privacy
from schemas.regions import RegionTable
from schemas.validator import Validator

__all__ = ["Components"]


def _with_model_file(detectors: Any) -> dict[str, Any]:
    """``cross_source.model_file: PATH`` (a ``riskwatch train`` artifact) → the ``model`` text it
    stands for, so the artifact's content — and so its version — enters the config hash."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in dict(detectors or {}).items()}
    cs = out.get("cross_source")
    if isinstance(cs, dict) and "model_file" in cs:
        from pathlib import Path

        from detectors.anomaly_model import AnomalyModel

        cs["model"] = AnomalyModel.from_bytes(Path(cs.pop("model_file")).read_bytes()).to_text()
    return out


@dataclass
class Components:
    """Everything a runtime needs, built once from ``Settings``."""

    settings: Settings
    regions: RegionTable
    catalogue: Catalogue
    validator: Validator
    context: Context
    enricher: Enricher
    configs: dict[str, Any]

    @classmethod
    def build(cls, settings: Settings) -> Components:
        regions, catalogue = RegionTable.load(), Catalogue.load()
        validator = Validator(regions, catalogue, Privacy(settings.privacy.salt.encode()))
        context = Context(regions, catalogue, Grading())
        lexicon = Lexicon.load(catalogue=catalogue)
        return cls(settings, regions, catalogue, validator, context, Enricher(regions, lexicon),
                   detector_configs(_with_model_file(settings.detectors)))

    def engine(self, state: dict[str, Any] | None = None) -> Engine:
        """A fresh engine (or one restored from ``Engine.snapshot()`` output)."""
        return Engine(self.configs, self.context, self.enricher, state)
