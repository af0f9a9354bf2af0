"""Personal data (个人信息) handling: complainant pseudonyms and masking of free text.

The complainant never leaves validation in clear: it becomes a salted keyed hash
(BLAKE2b keyed with the configured salt), so repeat complainants — a professional
claimant (职业索赔人) filing dozens of complaints — can be recognised without knowing
who they are. Mobile numbers and resident ID numbers (GB 11643) in any free text are
masked, keeping only enough digits for a human to tell two apart.

>>> m = Privacy(b"test-salt")
>>> m.mask_text("联系电话13812345678，身份证110101199003071234")
'联系电话138****5678，身份证110***********1234'
>>> m.mask_text("统一社会信用代码914201063141592684")  # not a birth date in positions 7-14: kept
'统一社会信用代码914201063141592684'
>>> m.pseudonym({"name": "张三", "phone": "138 1234 5678"}) == m.pseudonym({"phone": "13812345678"})
True
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

__all__ = ["Privacy"]

# 11-digit mainland mobile numbers, optionally +86-prefixed or split 3-4-4 by a space or dash.
_MOBILE = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?(1[3-9][0-9])[- ]?([0-9]{4})[- ]?([0-9]{4})(?![0-9])")
# 18-character resident ID numbers: region, a plausible birth date, sequence, check character.
_ID_CARD = re.compile(
    r"(?<![0-9A-Za-z])([1-9][0-9]{2})[0-9]{3}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
    r"([0-9]{3}[0-9Xx])(?![0-9A-Za-z])"
)
_DIGIT_RUN = re.compile(r"[0-9]{4}")
# Keys whose values are personal data wherever they appear in a raw record.
PERSONAL_KEYS = frozenset({"complainant", "phone", "id_number", "mobile", "id_card"})


class Privacy:
    """Masks and pseudonymises personal data. ``salt`` (bytes, ≥ 8 recommended) comes from
    configuration (``privacy.salt`` / ``RISKWATCH_PRIVACY_SALT``); the same salt gives the
    same pseudonyms, which replay relies on. Called by the validator for every event."""

    def __init__(self, salt: bytes) -> None:
        self._key = hashlib.blake2b(salt, digest_size=32).digest()

    @staticmethod
    def mask_text(text: str) -> str:
        """``text`` with mobile and ID-card numbers masked (``138****5678``)."""
        if _DIGIT_RUN.search(text) is None:  # cheap pre-check: most texts hold no long digit run
            return text
        text = _ID_CARD.sub(lambda m: m.group(1) + "*" * 11 + m.group(2)[-4:], text)
        return _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)

    def pseudonym(self, complainant: Any) -> str | None:
        """A 16-hex-digit keyed hash of the strongest identifier present (phone, then ID
        number, then name), normalised so formatting differences map to the same person."""
        get = complainant.get if isinstance(complainant, dict) else lambda k: getattr(complainant, k, None)
        for key in ("phone", "id_number", "name"):
            value = get(key)
            if isinstance(value, str) and value.strip():
                norm = value.replace(" ", "").replace("-", "").upper()
                if key == "phone" and norm.startswith("+86"):
                    norm = norm[3:]
                return hashlib.blake2b(f"{key}:{norm}".encode(), key=self._key, digest_size=8).hexdigest()
        return None

    def mask_value(self, value: Any, key: str = "") -> Any:
        """A JSON value with personal data removed: personal keys become a pseudonym marker,
        strings are masked, containers are walked. Used for dead letters' ``raw``."""
        if key in PERSONAL_KEYS:
            if key == "complainant" and isinstance(value, dict):
                return {"pseudonym": self.pseudonym(value)}
            return "***"
        if isinstance(value, str):
            return self.mask_text(value)
        if isinstance(value, dict):
            return {k: self.mask_value(v, k if isinstance(k, str) else "") for k, v in value.items()}
        if isinstance(value, list):
            return [self.mask_value(v) for v in value]
        return value

    def mask_raw(self, text: str) -> str:
        """Best-effort masking of a line that is not valid JSON: personal keys' values, then numbers."""
        text = re.sub(r'("complainant"\s*:\s*)\{[^{}]*\}?', r'\1"***"', text)
        text = re.sub(r'("(?:phone|id_number|mobile|id_card|name)"\s*:\s*)"(?:[^"\\]|\\.)*"?', r'\1"***"', text)
        return self.mask_text(text)
