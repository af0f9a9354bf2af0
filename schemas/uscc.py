"""Unified social credit codes (统一社会信用代码, GB 32100-2015).

18 characters: registration authority (1), organisation type (1), registering region
code (6), organisation code (9), check character (1). The alphabet is the 31 characters
``0-9 A-H J-N P-R T U W-Y`` (no I, O, S, V, Z); character values are their index.
The check character is ``31 - (Σ value_i · 3^i mod 31) mod 31`` over i = 0..16, with 31 → ``0``.

>>> check_character("91420106314159268")
'4'
>>> uscc_problem("914201063141592680")
('checksum', "check character is '0', expected '4'")
>>> uscc_problem("91330106271828184K") is None
True
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["ALPHABET", "check_character", "uscc_problem", "make_uscc"]

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_WEIGHTS = [pow(3, i, 31) for i in range(17)]
_SHAPE = re.compile(r"[0-9A-HJ-NPQRTUW-Y]{18}")


def check_character(first17: str) -> str:
    """The check character for the first 17 characters (which must be in ``ALPHABET``)."""
    total = sum(_VALUE[c] * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


@lru_cache(maxsize=65536)
def uscc_problem(code: str) -> tuple[str, str] | None:
    """``None`` when ``code`` is a well-formed USCC, else ``(error_code, message)``.

    Cached: a feed names the same few thousand enterprises over and over.
    """
    if len(code) != 18:
        return "length", f"must be 18 characters, got {len(code)}"
    bad = [] if _SHAPE.fullmatch(code) else sorted({c for c in code if c not in _VALUE})
    if bad:
        return "format", f"characters {''.join(bad)!r} are outside 0-9 A-H J-N P-R T U W-Y"
    if not code[2:8].isdigit():
        return "format", f"positions 3-8 must be a region code, got {code[2:8]!r}"
    expected = check_character(code[:17])
    if code[17] != expected:
        return "checksum", f"check character is {code[17]!r}, expected {expected!r}"
    return None


def make_uscc(region_code: str, serial: str, authority: str = "9", kind: str = "1") -> str:
    """A valid USCC for ``region_code`` (6 digits) and a 9-character ``serial``; for simulators and tests."""
    body = f"{authority}{kind}{region_code}{serial}"
    return body + check_character(body)
