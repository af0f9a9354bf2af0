"""A rejected input as the dead-letter store keeps it (EVENTS.md §3)."""

from __future__ import annotations

import msgspec

from schemas.errors import FieldError
from schemas.event import Position

__all__ = ["DeadLetter"]


class DeadLetter(msgspec.Struct, omit_defaults=True):
    """``raw`` is the input line with personal data masked (undecodable bytes as ``\\xNN``);
    ``errors`` every broken rule; ``position`` where the line came from."""

    raw: str
    errors: list[FieldError]
    position: Position | None = None
    truncated_bytes: int = 0

    @property
    def codes(self) -> list[str]:
        return [e.code for e in self.errors]
