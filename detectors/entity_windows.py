"""What each source shows per entity, over recent windows: the state of ``cross_source``.

Entities: (category, city), (category, province) and enterprise (USCC). Per entity and day,
``EntityWindows`` counts complaints (each complainant once among the entity's latest eight;
after-sales disputes left out), injuries by severity, samples, failed and critically (A类)
failed samples with the numbers the category's national failure rates predict, enforcement
cases of product violations, adverse opinion posts (negative or reporting a hazard) weighted
by category confidence, hazard posts and reach; it keeps the window sums over
``window_days`` (complaints, opinion) and ``sparse_window_days`` (sampling, enforcement),
and daily baselines of complaints, cases and adverse posts (a running mean, then an EWMA;
a burst day counts capped, so an outbreak does not become its own baseline). Each source's
indicator (``indicators``) is a surprise s = −log10 p:

- complaint: the last two days' and the window's complaints against the baseline (negative
  binomial, scaled up by the national complaint activity: 3·15 lifts every entity alike),
  and injuries (any / serious or worse / fatal) against the national rate per complaint;
- sampling: failed and critically failed samples against the number predicted (Poisson);
- enforcement: cases against the entity's case rate (floored per level);
- opinion: the last two days' and the window's adverse posts against the baseline, and
  hazard posts against the category's national share of hazard posts (fires and burns are
  everyday words about e-bikes and heaters, rare about clothing).

Within a source the best test counts, Bonferroni-corrected. ``aggregates`` gives the
anomaly model's view of the same windows (``anomaly_model.WindowAggregates``).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from detectors.anomaly_model import WindowAggregates
from detectors.base import CST_OFFSET, DAY, Observation
from detectors.stats import negbin_upper_tail, poisson_upper_tail, surprise

if TYPE_CHECKING:
    from detectors.cross_source import CrossSourceConfig

__all__ = ["SOURCES", "Entity", "EntityWindows", "notable"]

SOURCES = ("complaint", "sampling", "enforcement", "opinion")
# Fields of a day row (ints; posts in hundredths, expected failures in thousandths). Frequent
# fields come first, so the rows of quiet days trim to a few numbers in a snapshot.
C, ON, OR, CM, CS, CF, OH, E, SN, SF, SC, XF, XC = range(13)
_NF = 13
_FREQUENT = (C, ON, OR, CM, CS, CF, OH)  # kept window_days
_SPARSE = (E, SN, SF, SC, XF, XC)  # kept sparse_window_days
_IS_SPARSE = tuple(f in _SPARSE for f in range(_NF))
_ZERO_ROW = [0] * _NF
_ONE_COMPLAINT, _ONE_CASE = ((C, 1),), ((E, 1),)
_INJURY_FIELD = {"minor": CM, "serious": CS, "fatal": CF}
_SOURCE_INDEX = {src: i for i, src in enumerate(SOURCES)}
_RECENT = 8  # complainants remembered per entity
_EVIDENCE = 4  # event-id slots per entity and source: the last two notable, the last two others
_LEVEL = {"c": 0, "p": 1, "e": 2}
_SHOWN = tuple(zip(SOURCES, (C, SF, E, ON), strict=True))  # the count that shows a source can corroborate at all


def notable(obs: Observation, hazard_threshold: float) -> bool:
    """An event that is evidence by itself: an injury, a failed sample, a case, a hazard post."""
    return obs.injury in _INJURY_FIELD or obs.failed or obs.source == "enforcement" or obs.hazard >= hazard_threshold


class Entity:
    """One entity: ``rows`` day → field counts, ``sums`` over the windows, ``day`` its latest day,
    the baseline (``base``: daily complaints, cases, adverse posts; ``nb`` days in it; ``bday``
    the last day folded in), its latest complainants (CRC-32), evidence ids per source (the
    last two notable ones, marked ``!``, and the last two others), the last hour evaluated, an
    enterprise's categories. ``cache``, ``bars``, ``sampling`` and ``today`` are derived from
    the rest (not state)."""

    __slots__ = ("bars", "base", "bday", "cache", "cats", "day", "evidence", "last_eval", "nb", "recent", "rows",
                 "sampling", "sums", "today")

    def __init__(self, day: int, nb: int) -> None:
        self.rows: dict[int, list[int]] = {}
        self.sums = _ZERO_ROW[:]
        self.day, self.bday, self.nb, self.last_eval = day, day - 2, nb, -1
        self.base = [0.0, 0.0, 0.0]
        self.recent: list[int] = []
        self.evidence = [""] * (4 * _EVIDENCE)  # per source: 2 notable, 2 other event ids, older first
        self.cats: dict[str, int] | None = None  # enterprises only
        self.cache: tuple[float, ...] = ()  # expectations (see ``EntityWindows.expectations``)
        self.bars: list[Any] | None = None  # each source's pre-check bars, once needed
        self.sampling = -1.0  # the sampling indicator's surprise (-1: stale)
        self.today: list[int] | None = None  # rows[day], once looked up

    def to_json(self) -> list[Any]:
        rows = []
        for d, r in sorted(self.rows.items()):
            n = _NF
            while n and not r[n - 1]:
                n -= 1
            rows.append([d, *r[:n]])
        return [rows, self.sums, self.day, self.bday, self.nb, self.base, self.recent,
                self.evidence, self.last_eval, self.cats]

    @classmethod
    def from_json(cls, data: Sequence[Any]) -> Entity:
        e = cls(0, 0)
        rows, sums, e.day, e.bday, e.nb, base, recent, evidence, e.last_eval, cats = data
        e.rows = {r[0]: [*r[1:], *([0] * (_NF - len(r) + 1))] for r in rows}
        e.sums, e.base, e.recent = list(sums), [float(x) for x in base], list(recent)
        e.evidence, e.cats = list(evidence), dict(cats) if cats is not None else None
        return e


class EntityWindows:
    """Per-entity windows of all four sources (see the module docstring). Keys
    ``"c|category|city"``, ``"p|category|province"``, ``"e|uscc"``; ``national`` totals all
    events (activity lifts, national rates). ``config`` is a ``CrossSourceConfig``. Pure and
    deterministic; a few hundred bytes of JSON per entity; entities without events for
    ``sparse_window_days`` are forgotten. Called by ``CrossSource`` (``add`` per observation,
    ``could_corroborate`` / ``indicators`` / ``aggregates`` when it examines an entity) and by
    ``anomaly_model.train_from_observations``."""

    def __init__(self, config: CrossSourceConfig) -> None:
        self.config = config
        self.entities: dict[str, Entity] = {}
        self.national: Entity | None = None
        self.pools: dict[str, list[int]] = {}  # category → [samples, failed, critically failed] nationally
        self.hazards: dict[str, list[int]] = {}  # category → [adverse, hazard] posts nationally (hundredths)
        self.first_day: int | None = None
        self.day = -1
        self.prev_id = ""  # the last adverse post: its fan-out to more categories names an enterprise once
        self._levels = tuple(level in config.levels for level in ("city", "province", "enterprise"))
        self._violations, self._skip = frozenset(config.violations), frozenset(config.skip_issues)
        self._w, self._ws, self._horizon = config.window_days, config.sparse_window_days, config.baseline_days

    # -- counting --------------------------------------------------------------------------
    def add(self, obs: Observation) -> tuple[str, ...]:
        """Count one observation; returns the entity keys it touched (none for odd input)."""
        cfg, ts, src = self.config, obs.ts, obs.source
        hazard = False
        if src == "opinion":
            hazard = obs.hazard >= cfg.hazard_threshold and obs.sentiment <= 0.2
            if not (obs.sentiment <= cfg.negative_sentiment or hazard) or not obs.weight > 0:
                return ()
        elif (src == "enforcement" and obs.violation not in self._violations) or (
                src == "complaint" and obs.issue in self._skip) or src not in _SOURCE_INDEX:
            return ()
        if not math.isfinite(ts):
            return ()
        d = int((ts + CST_OFFSET) // DAY)
        if self.first_day is None:
            self.first_day = d
        if d > self.day:
            self._sweep(d)
        cat, chain, keys = obs.category, obs.chain, []
        if cat and chain:
            if self._levels[0] and len(chain) >= 2:
                keys.append(f"c|{cat}|{chain[-2]}")
            if self._levels[1]:
                keys.append(f"p|{cat}|{chain[-1]}")
        if obs.uscc and self._levels[2] and not (src == "opinion" and obs.event_id == self.prev_id):
            keys.append(f"e|{obs.uscc}")
        if src == "opinion":
            self.prev_id = obs.event_id
        delta = self._delta(obs, src, hazard)
        nat = self.national
        if nat is None:
            nat = self.national = self._new(d)
        if d > nat.day:
            self._roll(nat, d)
        sampled = src == "sampling"  # a new sample makes the cached sampling test stale
        if self._add_delta(nat, d, delta) and sampled:  # the national total: no complainants, no evidence
            nat.sampling = -1.0
        who = zlib.crc32(obs.complainant.encode("utf-8", "replace")) if src == "complaint" and obs.complainant else None
        key_event = obs.injury in _INJURY_FIELD or obs.failed or src == "enforcement" or hazard
        tag = "!" + obs.event_id if key_event else obs.event_id  # evidence; "!" marks a notable event
        slot = _EVIDENCE * _SOURCE_INDEX[src] + (0 if tag[:1] == "!" else 2)
        entities = self.entities
        for key in keys:
            e = entities.get(key)
            if e is None:
                e = entities[key] = self._new(d)
            if cat and key[0] == "e":  # the first four categories seen, counted
                if e.cats is None:
                    e.cats = {cat: 1}
                elif cat in e.cats:
                    e.cats[cat] += 1
                elif len(e.cats) < 4:
                    e.cats[cat] = 1
            if d > e.day:
                self._roll(e, d)
            if who is not None:
                recent = e.recent
                if who in recent:
                    continue
                recent.append(who)
                if len(recent) > _RECENT:
                    del recent[0]
            if not self._add_delta(e, d, delta):
                continue
            if sampled:
                e.sampling = -1.0
            if tag and d > e.bday:  # not for a late event on a day already in the baseline
                ev = e.evidence
                ev[slot], ev[slot + 1] = ev[slot + 1], tag  # per source: the last two notable, the last two others
        if src == "opinion":
            if cat:
                posts = self.hazards.get(cat)
                if posts is None:
                    posts = self.hazards[cat] = [0, 0]
                posts[0] += delta[0][1]
                if hazard:
                    posts[1] += delta[0][1]
        elif sampled and cat:
            pool = self.pools.setdefault(cat, [0, 0, 0])
            pool[0] += 1
            pool[1] += int(obs.failed)
            pool[2] += int(obs.failed and obs.critical > 0)
        return tuple(keys)

    def _delta(self, obs: Observation, src: str, hazard: bool) -> Sequence[tuple[int, int]]:
        """Field increments of one observation; a sample's expected failures use the category's
        national rates *before* it (score, then learn)."""
        if src == "complaint":
            field = _INJURY_FIELD.get(obs.injury)
            return _ONE_COMPLAINT if field is None else ((C, 1), (field, 1))
        if src == "opinion":
            w = 100 if obs.weight >= 1.0 else int(100.0 * obs.weight + 0.5)  # hundredths of a post
            reach = int(obs.reach) if 0 < obs.reach < 1e15 else 0
            return ((ON, w), (OR, reach), (OH, w)) if hazard else ((ON, w), (OR, reach))
        if src == "enforcement":
            return _ONE_CASE
        fail, crit = self.rates(obs.category)
        out: tuple[tuple[int, int], ...] = ((SN, 1), (XF, int(round(1000 * fail))), (XC, int(round(1000 * crit))))
        if obs.failed:
            out += ((SF, 1), (SC, 1)) if obs.critical > 0 else ((SF, 1),)
        return out

    def rates(self, category: str) -> tuple[float, float]:
        """The category's national (failed, critically failed) share of samples, with the prior."""
        cfg, (n, f, c) = self.config, self.pools.get(category, (0, 0, 0))
        k = cfg.sampling_prior_samples
        return (f + k * cfg.failure_prior) / (n + k), (c + k * cfg.critical_prior) / (n + k)

    def hazard_share(self, key: str, e: Entity) -> float:
        """The share of hazard posts among adverse posts expected for the entity: its category's
        national share (an enterprise: its main category's), shrunk toward the all-category
        share with ``hazard_prior_posts`` pseudo-posts."""
        cfg, nat = self.config, (self.national.sums if self.national else _ZERO_ROW)
        overall = (nat[OH] / 100.0 + 500 * cfg.hazard_prior) / (nat[ON] / 100.0 + 500)
        cat = self.main_category(e) if key[0] == "e" else key.split("|", 2)[1]
        adverse, hazard = self.hazards.get(cat, (0, 0))
        k = cfg.hazard_prior_posts
        return (hazard / 100.0 + k * overall) / (adverse / 100.0 + k)

    def _new(self, d: int) -> Entity:
        """A new entity: no events since the stream began, a baseline of zeros that long."""
        first = self.first_day if self.first_day is not None else d
        return Entity(d, max(0, min(self.config.baseline_days, d - 2 - first)))

    def _add_delta(self, e: Entity, d: int, delta: Sequence[tuple[int, int]]) -> bool:
        """Add ``delta`` to day ``d``'s row and the window sums of an entity already rolled to
        ``d`` or later; ``False`` when the day is older than any window (nothing counted)."""
        sums = e.sums
        if d == e.day:  # the common case
            row = e.today
            if row is None:
                row = e.today = e.rows.get(d) or e.rows.setdefault(d, _ZERO_ROW[:])
            for field, n in delta:
                row[field] += n
                sums[field] += n
            return True
        age = e.day - d  # a late event
        if age >= self._ws:
            return False
        row = e.rows.get(d)
        if row is None:
            row = e.rows[d] = _ZERO_ROW[:]
        for field, n in delta:
            row[field] += n
            if age < self._w or _IS_SPARSE[field]:
                sums[field] += n
        return True

    def _roll(self, e: Entity, d: int) -> None:
        """Advance an entity to day ``d``: expire what leaves the windows, fold the days now two
        days old into the baseline. (Sparse fields are non-zero only in rows with a case or a
        sample, which is what the row clean-up tests.)"""
        w, ws, rows, sums = self._w, self._ws, e.rows, e.sums
        e.today = None
        if d - e.day >= ws:  # quiet for longer than any window: nothing is left in them
            self._fold(e, d - 2)
            e.rows, e.sums, e.day, e.sampling = {}, _ZERO_ROW[:], d, -1.0
            return
        for x in range(e.day - w + 1, d - w + 1):
            row = rows.get(x)
            if row is not None:
                for f in _FREQUENT:
                    v = row[f]
                    if v:
                        sums[f] -= v
                        row[f] = 0
                if not (row[E] or row[SN]):
                    del rows[x]
        for x in range(e.day - ws + 1, d - ws + 1):
            row = rows.pop(x, None)
            if row is not None:
                for f in _SPARSE:
                    sums[f] -= row[f]
                e.sampling = -1.0
        e.day = d
        if e.bday < d - 2:
            self._fold(e, d - 2)

    def _fold(self, e: Entity, upto: int) -> None:
        """Fold days ``bday+1 … upto`` into the baseline (a running mean for the first
        ``baseline_days`` days, an EWMA after; a day far above the baseline counts capped)."""
        horizon, k, x, base, rows = self._horizon, self.config.nb_size, e.bday + 1, e.base, e.rows
        keep = 1.0  # the decay of a run of empty days, applied at its end
        while x <= upto:
            row = rows.get(x)
            e.nb = n = e.nb + 1 if e.nb < horizon else horizon
            if row is None:
                keep *= 1.0 - 1.0 / n
            else:
                if keep != 1.0:
                    base[0], base[1], base[2], keep = base[0] * keep, base[1] * keep, base[2] * keep, 1.0
                for i, v in ((0, row[C]), (1, row[E]), (2, row[ON] / 100.0)):
                    b = base[i]
                    if n >= 7 and v > b + 1.0:  # cap a burst day
                        cap = b + 4.0 * math.sqrt((1.0 + b / k) * (b if b > 0.5 else 0.5)) + 1.0
                        v = v if v < cap else cap
                    base[i] = b + (v - b) / n
            x += 1
        if keep != 1.0:
            base[0], base[1], base[2] = base[0] * keep, base[1] * keep, base[2] * keep
        e.bday, e.cache, e.bars = upto if upto > e.bday else e.bday, (), None

    def _sweep(self, d: int) -> None:
        """Once a day: forget entities without events for the sparse window."""
        self.day, horizon = d, d - self._ws
        for key in [k for k, e in self.entities.items() if e.day <= horizon]:
            del self.entities[key]

    # -- indicators ------------------------------------------------------------------------
    def expectations(self, e: Entity, level: int) -> tuple[float, float, float]:
        """Expected daily complaints, cases and adverse posts: the baseline's upper bound, floored.
        Cached until the baseline changes (once a day)."""
        if e.cache:
            return e.cache  # type: ignore[return-value]
        cfg, n = self.config, (e.nb if e.nb > 1 else 1)
        e.cache = (_upper(e.base[0], cfg.complaint_floor[level], n, cfg.baseline_z, cfg.nb_size),
                   _upper(e.base[1], cfg.enforcement_floor[level], n, cfg.baseline_z, cfg.nb_size),
                   _upper(e.base[2], cfg.opinion_floor[level], n, cfg.baseline_z, cfg.nb_size))
        return e.cache

    def bars(self, e: Entity, key: str, src: str) -> tuple[float, ...]:
        """A source's pre-check bars — counts below which none of its tests can corroborate:
        complaints (2 days, window, minor injuries), cases, adverse posts (2 days, window, hazard
        posts). Lower bounds, with slack, of what a p ≤ 0.01 needs; cached with the expectations
        (``_fold`` clears both)."""
        i = _SOURCE_INDEX[src]
        if e.bars is not None and e.bars[i] is not None:  # the common case: cached today
            return e.bars[i]
        ec, ee, eo = self.expectations(e, _LEVEL[key[0]])
        if e.bars is None:
            e.bars = [None, None, None, None]
        e.bars[i] = self._bars(e, src, ec, ee, eo, key)
        return e.bars[i]

    def _bars(self, e: Entity, src: str, ec: float, ee: float, eo: float, key: str) -> tuple[float, ...]:
        cfg, nat = self.config, (self.national.sums if self.national else _ZERO_ROW)
        w = cfg.window_days - 1
        seen = e.day - (self.first_day if self.first_day is not None else e.day)
        days = 0.8 * (w if w < seen else seen)
        if src == "complaint":
            rate = (nat[CM] + nat[CS] + nat[CF] + cfg.injury_prior_complaints * cfg.injury_prior[0]) / (
                nat[C] + cfg.injury_prior_complaints)
            return _bar(ec), _bar(ec * w), _poisson_bar(ec * days * rate)
        if src == "opinion":
            return _bar(eo), _bar(eo * w), _poisson_bar(eo * days * self.hazard_share(key, e))
        return (_bar(ee * cfg.sparse_window_days),)

    def sampling_test(self, e: Entity) -> tuple[str, float, float]:
        """Failed and critically failed samples against the number predicted (Poisson): the
        better test's name, p-value and Bonferroni-corrected surprise (cached in the entity)."""
        s = e.sums
        p_f = poisson_upper_tail(s[SF], max(s[XF] / 1000.0, 1e-9))
        p_c = poisson_upper_tail(s[SC], max(s[XC] / 1000.0, 1e-9))
        name, p = ("critical_failed", p_c) if p_c < p_f else ("failed", p_f)
        e.sampling = max(0.0, surprise(p) - math.log10(2.0))
        return name, p, e.sampling

    def indicators(self, key: str, e: Entity, ts: float) -> dict[str, dict[str, Any]]:
        """Each source's tests at ``ts``: what it observed and expected, the best test, its
        p-value and surprise — the per-source contributions of a signal's explanation."""
        cfg, s, d, nat = self.config, e.sums, e.day, self.national
        exp_c, exp_e, exp_o = self.expectations(e, _LEVEL[key[0]])
        days = self._window_days(d, cfg.window_days, ts)
        short = min(days, 1.0 + ((ts + CST_OFFSET) % DAY) / DAY)
        lc2, lcw, lo2, low = self._lifts(d, days, short)
        r0, r1 = e.rows.get(d), e.rows.get(d - 1)
        c2 = (r0[C] if r0 else 0) + (r1[C] if r1 else 0)
        o2, on, oh = ((r0[ON] if r0 else 0) + (r1[ON] if r1 else 0)) / 100.0, s[ON] / 100.0, s[OH] / 100.0
        counted = e.nb >= cfg.min_baseline_days
        phi_c, phi_o = 1.0 + exp_c / cfg.nb_size, 1.0 + exp_o / cfg.nb_size
        n = nat.sums if nat is not None else _ZERO_ROW
        k, (pa, ps, pf) = cfg.injury_prior_complaints, cfg.injury_prior
        exposure = max(float(s[C]), exp_c * days) / (n[C] + k)  # national injury rates per complaint, with prior
        hurt = n[CM] + n[CS] + n[CF] + k * pa  # injured of the national complaints (and the prior's)
        tests = {"injuries": poisson_upper_tail(s[CM] + s[CS] + s[CF], exposure * hurt),
                 "serious_injuries": poisson_upper_tail(s[CS] + s[CF], exposure * (n[CS] + n[CF] + k * ps)),
                 "fatal_injuries": poisson_upper_tail(s[CF], exposure * (n[CF] + k * pf))}
        if counted:
            tests["count_2d"] = negbin_upper_tail(c2, exp_c * short * lc2, phi_c)
            tests["count_window"] = negbin_upper_tail(s[C], exp_c * days * lcw, phi_c)
        # news today or yesterday: the two-day count, or the two days' injuries against their own exposure
        hurt2 = _recent(r0, r1, CM) + _recent(r0, r1, CS) + _recent(r0, r1, CF)
        fresh_c = not counted or _surprising(tests["count_2d"], len(tests), cfg.fresh_surprise) or (
            hurt2 > 0 and _surprising(poisson_upper_tail(hurt2, max(float(c2), exp_c * short) / (n[C] + k) * hurt), 1,
                                      cfg.fresh_surprise))
        out = {"complaint": _best(tests, {
            "observed_2d": c2, "expected_2d": round(exp_c * short * lc2, 3), "observed": s[C],
            "expected": round(exp_c * days * lcw, 3), "injuries": {"minor": s[CM], "serious": s[CS], "fatal": s[CF]},
            "counting": "each complainant once among the entity's latest", "fresh": fresh_c})}
        name, p, ss = self.sampling_test(e)
        out["sampling"] = {
            "samples": s[SN], "failed": s[SF], "critical_failed": s[SC], "expected_failed": round(s[XF] / 1000.0, 3),
            "expected_critical_failed": round(s[XC] / 1000.0, 3), "window_days": cfg.sparse_window_days,
            "test": name, "p_value": p, "surprise": round(ss, 4)}
        sdays = self._window_days(d, cfg.sparse_window_days, ts)
        out["enforcement"] = _best({"cases": poisson_upper_tail(s[E], exp_e * sdays)} if counted else {}, {
            "cases": s[E], "expected": round(exp_e * sdays, 3), "violations": list(cfg.violations),
            "window_days": cfg.sparse_window_days, "fresh": False})
        for source, field in (("sampling", SF), ("enforcement", E)):  # news: arrived, and a surprise itself
            part = out[source]
            part["fresh"] = _recent(r0, r1, field) > 0 and part["surprise"] >= cfg.fresh_surprise
        exp_h = max(on, exp_o * days) * self.hazard_share(key, e)
        tests = {"hazard_posts": poisson_upper_tail(math.floor(oh + 1e-9), max(exp_h, 1e-9))}
        if counted:
            tests["adverse_2d"] = negbin_upper_tail(math.floor(o2 + 1e-9), exp_o * short * lo2, phi_o)
            tests["adverse_window"] = negbin_upper_tail(math.floor(on + 1e-9), exp_o * days * low, phi_o)
        out["opinion"] = _best(tests, {
            "observed_2d": round(o2, 2), "expected_2d": round(exp_o * short * lo2, 3), "observed": round(on, 2),
            "expected": round(exp_o * days * low, 3), "hazard_posts": round(oh, 2),
            "expected_hazard_posts": round(exp_h, 3), "reach": s[OR], "counting": "adverse posts, category-weighted",
            "fresh": not counted or _surprising(tests["adverse_2d"], len(tests), cfg.fresh_surprise)})
        return out

    def _lifts(self, d: int, days: float, short: float) -> tuple[float, float, float, float]:
        """National complaints (2 days, window) and adverse posts (2 days, window) over their
        baseline, at least 1: a nation-wide surge raises every expectation alike."""
        nat = self.national
        if nat is None or nat.nb < self.config.min_baseline_days:
            return 1.0, 1.0, 1.0, 1.0
        r0, r1 = nat.rows.get(d), nat.rows.get(d - 1)
        c2 = (r0[C] if r0 else 0) + (r1[C] if r1 else 0)
        o2 = ((r0[ON] if r0 else 0) + (r1[ON] if r1 else 0)) / 100.0
        bc, _, bo = nat.base
        return (_ratio(c2, bc * short), _ratio(nat.sums[C], bc * days), _ratio(o2, bo * short),
                _ratio(nat.sums[ON] / 100.0, bo * days))

    def aggregates(self, key: str, ts: float) -> WindowAggregates | None:
        """The entity's window at event time ``ts`` for the anomaly model (``None``: unknown key)."""
        e = self.entities.get(key)
        if e is None:
            return None
        d = int((ts + CST_OFFSET) // DAY)
        if d > e.day:
            self._roll(e, d)
        s, cfg = e.sums, self.config
        exp_c, exp_e, exp_o = self.expectations(e, _LEVEL[key[0]])
        days, sdays = self._window_days(d, cfg.window_days, ts), self._window_days(d, cfg.sparse_window_days, ts)
        return WindowAggregates(
            complaints=s[C], complaints_expected=exp_c * days, injuries_minor=s[CM], injuries_serious=s[CS],
            injuries_fatal=s[CF], samples=s[SN], failures=s[SF], critical_failures=s[SC],
            failures_expected=s[XF] / 1000.0, enforcement_cases=s[E], enforcement_expected=exp_e * sdays,
            opinion_negative=s[ON] / 100.0, opinion_expected=exp_o * days, hazard_posts=s[OH] / 100.0,
            reach=float(s[OR]))

    def _window_days(self, d: int, span: int, ts: float) -> float:
        """Days a window ending at ``ts`` covers since the stream began (today: its elapsed part)."""
        elapsed = ((ts + CST_OFFSET) % DAY) / DAY
        return max(elapsed, min(span - 1, d - (self.first_day if self.first_day is not None else d)) + elapsed)

    def shows(self, e: Entity) -> int:
        """How many sources show anything that could corroborate (complaints, failed samples,
        cases, adverse posts) in the windows: four look-ups."""
        s = e.sums
        return (s[C] > 0) + (s[SF] > 0) + (s[E] > 0) + (s[ON] > 0)

    def could_corroborate(self, src: str, e: Entity, key: str) -> bool:
        """Whether the source's counts pass its pre-check bars (or, for sampling, its test)."""
        s = e.sums
        if src == "sampling":
            if e.sampling < 0.0:
                self.sampling_test(e)
            return e.sampling >= self.config.min_source_surprise
        bars = self.bars(e, key, src)
        if src == "enforcement":
            return s[E] >= bars[0]
        if (s[CS] or s[CF] or s[CM] >= bars[2] or s[C] >= bars[1]) if src == "complaint" else \
                (s[OH] >= 100 * bars[2] or s[ON] >= 100 * bars[1]):
            return True
        f, scale = (C, 1) if src == "complaint" else (ON, 100)
        r0, r1 = e.today or e.rows.get(e.day), e.rows.get(e.day - 1)
        return (r0[f] if r0 else 0) + (r1[f] if r1 else 0) >= scale * bars[0]

    def others_corroborate(self, src: str, e: Entity, key: str) -> bool:
        """Whether a source other than ``src`` shows something and could corroborate."""
        s = e.sums
        return any(s[f] and self.could_corroborate(o, e, key) for o, f in _SHOWN if o != src)

    def evidence(self, e: Entity, order: Sequence[str]) -> list[str]:
        """The entity's evidence event ids, sources in ``order``, notable ones first, latest first."""
        ev = e.evidence
        ids = [ev[_EVIDENCE * _SOURCE_INDEX[src] + j].lstrip("!") for src in order for j in (1, 0, 3, 2)
               if ev[_EVIDENCE * _SOURCE_INDEX[src] + j]]
        return list(dict.fromkeys(ids))

    @staticmethod
    def worst_injury(e: Entity) -> str:
        """The worst injury among the window's complaints (``""`` for none)."""
        s = e.sums
        return "fatal" if s[CF] else "serious" if s[CS] else "minor" if s[CM] else ""

    @staticmethod
    def main_category(e: Entity) -> str:
        """An enterprise's most frequent category among the first four seen (ties: the smallest)."""
        cats = e.cats
        return min(cats, key=lambda c: (-cats[c], c)) if cats else ""

    # -- state -----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"first_day": self.first_day, "day": self.day, "prev_id": self.prev_id,
                "national": self.national.to_json() if self.national is not None else None,
                "pools": dict(sorted(self.pools.items())), "hazards": dict(sorted(self.hazards.items())),
                "entities": {k: e.to_json() for k, e in sorted(self.entities.items())}}

    @classmethod
    def from_json(cls, config: CrossSourceConfig, state: Mapping[str, Any]) -> EntityWindows:
        w = cls(config)
        w.first_day, w.day, w.prev_id = state["first_day"], state["day"], state["prev_id"]
        w.national = Entity.from_json(state["national"]) if state["national"] is not None else None
        w.pools = {k: list(v) for k, v in state["pools"].items()}
        w.hazards = {k: list(v) for k, v in state.get("hazards", {}).items()}
        w.entities = {k: Entity.from_json(v) for k, v in state["entities"].items()}
        return w


def _bar(expected: float) -> float:
    """A count below which no test of this expectation reaches a corroborating surprise: mean +
    2 sd, below the ≈ 2.3 sd of the one-sided p ≤ 0.01 the Bonferroni-corrected tests need."""
    bar = expected + 2.0 * math.sqrt((expected if expected > 0.1 else 0.1) * (1.0 + expected / 10.0))
    return bar if bar > 1.0 else 1.0


def _poisson_bar(lam: float, p: float = 0.01) -> int:
    """The least k with P(X ≥ k) ≤ ``p`` for X ~ Poisson(``lam``) (the injury and hazard tests need
    p ≤ 0.01 to corroborate), by the pmf recurrence: a few multiplications."""
    pmf = cdf = math.exp(-lam)
    k = 0
    while 1.0 - cdf > p and k < 1000:
        k += 1
        pmf *= lam / k
        cdf += pmf
    return k + 1


def _upper(b: float, floor: float, n: int, z: float, k: float) -> float:
    """A daily rate's expectation: baseline ``b`` from ``n`` days plus ``z`` standard errors
    (negative binomial, size ``k``), at least ``floor``."""
    m = b if b > floor else floor
    up = b + z * math.sqrt((1.0 + b / k) * m / n)
    return up if up > floor else floor


def _ratio(observed: float, expected: float) -> float:
    return max(1.0, observed / expected) if expected > 0 else 1.0


def _recent(r0: Sequence[int] | None, r1: Sequence[int] | None, field: int) -> int:
    """A field's count over today and yesterday."""
    return (r0[field] if r0 else 0) + (r1[field] if r1 else 0)


def _surprising(p: float, tests: int, least: float) -> bool:
    """Whether a test's p-value, Bonferroni-corrected over ``tests``, reaches surprise ``least``."""
    return surprise(p) - math.log10(tests) >= least


def _best(tests: Mapping[str, float], facts: dict[str, Any]) -> dict[str, Any]:
    """A source's best test, its p-value and Bonferroni-corrected surprise, with its facts."""
    if not tests:
        return facts | {"test": None, "p_value": 1.0, "surprise": 0.0}
    name = min(tests, key=lambda k: (tests[k], k))
    return facts | {"test": name, "p_value": tests[name],
                    "surprise": round(max(0.0, surprise(tests[name]) - math.log10(len(tests))), 4)}
