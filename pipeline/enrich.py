"""The enrich stage: a validated ``Record`` becomes one or more detector ``Observation``s.

Adds the region chain (county → city → province) and, for opinion posts, what the text
says: categories, brands, enterprises, risk terms, hazard and sentiment from one pass of
the lexicon's Aho-Corasick automaton. A post that names no product gets one observation
per inferred category (weight: the best one's confidence; a further one's only as far as
the best may be wrong), or one without category when none is found (it may still name an
enterprise or brand).
"""

from __future__ import annotations

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
        return [Observation(ev.event_id, src, record.ts, ev.region_code, chain, cat, conf,
                            *_named(lex, facts, cat, uscc, brand), injury=injury, reach=reach,
                            sentiment=sentiment, hazard=facts.hazard, risk_terms=facts.risk_terms)
                for cat, conf in cats]


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
