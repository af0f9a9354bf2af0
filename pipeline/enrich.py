"""The enrich stage: a validated ``Record`` becomes one or more detector ``Observation``s.

Adds the region chain (county → city → province) and, for opinion posts, what the text
says: categories, brands, enterprises, risk terms, hazard and sentiment from one pass of
the lexicon's Aho-Corasick automaton. A post that names no product gets one observation
per inferred category (weight: the best one's confidence; a further one's only as far as
the best may be wrong), or one without category when none is found (it may still name an
enterprise or brand). A brand that is also the name of the post's place or of a county of its
city (安宁, a brand and 安宁市) is read as the place: "安宁一小区电池起火" from 昆明 is about
no 安宁 product.
"""

from __future__ import annotations

from msgspec.structs import replace

from detectors.base import Observation
from detectors.lexicon import Lexicon, TextFacts
from schemas.event import Record
from schemas.regions import RegionTable

__all__ = ["Enricher"]

_LEAST = 0.2  # least weight of a post's further category (the lexicon's own least confidence)


class Enricher:
    """Pure and deterministic; called once per valid record by every runtime."""

    def __init__(self, regions: RegionTable, lexicon: Lexicon) -> None:
        self.regions, self.lexicon = regions, lexicon
        self._chains = regions.chains  # code → chain: ``RegionTable.chain`` without the call
        self._places: dict[str, tuple[str, ...]] = {}  # code → the names ``_unplaced`` checks (cache)

    def observe(self, record: Record, lexicon: Lexicon | None = None) -> list[Observation]:
        """The record's observations; ``lexicon`` reads opinion text (default: the shipped one;
        the engine passes the one that also knows learned brands, ``pipeline.entities``)."""
        ev = record.event
        src = ev.source
        chain = self._chains.get(ev.region_code, ())
        product, enterprise = ev.product, ev.enterprise
        category, brand = (product.category, product.brand or "") if product is not None else ("", "")
        uscc = enterprise.uscc if enterprise is not None else ""
        if src == "complaint":
            c = ev.complaint
            return [Observation(ev.event_id, src, record.ts, ev.region_code, chain, category, 1.0, uscc, brand,
                                record.complainant or "", c.issue, c.injury)]
        if src == "sampling":
            s = ev.sampling
            crit, major, minor = s.severity_counts()
            return [Observation(ev.event_id, src, record.ts, ev.region_code, chain, category, 1.0, uscc, brand,
                                failed=s.result == "fail", critical=crit, major=major, minor=minor)]
        if src == "enforcement":
            return [Observation(ev.event_id, src, record.ts, ev.region_code, chain, category, 1.0, uscc, brand,
                                violation=ev.enforcement.violation)]
        o = ev.opinion
        lex = lexicon or self.lexicon
        facts = lex.analyze(o.text, o.title or "")
        r = o.reach
        reach = 0.0 if r is None else float((r.followers or 0) + 10 * (r.reposts or 0) + (r.comments or 0)
                                            + (r.likes or 0))
        sentiment = o.sentiment if o.sentiment is not None else facts.sentiment
        injury = "reported" if facts.injury else ""
        cats = ((category, 1.0),) if category else (_competing(facts.categories) or (("", 1.0),))
        if facts.brands and not (uscc and brand):
            facts = self._unplaced(facts, lex, ev.region_code, chain)
        return [Observation(ev.event_id, src, record.ts, ev.region_code, chain, cat, conf,
                            *_named(lex, facts, cat, uscc, brand), injury=injury, reach=reach,
                            sentiment=sentiment, hazard=facts.hazard, risk_terms=facts.risk_terms)
                for cat, conf in cats]

    def _unplaced(self, facts: TextFacts, lexicon: Lexicon, code: str, chain: tuple[str, ...]) -> TextFacts:
        """``facts`` without the brands that begin the name of the post's place: its county, city
        or province, or a county of its city (and without those brands' makers, which the
        lexicon found through them)."""
        places = self._places.get(code)
        if places is None:
            near = set(chain) | {k for c in chain[:-1] for k in self.regions.children(c)}
            places = self._places[code] = tuple(sorted(self.regions.name(c) for c in near))
        placed = [b for b in facts.brands if any(n.startswith(b) for n in places)]
        if not placed:
            return facts
        makers = {lexicon.brand(b)[1] for b in placed}
        return replace(facts, brands=tuple(b for b in facts.brands if b not in placed),
                       enterprises=tuple(e for e in facts.enterprises if e not in makers))


def _named(lexicon: Lexicon, facts: TextFacts, category: str, uscc: str, brand: str) -> tuple[str, str]:
    """The maker and brand a post is about for ``category``: its own fields first; else, when
    the text names several brands, the first one learned for that category — "安宁智驰电芯自燃"
    from 安宁市 is about the 智驰 battery, not the 安宁 watch brand — with that brand's maker;
    else the first brand and maker named."""
    if uscc and brand:
        return uscc, brand
    if len(facts.brands) > 1:
        for name in facts.brands:
            code, maker = lexicon.brand(name)
            if code == category:
                return uscc or maker, brand or name
    return (uscc or (facts.enterprises[0] if facts.enterprises else ""),
            brand or (facts.brands[0] if facts.brands else ""))


def _competing(categories: tuple[tuple[str, float], ...]) -> tuple[tuple[str, float], ...]:
    """A post is about one product: a further category counts only as far as the best one may
    be wrong (weight × (1 − best confidence)), and not at all below ``_LEAST`` — "电线一碰就漏电"
    in a post about a hair curler is its cord, not a wiring product."""
    if len(categories) < 2:
        return categories
    doubt = 1.0 - categories[0][1]
    return (categories[0], *((code, w * doubt) for code, w in categories[1:] if w * doubt >= _LEAST))
