"""Warning contract v1 (``shared/contracts/EVENTS.md`` §4): what every detector emits.

Levels, most severe first: red (I级), orange (II级), yellow (III级), blue (IV级).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

__all__ = ["LEVELS", "LEVEL_RANK", "Alert", "Scope", "level_name"]

LEVELS = ("blue", "yellow", "orange", "red")  # ascending severity
LEVEL_RANK = {name: i + 1 for i, name in enumerate(LEVELS)}  # blue 1 … red 4
_LEVEL_ZH = {"red": "红色(I级)", "orange": "橙色(II级)", "yellow": "黄色(III级)", "blue": "蓝色(IV级)"}


def level_name(level: str) -> str:
    """Chinese display name: ``level_name('red') == '红色(I级)'``."""
    return _LEVEL_ZH[level]


class Scope(msgspec.Struct, omit_defaults=True, frozen=True, forbid_unknown_fields=True):
    """What a warning is about; at least one field is set. A city or province code (or
    ``000000``, national) means the whole area."""

    region_code: str | None = None
    category: str | None = None
    uscc: str | None = None

    def key(self) -> str:
        """A stable text key: ``region|category|uscc`` with empty parts."""
        return f"{self.region_code or ''}|{self.category or ''}|{self.uscc or ''}"


class Alert(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One warning state (``open``, ``escalated`` or ``resolved``) of one episode.

    ``alert_id`` is stable for the episode (detector, scope, episode start), so every state
    change of a warning carries the same id; ``explanation`` holds observed vs expected, the
    statistic, the threshold and the contributing sources.
    """

    schema: Literal["alert/v1"] = "alert/v1"
    alert_id: str
    detector: str
    detector_version: str
    config_hash: str
    level: Literal["red", "orange", "yellow", "blue"]
    score: Annotated[float, Meta(ge=0, le=100)]
    scope: Scope
    window_start: str
    window_end: str
    triggered_at: str
    status: Literal["open", "escalated", "resolved"]
    title: str
    explanation: dict[str, Any]
    evidence_event_ids: Annotated[list[str], Meta(max_length=100)]
