"""Feeding observations to a detector as the engine does: in (event time, event id) order,
in micro-batches. Shared by the detector tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from detectors.base import Observation

__all__ = ["feed", "in_order"]


def in_order(*streams: Iterable[Observation]) -> list[Observation]:
    """All observations of ``streams`` in (event time, event id) order."""
    return sorted((o for s in streams for o in s), key=lambda o: (o.ts, o.event_id))


def feed(det: Any, obs: Sequence[Observation], chunk: int = 500) -> list:
    """``det.update`` over ``obs`` in batches of ``chunk``; all signals, in order."""
    out = []
    for i in range(0, len(obs), chunk):
        out += det.update(obs[i:i + chunk])
    return out
