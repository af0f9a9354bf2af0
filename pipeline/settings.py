"""Typed, frozen settings: ``config/riskwatch.yaml`` (or a file given on the command line),
overridden by ``RISKWATCH_<SECTION>_<KEY>`` environment variables. Only the entry point
(``pipeline.cli``) calls ``Settings.load``; everything else receives what it needs.
Secrets (the salt, passwords in URLs) never appear in ``repr``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from config import DIR
from schemas.errors import ConfigError

__all__ = ["PrivacySettings", "Settings", "StorageSettings"]


@dataclass(frozen=True)
class PrivacySettings:
    salt: str = field(default="riskwatch-dev-salt", repr=False)


@dataclass(frozen=True)
class StorageSettings:
    clickhouse_url: str = field(default="", repr=False)
    data_dir: str = "./data"


@dataclass(frozen=True)
class Settings:
    """All settings. ``detectors`` is the raw detector section, validated by the detector registry."""

    privacy: PrivacySettings = PrivacySettings()
    storage: StorageSettings = StorageSettings()
    detectors: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``path`` (default: the shipped file), apply environment overrides.
        Raises ``ConfigError`` naming the key on an unreadable file or unknown key."""
        path = path or DIR / "riskwatch.yaml"
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(str(path), f"cannot read configuration: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(str(path), "top level must be a mapping")
        env = os.environ if env is None else env
        sections: dict[str, Any] = {}
        for name, kind in (("privacy", PrivacySettings), ("storage", StorageSettings)):
            raw = dict(data.get(name) or {})
            known = {f.name for f in fields(kind)}
            unknown = set(raw) - known
            if unknown:
                raise ConfigError(f"{name}.{sorted(unknown)[0]}", "unknown setting")
            for key in known:
                var = f"RISKWATCH_{name}_{key}".upper()
                if var in env:
                    raw[key] = env[var]
            sections[name] = kind(**{k: str(v) for k, v in raw.items()})
        detectors = data.get("detectors") or {}
        if not isinstance(detectors, dict):
            raise ConfigError("detectors", "must be a mapping of detector name to settings")
        return cls(detectors=detectors, **sections)
