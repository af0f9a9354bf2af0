"""Reading event files line by line, safely: any bytes, any line length, positions kept.

Lines are numbered from 1. A line longer than ``cap`` bytes is cut: its head is kept (for
the dead letter) and the size of the dropped tail reported, so a 1 GB line costs 16 MiB of
memory, not 1 GB. A trailing ``\\r`` (Windows line ends) is removed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from schemas.dead_letter import DeadLetter
from schemas.event import Position, Record
from schemas.validator import Validator

__all__ = ["read_lines", "validate_file"]

CAP = 16 << 20
_CHUNK = 1 << 20


def read_lines(stream: BinaryIO, cap: int = CAP) -> Iterator[tuple[int, bytes, int]]:
    """Yield ``(line_number, head, dropped_bytes)`` for every line, the last one included
    even without a final newline. A lone empty last line (after the final newline) is not a line."""
    number = 0
    while True:
        head = stream.readline(cap + 1)
        if not head:
            return
        number += 1
        dropped = 0
        if len(head) > cap or not head.endswith(b"\n"):
            if len(head) > cap:  # skip the rest of an oversized line, counting it
                dropped = len(head) - cap
                head = head[:cap]
                while True:
                    chunk = stream.readline(_CHUNK)
                    if not chunk:
                        break
                    dropped += len(chunk)
                    if chunk.endswith(b"\n"):
                        dropped -= 1
                        break
        else:
            head = head[:-1]
        if head.endswith(b"\r"):
            head = head[:-1]
        yield number, head, dropped


def validate_file(path: Path, validator: Validator) -> Iterator[Record | DeadLetter]:
    """Validate every line of the JSONL file at ``path``, in file order."""
    name = str(path)
    with path.open("rb") as stream:
        for number, head, dropped in read_lines(stream):
            position = Position(file=name, line=number)
            if dropped:
                yield validator.oversized(head, dropped, position)
            else:
                yield validator.validate(head, position)
