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
                   detector_configs(settings.detectors))

    def engine(self, state: dict[str, Any] | None = None) -> Engine:
        """A fresh engine (or one restored from ``Engine.snapshot()`` output)."""
        return Engine(self.configs, self.context, self.enricher, state)
