"""``riskwatch evaluate``: detection quality measured on simulated feeds with labelled incidents.

Simulate → replay through the engine → match warnings to labelled incidents and decoys →
recall, precision, median time to detection, level reached, decoy warnings, false alarms
per 100 (category, province) days monitored (DESIGN §3) — beside two
simple baselines on the same data: a fixed daily threshold (today ≥ 4 × the previous
fortnight's daily mean and ≥ 5, per category and province) and EARS C2 (CDC) on daily
counts per category and province.

A warning belongs to an incident when their scopes are compatible (same category; regions
equal, nested or national; same enterprise when both name one) and it opened between six
hours before the incident's start and three days after its end.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import orjson

from detectors.base import DAY, day_index
from detectors.stats import ears_c2
from schemas.alert import LEVEL_RANK, Alert
from schemas.regions import NATIONAL, RegionTable

__all__ = ["Metrics", "Warning", "baseline_warnings", "evaluate_alerts", "format_report", "run_evaluation"]

_CST = timezone(timedelta(hours=8))
_BEFORE = timedelta(hours=6)
_AFTER = timedelta(days=3)


@dataclass
class Warning:
    """One warning episode as evaluation sees it."""

    alert_id: str
    detector: str
    region: str
    category: str
    uscc: str
    opened: datetime
    level: str
    sources: tuple[str, ...] = ()  # the explanation's contributing sources (empty: unknown, any)


@dataclass
class Metrics:
    name: str
    recall: float
    precision: float
    median_ttd_hours: float | None
    level_reached: float | None
    decoy_warnings: int
    decoy_warnings_yellow_plus: int
    warnings: int
    false_warnings: int = 0  # warnings on no incident (decoys included)
    false_per_100_key_days: float | None = None  # per 100 (category, province) days monitored
    per_incident: dict[str, dict[str, Any]] = field(default_factory=dict)
    decoys: list[str] = field(default_factory=list)  # the warnings that fell on decoys, described


def warnings_from_alerts(alerts: Iterable[Alert]) -> list[Warning]:
    """Collapse alert state changes to episodes: first opening time, highest level."""
    out: dict[str, Warning] = {}
    for a in alerts:
        w = out.get(a.alert_id)
        if w is None:
            out[a.alert_id] = Warning(a.alert_id, a.detector, a.scope.region_code or "", a.scope.category or "",
                                      a.scope.uscc or "", datetime.fromisoformat(a.triggered_at), a.level,
                                      tuple(a.explanation.get("contributing_sources") or ()))
        elif LEVEL_RANK[a.level] > LEVEL_RANK[w.level]:
            w.level = a.level
    return list(out.values())


def _on_decoy(w: Warning, label: dict[str, Any], regions: RegionTable) -> bool:
    """A warning is on a decoy when it matches the decoy's scope and window and draws on a
    source the decoy is made of (label ``sources``): a warning built on sampling results alone
    cannot have been fooled by 3·15's complaints and posts — it is a false warning, not a decoy's."""
    made_of = label.get("sources")
    if made_of and w.sources and not set(made_of).intersection(w.sources):
        return False
    return _matches(w, label, regions)


def _matches(w: Warning, label: dict[str, Any], regions: RegionTable) -> bool:
    scope = label.get("scope") or {}
    start = datetime.fromisoformat(label["start"])
    end = datetime.fromisoformat(label["end"])
    if not start - _BEFORE <= w.opened <= end + _AFTER:
        return False
    cat, uscc = scope.get("category"), scope.get("uscc")
    if w.uscc:
        if uscc:
            return w.uscc == uscc
        if not w.category:
            return False
    if cat and w.category and w.category != cat:
        return False
    if not w.category and not w.uscc:
        return False
    codes = scope.get("region_codes") or []
    if not w.region or w.region == NATIONAL or not codes:
        return True
    mine = regions.chain(w.region)
    return any(c in mine or w.region in regions.chain(c) for c in codes)


def evaluate_alerts(name: str, warnings: Sequence[Warning], labels: Sequence[dict[str, Any]],
                    regions: RegionTable, key_days: int = 0) -> Metrics:
    """Score ``warnings`` against ``labels`` (incidents and decoys); ``key_days``: the
    (category, province) days monitored, for the false-alarm rate (0: not reported)."""
    incidents = [lb for lb in labels if not lb.get("decoy")]
    decoys = [lb for lb in labels if lb.get("decoy")]
    matched: dict[str, list[Warning]] = defaultdict(list)
    true_w = decoy_w = decoy_y = 0
    decoy_list: list[str] = []
    for w in warnings:
        hits = [lb for lb in incidents if _matches(w, lb, regions)]
        for lb in hits:
            matched[lb["incident_id"]].append(w)
        if hits:
            true_w += 1
        elif (hit := next((lb["incident_id"] for lb in decoys if _on_decoy(w, lb, regions)), None)) is not None:
            decoy_w += 1
            decoy_y += LEVEL_RANK[w.level] >= LEVEL_RANK["yellow"]
            decoy_list.append(f"{hit}: {w.detector} {w.level} {w.region or '-'} {w.category or '-'} {w.uscc or '-'} "
                              f"{w.opened.isoformat()}")
    per, ttds, reached = {}, [], []
    for lb in incidents:
        ws = matched.get(lb["incident_id"], [])
        start = datetime.fromisoformat(lb["start"])
        if ws:
            first = min(w.opened for w in ws)
            ttd = max(0.0, (first - start).total_seconds() / 3600)
            top = max(ws, key=lambda w: LEVEL_RANK[w.level]).level
            ok = LEVEL_RANK[top] >= LEVEL_RANK.get(lb.get("severity", "blue"), 1)
            ttds.append(ttd)
            reached.append(ok)
            per[lb["incident_id"]] = {"kind": lb["kind"], "severity": lb.get("severity"), "detected": True,
                                      "ttd_hours": round(ttd, 1), "level": top, "reached": ok,
                                      "detectors": sorted({w.detector for w in ws})}
        else:
            reached.append(False)
            per[lb["incident_id"]] = {"kind": lb["kind"], "severity": lb.get("severity"), "detected": False}
    n = len(incidents)
    return Metrics(
        name=name, recall=sum(1 for v in per.values() if v["detected"]) / n if n else 1.0,
        precision=true_w / len(warnings) if warnings else 1.0,
        median_ttd_hours=statistics.median(ttds) if ttds else None,
        level_reached=sum(reached) / n if n else None, decoy_warnings=decoy_w, decoy_warnings_yellow_plus=decoy_y,
        warnings=len(warnings), false_warnings=len(warnings) - true_w,
        false_per_100_key_days=100.0 * (len(warnings) - true_w) / key_days if key_days else None,
        per_incident=per, decoys=decoy_list)


class _Head(msgspec.Struct):
    source: str = ""
    occurred_at: str = ""
    region_code: str = ""
    product: dict[str, Any] | None = None


def baseline_warnings(lines: Iterable[bytes], regions: RegionTable) -> dict[str, list[Warning]]:
    """The two simple baselines over daily complaint counts per (category, province).
    A day's alarm is known at the end of that day (a daily query); consecutive alarm days of
    one key are one warning. Baselines do not grade: their warnings are all 'blue'."""
    return _baselines(*_daily_counts(lines, regions))


def _daily_counts(lines: Iterable[bytes], regions: RegionTable) -> tuple[dict[tuple[str, str], dict[int, int]], set[int]]:
    """Complaints per (category, province) and day, and the days seen."""
    decode = msgspec.json.Decoder(_Head).decode
    counts: dict[tuple[str, str], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    days: set[int] = set()
    for line in lines:
        try:
            h = decode(line)
            if h.source != "complaint" or not h.product:
                continue
            ts = datetime.fromisoformat(h.occurred_at).timestamp()
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
            continue
        chain = regions.chain(h.region_code)
        if not chain:
            continue
        d = day_index(ts)
        days.add(d)
        counts[(str(h.product.get("category", "")), chain[-1])][d] += 1
    return counts, days


def _baselines(counts: dict[tuple[str, str], dict[int, int]], days: set[int]) -> dict[str, list[Warning]]:
    if not days:
        return {"fixed_threshold": [], "ears_c2": []}
    first, last = min(days), max(days)
    out: dict[str, list[Warning]] = {"fixed_threshold": [], "ears_c2": []}
    for (cat, prov), series in counts.items():
        hist = [series.get(d, 0) for d in range(first, last + 1)]
        for name in out:
            active = False
            for i, x in enumerate(hist):
                if i < 14:
                    continue
                if name == "fixed_threshold":
                    mean = sum(hist[i - 14:i]) / 14
                    alarm = x >= 5 and x >= 4 * mean
                else:
                    alarm = x >= 3 and ears_c2(hist[:i], x) >= 3.0
                if alarm and not active:
                    opened = datetime.fromtimestamp((first + i + 1) * DAY - 8 * 3600, tz=_CST)
                    out[name].append(Warning(f"{name}:{cat}:{prov}:{i}", name, prov, cat, "", opened, "blue",
                                             ("complaint",)))
                active = alarm
    return out


def format_report(results: Sequence[Metrics], labels: Sequence[dict[str, Any]]) -> str:
    """A plain-text report: per incident, then overall, one column per method."""
    rows = []
    names = [m.name for m in results]
    evidence = any("evidence_hours" in lb for lb in labels if not lb.get("decoy"))
    rows.append("incident\tkind\tseverity\t" + ("2nd/3rd event\t" if evidence else "") + "\t".join(names))
    for lb in labels:
        if lb.get("decoy"):
            continue
        cells = [_evidence(lb)] if evidence else []
        for m in results:
            p = m.per_incident[lb["incident_id"]]
            if p["detected"]:
                lvl = f" {p['level']}{'' if p['reached'] else '(<)'}" if m.name == "riskwatch" else ""
                cells.append(f"{p['ttd_hours']}h{lvl}")
            else:
                cells.append("missed")
        rows.append(f"{lb['incident_id']}\t{lb['kind']}\t{lb.get('severity')}\t" + "\t".join(cells))
    rows.append("")
    rows.append("metric\t" + "\t".join(names))

    def line(label: str, fn) -> None:
        rows.append(label + "\t" + "\t".join(fn(m) for m in results))

    line("recall", lambda m: f"{m.recall:.3f}")
    line("precision", lambda m: f"{m.precision:.3f}")
    line("median_ttd_hours", lambda m: "-" if m.median_ttd_hours is None else f"{m.median_ttd_hours:.1f}")
    line("level_reached", lambda m: "-" if m.name != "riskwatch" or m.level_reached is None else f"{m.level_reached:.3f}")
    line("warnings", lambda m: str(m.warnings))
    line("decoy_warnings", lambda m: str(m.decoy_warnings))
    line("decoy_warnings_yellow+", lambda m: str(m.decoy_warnings_yellow_plus))
    line("false_warnings", lambda m: str(m.false_warnings))
    line("false_per_100_key_days", lambda m: "-" if m.false_per_100_key_days is None else f"{m.false_per_100_key_days:.4f}")
    if evidence:  # how soon the evidence allowed: a system warning at an incident's 2nd (3rd) event
        for k in (2, 3):
            hours = [_nth_event(lb, k) for lb in labels if not lb.get("decoy")]
            rows.append(f"median_hours_to_event_{k}\t" + (f"{statistics.median(hours):.1f}" if hours else "-"))
    if results and results[0].decoys:
        rows += ["", f"{results[0].name} warnings on decoys:"] + [f"  {d}" for d in results[0].decoys]
    return "\n".join(rows)


def _nth_event(label: dict[str, Any], k: int) -> float:
    """Hours from an incident's start to its ``k``-th event (its last one when it has fewer)."""
    hours = label.get("evidence_hours") or [0.0]
    return float(hours[min(k, len(hours)) - 1])


def _evidence(label: dict[str, Any]) -> str:
    return f"{_nth_event(label, 2)}/{_nth_event(label, 3)}h"


def labels_from_lines(lines: Iterable[bytes]) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in lines if x.strip()]


def run_evaluation(components: Any, days: int, seed: int, scale: float, workdir: Path) -> tuple[list[Metrics], list]:
    """Simulate into ``workdir``, replay, and score riskwatch and the baselines."""
    from pipeline.replay import replay_file
    from pipeline.simulator import SimulationConfig, write_simulation

    write_simulation(SimulationConfig(days=days, seed=seed, scale=scale), workdir, components.regions,
                     components.catalogue)
    events = workdir / "events.jsonl"
    labels = labels_from_lines((workdir / "labels.jsonl").read_bytes().splitlines())
    alerts: list[Alert] = []
    decode = msgspec.json.Decoder(Alert).decode
    replay_file(events, components.engine(), components.validator, lambda b: alerts.append(decode(b)),
                lambda _: None)
    with events.open("rb") as f:
        counts, days = _daily_counts(f, components.regions)
    key_days = len(counts) * (max(days) - min(days) + 1) if days else 0
    results = [evaluate_alerts("riskwatch", warnings_from_alerts(alerts), labels, components.regions, key_days)]
    for name, ws in _baselines(counts, days).items():
        results.append(evaluate_alerts(name, ws, labels, components.regions, key_days))
    return results, labels
