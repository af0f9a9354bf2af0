"""The product catalogue (``config/product_categories.csv``, copied from the contract).

>>> c = Catalogue.load()
>>> c["mask"].name_zh, c["mask"].safety_critical, c["toy"].vulnerable_group
('口罩', True, True)
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import ReferenceDataError

__all__ = ["Catalogue", "Category"]


@dataclass(frozen=True, slots=True)
class Category:
    """One product category: ``code``, names, ``group`` and the two risk raisers of DESIGN §3."""

    code: str
    name_zh: str
    name_en: str
    group: str
    vulnerable_group: bool
    safety_critical: bool


@dataclass(frozen=True)
class Catalogue:
    """Categories by code, in file order."""

    categories: dict[str, Category]

    @classmethod
    def load(cls, path: Path | None = None) -> Catalogue:
        """Read the catalogue; raises ``ReferenceDataError`` when missing or malformed."""
        if path is None:
            from config import DIR

            path = DIR / "product_categories.csv"
        truth = {"true": True, "false": False}
        try:
            with path.open(encoding="utf-8", newline="") as f:
                cats = {
                    r["code"]: Category(r["code"], r["name_zh"], r["name_en"], r["group"],
                                        truth[r["vulnerable_group"].strip().lower()],
                                        truth[r["safety_critical"].strip().lower()])
                    for r in csv.DictReader(f)
                }
        except (OSError, KeyError) as exc:
            raise ReferenceDataError(str(path), f"cannot read product catalogue: {exc}") from exc
        if not cats:
            raise ReferenceDataError(str(path), "product catalogue is empty")
        return cls(cats)

    def __contains__(self, code: object) -> bool:
        return code in self.categories

    def __getitem__(self, code: str) -> Category:
        return self.categories[code]

    def __iter__(self) -> Iterator[Category]:
        return iter(self.categories.values())

    def __len__(self) -> int:
        return len(self.categories)

    def get(self, code: str) -> Category | None:
        return self.categories.get(code)
