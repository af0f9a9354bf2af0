"""The opinion-text lexicon: categories, brands, enterprises, risk terms and sentiment of a
post (舆情) found in one Aho-Corasick pass over title + text, without word segmentation.

Opinion posts are most of the event volume, so the budget is a few microseconds a post
(DESIGN §8). Every dictionary entry of ``config/lexicon.yaml`` is a key of one automaton
whose value is a precomputed tuple; ``analyze`` walks the matches once to keep the
leftmost-longest ones (so ``不好用`` is one negative word, not 不 + 好用, and neutral entries
such as ``不断`` or ``一起`` hide the words inside them), then once more to add them up.

Negation: a negator (不, 没有, 别, 未, 并非, 无…) applies to a sentiment word or risk term
that starts at most ``negation_window`` characters after it in the same clause (no
punctuation, 但/可是/不过 in between). A negated sentiment word is multiplied by
``negation_factor``; a negated risk term is not reported at all (``不会起火`` is not a fire
report) and the negation carries on to the risk terms right after it (``没有甲醛和苯``).
Two negators in a row cancel.

>>> lex = Lexicon.load()
>>> facts = lex.analyze("这个充电宝不好用，用了两天就鼓包发烫")
>>> facts.categories[0][0], facts.risk_terms, facts.sentiment < 0
('lithium_battery', ('鼓包', '发烫'), True)
>>> lex.analyze("放心，这款电暖器不会起火").risk_terms
()
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ahocorasick
import msgspec
import orjson
import yaml

from schemas.categories import Catalogue
from schemas.errors import ConfigError
from schemas.uscc import uscc_problem

__all__ = ["Lexicon", "TextFacts"]


class TextFacts(msgspec.Struct, frozen=True, gc=False):
    """What one post says, as far as the lexicon can tell.

    ``categories``: ``(code, confidence 0..1)``, best first, at most ``max_categories``;
    ``brands`` / ``enterprises`` (USCCs) / ``risk_terms`` (canonical): in order of first
    appearance, deduplicated; ``hazard``: the strongest reported risk term's weight (0..1);
    ``injury``: a reported term says a person was hurt; ``sentiment``: -1..1.
    """

    categories: tuple[tuple[str, float], ...]
    brands: tuple[str, ...]
    enterprises: tuple[str, ...]
    risk_terms: tuple[str, ...]
    hazard: float
    injury: bool
    sentiment: float


_EMPTY = TextFacts((), (), (), (), 0.0, False, 0.0)

# The kinds of automaton records: one role each (a key with none is neutral), or several.
_K_NEUTRAL, _K_CAT, _K_CATS, _K_SENT, _K_NEG, _K_AMP, _K_RISK, _K_WEAK, _K_BRAND, _K_ENT, _K_MULTI = range(11)

# What ends a clause for negation and intensifiers (checked only between a negator and its word).
_BREAK = re.compile(r"[\s,.!?;:~，。！？；：、…～—·|/()（）【】\[\]「」『』<>《》\"'“”‘’#@]|但|可是|不过|然而|却")

# Half-width printable ASCII → full-width forms (ＫＮ９５), for entries with Latin letters or digits.
_FULLWIDTH = {c: c + 0xFEE0 for c in range(0x21, 0x7F)}

_TOP = ("settings", "categories", "risk_terms", "sentiment", "traditional")


@dataclass(frozen=True, slots=True)
class _Settings:
    """Scoring parameters (section ``settings``); see the file's header for their meaning."""

    max_categories: int = 3
    min_confidence: float = 0.2
    brand_weight: float = 0.6
    negation_window: int = 3
    negation_factor: float = -0.6
    risk_sentiment: float = 0.6


# (name, type, low, high, low inclusive) of each setting.
_SETTING_RULES: dict[str, tuple[type, float, float, bool]] = {
    "max_categories": (int, 1, 10, True),
    "min_confidence": (float, 0.0, 0.99, True),
    "brand_weight": (float, 0.0, 1.0, False),
    "negation_window": (int, 0, 10, True),
    "negation_factor": (float, -1.0, 0.0, True),
    "risk_sentiment": (float, 0.0, 1.0, True),
}


@dataclass(frozen=True, slots=True)
class _Dictionaries:
    """A validated ``lexicon.yaml``: ``roles`` maps each entry to its role dict (see
    ``_Builder``), ``traditional`` is a ``str.translate`` table, ``codes`` the catalogue's
    category codes, ``digest`` the content hash of the file and the catalogue names added."""

    settings: _Settings
    roles: Mapping[str, Mapping[str, Any]]
    traditional: Mapping[int, str]
    codes: frozenset[str]
    digest: str


class Lexicon:
    """Finds categories, brands, enterprises, risk terms and sentiment in opinion text.

    Built by ``Lexicon.load`` (dictionaries) and ``with_entities`` (brands, enterprises);
    immutable afterwards, pure and deterministic, so one instance is shared by every
    pipeline stage and thread. The enrich stage calls ``analyze`` once per opinion event;
    ``version`` (a content hash of dictionaries and entities) goes into the
    ``config_hash`` of the detectors that use its output.
    """

    __slots__ = ("_dicts", "_brands", "_enterprises", "_iter", "_params", "version")

    version: str

    def __init__(self, dictionaries: _Dictionaries, brands: Mapping[str, str] | None = None,
                 enterprises: Mapping[str, str] | None = None) -> None:
        """Compile the automaton; use ``load`` and ``with_entities`` rather than calling this.

        Raises ``ConfigError`` for a brand whose category is not in the catalogue, an
        enterprise whose USCC is malformed, or an entity name shorter than 2 characters.
        """
        brands = dict(sorted((brands or {}).items(), key=str))
        enterprises = dict(sorted((enterprises or {}).items(), key=str))
        builder = _Builder(dictionaries.settings)
        for term, roles in dictionaries.roles.items():
            builder.merge(term, roles)
        for name, code in brands.items():
            _entity_name("brands", name)
            if code not in dictionaries.codes:
                raise ConfigError(f"brands.{name}", f"unknown category code {code!r}")
            builder.merge(name, {"brand": name, "cats": {code: dictionaries.settings.brand_weight}})
        for name, uscc in enterprises.items():
            _entity_name("enterprises", name)
            problem = uscc_problem(uscc) if isinstance(uscc, str) else ("type", "must be a string")
            if problem is not None:
                raise ConfigError(f"enterprises.{name}", f"USCC {uscc!r}: {problem[1]}")
            builder.merge(name, {"uscc": uscc})
        automaton = builder.compile(dictionaries.traditional)
        entities = orjson.dumps([brands, enterprises], option=orjson.OPT_SORT_KEYS)
        setattr_ = object.__setattr__
        setattr_(self, "_dicts", dictionaries)
        setattr_(self, "_brands", brands)
        setattr_(self, "_enterprises", enterprises)
        setattr_(self, "_iter", automaton.iter)
        s = dictionaries.settings
        # (window in characters, its longest extent in UTF-8 bytes + 1, negation factor,
        #  categories reported, largest Π(1 - w) reported)
        setattr_(self, "_params", (s.negation_window, 4 * s.negation_window + 1, s.negation_factor,
                                   s.max_categories, 1.0 - s.min_confidence))
        setattr_(self, "version", hashlib.sha256(dictionaries.digest.encode() + entities).hexdigest()[:16])

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Lexicon is immutable; cannot set {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the dictionaries and entities (for worker processes); unpickling recompiles."""
        return Lexicon, (self._dicts, self._brands, self._enterprises)

    def __repr__(self) -> str:
        return (f"Lexicon(version={self.version!r}, entries={len(self._dicts.roles)}, "
                f"brands={len(self._brands)}, enterprises={len(self._enterprises)})")

    @classmethod
    def load(cls, path: Path | None = None, catalogue: Catalogue | None = None) -> Lexicon:
        """Read and validate the dictionaries (default ``config/lexicon.yaml``).

        Every category code must be in ``catalogue`` (default: the shipped product
        catalogue); each category's catalogue name is added as a term when missing.
        Raises ``ConfigError`` naming the offending key and value when the file is
        unreadable, not YAML, has a duplicate or unknown key, a bad weight, an unknown
        category code, or gives one word two conflicting roles.
        """
        if path is None:
            from config import DIR

            path = DIR / "lexicon.yaml"
        if catalogue is None:
            catalogue = Catalogue.load()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(str(path), f"cannot read lexicon: {exc}") from exc
        try:
            doc = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
        except yaml.YAMLError as exc:
            raise ConfigError(str(path), f"not valid YAML: {exc}") from exc
        return cls(_parse(doc if doc is not None else {}, catalogue))

    def with_entities(self, brands: Mapping[str, str], enterprises: Mapping[str, str]) -> Lexicon:
        """A new lexicon that also finds ``brands`` (name → category code; a match is evidence
        of ``brand_weight`` for that category) and ``enterprises`` (short or full name → USCC).

        The given entities replace any given before; this lexicon is unchanged. Names are
        matched as written and in their traditional / case / full-width forms. Called when
        the enterprise and brand registry changes, not per event: it rebuilds the automaton.
        Raises ``ConfigError`` for an unknown category code, a malformed USCC or a name
        shorter than 2 characters.
        """
        return Lexicon(self._dicts, brands, enterprises)

    def brand(self, name: str) -> tuple[str, str]:
        """A learned brand's category code and its maker's USCC (``""`` when not known)."""
        return self._brands.get(name, ""), self._enterprises.get(name, "")

    def risk_class(self, term: str) -> str | None:
        """The hazard class (``fire``, ``chemical``, ``injury``…) of a canonical risk term."""
        risk = self._dicts.roles.get(term, {}).get("risk")
        return risk[3] if risk and risk[0] == term else None

    def analyze(self, text: str, title: str = "") -> TextFacts:
        """The facts of one post (``title`` and ``text`` are read as one string).

        Never raises on any ``str`` input (empty, emoji-only, lone surrogates, 10,000
        characters…); the result depends only on the arguments and the dictionaries.
        """
        # The automaton runs over UTF-8 bytes seen as latin-1 characters: pyahocorasick
        # finds a node's child by a linear scan, and over characters the root would have
        # ~1,500 children (every first character of an entry), over bytes a few dozen.
        # Positions below are byte offsets; UTF-8 keeps matches on character boundaries.
        # ASCII letters are lower-cased (bytes.lower touches nothing else), so "KN95" = "kn95".
        u = (f"{title}\n{text}" if title else text).encode("utf-8", "surrogatepass").lower().decode("latin-1")
        # Pass 1: keep the leftmost-longest non-overlapping matches. ``iter`` reports
        # matches by end position, longest first; a match that contains kept ones replaces
        # them, one that overlaps an earlier-starting kept match is dropped.
        kept: list[tuple[int, tuple]] = []
        push = kept.append
        last = -1
        for match in self._iter(u):
            end, rec = match
            start = end - rec[0]   # the byte before the match
            if start >= last:
                push(match)
                last = end
                continue
            i = len(kept) - 1
            while i >= 0 and kept[i][0] - kept[i][1][0] >= start:
                i -= 1
            if i >= 0 and kept[i][0] > start:
                continue
            del kept[i + 1:]
            push(match)
            last = end
        if not kept:
            return _EMPTY
        return self._score(u, kept)

    def _score(self, u: str, kept: list[tuple[int, tuple]]) -> TextFacts:
        """Pass 2: add up the kept matches (see the module docstring for negation).

        A pending negator or intensifier is resolved by the first word after it: that word
        is either in its scope or too far, and then so is every later word. A record with
        several roles (a brand, ``瘦身钢筋`` = category + risk…) restarts the pass with it
        split into one record per role, in the order categories, brand, enterprise, risk,
        sentiment, negator, intensifier.
        """
        window, reach, nfactor, max_cats, max_miss = self._params
        neg_end = amp_end = -1_000
        neg_odd = risk_only = False
        amp = 1.0
        total = hazard = 0.0
        injury = False
        miss: dict[str, float] = {}
        risks: list[str] = []
        brands: list[str] = []
        ents: list[str] = []
        CAT, CATS, SENT, NEG, AMP, RISK, WEAK = _K_CAT, _K_CATS, _K_SENT, _K_NEG, _K_AMP, _K_RISK, _K_WEAK
        for end, rec in kept:
            kind = rec[1]
            if kind == CAT:
                code = rec[2]
                miss[code] = miss.get(code, 1.0) * rec[3]
            elif kind == SENT:
                x = rec[2]
                if amp_end >= 0:
                    start = end - rec[0] + 1
                    if start - amp_end <= reach and (start == amp_end + 1 or _near(u, amp_end, start, window)):
                        x *= amp
                    amp_end = -1_000
                if neg_odd:
                    start = end - rec[0] + 1
                    if (not risk_only and start - neg_end <= reach
                            and (start == neg_end + 1 or _near(u, neg_end, start, window))):
                        x *= nfactor
                    neg_odd = False
                total += x
            elif kind == RISK:
                if neg_odd:
                    start = end - rec[0] + 1
                    if start - neg_end <= reach and (start == neg_end + 1 or _near(u, neg_end, start, window)):
                        # Negated: not reported; the negation carries on to the next risk term.
                        neg_end, risk_only = end, True
                        continue
                    neg_odd = False
                if rec[2] not in risks:
                    risks.append(rec[2])
                if rec[3] > hazard:
                    hazard = rec[3]
                if rec[4]:
                    injury = True
                total -= rec[5]
            elif kind == NEG:
                # A negator right after another one (same clause) cancels it.
                start = end - rec[0] + 1
                neg_odd = not (neg_odd and not risk_only and start - neg_end <= reach
                               and (start == neg_end + 1 or _near(u, neg_end, start, window)))
                neg_end, risk_only = end, False
            elif kind == AMP:
                amp, amp_end = rec[2], end
            elif kind == CATS:
                for code, m in rec[2]:
                    miss[code] = miss.get(code, 1.0) * m
            elif kind == WEAK:
                # Counts only as the word of a pending intensifier or negator.
                start, x = end - rec[0] + 1, 0.0
                if amp_end >= 0:
                    if start - amp_end <= reach and (start == amp_end + 1 or _near(u, amp_end, start, window)):
                        x = rec[2] * amp
                    amp_end = -1_000
                if neg_odd:
                    if (not risk_only and start - neg_end <= reach
                            and (start == neg_end + 1 or _near(u, neg_end, start, window))):
                        x = (x or rec[2]) * nfactor
                    neg_odd = False
                total += x
            elif kind == _K_BRAND:
                if rec[2] not in brands:
                    brands.append(rec[2])
            elif kind == _K_ENT:
                if rec[2] not in ents:
                    ents.append(rec[2])
            elif kind == _K_MULTI:
                return self._score(u, [(e, sub) for e, r in kept for sub in (r[2] if r[1] == _K_MULTI else (r,))])
        categories: tuple[tuple[str, float], ...] = ()
        if miss:
            if len(miss) == 1:
                for code, m in miss.items():
                    if m <= max_miss:
                        categories = ((code, 1.0 - m),)
            else:
                categories = tuple([(code, 1.0 - miss[code]) for code in sorted(miss, key=miss.__getitem__)[:max_cats]
                                    if miss[code] <= max_miss])
        return TextFacts(categories, tuple(brands), tuple(ents), tuple(risks), hazard, injury, math.tanh(total))


def _near(u: str, before: int, start: int, window: int) -> bool:
    """Whether the bytes ``u[before + 1:start]`` are at most ``window`` characters of one clause."""
    if start == before + 1:
        return True
    if before < 0 or start - before - 1 > 4 * window:
        return False
    gap = u[before + 1:start].encode("latin-1").decode("utf-8", "surrogatepass")
    return len(gap) <= window and not _BREAK.search(gap)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that rejects duplicate mapping keys (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, (str, int, float, bool)):
                continue  # unhashable: the base class raises a proper error
            if key in seen:
                raise ConfigError(f"line {key_node.start_mark.line + 1}", f"duplicate key {key!r}")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _Builder:
    """Collects the roles of each key, then compiles the automaton (see ``record``).

    A role dict may hold: ``cats`` {code: weight}, ``risk`` (canonical, weight, injury,
    class), ``senti`` or ``weak`` polarity, ``neg`` True, ``amp`` factor, ``neutral`` True, ``brand``
    name, ``uscc``.
    """

    def __init__(self, settings: _Settings) -> None:
        self.settings = settings
        self.roles: dict[str, dict[str, Any]] = {}

    def merge(self, term: str, roles: Mapping[str, Any]) -> None:
        """Add ``roles`` to ``term`` (categories accumulate, keeping the larger weight);
        terms that differ only in ASCII case are one entry."""
        entry = self.roles.setdefault(_wire(term).encode("latin-1").decode("utf-8", "surrogatepass"), {})
        for role, value in roles.items():
            if role == "cats":
                cats = entry.setdefault("cats", {})
                for code, weight in value.items():
                    cats[code] = max(weight, cats.get(code, 0.0))
            else:
                entry[role] = value

    def record(self, term: str, entry: Mapping[str, Any]) -> tuple:
        """The automaton value of ``term``: ``(length in UTF-8 bytes, kind, a, b, c, d)``.

        By kind, ``a..d`` are: _K_CAT code, 1 - weight; _K_CATS ((code, 1 - weight), …);
        _K_SENT and _K_WEAK polarity; _K_AMP factor; _K_RISK canonical, weight, injury,
        sentiment penalty; _K_BRAND name; _K_ENT USCC; _K_MULTI one record per role.
        """
        n = len(_wire(term))
        subs: list[tuple] = []
        cats = tuple((code, 1.0 - w) for code, w in (entry.get("cats") or {}).items())
        if len(cats) == 1:
            subs.append((n, _K_CAT, *cats[0], None, None))
        elif cats:
            subs.append((n, _K_CATS, cats, None, None, None))
        for role, kind in (("brand", _K_BRAND), ("uscc", _K_ENT)):
            if role in entry:
                subs.append((n, kind, entry[role], None, None, None))
        if "risk" in entry:
            canonical, weight, hurt, _ = entry["risk"]
            subs.append((n, _K_RISK, canonical, weight, hurt, self.settings.risk_sentiment * weight))
        for role, kind in (("senti", _K_SENT), ("weak", _K_WEAK), ("neg", _K_NEG), ("amp", _K_AMP)):
            if role in entry:
                subs.append((n, kind, entry[role], None, None, None))
        if len(subs) == 1:
            return subs[0]
        return (n, _K_MULTI, tuple(subs), None, None, None) if subs else (n, _K_NEUTRAL, None, None, None, None)

    def compile(self, traditional: Mapping[int, str]) -> ahocorasick.Automaton:
        """The automaton over every term and its variants (variants never override a term).

        Keys are in wire form (``_wire``). They are added most frequent bytes first, lead
        bytes of CJK characters before ASCII: a node's children are scanned in insertion
        order, so this makes the common transitions short (about a fifth faster).
        """
        keys: dict[str, tuple] = {}
        for term, entry in self.roles.items():
            keys[_wire(term)] = self.record(term, entry)
        for term, entry in self.roles.items():
            for variant in _variants(term, traditional):
                keys.setdefault(_wire(variant), self.record(variant, entry))
        freq: dict[str, int] = {}
        for key in keys:
            for c in key:
                freq[c] = freq.get(c, 0) + 1
        automaton = ahocorasick.Automaton()
        for key in sorted(keys, key=lambda k: (k[0] < "\x80", [-freq[c] for c in k], k)):
            automaton.add_word(key, keys[key])
        automaton.make_automaton()
        return automaton


def _wire(term: str) -> str:
    """``term`` as the automaton sees text: UTF-8 bytes, ASCII lower-cased, as latin-1 characters."""
    return term.encode("utf-8", "surrogatepass").lower().decode("latin-1")


def _variants(term: str, traditional: Mapping[int, str]) -> list[str]:
    """Traditional-character and full-width forms of ``term`` (ASCII case is folded on the wire)."""
    forms = dict.fromkeys([term, term.translate(traditional)])
    if any(c.isascii() for c in term):
        for form in list(forms):
            forms.update(dict.fromkeys([form.lower().translate(_FULLWIDTH), form.upper().translate(_FULLWIDTH)]))
    del forms[term]
    return list(forms)


def _entity_name(section: str, name: object) -> None:
    """Raise unless ``name`` can be matched safely."""
    if not isinstance(name, str) or len(name.strip()) < 2 or name != name.strip():
        raise ConfigError(f"{section}.{name}", "a name must be a string of at least 2 characters "
                                               "without surrounding spaces")


# ---- parsing and validation of lexicon.yaml ---------------------------------------------

def _parse(doc: Any, catalogue: Catalogue) -> _Dictionaries:
    """Validate the YAML document and turn it into role dicts per term."""
    _mapping("lexicon", doc)
    unknown = sorted(set(doc) - set(_TOP), key=str)
    if unknown:
        raise ConfigError(f"lexicon.{unknown[0]}", f"unknown section; expected one of {', '.join(_TOP)}")
    settings = _parse_settings(doc.get("settings") or {})
    roles: dict[str, dict[str, Any]] = {}
    owner: dict[tuple[str, str], str] = {}   # (term, role family) -> where it was defined

    def claim(term: str, family: str, where: str) -> dict[str, Any]:
        other = owner.setdefault((term, family), where)
        if other != where:
            raise ConfigError(where, f"{term!r} is already defined at {other}")
        entry = roles.setdefault(term, {})
        if "neutral" in entry or (family == "neutral" and entry):
            raise ConfigError(where, f"{term!r} is neutral and has another role")
        return entry

    categories = _mapping("categories", doc.get("categories") or {})
    added: list[str] = []
    for code, terms in categories.items():
        if code not in catalogue:
            raise ConfigError(f"categories.{code}", "unknown category code (not in product_categories.csv)")
        for term, weight in _mapping(f"categories.{code}", terms).items():
            where = f"categories.{code}.{term}"
            entry = claim(_term(where, term), f"cat:{code}", where)
            entry.setdefault("cats", {})[code] = _number(where, weight, 0.0, 1.0, low_open=True)
    for category in catalogue:
        name = category.name_zh
        if category.code not in (roles.get(name, {}).get("cats") or {}):
            roles.setdefault(name, {}).setdefault("cats", {})[category.code] = 0.95
            added.append(f"{category.code}:{name}")

    for klass, terms in _mapping("risk_terms", doc.get("risk_terms") or {}).items():
        for canonical, spec in _mapping(f"risk_terms.{klass}", terms).items():
            where = f"risk_terms.{klass}.{canonical}"
            spec = _mapping(where, spec)
            extra = sorted(set(spec) - {"weight", "injury", "forms"}, key=str)
            if extra:
                raise ConfigError(f"{where}.{extra[0]}", "unknown field; expected weight, injury, forms")
            weight = _number(f"{where}.weight", spec.get("weight"), 0.0, 1.0, low_open=True)
            hurt = spec.get("injury", False)
            if not isinstance(hurt, bool):
                raise ConfigError(f"{where}.injury", f"must be true or false, got {hurt!r}")
            forms = spec.get("forms") or []
            if isinstance(forms, list):
                forms = dict.fromkeys(forms, weight)
            for form, w in {canonical: weight, **_mapping(f"{where}.forms", forms)}.items():
                fw = _number(f"{where}.forms.{form}", w, 0.0, 1.0, low_open=True)
                claim(_term(f"{where}.forms", form), "risk", where)["risk"] = (canonical, fw, hurt, str(klass))

    sentiment = _mapping("sentiment", doc.get("sentiment") or {})
    fields = ("words", "weak", "negators", "intensifiers", "neutral")
    extra = sorted(set(sentiment) - set(fields), key=str)
    if extra:
        raise ConfigError(f"sentiment.{extra[0]}", f"unknown field; expected one of {', '.join(fields)}")
    for section, role in (("words", "senti"), ("weak", "weak")):
        for word, value in _mapping(f"sentiment.{section}", sentiment.get(section) or {}).items():
            where = f"sentiment.{section}.{word}"
            x = _number(where, value, -1.0, 1.0)
            if x == 0:
                raise ConfigError(where, "polarity must not be 0 (list neutral words under sentiment.neutral)")
            claim(_term(where, word), "function", where)[role] = x
    for word in _sequence("sentiment.negators", sentiment.get("negators") or []):
        where = f"sentiment.negators.{word}"
        claim(_term(where, word), "function", where)["neg"] = True
    for word, factor in _mapping("sentiment.intensifiers", sentiment.get("intensifiers") or {}).items():
        where = f"sentiment.intensifiers.{word}"
        claim(_term(where, word), "function", where)["amp"] = _number(where, factor, 0.0, 3.0, low_open=True)
    for word in _sequence("sentiment.neutral", sentiment.get("neutral") or []):
        where = f"sentiment.neutral.{word}"
        claim(_term(where, word), "neutral", where)["neutral"] = True

    table: dict[int, str] = {}
    for simple, trad in _mapping("traditional", doc.get("traditional") or {}).items():
        if not (isinstance(simple, str) and isinstance(trad, str) and len(simple) == len(trad) == 1):
            raise ConfigError(f"traditional.{simple}", f"must map one character to one character, got {trad!r}")
        table[ord(simple)] = trad

    canonical_doc = orjson.dumps([doc, added], option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return _Dictionaries(settings, roles, table, frozenset(c.code for c in catalogue),
                         hashlib.sha256(canonical_doc).hexdigest())


def _parse_settings(raw: Any) -> _Settings:
    """Validate section ``settings`` against ``_SETTING_RULES``."""
    values: dict[str, Any] = {}
    for key, value in _mapping("settings", raw).items():
        if key not in _SETTING_RULES:
            raise ConfigError(f"settings.{key}", f"unknown setting; expected one of {', '.join(_SETTING_RULES)}")
        kind, low, high, low_closed = _SETTING_RULES[key]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"settings.{key}", f"must be an integer, got {value!r}")
        number = _number(f"settings.{key}", value, low, high, low_open=not low_closed)
        values[key] = int(number) if kind is int else number
    return _Settings(**values)


def _mapping(where: str, value: Any) -> dict[Any, Any]:
    """``value`` if it is a mapping, else ``ConfigError``."""
    if not isinstance(value, dict):
        raise ConfigError(where, f"must be a mapping, got {type(value).__name__} {value!r}"[:200])
    return value


def _sequence(where: str, value: Any) -> list[Any]:
    """``value`` if it is a list, else ``ConfigError``."""
    if not isinstance(value, list):
        raise ConfigError(where, f"must be a list, got {type(value).__name__} {value!r}"[:200])
    return value


def _term(where: str, term: Any) -> str:
    """``term`` if it is a usable dictionary entry, else ``ConfigError``."""
    if not isinstance(term, str) or not term or term != term.strip() or len(term) > 32:
        raise ConfigError(where, f"an entry must be a non-empty string of at most 32 characters "
                                 f"without surrounding spaces, got {term!r}")
    return term


def _number(where: str, value: Any, low: float, high: float, low_open: bool = False) -> float:
    """``value`` as a float in [low, high] (or (low, high] when ``low_open``), else ``ConfigError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ConfigError(where, f"must be a number, got {value!r}")
    if value > high or value < low or (low_open and value == low):
        bracket = "(" if low_open else "["
        raise ConfigError(where, f"must be in {bracket}{low:g}, {high:g}], got {value!r}")
    return float(value)
