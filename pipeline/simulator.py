"""The event simulator: realistic national feeds of the four sources with labelled incidents.

``Simulator`` produces contract ``event/v1`` JSON lines in event-time order, hour by
simulated hour: background traffic of complaints (~6,000/day at scale 1), opinion posts
(~12,000/day, most of the volume), sampling results (~600/day, mostly on weekdays) and
enforcement cases (~200/day), spread over counties by the 2020 census and over the day and
week by per-source profiles, with the calendar's 3·15 and 双十一 effects
(``config/simulator.yaml`` holds all volumes, weights and texts). On top come the incident
archetypes of ``pipeline.incidents`` and the decoys of ``pipeline.decoys``, whose ground
truth ``labels()`` returns. A share ``invalid_rate`` of background lines is deliberately
malformed the way real feeds are (bad USCC check character, unknown region, timestamp
without offset, truncated JSON, bad enum value…) and must be dead-lettered by the validator.

Same config, same bytes: every draw comes from ``numpy.random.default_rng`` streams spawned
from ``seed`` (world, incidents, background, text pools). The CLI (``riskwatch simulate``) calls
``write_simulation``; the live demo calls ``stream_simulation``.

>>> sim = Simulator(SimulationConfig(days=1, scale=0.01, seed=3), RegionTable.load(), Catalogue.load())
>>> first = orjson.loads(next(iter(sim.events())))
>>> first["schema"], first["occurred_at"][:11]
('event/v1', '2025-02-01T')
"""

from __future__ import annotations

import math
import time
from numbers import Integral
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from pipeline.decoys import Calendar, plan_decoys
from pipeline.event_builder import Draft, EventBuilder, viral_reach
from pipeline.incidents import ARCHETYPES, Incident, IncidentContext, plan_incidents
from pipeline.synthetic_world import CST, SOURCES, Clock, SyntheticWorld, load_profile, short_name
from pipeline.text_templates import BRAND, CITY, R_WIDTH, TextMaker, TextPool
from schemas.categories import Catalogue
from schemas.errors import ConfigError
from schemas.regions import RegionTable
from schemas.uscc import ALPHABET

__all__ = ["CST", "MALFORMATIONS", "SimulationConfig", "Simulator", "malform", "stream_simulation",
           "write_simulation"]

_ID_PREFIX = {"complaint": "cmp", "sampling": "smp", "enforcement": "enf"}
_TONES = ("offtopic", "negative", "positive", "neutral")
# Realistic feed errors, each of which the contract rejects (EVENTS.md §3).
MALFORMATIONS = ("checksum", "unknown_region", "missing_offset", "truncated", "bad_enum",
                 "unknown_category", "bad_value", "reported_before")
_BAD_ENUM = {"complaint": ("channel", "12315热线"), "sampling": ("result", "不合格"),
             "enforcement": ("status", "立案"), "opinion": ("platform", "toutiao")}


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate.

    ``days`` (≥ 1) from ``start`` (timezone-aware; output is in China Standard Time);
    ``seed`` for every random draw; ``scale`` (≥ 0) multiplies all background volumes, not
    incident sizes; ``incidents`` adds the incident archetypes and the professional-claimant
    and viral-praise decoys (calendar effects are part of the background either way);
    ``invalid_rate`` (0–1) is the share of background lines deliberately malformed;
    ``archetypes``: when given, exactly these incident archetypes, in this order (golden
    tests), instead of the random plan. Raises ``ConfigError`` on out-of-range values.
    """

    days: int = 60
    seed: int = 0
    start: datetime = datetime(2025, 2, 1, tzinfo=CST)
    scale: float = 1.0
    incidents: bool = True
    invalid_rate: float = 0.001
    archetypes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.days, Integral) or self.days < 1:
            raise ConfigError("simulation.days", f"must be an integer >= 1, got {self.days!r}")
        if not isinstance(self.seed, Integral) or self.seed < 0:
            raise ConfigError("simulation.seed", f"must be an integer >= 0, got {self.seed!r}")
        if not (isinstance(self.scale, (int, float)) and 0 <= self.scale < math.inf):
            raise ConfigError("simulation.scale", f"must be a finite number >= 0, got {self.scale!r}")
        if not (isinstance(self.invalid_rate, (int, float)) and 0 <= self.invalid_rate <= 1):
            raise ConfigError("simulation.invalid_rate", f"must be within 0..1, got {self.invalid_rate!r}")
        unknown = [a for a in self.archetypes if a not in ARCHETYPES]
        if unknown:
            raise ConfigError("simulation.archetypes", f"unknown archetype {unknown[0]!r}; known: {sorted(ARCHETYPES)}")
        if not isinstance(self.start, datetime):
            raise ConfigError("simulation.start", f"must be a datetime, got {self.start!r}")


def _normalised(values: Any, n: int, key: str) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    if a.shape != (n,) or (a < 0).any() or a.sum() <= 0:
        raise ConfigError(key, f"needs {n} non-negative values with a positive sum")
    return a / a.mean()


def _cdf_of(shares: dict[str, float]) -> tuple[tuple[str, ...], np.ndarray]:
    keys = tuple(shares)
    c = np.cumsum([float(shares[k]) for k in keys])
    return keys, c / c[-1]


@dataclass
class _Counts:
    """What one pass of ``Simulator.events`` emitted, by source, plus the malformed lines."""

    by_source: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SOURCES, 0))
    malformed: int = 0


class Simulator:
    """Generates one simulated run.

    Parameters: the ``SimulationConfig``, the region table and the product catalogue (the
    ones the validator uses, so every well-formed event is accepted). Construction builds
    the world and plans the incidents (a fraction of a second); ``events()`` streams the
    lines and may be called again for the identical stream; ``labels()`` is the ground
    truth. ``counts`` describes the last completed or running ``events()`` pass.
    Raises ``ConfigError`` when ``config/simulator.yaml`` is unusable.
    """

    def __init__(self, config: SimulationConfig, regions: RegionTable, catalogue: Catalogue) -> None:
        self.config = config
        profile = load_profile()
        seeds = np.random.SeedSequence(config.seed).spawn(4)  # world, incidents, background, text pools
        self._seeds = seeds
        self.clock = Clock(config.start)
        self.world = SyntheticWorld(profile, regions, catalogue, np.random.default_rng(seeds[0]))
        shares = profile["shares"]
        self.texts = TextMaker(profile["texts"], shares)
        self.builder = EventBuilder(self.world, self.texts, shares, self.clock)
        self.calendar = Calendar(profile["calendar"])
        self._shares = shares
        self.volume = {s: float(profile["volumes"][s]) * config.scale for s in SOURCES}
        self._hour = {s: _normalised(profile["hour_profile"][s], 24, f"hour_profile.{s}") for s in SOURCES}
        self._week = {s: _normalised(profile["weekday_profile"][s], 7, f"weekday_profile.{s}") for s in SOURCES}
        self._channel = _cdf_of(shares["channel"])
        self._issue = _cdf_of(shares["issue"])
        self._platform = _cdf_of(shares["platform"])
        self._violation = _cdf_of(shares["violation"])
        self._level = _cdf_of(shares["sampling_level"])
        inj = shares["injury"]
        self._injury = (float(inj["minor"]), float(inj["serious"]), float(inj["fatal"]))
        groups = set(self.calendar.groups)
        w = np.array([c.weights[0] if c.group in groups else 0.0 for c in self.world.categories])
        self._after_sales_share = float(w.sum() / sum(c.weights[0] for c in self.world.categories))
        self._after_sales_cdf = np.cumsum(w) / w.sum()
        self._city_short = [short_name(regions.name(c)) for c in self.world.leaf_city]  # by leaf index
        self._brands = [[b for m in self.world.makers_by_category[c.code] for b in m.brands]
                        for c in self.world.categories]  # by category index
        self._risk_terms = tuple(profile["texts"]["opinion"]["risk_terms"])
        self._after_sales_issue = self._issue[0].index("after_sales")
        self._news = self._platform[0].index("news")
        off, neg, pos = shares["opinion_offtopic"], shares["opinion_negative"], shares["opinion_positive"]
        self._tone_cdf = np.cumsum([off, neg, pos, max(0.0, 1 - off - neg - pos)])
        self._tone_cdf /= self._tone_cdf[-1]
        self._tone_lo = np.array([-0.1, -0.95, 0.3, -0.2])  # sentiment range by tone (_TONES order)
        self._tone_span = np.array([0.4, 0.75, 0.65, 0.5])
        pc = float(shares["opinion_county"])
        self._opinion_level_cdf = np.array([pc, pc + (1 - pc) * 2 / 3, 1.0])
        self._leaf_chain = [(c, self.world.leaf_city[i], self.world.leaf_province[i])
                            for i, c in enumerate(self.world.leaves)]
        text_rng = np.random.default_rng(seeds[3])
        self._pool = TextPool(self.texts, self.world.categories, self._issue[0], _TONES,
                              lambda k: text_rng.integers(0, 1 << 62, (k, R_WIDTH)).tolist())
        self.counts = _Counts()
        self._plan(profile, np.random.default_rng(seeds[1]))

    # -- plan ----------------------------------------------------------------------------
    def _plan(self, profile: dict[str, Any], rng: np.random.Generator) -> None:
        cfg = self.config
        incidents: list[Incident] = []
        if cfg.incidents:
            ctx = IncidentContext(self.world, self.builder, self.clock, rng, cfg.days, self.volume,
                                  self._hour, profile["incident_texts"])
            incidents = [i for i in plan_incidents(ctx, cfg.archetypes) if i.drafts]
            incidents += [i for i in plan_decoys(ctx) if i.drafts]
        nation = sorted({p for p, w in zip(self.world.leaf_province, self.world.leaf_weight, strict=True) if w > 0})
        incidents += self.calendar.decoys(self.clock, cfg.days, nation)
        labels = []
        for k, inc in enumerate(incidents):
            prefix = "decoy" if inc.decoy else "inc"
            labels.append(inc.label(f"{prefix}-{cfg.seed}-{k:03d}-{inc.kind}", self.clock))
        self._labels = sorted(labels, key=lambda x: (x["start"], x["incident_id"]))
        end = cfg.days * 86400
        self._scheduled: dict[int, list[Draft]] = {}
        for inc in incidents:
            for d in inc.history + inc.drafts:
                if 0 <= d[0] < end:
                    self._scheduled.setdefault(d[0] // 3600, []).append(d)

    def labels(self) -> list[dict[str, Any]]:
        """Ground truth, ordered by start: ``{incident_id, kind, start, end, severity,
        scope: {category, region_codes, uscc}, decoy, detectors, sources, evidence_hours}`` (RFC
        3339 times inside the run; ``region_codes`` the most specific areas affected: every
        province for a nation-wide pattern; ``sources``: the sources its events are in;
        ``evidence_hours``: hours from start to each of the first three events, what the earliest
        possible warning waits for)."""
        return [dict(x, scope=dict(x["scope"])) for x in self._labels]

    def enterprises(self) -> list[dict[str, Any]]:
        """The branded makers of this run: ``{uscc, name, county, categories, brands}`` (for
        brand dictionaries and enterprise profiles in demos; small unbranded firms and shops
        are generated on the fly and not listed)."""
        return [{"uscc": m.uscc, "name": m.name, "county": m.county, "categories": list(m.categories),
                 "brands": list(m.brands)} for m in self.world.makers]

    # -- stream --------------------------------------------------------------------------
    def events(self) -> Iterator[bytes]:
        """Every line of the run (JSON, no newline), ordered by ``occurred_at``."""
        rng = np.random.default_rng(self._seeds[2])
        counters = dict.fromkeys(SOURCES, 0)
        self.counts = counts = _Counts()
        by_source = counts.by_source
        rate = self.config.invalid_rate
        dumps, stamp = orjson.dumps, self.clock.stamp
        self.clock.stamp((self.config.days + 8) * 86400)  # grow the date table past every reported_at
        dates, hms, offset = self.clock.dates, self.clock.hms, self.clock.offset
        for h in range(self.config.days * 24):
            drafts = self._background(rng, h * 3600)
            n_bg = len(drafts)
            drafts += self._scheduled.get(h, ())
            bad = (rng.random(n_bg) < rate).tolist() if rate > 0 else None
            ts = [d[0] for d in drafts]
            ymd = self.clock.ymd(h * 3600)
            for i in sorted(range(len(drafts)), key=ts.__getitem__):
                t, src, region, product, enterprise, body, delay = drafts[i]
                n = counters[src] = counters[src] + 1
                eid = f"op-{body['platform']}-{n:09d}" if src == "opinion" else f"{_ID_PREFIX[src]}-{ymd}-{n:07d}"
                a = t + offset
                ev: dict[str, Any] = {"schema": "event/v1", "event_id": eid, "source": src,
                                      "occurred_at": dates[a // 86400] + hms[a % 86400]}
                if delay is not None:
                    ev["reported_at"] = stamp(t + delay)
                ev["region_code"] = region
                if product is not None:
                    ev["product"] = product
                if enterprise is not None:
                    ev["enterprise"] = enterprise
                ev[src] = body
                line = dumps(ev)
                if bad is not None and i < n_bg and bad[i]:
                    line = malform(line, MALFORMATIONS[int(rng.integers(len(MALFORMATIONS)))], rng,
                                   self.world.regions, self.world.catalogue)
                    counts.malformed += 1
                by_source[src] += 1
                yield line

    # -- background ----------------------------------------------------------------------
    def _background(self, rng: np.random.Generator, t0: int) -> list[Draft]:
        day = self.clock.date(t0)
        mmdd, wd, hod = day.strftime("%m-%d"), day.weekday(), self.clock.hour_of_day(t0)
        out: list[Draft] = []
        for src, gen in (("complaint", self._complaints), ("sampling", self._samplings),
                         ("enforcement", self._enforcements), ("opinion", self._opinions)):
            mean = self.volume[src] * self._week[src][wd] * self._hour[src][hod] / 24
            n = int(rng.poisson(mean * self.calendar.multiplier(src, mmdd)))
            if n:
                gen(rng, t0, n, out)
            if src == "complaint" and self.calendar.after_sales(mmdd):
                k = int(rng.poisson(mean * self.calendar.after_sales(mmdd) * self._after_sales_share))
                if k:
                    self._complaints(rng, t0, k, out, after_sales=True)
        return out

    def _complaints(self, rng: np.random.Generator, t0: int, n: int, out: list[Draft],
                    after_sales: bool = False) -> None:
        w, b, sh, pool = self.world, self.builder, self._shares, self._pool
        secs = rng.integers(0, 3600, n).tolist()
        if after_sales:
            cats = np.searchsorted(self._after_sales_cdf, rng.random(n), side="right").tolist()
            issues = [self._after_sales_issue] * n
        else:
            cats = w.draw_categories("complaint", rng.random(n)).tolist()
            issues = np.searchsorted(self._issue[1], rng.random(n), side="right").tolist()
        leaves = w.draw_leaves(rng.random(n)).tolist()
        chans = np.searchsorted(self._channel[1], rng.random(n), side="right").tolist()
        u = rng.random((n, 3)).tolist()
        rr = rng.integers(0, 1 << 62, (n, R_WIDTH)).tolist()
        p_ent, p_brand, p_city = sh["complaint_enterprise"], sh["complaint_brand_only"], sh["complaint_city_level"]
        minor, serious, fatal = self._injury
        issue_names, channels, size = self._issue[0], self._channel[0], pool.size
        for i in range(n):
            ci, li, r, (ui, um, uc) = cats[i], leaves[i], rr[i], u[i]
            cat, leaf, issue = w.categories[ci], w.leaves[li], issue_names[issues[i]]
            maker, brand = None, None
            if um < p_ent + p_brand:
                makers = w.makers_by_category[cat.code]
                m = makers[r[12] % len(makers)]
                brand = m.brands[r[0] % len(m.brands)]
                if um < p_ent:
                    maker = m
            region = w.leaf_city[li] if uc < p_city else leaf
            if ui < minor + serious + fatal and not after_sales and (cat.injuries or cat.safety_critical):
                # rare, and only where products hurt people: a fresh text naming the injury
                injury = "fatal" if ui < fatal else "serious" if ui < fatal + serious else "minor"
                issue = "safety" if injury != "minor" or issue not in ("quality", "safety") else issue
                out.append(b.complaint(t0 + secs[i], r, leaf, cat, issue, channels[chans[i]], injury,
                                       region=region, maker=maker, brand=brand))
                continue
            k, text = pool.complaints[ci][issues[i]][r[9] % size]
            text = text.replace(BRAND, brand or "") + self.texts.contact(leaf, r)
            out.append(b.complaint(t0 + secs[i], r, leaf, cat, issue, channels[chans[i]], region=region,
                                   maker=maker, brand=brand, text=text, product_index=k))

    def _samplings(self, rng: np.random.Generator, t0: int, n: int, out: list[Draft]) -> None:
        w, b, sh = self.world, self.builder, self._shares
        secs = rng.integers(0, 3600, n).tolist()
        cats = w.draw_categories("sampling", rng.random(n)).tolist()
        leaves = w.draw_leaves(rng.random(n)).tolist()
        origins = w.draw_leaves(rng.random(n)).tolist()
        levels = np.searchsorted(self._level[1], rng.random(n), side="right").tolist()
        u = rng.random((n, 3)).tolist()
        rr = rng.integers(0, 1 << 62, (n, R_WIDTH)).tolist()
        p_named, named_fail, p_site = sh["sampling_named_maker"], sh["sampling_named_fail_rate"], sh["sampling_on_site"]
        for i in range(n):
            cat, region, r, (un, uf, us) = w.categories[cats[i]], w.leaves[leaves[i]], rr[i], u[i]
            if un < p_named:
                makers = w.makers_by_category[cat.code]
                firm: Any = makers[r[7] % len(makers)]
                fail_rate = named_fail
                if us < p_site:
                    region = firm.county
            else:
                firm = w.firm(region if us < p_site else w.leaves[origins[i]], r[7] % 500)
                fail_rate = cat.fail_rate
            failed = b.failed_items(cat, r[6], 1 + int((r[6] >> 40) % 4 == 0)) if uf < fail_rate else None
            out.append(b.sampling(t0 + secs[i], r, region, cat, firm, failed, self._level[0][levels[i]]))

    def _enforcements(self, rng: np.random.Generator, t0: int, n: int, out: list[Draft]) -> None:
        w, b, sh = self.world, self.builder, self._shares
        secs = rng.integers(0, 3600, n).tolist()
        cats = w.draw_categories("enforcement", rng.random(n)).tolist()
        leaves = w.draw_leaves(rng.random(n)).tolist()
        vios = np.searchsorted(self._violation[1], rng.random(n), side="right").tolist()
        u = rng.random((n, 3)).tolist()
        rr = rng.integers(0, 1 << 62, (n, R_WIDTH)).tolist()
        p_shop, p_closed = sh["enforcement_local_shop"], sh["enforcement_closed"]
        for i in range(n):
            cat, county, r, (ua, ub, uc) = w.categories[cats[i]], w.leaves[leaves[i]], rr[i], u[i]
            party: Any
            if ua < p_shop:
                party = w.firm(county, r[7] % 2000, "shop")
            elif ub < 0.5:
                makers = w.makers_by_category[cat.code]
                party = makers[r[7] % len(makers)]
            else:
                party = w.firm(county, r[7] % 500)
            out.append(b.enforcement(t0 + secs[i], r, county, cat, party, self._violation[0][vios[i]],
                                     "closed" if uc < p_closed else "opened"))

    def _opinions(self, rng: np.random.Generator, t0: int, n: int, out: list[Draft]) -> None:
        w, b, sh, pool = self.world, self.builder, self._shares, self._pool
        secs = rng.integers(0, 3600, n).tolist()
        cats = w.draw_categories("opinion", rng.random(n)).tolist()
        li = w.draw_leaves(rng.random(n))
        plats = np.searchsorted(self._platform[1], rng.random(n), side="right")
        tones = np.searchsorted(self._tone_cdf, rng.random(n), side="right")
        u = rng.random((n, 4))
        # the located region: county, city or province (news: city or province)
        level = np.where(plats == self._news, 1 + (u[:, 0] < 0.5),
                         np.searchsorted(self._opinion_level_cdf, u[:, 0], side="right"))
        region = [self._leaf_chain[x][y] for x, y in zip(li.tolist(), level.tolist(), strict=True)]
        sentiment = np.round(self._tone_lo[tones] + self._tone_span[tones] * u[:, 1], 2).astype(object)
        sentiment[u[:, 2] >= sh["opinion_sentiment"]] = None
        with_product = ((u[:, 3] < sh["opinion_product"]) & (tones != 0)).tolist()
        risky = (u[:, 3] > 1 - sh["opinion_risk_term"]) & (tones == 1)
        reach = viral_reach(rng, n)
        rr = rng.integers(0, 1 << 62, (n, R_WIDTH)).tolist()
        sentiment, risky = sentiment.tolist(), risky.tolist()
        tones_l, plats_l, li_l, size = tones.tolist(), plats.tolist(), li.tolist(), pool.size
        platforms, risk_terms = self._platform[0], self._risk_terms
        for i in range(n):
            ci, r, platform = cats[i], rr[i], platforms[plats_l[i]]
            cat, brands = w.categories[ci], self._brands[ci]
            brand = brands[r[12] % len(brands)]
            k, text = pool.posts[ci][tones_l[i]][r[9] % size]
            text = text.replace(BRAND, brand)
            city = self._city_short[li_l[i]]
            if CITY in text:
                text = text.replace(CITY, city)
            if risky[i]:
                text += f"，听说这种{cat.name_zh}还会{risk_terms[r[13] % len(risk_terms)]}，有点慌"
            title = None
            if platform == "news":
                title = self.texts.news_title(cat.name_zh, city, r[15])
            elif platform == "wechat":
                title = text[:30]
            product = {"category": cat.code, "name": cat.products[k], "brand": brand} if with_product[i] else None
            out.append(b.opinion(t0 + secs[i], r, region[i], platform, text, title=title, product=product,
                                 reach=reach[i], sentiment=sentiment[i]))


def malform(line: bytes, kind: str, rng: np.random.Generator, regions: RegionTable, catalogue: Catalogue) -> bytes:
    """``line`` (a valid event) broken the way ``kind`` (one of ``MALFORMATIONS``) says, as
    upstream feeds break them; falls back to truncation when ``kind`` does not apply to the
    event (no enterprise to corrupt, no product, no ``reported_at``). Used by the simulator
    for its ``invalid_rate`` share of lines; every result violates the contract."""
    if kind not in MALFORMATIONS:
        raise ConfigError("simulation.malformation", f"must be one of {', '.join(MALFORMATIONS)}, got {kind!r}")
    if kind == "truncated":
        return line[: int(rng.integers(1, len(line) - 1))]
    ev = orjson.loads(line)
    src = ev["source"]
    body, product = ev[src], ev.get("product")
    if kind == "checksum" and "enterprise" in ev:
        u = ev["enterprise"]["uscc"]
        ev["enterprise"]["uscc"] = u[:-1] + ALPHABET[(ALPHABET.index(u[-1]) + 1 + int(rng.integers(30))) % 31]
    elif kind == "unknown_region":
        code = ev["region_code"]
        ev["region_code"] = next(c for c in (code[:4] + "99", code[:2] + "9900", "999999") if c not in regions)
    elif kind == "missing_offset":
        ev["occurred_at"] = ev["occurred_at"][:-6].replace("T", " " if rng.random() < 0.5 else "T")
    elif kind == "bad_enum":
        key, value = _BAD_ENUM[src]
        body[key] = value
    elif kind == "unknown_category" and product is not None:
        cat = catalogue.get(product["category"])
        product["category"] = cat.name_zh if cat is not None else "未知品类"
    elif kind == "bad_value":
        if src == "sampling":
            body["result"], body["failed_items"] = "fail", []
        elif src == "opinion":
            body["sentiment"] = 3
        elif src == "enforcement":
            body["goods_value_cny"] = -abs(body.get("goods_value_cny", 100.0))
        else:
            body["amount_cny"] = f"{body.get('amount_cny', 39.9)}元"
    elif kind == "reported_before" and "reported_at" in ev:
        ev["reported_at"] = (datetime.fromisoformat(ev["occurred_at"]) - timedelta(hours=1)).isoformat()
    else:
        return line[: int(rng.integers(1, len(line) - 1))]
    return orjson.dumps(ev)


def write_simulation(config: SimulationConfig, out_dir: Path, regions: RegionTable | None = None,
                     catalogue: Catalogue | None = None) -> tuple[int, int]:
    """Write ``out_dir/events.jsonl`` and ``out_dir/labels.jsonl`` (created with parents);
    returns ``(event lines, labels)``. Called by ``riskwatch simulate``; raises ``OSError``
    when the directory cannot be written and ``ConfigError`` for a bad configuration."""
    sim = Simulator(config, regions or RegionTable.load(), catalogue or Catalogue.load())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    with (out_dir / "events.jsonl").open("wb") as f:
        buf: list[bytes] = []
        for line in sim.events():
            buf.append(line)
            if len(buf) >= 8192:
                f.write(b"\n".join(buf) + b"\n")
                n += len(buf)
                buf.clear()
        if buf:
            f.write(b"\n".join(buf) + b"\n")
            n += len(buf)
    labels = sim.labels()
    with (out_dir / "labels.jsonl").open("wb") as f:
        for lab in labels:
            f.write(orjson.dumps(lab) + b"\n")
    return n, len(labels)


def stream_simulation(config: SimulationConfig, rate: float, emit: Callable[[bytes], None],
                      stop: Callable[[], bool] = lambda: False) -> int:
    """Emit the run's lines at ``rate`` lines per wall-clock second (``math.inf``: unpaced)
    until the run ends or ``stop()`` returns true; returns the number emitted. Pacing is
    against a monotonic clock from the first line, so a slow ``emit`` is caught up on.
    Called by the live demo; raises ``ConfigError`` when ``rate`` is not positive."""
    if not (isinstance(rate, (int, float)) and rate > 0):
        raise ConfigError("simulate.rate", f"must be a positive number of events per second, got {rate!r}")
    sim = Simulator(config, RegionTable.load(), Catalogue.load())
    n = 0
    began = time.monotonic()
    for line in sim.events():
        if stop():
            break
        if rate != math.inf:
            ahead = began + n / rate - time.monotonic()
            if ahead > 0.002:
                time.sleep(ahead)
                if stop():
                    break
        emit(line)
        n += 1
    return n
