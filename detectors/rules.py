"""``rules``: analyst-written rules for known hazards (``config/rules.yaml``).

A rule names the observations it is about (``when``), how many of them — distinct by what —
within how many hours make a warning, the warning's level and its scope::

    - name: gas_explosion_reports
      title: 燃气器具爆炸起火舆情多地出现
      when: {source: opinion, category: [gas_appliance], risk_terms: [爆炸, 起火]}
      min_count: 4          # matching observations (default 1)
      window_hours: 24      # … within this many hours of event time (default 24)
      distinct: region      # … counted once per region (default: per event)
      level: orange         # blue | yellow | orange | red
      scope: [category]     # the warning's scope (default [category], nation-wide)

``when`` keys (all given ones must hold; a list matches any of its values):
``source`` (required), ``category``, ``category_flags`` (``vulnerable_group``,
``safety_critical``: all listed must be set), ``category_group``, ``injury``, ``issue``,
``violation``, ``risk_terms`` (any), ``min_hazard``, ``max_sentiment``, ``failed``,
``min_critical`` (failed critical items), ``region`` (the event's region or one of its
parents), ``uscc``, ``brand``. ``scope`` items: ``region`` (the event's region as given),
``county``, ``city``, ``province``, ``category``, ``uscc``; ``distinct``: ``event``,
``region``, ``county``, ``city``, ``province``, ``complainant``, ``uscc``, ``brand``.
An observation that lacks a scope item (no enterprise for ``scope: [uscc]``) does not match.

A rule that holds emits a signal whose score is its level's threshold in the grading (so
the lifecycle gives exactly that level), one episode per rule and scope, re-emitted while
the rule keeps holding. Rules need no history. Validation is strict: an unknown key, a
wrong type, an unknown level, source, category or region raises ``ConfigError`` naming
the rule and the key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from detectors.base import DAY, HOUR, Context, DetectorConfig, Observation, Signal
from schemas.alert import LEVELS, Scope
from schemas.errors import ConfigError
from schemas.regions import NATIONAL

__all__ = ["Condition", "Rule", "Rules", "RulesConfig", "load_rules", "load_rules_file"]

LAYOUT = 1
_SOURCES = ("complaint", "sampling", "enforcement", "opinion")
_ENUMS = {
    "source": _SOURCES,
    "category_flags": ("vulnerable_group", "safety_critical"),
    "injury": ("none", "minor", "serious", "fatal", "reported"),
    "issue": ("quality", "safety", "counterfeit", "false_advertising", "labeling", "after_sales", "other"),
    "violation": ("counterfeit", "substandard", "unlicensed", "false_certification", "false_advertising",
                  "origin_fraud", "other"),
}
_SCOPES = ("region", "county", "city", "province", "category", "uscc")
_DISTINCT = ("event", "region", "county", "city", "province", "complainant", "uscc", "brand")
_DISTINCT_ZH = {"event": "起", "region": "个地区", "county": "个区县", "city": "个城市", "province": "个省份",
                "complainant": "名投诉人", "uscc": "家企业", "brand": "个品牌"}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_MAX_WINDOW_HOURS = 35 * 24
_MAX_DISTINCT = 64  # distinct values remembered per rule and scope


@dataclass(frozen=True)
class Condition:
    """What a rule matches; empty tuples / ``None`` mean "any". See the module docstring."""

    source: tuple[str, ...]
    category: tuple[str, ...] = ()
    category_flags: tuple[str, ...] = ()
    category_group: tuple[str, ...] = ()
    injury: tuple[str, ...] = ()
    issue: tuple[str, ...] = ()
    violation: tuple[str, ...] = ()
    risk_terms: tuple[str, ...] = ()
    min_hazard: float | None = None
    max_sentiment: float | None = None
    failed: bool | None = None
    min_critical: int | None = None
    region: tuple[str, ...] = ()
    uscc: tuple[str, ...] = ()
    brand: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    """One analyst rule: ``min_count`` matching observations, distinct by ``distinct``, within
    ``window_hours`` of event time give a ``level`` warning about ``scope``."""

    name: str
    when: Condition
    level: str
    scope: tuple[str, ...] = ("category",)
    min_count: int = 1
    window_hours: float = 24.0
    distinct: str = "event"
    title: str = ""
    description: str = ""


@dataclass(frozen=True)
class RulesConfig(DetectorConfig):
    """The rule set. Build it with ``from_mapping`` (the ``detectors.rules`` settings: ``rules``
    as a list of rule mappings, or ``rules_file``; neither means the shipped
    ``config/rules.yaml``). Rules need no history, so ``min_history_days`` is 0."""

    rules: tuple[Rule, ...] = ()
    min_history_days: float = 0.0
    cooldown_hours: float = 72.0

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None, where: str = "detectors.rules") -> RulesConfig:
        """Validate the settings; raises ``ConfigError`` naming the rule and key at fault."""
        values = dict(values or {})
        unknown = sorted(set(values) - {"enabled", "cooldown_hours", "min_history_days", "rules", "rules_file"})
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}", "unknown setting")
        if "rules" in values and "rules_file" in values:
            raise ConfigError(f"{where}.rules_file", "give either rules or rules_file, not both")
        if "rules" in values:
            rules = load_rules(values.pop("rules"), f"{where}.rules")
        else:
            path = values.pop("rules_file", None)
            rules = load_rules_file(Path(path) if path is not None else None)
        try:
            return cls(rules=rules, **values)
        except TypeError as exc:
            raise ConfigError(where, str(exc)) from exc


def load_rules_file(path: Path | None = None) -> tuple[Rule, ...]:
    """Read a rules file (default: the shipped ``config/rules.yaml``): a mapping with ``rules``."""
    if path is None:
        from config import DIR

        path = DIR / "rules.yaml"
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeys)  # a SafeLoader subclass
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(str(path), f"cannot read rules: {exc}") from exc
    if not isinstance(doc, dict) or set(doc) - {"rules"}:
        raise ConfigError(str(path), "must be a mapping with the single key 'rules'")
    return load_rules(doc.get("rules") or [], f"{path.name}:rules")


def load_rules(items: Any, where: str = "rules") -> tuple[Rule, ...]:
    """Rules from a list of mappings (parsed YAML). Raises ``ConfigError`` whose key names the
    rule and the field, e.g. ``rules[1] gas_explosion.when.risk_terms``."""
    if not isinstance(items, list):
        raise ConfigError(where, f"must be a list of rules, got {type(items).__name__}")
    out, names = [], set()
    for i, item in enumerate(items):
        rule = _rule(item, f"{where}[{i}]")
        if rule.name in names:
            raise ConfigError(f"{where}[{i}] {rule.name}.name", "duplicate rule name")
        names.add(rule.name)
        out.append(rule)
    return tuple(out)


def _rule(item: Any, where: str) -> Rule:
    if not isinstance(item, dict):
        raise ConfigError(where, f"a rule must be a mapping, got {type(item).__name__}")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{where}.name", f"must be lower_snake_case (a-z, 0-9, _), got {name!r}")
    at = f"{where} {name}"
    known = {"name", "when", "level", "scope", "min_count", "window_hours", "distinct", "title", "description"}
    unknown = sorted(set(item) - known, key=str)
    if unknown:
        raise ConfigError(f"{at}.{unknown[0]}", f"unknown key (known: {', '.join(sorted(known))})")
    for key in ("when", "level"):
        if key not in item:
            raise ConfigError(f"{at}.{key}", "required")
    level = item["level"]
    if level not in LEVELS:
        raise ConfigError(f"{at}.level", f"must be one of {', '.join(LEVELS)}, got {level!r}")
    scope = _strings(item.get("scope", ["category"]), f"{at}.scope", _SCOPES)
    if not scope:
        raise ConfigError(f"{at}.scope", "must name at least one of " + ", ".join(_SCOPES))
    min_count = item.get("min_count", 1)
    if not isinstance(min_count, int) or isinstance(min_count, bool) or not 1 <= min_count <= 1000:
        raise ConfigError(f"{at}.min_count", f"must be an integer 1–1000, got {min_count!r}")
    hours = item.get("window_hours", 24)
    if not _number(hours) or not 0 < hours <= _MAX_WINDOW_HOURS:
        raise ConfigError(f"{at}.window_hours", f"must be a number in (0, {_MAX_WINDOW_HOURS}], got {hours!r}")
    distinct = item.get("distinct", "event")
    if distinct not in _DISTINCT:
        raise ConfigError(f"{at}.distinct", f"must be one of {', '.join(_DISTINCT)}, got {distinct!r}")
    for key in ("title", "description"):
        if not isinstance(item.get(key, ""), str):
            raise ConfigError(f"{at}.{key}", "must be text")
    return Rule(name=name, when=_condition(item["when"], f"{at}.when"), level=level, scope=scope,
                min_count=min_count, window_hours=float(hours), distinct=distinct, title=item.get("title", ""),
                description=item.get("description", ""))


def _condition(when: Any, at: str) -> Condition:
    if not isinstance(when, dict) or not when:
        raise ConfigError(at, "must be a non-empty mapping")
    known = {f for f in Condition.__dataclass_fields__}
    unknown = sorted(set(when) - known, key=str)
    if unknown:
        raise ConfigError(f"{at}.{unknown[0]}", f"unknown condition (known: {', '.join(sorted(known))})")
    if "source" not in when:
        raise ConfigError(f"{at}.source", "required")
    values: dict[str, Any] = {}
    for key, value in when.items():
        where = f"{at}.{key}"
        if key in ("min_hazard", "max_sentiment"):
            lo = 0.0 if key == "min_hazard" else -1.0
            if not _number(value) or not lo <= value <= 1.0:
                raise ConfigError(where, f"must be a number in [{lo:g}, 1], got {value!r}")
            values[key] = float(value)
        elif key == "failed":
            if not isinstance(value, bool):
                raise ConfigError(where, f"must be true or false, got {value!r}")
            values[key] = value
        elif key == "min_critical":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(where, f"must be a non-negative integer, got {value!r}")
            values[key] = value
        else:
            values[key] = _strings(value, where, _ENUMS.get(key))
            if not values[key]:
                raise ConfigError(where, "must not be empty")
    return Condition(**values)


def _strings(value: Any, where: str, allowed: Sequence[str] | None) -> tuple[str, ...]:
    """A string or list of strings as a tuple; ``allowed`` restricts the values."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
        raise ConfigError(where, f"must be a text or a list of texts, got {value!r}")
    if allowed is not None:
        bad = [v for v in items if v not in allowed]
        if bad:
            raise ConfigError(where, f"{bad[0]!r} is not one of {', '.join(allowed)}")
    return tuple(dict.fromkeys(items))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


class _UniqueKeys(yaml.SafeLoader):
    """A safe loader that rejects duplicate mapping keys (a silently overridden rule is a bug)."""


def _no_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeys.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


@dataclass
class _Compiled:
    """A rule with its condition as sets, checked against the catalogue and regions."""

    rule: Rule
    category: frozenset[str] = field(default_factory=frozenset)
    group: frozenset[str] = field(default_factory=frozenset)
    vulnerable: bool = False
    safety: bool = False
    sets: dict[str, frozenset[str]] = field(default_factory=dict)


class Rules:
    """See the module docstring. Called by the engine with observations of the rules' sources
    in event-time order; ``update`` never raises on odd observations. ``__init__`` raises
    ``ConfigError`` for a category or region code the reference data does not know."""

    name: ClassVar[str] = "rules"
    version: ClassVar[str] = "1.0.0"
    sources: ClassVar[frozenset[str]] = frozenset(_SOURCES)

    def __init__(self, config: RulesConfig, context: Context) -> None:
        self.config, self.context = config, context
        self.groups: dict[str, list[list[Any]]] = {}  # "rule|scope key" → [[value, ts, event_id], …] oldest first
        self.swept = -1  # hour of the last sweep
        self.first_ts: float | None = None
        self._by_source: dict[str, list[_Compiled]] = {}
        for i, rule in enumerate(config.rules):
            c = self._compile(rule, f"detectors.rules.rules[{i}] {rule.name}.when")
            for src in rule.when.source:
                self._by_source.setdefault(src, []).append(c)

    def _compile(self, rule: Rule, at: str) -> _Compiled:
        w, ctx = rule.when, self.context
        for code in w.category:
            if code not in ctx.catalogue:
                raise ConfigError(f"{at}.category", f"unknown category {code!r}")
        for code in w.region:
            if code not in ctx.regions:
                raise ConfigError(f"{at}.region", f"unknown region code {code!r}")
        sets = {k: frozenset(getattr(w, k)) for k in ("injury", "issue", "violation", "risk_terms", "region", "uscc",
                                                      "brand") if getattr(w, k)}
        return _Compiled(rule, frozenset(w.category), frozenset(w.category_group),
                         "vulnerable_group" in w.category_flags, "safety_critical" in w.category_flags, sets)

    # -- matching --------------------------------------------------------------------------
    def update(self, batch: Sequence[Observation]) -> list[Signal]:
        out: list[Signal] = []
        for obs in batch:
            compiled = self._by_source.get(obs.source)
            if not compiled or not math.isfinite(obs.ts):  # no rule for the source, or an odd time
                continue
            hour = int(obs.ts // HOUR)
            if hour > self.swept:
                self._sweep(obs.ts, hour)
            if self.first_ts is None:
                self.first_ts = obs.ts
            warm = obs.ts - self.first_ts >= self.config.min_history_days * DAY  # 0 by default: rules need none
            for c in compiled:
                if self._matches(c, obs):
                    sig = self._count(c.rule, obs)
                    if sig is not None and warm:
                        out.append(sig)
        return out

    def _matches(self, c: _Compiled, obs: Observation) -> bool:
        w = c.rule.when
        if c.category and obs.category not in c.category:
            return False
        if c.vulnerable or c.safety or c.group:
            cat = self.context.catalogue.get(obs.category)
            if cat is None or (c.vulnerable and not cat.vulnerable_group) or (c.safety and not cat.safety_critical) \
                    or (c.group and cat.group not in c.group):
                return False
        sets = c.sets
        if sets:
            if "injury" in sets and obs.injury not in sets["injury"]:
                return False
            if "issue" in sets and obs.issue not in sets["issue"]:
                return False
            if "violation" in sets and obs.violation not in sets["violation"]:
                return False
            if "risk_terms" in sets and sets["risk_terms"].isdisjoint(obs.risk_terms):
                return False
            if "region" in sets and sets["region"].isdisjoint(obs.chain or (obs.region,)):
                return False
            if "uscc" in sets and obs.uscc not in sets["uscc"]:
                return False
            if "brand" in sets and obs.brand not in sets["brand"]:
                return False
        if w.failed is not None and obs.failed != w.failed:
            return False
        if w.min_critical is not None and not obs.critical >= w.min_critical:
            return False
        if w.min_hazard is not None and not obs.hazard >= w.min_hazard:
            return False
        return w.max_sentiment is None or obs.sentiment <= w.max_sentiment

    def _count(self, rule: Rule, obs: Observation) -> Signal | None:
        """Remember the match in its rule+scope group; a signal when the group holds enough."""
        parts = [_facet(item, obs) for item in rule.scope]
        value = _facet(rule.distinct, obs) if rule.distinct != "event" else obs.event_id
        if not all(parts) or not value:
            return None
        key = f"{rule.name}|{'|'.join(parts)}"
        group = self.groups.setdefault(key, [])
        horizon = obs.ts - rule.window_hours * HOUR
        group[:] = [g for g in group if g[1] > horizon and g[0] != value]
        group.append([value, obs.ts, obs.event_id])
        if len(group) > _MAX_DISTINCT:
            del group[0]
        if len(group) < rule.min_count:
            return None
        return self._signal(rule, parts, group, obs)

    def _signal(self, rule: Rule, parts: list[str], group: list[list[Any]], obs: Observation) -> Signal:
        scope = _scope(rule.scope, parts)
        ctx = self.context
        name = ctx.scope_name(scope)
        if scope.region_code == NATIONAL:
            cat = ctx.catalogue.get(scope.category or "")
            name = f"全国 {cat.name_zh if cat else scope.category}"
        what = rule.title or rule.name
        hours = f"{rule.window_hours:g}"
        title = (f"{name} {what} (近{hours}小时 {len(group)} {_DISTINCT_ZH[rule.distinct]})" if rule.min_count > 1
                 else f"{name} {what}")
        when = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(rule.when).items() if v not in ((), None)}
        explanation = {
            "rule": rule.name, "description": rule.description, "when": when, "statistic": "rule_match_count",
            "observed": len(group), "threshold": rule.min_count, "distinct": rule.distinct,
            "window_hours": rule.window_hours, "level": rule.level, "contributing_sources": list(rule.when.source),
            "distinct_values": [g[0] for g in group][-20:],
        }
        start = int(min(g[1] for g in group) // HOUR) * HOUR
        return Signal(detector=self.name, scope=scope, ts=obs.ts, window_start=float(start), window_end=obs.ts,
                      score=float(getattr(ctx.grading, rule.level)), title=title, explanation=explanation,
                      evidence=[g[2] for g in reversed(group)][:100], episode_key=rule.name, trigger=obs.event_id)

    def _sweep(self, ts: float, hour: int) -> None:
        """Once an hour of event time: forget groups whose newest match left the rule's window."""
        self.swept = hour
        windows = {r.name: r.window_hours * HOUR for r in self.config.rules}
        self.groups = {k: g for k, g in self.groups.items()
                       if g and g[-1][1] > ts - windows.get(k.split("|", 1)[0], 0.0)}

    # -- state -----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {"layout": LAYOUT, "swept": self.swept, "first_ts": self.first_ts,
                "groups": {k: v for k, v in sorted(self.groups.items())}}

    @classmethod
    def restore(cls, config: RulesConfig, state: Mapping[str, Any], context: Context) -> Rules:
        self = cls(config, context)
        self.swept, self.first_ts = state["swept"], state["first_ts"]
        self.groups = {k: [list(x) for x in v] for k, v in state["groups"].items()}
        return self


def _facet(item: str, obs: Observation) -> str:
    """The observation's value of a scope or distinct item (``""`` when it has none)."""
    chain = obs.chain
    if item == "region":
        return obs.region
    if item == "province":
        return chain[-1] if chain else ""
    if item == "city":
        return chain[-2] if len(chain) >= 2 else ""
    if item == "county":
        return chain[-3] if len(chain) >= 3 else ""
    if item == "category":
        return obs.category
    if item == "uscc":
        return obs.uscc
    if item == "complainant":
        return obs.complainant or obs.event_id
    if item == "brand":
        return obs.brand
    return obs.event_id


def _scope(items: tuple[str, ...], parts: list[str]) -> Scope:
    """The warning scope: the most specific region item, the category, the enterprise; a
    category without a region is nation-wide (``000000``)."""
    got = dict(zip(items, parts, strict=True))
    region = next((got[k] for k in ("region", "county", "city", "province") if k in got), None)
    category = got.get("category")
    if region is None and category:
        region = NATIONAL
    return Scope(region_code=region, category=category, uscc=got.get("uscc"))
