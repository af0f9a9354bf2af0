"""Brands and enterprises learned from the structured feeds, so opinion text can name them.

Posts rarely carry a ``product`` or ``enterprise`` object; they say "爱顺电池又起火了". The
shipped dictionaries know categories, risk terms and sentiment words, not the hundreds of
thousands of brands on the market. Complaints, samples and cases do name them, with their
category and maker's USCC. ``EntityRegistry`` counts those pairings and, once a day (event
time), hands the enrichment a lexicon that also knows every brand seen at least
``min_mentions`` times — mapped to its most frequent category, and to its maker when one
USCC accounts for ``min_share`` of the brand's mentions — and every enterprise's registered
name. A post naming such a brand then counts for that category and enterprise.

Deterministic: the lexicon changes only at the first record of a new day, from what was
learned before that day, so a replay in event-time order always reads each post with the
same lexicon. State (counts and the lexicon's entities) is part of the engine snapshot;
bounded by ``max_names`` (the least-mentioned names are forgotten first).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors.base import day_index
from detectors.lexicon import Lexicon
from schemas.event import Record

__all__ = ["EntityRegistry"]

LAYOUT = 1
# What complaint forms put in the brand field when there is none: never a brand to look for
_NOT_BRANDS = frozenset({"无", "没有", "其他", "其它", "不详", "未知", "不清楚", "无品牌", "无牌", "杂牌", "三无",
                         "散装", "自制", "白牌", "贴牌", "null", "none", "n/a", "unknown"})


class EntityRegistry:
    """Learns ``brand → {category: n}``, ``brand → {uscc: n}`` and ``enterprise name → {uscc: n}``
    from structured events; ``lexicon(ts)`` is the lexicon to read a post at ``ts`` with.
    Owned by one engine (``pipeline.engine.Engine``), which calls ``learn`` for every valid
    record and ``lexicon`` before enriching it."""

    def __init__(self, base: Lexicon, state: Mapping[str, Any] | None = None, *, min_mentions: int = 3,
                 min_share: float = 0.8, max_names: int = 200_000) -> None:
        self.base, self.min_mentions, self.min_share, self.max_names = base, min_mentions, min_share, max_names
        self.brands: dict[str, list[dict[str, int]]] = {}  # brand → [{category: n}, {uscc: n}]
        self.names: dict[str, dict[str, int]] = {}  # enterprise name → {uscc: n}
        self.day = -1
        self.active: tuple[dict[str, str], dict[str, str]] = ({}, {})  # the current lexicon's entities
        self.current = base
        if state:
            self.brands = {b: [dict(c), dict(u)] for b, (c, u) in state["brands"].items()}
            self.names = {n: dict(u) for n, u in state["names"].items()}
            self.day = int(state["day"])
            self.active = (dict(state["active"][0]), dict(state["active"][1]))
            if any(self.active):
                self.current = base.with_entities(*self.active)

    def learn(self, record: Record) -> None:
        """Count the record's brand / enterprise pairings (opinion posts teach nothing: their
        structured fields are rare and their text is what is being read)."""
        ev = record.event
        if ev.source == "opinion":
            return
        uscc = ev.enterprise.uscc if ev.enterprise is not None else ""
        product = ev.product
        brand = product.brand.strip() if product is not None and product.brand else ""
        if brand and 2 <= len(brand) <= 32 and brand.lower() not in _NOT_BRANDS:
            entry = self.brands.get(brand)
            if entry is None:
                entry = self.brands[brand] = [{}, {}]
            cats = entry[0]
            cats[product.category] = cats.get(product.category, 0) + 1
            if uscc:
                entry[1][uscc] = entry[1].get(uscc, 0) + 1
        name = ev.enterprise.name.strip() if ev.enterprise is not None and ev.enterprise.name else ""
        if uscc and 4 <= len(name) <= 64:
            makers = self.names.get(name)
            if makers is None:
                makers = self.names[name] = {}
            makers[uscc] = makers.get(uscc, 0) + 1

    def lexicon(self, ts: float) -> Lexicon:
        """The lexicon for a post at event time ``ts``: rebuilt on the first call of a new day
        when the learned entities changed."""
        day = day_index(ts)
        if day > self.day:
            self.day = day
            self._trim()
            active = self._qualified()
            if active != self.active:
                self.active = active
                self.current = self.base.with_entities(*active) if any(active) else self.base
        return self.current

    def _qualified(self) -> tuple[dict[str, str], dict[str, str]]:
        brands, enterprises = {}, {}
        for brand, (cats, makers) in self.brands.items():
            n = sum(cats.values())
            if n < self.min_mentions:
                continue
            brands[brand] = min(cats, key=lambda c: (-cats[c], c))
            uscc = _dominant(makers, self.min_mentions, self.min_share)
            if uscc:
                enterprises[brand] = uscc
        for name, makers in self.names.items():
            uscc = _dominant(makers, self.min_mentions, self.min_share)
            if uscc and name not in enterprises:
                enterprises[name] = uscc
        return dict(sorted(brands.items())), dict(sorted(enterprises.items()))

    def _trim(self) -> None:
        """Forget the least-mentioned names beyond ``max_names`` (ties: by name)."""
        for table, count in ((self.brands, lambda e: sum(e[0].values())), (self.names, lambda e: sum(e.values()))):
            if len(table) > self.max_names:
                keep = sorted(table, key=lambda k: (-count(table[k]), k))[: self.max_names]
                kept = {k: table[k] for k in keep}
                table.clear()
                table.update(kept)

    def snapshot(self) -> dict[str, Any]:
        return {"layout": LAYOUT, "day": self.day, "active": [self.active[0], self.active[1]],
                "brands": {b: [dict(sorted(c.items())), dict(sorted(u.items()))] for b, (c, u) in sorted(self.brands.items())},
                "names": {n: dict(sorted(u.items())) for n, u in sorted(self.names.items())}}


def _dominant(counts: Mapping[str, int], least: int, share: float) -> str:
    """The key holding at least ``share`` of ``counts`` and ``least`` of them, else ``""``."""
    if not counts:
        return ""
    best = min(counts, key=lambda k: (-counts[k], k))
    total = sum(counts.values())
    return best if counts[best] >= least and counts[best] >= share * total else ""
