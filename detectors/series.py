"""Per-key count history: a 24-slot ring of hourly counts and a 35-slot ring of daily counts.

This is the small, explicit state DESIGN §2 asks for (≈ 60 numbers, a few hundred bytes of
JSON per key). Days flagged as outbreak days are left out of the baseline, so an outbreak
does not become its own baseline (river's ``protect_anomaly_detector``).

>>> s = CountSeries()
>>> for h in range(30): s.add(h * 3600.0)
>>> s.last_24h(29 * 3600.0)
24.0
"""

from __future__ import annotations

from typing import Any


__all__ = ["CountSeries"]

HOURS = 24
DAYS = 35


class CountSeries:
    """Weighted event counts of one key by hour (last 24 h) and by day (last 35 days, CST)."""

    __slots__ = ("_memo", "day", "days", "flags", "h24", "hour", "hours")

    def __init__(self) -> None:
        self.hour = -1
        self.hours = [0.0] * HOURS
        self.h24 = 0.0  # running sum of ``hours``
        self.day = -1
        self.days = [0.0] * DAYS
        self.flags = 0  # bit i set: the day in ring slot i was an outbreak day
        self._memo: tuple[Any, ...] = ()  # last baseline() arguments and result (not state)

    def _roll(self, ts: float) -> tuple[int, int]:
        h = int(ts // 3600)
        d = int((ts + 28800) // 86400)
        last = self.hour
        if h > last:
            if last < 0 or h - last >= HOURS:
                self.hours = [0.0] * HOURS
                self.h24 = 0.0
            else:
                hours, h24 = self.hours, self.h24
                for x in range(last + 1, h + 1):
                    v = hours[x % HOURS]
                    if v:  # subtracting an empty hour changes nothing: skip it
                        h24 -= v
                        hours[x % HOURS] = 0.0
                self.h24 = h24
            self.hour = h
        if d > self.day:
            if self.day < 0 or d - self.day >= DAYS:
                self.days = [0.0] * DAYS
                self.flags = 0
            else:
                for x in range(self.day + 1, d + 1):
                    self.days[x % DAYS] = 0.0
                    self.flags &= ~(1 << (x % DAYS))
            self.day = d
        return h, d

    def add(self, ts: float, n: float = 1.0) -> None:
        """Count ``n`` at event time ``ts``. Late events (older than the rings) are ignored;
        events within the rings land in their own hour/day."""
        h = int(ts // 3600)
        if h != self.hour:  # the common case — same hour as the last event — skips the roll
            h, _ = self._roll(ts)
        d = self.day if h == self.hour else int((ts + 28800) // 86400)
        if h > self.hour - HOURS:
            self.hours[h % HOURS] += n
            self.h24 += n
        if d > self.day - DAYS:
            self.days[d % DAYS] += n
            if d != self.day:  # a late event changed a past day: the cached baseline may be stale
                self._memo = ()

    def last_24h(self, ts: float) -> float:
        """Sum over the 24 hours ending with the hour of ``ts``."""
        self._roll(ts)
        return self.h24

    def day_count(self, d: int) -> float:
        return self.days[d % DAYS] if self.day - DAYS < d <= self.day else 0.0

    def baseline(self, ts: float, since_day: int, skip: int = 2, span: int = 28) -> tuple[float, float, int]:
        """Mean and variance of daily counts over up to ``span`` days ending ``skip`` days before
        the day of ``ts``, leaving out outbreak days and days before ``since_day`` (when the
        detector started). Returns ``(mean, variance, days_used)``."""
        _, d = self._roll(ts)
        memo_key = (d, since_day, skip, span, self.flags)
        if self._memo and self._memo[0] == memo_key:
            return self._memo[1]
        vals = []
        for x in range(d - skip, max(d - skip - span, since_day - 1, d - DAYS), -1):
            if not self.flags >> (x % DAYS) & 1:
                vals.append(self.days[x % DAYS])
        n = len(vals)
        result = (0.0, 0.0, 0)
        if n:
            mean = sum(vals) / n
            result = (mean, sum((v - mean) ** 2 for v in vals) / max(1, n - 1), n)
        self._memo = (memo_key, result)
        return result

    def flag(self, ts: float) -> None:
        """Mark the day of ``ts`` (and the day before, which the 24 h window spans) as outbreak days."""
        _, d = self._roll(ts)
        self.flags |= 1 << (d % DAYS)
        if d - 1 > self.day - DAYS:
            self.flags |= 1 << ((d - 1) % DAYS)

    def to_json(self) -> list[Any]:
        return [self.hour, list(self.hours), self.day, list(self.days), self.flags, self.h24]

    @classmethod
    def from_json(cls, data: list[Any]) -> CountSeries:
        s = cls()
        s.hour, hours, s.day, days, s.flags, s.h24 = data
        s.hours, s.days = [float(x) for x in hours], [float(x) for x in days]
        return s
