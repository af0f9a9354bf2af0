"""Chinese free text for simulated complaints and posts, with the noise of real feeds.

``TextMaker`` fills the templates of ``config/simulator.yaml`` (``texts``) and adds what
real 12315 records and social posts carry: hashtags, emoji, common typos, doubled
punctuation, and in complaints sometimes a mobile number or an 18-digit resident ID number
(so the project's masking is exercised). Choices come from pre-drawn random integers
(``r``: a sequence of non-negative ints, at least ``R_WIDTH`` long), which lets the
simulator draw them in bulk with numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pipeline.synthetic_world import CategoryProfile

__all__ = ["BRAND", "CITY", "R_WIDTH", "TextMaker", "TextPool", "resident_id"]

BRAND, CITY = "\x00", "\x01"  # slots in pooled texts

R_WIDTH = 16  # random ints per event: texts read r[0..11], the event builder r[12..15]
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def resident_id(county: str, x: int) -> str:
    """A well-formed 18-digit resident ID number (GB 11643) registered in ``county``,
    birth date and sequence from the integer ``x``."""
    y, m, d = 1950 + x % 56, 1 + (x >> 6) % 12, 1 + (x >> 10) % 28
    body = f"{county}{y:04d}{m:02d}{d:02d}{(x >> 15) % 1000:03d}"
    return body + _ID_CHECK[sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]


def _pick(seq: Sequence[str], x: int) -> str:
    return seq[x % len(seq)]


def _chance(x: int, p: float) -> bool:
    return (x % 100_000) < p * 100_000


class TextMaker:
    """Builds people, complaint texts and posts from the profile's ``texts`` section and
    ``shares`` (phone / ID-number rates). Called by the event builder for every complaint
    and opinion event, so every method is a handful of look-ups."""

    def __init__(self, texts: dict[str, Any], shares: dict[str, Any]) -> None:
        self.t = texts
        self.surnames, self.given = texts["surnames"], texts["given"]
        self.prefix = texts["mobile_prefix"]
        self.emoji, self.typos = texts["emoji"], list(texts["typos"].items())
        self.op = texts["opinion"]
        self.p_phone, self.p_id = float(shares["text_phone"]), float(shares["text_id_number"])
        self.p_person_id = float(shares["complainant_id_number"])

    # -- people --------------------------------------------------------------------------
    def phone(self, x: int) -> str:
        """An 11-digit mainland mobile number."""
        return f"{_pick(self.prefix, x)}{(x >> 8) % 100_000_000:08d}"

    def name(self, x: int) -> str:
        return _pick(self.surnames, x) + _pick(self.given, x >> 7)

    def person(self, x: int, y: int, z: int, county: str) -> dict[str, str]:
        """A complainant from three random ints: name and phone, sometimes an ID number
        registered in ``county`` (personal data, all fake)."""
        p = {"name": self.name(x), "phone": self.phone(y)}
        if _chance(z, self.p_person_id):
            p["id_number"] = resident_id(county, z >> 7)
        return p

    # -- noise ---------------------------------------------------------------------------
    def noisy(self, text: str, r: Sequence[int], hashtag: str | None = None, emoji_rate: float = 0.05) -> str:
        """``text`` with occasional typos, emoji, doubled punctuation and a hashtag."""
        x = r[7]
        if x % 100 < 5:
            wrong, typo = self.typos[(x >> 17) % len(self.typos)]
            text = text.replace(wrong, typo, 1)
        if hashtag is not None:
            text = f"#{hashtag}# {text}" if x & 1 << 40 else f"{text} #{hashtag}#"
        if (x >> 8) % 1000 < emoji_rate * 1000:
            text += self.emoji[(x >> 24) % len(self.emoji)] * (1 + (x >> 32) % 3)
        if (x >> 44) % 100 < 8:
            text += "！！！" if x & 1 << 50 else "？？"
        return text

    # -- complaints ----------------------------------------------------------------------
    def injury(self, level: str, own: Mapping[str, Sequence[str]], x: int) -> str:
        """A phrase for an injury of ``level``: the category's ``own`` phrases, else generic ones."""
        return _pick(own.get(level) or self.t["injury"][level], x)

    def complaint_text(self, problems: Sequence[str], issue: str, injury: str, product: str, brand: str | None,
                       county: str, r: Sequence[int], injuries: Mapping[str, Sequence[str]] | None = None,
                       contact: bool = True) -> str:
        """A 12315-style complaint: who, when, where bought, what, what went wrong, what they
        want; with ``contact``, sometimes a phone or ID number. ``problems`` and ``injuries``
        are the category's own quality problems and injury phrases."""
        t = self.t
        pool = problems if issue in ("quality", "safety") else t["issue_problem"].get(issue, problems)
        text = (f"{_pick(t['opener'], r[0])}{_pick(t['when'], r[1])}{_pick(t['place'], r[2])}"
                f"{_pick(t['bought'], r[3])}{brand or ''}{product}，{_pick(pool, r[0] >> 3)}")
        if injury != "none":
            text += "，" + self.injury(injury, injuries or {}, r[4])
        text += "，" + _pick(t["demand"].get(issue, t["demand"]["other"]), r[5])
        text = self.noisy(text, r)
        return text + self.contact(county, r) if contact else text

    def contact(self, county: str, r: Sequence[int]) -> str:
        """What complainants append now and then: a phone number, an ID number, or nothing."""
        out = ""
        if _chance(r[6], self.p_phone):
            out += ("。联系电话" if r[6] & 1 << 40 else "，电话：") + self.phone(r[6] >> 20)
        if _chance(r[11], self.p_id):
            out += "。身份证号" + resident_id(county, r[11] >> 20)
        return out

    # -- posts ---------------------------------------------------------------------------
    def post(self, tone: str, cat_name: str, brand: str, product: str, problem: str, city: str,
             r: Sequence[int], risk_term: str | None = None) -> str:
        """A social-media post of ``tone`` (negative, neutral, positive, offtopic) naming the
        category and usually the brand, so text inference has something to find."""
        if tone == "offtopic":
            return self.noisy(_pick(self.op["offtopic"], r[0]), r, emoji_rate=0.3)
        text = _pick(self.op[tone], r[0]).format(brand=brand, product=product, problem=problem, cat=cat_name, city=city)
        if risk_term is not None:
            text += f"，听说这种{cat_name}还会{risk_term}，有点慌"
        tag = None
        if _chance(r[1], 0.3):
            tag = cat_name if r[1] & 1 << 40 else brand + cat_name
        return self.noisy(text, r, hashtag=tag, emoji_rate=0.4)

    def news_title(self, cat_name: str, city: str, x: int) -> str:
        return _pick(self.op["news_title"], x).format(cat=cat_name, city=city)


class TextPool:
    """Pre-generated background texts, so the simulator's hot loop only picks and fills slots.

    For every category: ``size`` complaint texts per issue (without contact details, which
    the caller appends) and ``size`` posts per tone (naming the category by its catalogue
    name or, half the time, by what people call it), each with the brand as ``BRAND`` and
    the city as ``CITY`` placeholders (fill with ``str.replace``). Entries are
    ``(product index, text)``; ``ints(n)`` supplies ``n`` rows of ``R_WIDTH`` random ints.
    Built once per simulator from its own random stream.
    """

    def __init__(self, maker: TextMaker, categories: Sequence[CategoryProfile], issues: Sequence[str], tones: Sequence[str],
                 ints: Callable[[int], list[list[int]]], size: int = 32) -> None:
        self.size = size
        self.complaints: list[list[list[tuple[int, str]]]] = []
        self.posts: list[list[list[tuple[int, str]]]] = []
        for cat in categories:
            rows = ints(size * (len(issues) + len(tones)))
            by_issue = []
            for issue in issues:
                entries = []
                for _ in range(size):
                    r = rows.pop()
                    k = r[13] % len(cat.products)
                    entries.append((k, maker.complaint_text(cat.problems, issue, "none", cat.products[k], BRAND, "",
                                                            r, contact=False)))
                by_issue.append(entries)
            self.complaints.append(by_issue)
            by_tone = []
            for tone in tones:
                entries = []
                for _ in range(size):
                    r = rows.pop()
                    k = r[13] % len(cat.products)
                    name = cat.names[r[15] % len(cat.names)] if r[15] & 1 << 40 else cat.names[0]
                    entries.append((k, maker.post(tone, name, BRAND, cat.products[k],
                                                  cat.problems[r[14] % len(cat.problems)], CITY, r)))
                by_tone.append(entries)
            self.posts.append(by_tone)
