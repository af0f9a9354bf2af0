"""Contract-shaped event drafts for the simulator (EVENTS.md §1–2).

A ``Draft`` is everything of an event but its id: ``(t, source, region_code, product,
enterprise, body, delay)`` with ``t`` in run seconds and ``delay`` the seconds from
``occurred_at`` to ``reported_at`` (``None``: absent). The simulator sorts drafts by time,
numbers them per source and encodes them; background traffic and incident archetypes build
their drafts with the same ``EventBuilder`` so both look alike on the wire.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline.synthetic_world import CategoryProfile, Clock, Maker, SyntheticWorld, short_name
from pipeline.text_templates import TextMaker

__all__ = ["Draft", "EventBuilder", "viral_reach"]

Draft = tuple[int, str, str, dict[str, Any] | None, dict[str, Any] | None, dict[str, Any], int | None]
JSON = dict[str, Any]
_SEVERITY_ORDER = ("critical", "major", "minor")
_URL = {  # two integers each: an account / section id and a post id
    "weibo": "https://weibo.com/%d/%d",
    "douyin": "https://www.douyin.com/video/%d%d",
    "xiaohongshu": "https://www.xiaohongshu.com/explore/%x%x",
    "wechat": "https://mp.weixin.qq.com/s/%x%x",
    "news": "https://www.thepaper.cn/newsDetail_forward_%d%d",
    "forum": "https://tieba.baidu.com/p/%d%d",
    "other": "https://bbs.example.cn/forum-%d-thread-%d.html",
}


def viral_reach(rng: np.random.Generator, n: int, boost: float = 1.0) -> list[JSON]:
    """``n`` heavy-tailed reach objects (log-normal followers, Pareto-tailed engagement);
    ``boost`` > 1 lifts reposts, comments and likes as in a post going viral."""
    followers = np.minimum(np.exp(rng.normal(6.0, 2.2, n)) * boost ** 0.5, 2e8).astype(np.int64)
    rate = np.exp(rng.normal(-6.0, 1.6, n)) * (1 + rng.pareto(1.5, n)) * boost
    reposts = np.minimum(followers * rate + rng.poisson(boost, n), 5e7).astype(np.int64)
    comments = (reposts * rng.uniform(0.2, 1.5, n)).astype(np.int64)
    likes = (reposts * rng.uniform(1.5, 8.0, n) + rng.poisson(2, n)).astype(np.int64)
    return [{"followers": f, "reposts": rp, "comments": c, "likes": lk}
            for f, rp, c, lk in zip(followers.tolist(), reposts.tolist(), comments.tolist(), likes.tolist(),
                                    strict=True)]


class EventBuilder:
    """Turns chosen facts (time, place, category, maker, outcome) into drafts.

    Parameters: the world, the text maker, the profile's ``shares`` and the run's clock.
    ``r`` arguments are pre-drawn random ints (see ``text_templates.R_WIDTH``). Called by the
    simulator for every background event and by the incident archetypes.
    """

    def __init__(self, world: SyntheticWorld, texts: TextMaker, shares: dict[str, Any], clock: Clock) -> None:
        self.world, self.texts, self.clock = world, texts, clock
        self.p_complainant = float(shares["complainant"])
        sev = shares["failed_severity"]
        self._sev_weight = {k: float(sev.get(k, 0.3)) for k in _SEVERITY_ORDER}
        self._sites = ("sina", "sohu", "ifeng", "thepaper", "163", "qq")

    # -- shared pieces -------------------------------------------------------------------
    def product(self, cat: CategoryProfile, x: int, brand: str | None = None, batch: str | None = None) -> JSON:
        p: JSON = {"category": cat.code, "name": cat.products[x % len(cat.products)]}
        if brand:
            p["brand"] = brand
        if batch:
            p["batch"] = batch
        return p

    @staticmethod
    def enterprise(maker: Maker | tuple[str, str] | None, with_name: bool = True) -> JSON | None:
        if maker is None:
            return None
        uscc, name = (maker.uscc, maker.name) if isinstance(maker, Maker) else maker
        return {"uscc": uscc, "name": name} if with_name else {"uscc": uscc}

    def failed_items(self, cat: CategoryProfile, x: int, n: int = 1, worst: str | None = None) -> list[JSON]:
        """``n`` distinct failing test items of ``cat``, chosen by severity weight; ``worst``
        restricts them to that severity or milder when the category has such items."""
        items = list(cat.failed_items)
        if worst is not None:
            allowed = _SEVERITY_ORDER[_SEVERITY_ORDER.index(worst):]
            first = [i for i in items if i[4] == worst] or [i for i in items if i[4] in allowed] or items
            items = first + [i for i in items if i not in first and i[4] in allowed]
        else:
            w = [self._sev_weight.get(i[4], 0.3) for i in items]
            acc, u = 0.0, (x % 10007) / 10007 * sum(w)
            for k, wk in enumerate(w):
                acc += wk
                if u < acc:
                    items = items[k:] + items[:k]
                    break
        out = []
        for k, (item, std, limit, measured, sev) in enumerate(items[:max(1, n)]):
            d: JSON = {"item": item, "severity": sev}
            if std:
                d["standard"] = std
            d["measured"] = measured[(x >> (3 + k)) % len(measured)]
            d["limit"] = limit
            out.append(d)
        return out

    def _delay(self, x: int, base: int, spread: int, absent: float) -> int | None:
        if (x % 1000) < absent * 1000:
            return None
        return base + (x >> 10) % spread

    # -- sources -------------------------------------------------------------------------
    def complaint(self, t: int, r: Sequence[int], leaf: str, cat: CategoryProfile, issue: str, channel: str,
                  injury: str = "none", *, region: str | None = None, maker: Maker | None = None,
                  brand: str | None = None, text: str | None = None, person: JSON | None = None,
                  amount: float | None = None, with_person: bool | None = None,
                  product_index: int | None = None) -> Draft:
        """A complaint by someone living in ``leaf``, reported under ``region`` (default ``leaf``);
        ``product_index`` picks the product name a given ``text`` talks about."""
        if brand is None and maker is not None:
            brand = maker.brands[r[0] % len(maker.brands)]
        prod = self.product(cat, r[1] >> 4 if product_index is None else product_index, brand)
        if text is None:
            text = self.texts.complaint_text(cat.problems, issue, injury, prod["name"], brand, leaf, r, cat.injuries)
        body: JSON = {"channel": channel, "issue": issue}
        if injury != "none":
            body["injury"] = injury
        body["text"] = text
        if amount is None and (r[12] % 10) < 7:
            amount = round(cat.price * (0.3 + (r[12] >> 4) % 1000 / 400), 1)
        if amount is not None:
            body["amount_cny"] = amount
        if person is None and (with_person if with_person is not None else (r[13] % 1000) < self.p_complainant * 1000):
            person = self.texts.person(r[13] >> 10, r[14], r[15], leaf)
        if person is not None:
            body["complainant"] = person
        delay = self._delay(r[15] >> 8, 20, 7200 if channel == "hotline_12315" else 600, 0.1)
        return (t, "complaint", region or leaf, prod, self.enterprise(maker), body, delay)

    def sampling(self, t: int, r: Sequence[int], region: str, cat: CategoryProfile,
                 firm: Maker | tuple[str, str], failed: list[JSON] | None, level: str,
                 task: str | None = None, batch: str | None = None) -> Draft:
        """A sampling result for ``firm``'s product: ``failed`` items (``None`` or empty: pass)."""
        year = self.clock.ymd(t)[:4]
        prov = self.world.regions.province(region)
        if task is None:
            scope = {"national": "GJ", "provincial": prov[:2], "municipal": region[:4], "county": region}[level]
            task = f"{year}-{scope}-{cat.code.upper()}"
        brand = firm.brands[r[0] % len(firm.brands)] if isinstance(firm, Maker) else None
        prod = self.product(cat, r[1], brand, batch or f"{year}{1 + r[2] % 12:02d}{1 + (r[2] >> 4) % 28:02d}")
        body: JSON = {"task_id": task[:64], "level": level, "sample_id": f"SP{self.clock.ymd(t)}{r[3] % 10**7:07d}",
                      "result": "fail" if failed else "pass"}
        if failed:
            body["failed_items"] = failed
        if level == "national":
            body["lab"] = f"国家{cat.name_zh}质量检验检测中心"
        else:
            body["lab"] = f"{self.world.regions.name(prov)}产品质量监督检验研究院"
        delay = self._delay(r[4], 3600, 3 * 86400, 0.2)
        return (t, "sampling", region, prod, self.enterprise(firm, with_name=(r[5] % 4) > 0), body, delay)

    def enforcement(self, t: int, r: Sequence[int], county: str, cat: CategoryProfile,
                    party: Maker | tuple[str, str], violation: str, status: str,
                    goods_value: float | None = None, brand: str | None = None) -> Draft:
        """A case opened or closed by ``county``'s bureau against ``party``."""
        year = self.clock.ymd(t)[:4]
        case_id = f"{short_name(self.world.regions.name(county))}市监处罚〔{year}〕{1 + r[0] % 2000}号"
        if goods_value is None:
            goods_value = float(round(cat.price * (1 + r[1] % 200), -1))
        body: JSON = {"case_id": case_id, "violation": violation, "status": status, "goods_value_cny": goods_value}
        if status == "closed":
            body["penalty_cny"] = float(round(goods_value * (1 + r[2] % 5), -2))
        prod = self.product(cat, r[3], brand)
        delay = self._delay(r[4], 600, 2 * 86400, 0.3)
        return (t, "enforcement", county, prod, self.enterprise(party), body, delay)

    def opinion(self, t: int, r: Sequence[int], region: str, platform: str, text: str, *,
                title: str | None = None, product: JSON | None = None, reach: JSON | None = None,
                sentiment: float | None = None) -> Draft:
        """A post on ``platform`` located to ``region``; URL present nine times in ten,
        ``reported_at`` (crawl time) eight times in ten."""
        x = r[0]
        body: JSON = {"platform": platform}
        if x % 10 < 9:
            body["url"] = _URL[platform] % (1_000_000 + (x >> 8) % 9_000_000, (x >> 32) % 1_000_000_000)
        if title:
            body["title"] = title
        body["text"] = text
        if reach is not None:
            body["reach"] = reach
        if sentiment is not None:
            body["sentiment"] = sentiment
        y = r[4]
        return (t, "opinion", region, product, None, body, None if y % 10 < 2 else 30 + (y >> 10) % 1800)
