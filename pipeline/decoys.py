"""Decoys: simulated patterns that look alarming but must NOT become warnings.

- ``professional_claimant``: one 职业索赔人 (a single complainant identity) filing dozens
  of 退一赔十 complaints about food labels in one county within days; a surge detector
  that does not recognise repeat complainants fires on it.
- ``viral_praise``: a brand's post going viral with positive sentiment; reach alone is not risk.
- ``Calendar``: the background's calendar effects, which are decoys too: the nation-wide
  complaint surge around 3·15 (国际消费者权益日) in every category, and the after-sales
  complaints in the week after 双十一 (11-11).

Decoys are labelled with ``decoy: true``, ``detectors: []`` and severity ``"blue"`` (the
lowest level, which an evaluator should read as "no warning expected"), and with the
``sources`` they are made of: a calendar effect raises only complaint and post volumes.
"""

from __future__ import annotations

from typing import Any

from pipeline.event_builder import Draft
from pipeline.incidents import FIRST_DAY, Incident, IncidentContext
from pipeline.synthetic_world import Clock
from pipeline.text_templates import resident_id

__all__ = ["Calendar", "plan_decoys", "professional_claimant", "viral_praise"]

_DAY = 86400


class Calendar:
    """Day-of-year multipliers of background volume from the profile's ``calendar`` section.

    ``multiplier(source, mmdd)`` scales a source's volume on that date (3·15);
    ``after_sales(mmdd)`` is the extra after-sales complaint volume, as a multiple of the
    day's normal complaint volume in ``groups`` (after 双十一). Called once per simulated hour.
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        crd = spec.get("consumer_rights_day", {})
        self._mult = {src: {str(k): float(v) for k, v in crd.get(src, {}).items()} for src in ("complaint", "opinion")}
        self._after = {str(k): float(v) for k, v in spec.get("double_eleven_after_sales", {}).items()}
        self.groups = tuple(spec.get("double_eleven_groups", ("consumer",)))

    def multiplier(self, source: str, mmdd: str) -> float:
        return self._mult.get(source, {}).get(mmdd, 1.0)

    def after_sales(self, mmdd: str) -> float:
        return self._after.get(mmdd, 0.0)

    def decoys(self, clock: Clock, days: int, nation: list[str]) -> list[Incident]:
        """The calendar surges the run covers: 3·15 when 03-15 is inside the run, the
        after-双十一 week when any of its days is; windows clipped to the run. Their scope is
        ``nation``, the list of province codes (a nation-wide pattern)."""
        out: list[Incident] = []
        first, last = clock.date(0), clock.date(days * _DAY - 1)
        for year in range(first.year, last.year + 1):
            for kind, dates, peak, sources in (
                    ("consumer_rights_day", self._mult["complaint"], "03-15",
                     tuple(src for src, mult in self._mult.items() if mult)),
                    ("double_eleven_after_sales", self._after, None, ("complaint",))):
                if not dates:
                    continue
                days_of = sorted(clock.day_of(clock.date(0).replace(year=year, month=int(m[:2]), day=int(m[3:])))
                                 for m in dates)
                if peak is not None:  # 3·15 itself must be (partly) inside the run
                    p = clock.day_of(clock.date(0).replace(year=year, month=int(peak[:2]), day=int(peak[3:])))
                    if not -1 < p < days:
                        continue
                start = max(0, int(days_of[0] * _DAY))
                end = min(days * _DAY - 1, int((days_of[-1] + 1) * _DAY) - 1)
                if start > end:
                    continue
                out.append(Incident(kind, "blue", None, list(nation), None, [], [], decoy=True, window=(start, end),
                                    sources=sources))
        return out


def professional_claimant(ctx: IncidentContext, d0: int) -> Incident:
    """One claimant filing dozens of 退一赔十 complaints against shops in one county."""
    cat = ctx.category(("dairy", "cold_chain_food", "cold_chain_food", "dairy"))
    county = ctx.leaf()
    texts = ctx.b.texts
    r = ctx.r()
    person = texts.person(r[0], r[1], 0, county)
    person["id_number"] = resident_id(county, r[2])
    shops = [ctx.world.firm(county, ctx.int(0, 10**6), "shop") for _ in range(ctx.int(4, 12))]
    d: list[Draft] = []
    for day, k in ctx.daily(ctx.int(24, 60), d0, ctx.int(2, 4), "flat"):
        for _ in range(k):
            shop, k = ctx.pick(shops), ctx.int(0, len(cat.products) - 1)
            text = ctx.text("claimant", shop=shop[1], product=cat.products[k],
                            problem=ctx.pick(ctx.texts["claimant_problems"]))
            issue = ctx.pick(("labeling", "labeling", "labeling", "false_advertising", "false_advertising", "quality"))
            channel = ctx.pick(("web", "app", "hotline_12315"))
            d.append(ctx.b.complaint(ctx.when(day, "complaint"), ctx.r(), county, cat, issue, channel,
                                     maker=None, text=text, person=dict(person),
                                     amount=float(ctx.int(10, 300)), product_index=k))
            if ctx.u() < 0.7:  # the shop is named as the enterprise
                t, src, region, product, _, body, delay = d[-1]
                d[-1] = (t, src, region, product, ctx.b.enterprise(shop), body, delay)
    return Incident("professional_claimant", "blue", cat.code, [county], None, [], d, decoy=True)


def viral_praise(ctx: IncidentContext, d0: int) -> Incident:
    """A brand's post going viral with praise, echoed by a few hundred positive posts."""
    cat = ctx.category(("mobile_terminal", "cosmetics", "kitchen_appliance", "wearable", "clothing", "e_bike"))
    m = ctx.maker(cat)
    city = ctx.city(m.county)
    d = ctx.posts([(d0, 1)], ctx.texts["positive_posts"], lambda: city, cat, m.brands[0], 3000.0, (0.7, 0.95))
    d += ctx.posts(ctx.daily(ctx.int(50, 250), d0, 2), ctx.texts["positive_posts"], ctx.leaf, cat, m.brands[0],
                   5.0, (0.4, 0.95))
    return Incident("viral_praise", "blue", cat.code, [city], m.uscc, [], d, decoy=True)


def plan_decoys(ctx: IncidentContext) -> list[Incident]:
    """One professional claimant and one viral praise per ~40 days after ``FIRST_DAY``."""
    window = ctx.days - FIRST_DAY
    out: list[Incident] = []
    if window < 4:
        return out
    for _ in range(max(1, round(window / 39))):
        out.append(professional_claimant(ctx, ctx.int(FIRST_DAY, ctx.days - 4)))
        out.append(viral_praise(ctx, ctx.int(FIRST_DAY, ctx.days - 2)))
    return out

