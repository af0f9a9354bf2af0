"""Decode, check and mask incoming events (EVENTS.md §1–3).

Fast accept, slow explain: a line is decoded straight into the typed ``Event`` by msgspec
(C speed), then a handful of reference-data checks accept it. Only a line that fails goes
the slow way: parsed generically and walked against the same type declarations
(``msgspec.inspect``) plus the cross-field rules, to list *every* broken rule with the
contract's codes. A test checks that the two ways agree on every input.

>>> v = Validator.default()
>>> out = v.validate(b'{"schema": "event/v1"}')
>>> sorted({(e.path, e.code) for e in out.errors})[:3]
[('event_id', 'required'), ('occurred_at', 'required'), ('region_code', 'required')]
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import msgspec
import msgspec.inspect as mi

from schemas.categories import Catalogue
from schemas.dead_letter import DeadLetter
from schemas.errors import FieldError
from schemas.event import SOURCES, Event, Position, Record
from schemas.privacy import Privacy
from schemas.regions import RegionTable
from schemas.uscc import uscc_problem

__all__ = ["MAX_LINE_BYTES", "Validator"]

MAX_LINE_BYTES = 1 << 20  # no valid event comes near 1 MiB; bigger lines are rejected unparsed
_RAW_KEEP = 16 << 20  # dead letters keep up to 16 MiB of a huge line
_SIX_DIGITS = re.compile(r"^[0-9]{6}$")
_EVENT_TYPE = mi.type_info(Event)


def _show(value: Any, path: str, privacy: Privacy) -> str:
    """A bad value as a message shows it: masked, short, never a complainant's data."""
    if "complainant" in path:
        return "<personal data>"
    text = msgspec.json.encode(value).decode() if not isinstance(value, str) else repr(value)
    text = privacy.mask_text(text)
    return text if len(text) <= 80 else text[:77] + "..."


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__)


class Validator:
    """Turns raw lines into ``Record`` (valid, masked) or ``DeadLetter`` (every broken rule).

    Parameters: the region table, the product catalogue, and the ``Privacy`` masker holding
    the configured salt. ``validate`` never raises for any input bytes; it is called once per
    incoming record by every runtime (file ingest, Kafka agent, HTTP intake, replay).
    """

    def __init__(self, regions: RegionTable, catalogue: Catalogue, privacy: Privacy) -> None:
        self.regions, self.catalogue, self.privacy = regions, catalogue, privacy
        self._decoder = msgspec.json.Decoder(Event)
        self._region_codes = frozenset(regions.regions)
        self._category_codes = frozenset(catalogue.categories)

    @classmethod
    def default(cls, salt: bytes = b"riskwatch-dev-salt") -> Validator:
        """A validator over the shipped reference data (tests, doctests, tools)."""
        return cls(RegionTable.load(), Catalogue.load(), Privacy(salt))

    # -- fast path -----------------------------------------------------------------------
    def validate(self, raw: bytes | str, position: Position | None = None,
                 ts: float | None = None) -> Record | DeadLetter:
        """One line (without its newline) → ``Record`` or ``DeadLetter``. ``ts``: the line's
        ``occurred_at`` in epoch seconds when the caller has already converted it (replay's
        sort pass), else ``None``."""
        if len(raw) > MAX_LINE_BYTES:
            head = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
            return self.oversized(head[:_RAW_KEEP], max(0, len(head) - _RAW_KEEP), position)
        try:
            ev = self._decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            return self._explain(raw, position)
        if not self._accepts(ev):
            return self._explain(raw, position)
        return self._record(ev, position, ts)

    def _accepts(self, ev: Event) -> bool:
        """The cross-field and reference-data rules, as one quick predicate."""
        src, p, e, s = ev.source, ev.product, ev.enterprise, ev.sampling
        bodies = (ev.complaint is not None) + (s is not None) + (ev.enforcement is not None) + (ev.opinion is not None)
        return (
            bodies == 1 and getattr(ev, src) is not None
            and ev.region_code in self._region_codes
            and ((p is None and src == "opinion") or (p is not None and p.category in self._category_codes))
            and (e is None or uscc_problem(e.uscc) is None)
            and (s is None or (s.result == "fail") == bool(s.failed_items))
            and (ev.reported_at is None or ev.reported_at >= ev.occurred_at)
        )

    def _record(self, ev: Event, position: Position | None, ts: float | None = None) -> Record:
        """Mask free text and replace the complainant by its pseudonym."""
        pseudonym = None
        c = ev.complaint
        if c is not None:
            if c.complainant is not None:
                pseudonym = self.privacy.pseudonym(c.complainant)
                c.complainant = None
            if c.text:
                c.text = self.privacy.mask_text(c.text)
        o = ev.opinion
        if o is not None:
            o.text = self.privacy.mask_text(o.text)
            if o.title:
                o.title = self.privacy.mask_text(o.title)
        return Record(ev, ev.occurred_at.timestamp() if ts is None else ts, pseudonym, position)

    def oversized(self, head: bytes, dropped: int, position: Position | None = None) -> DeadLetter:
        """A line whose tail (``dropped`` bytes) the reader had to discard: rejected as too long."""
        size = len(head) + dropped
        return DeadLetter(self.privacy.mask_raw(head.decode("utf-8", "backslashreplace")),
                          [FieldError("", "length", f"line is {size} bytes, at most {MAX_LINE_BYTES} allowed")],
                          position, dropped)

    # -- slow path -----------------------------------------------------------------------
    def _explain(self, raw: bytes | str, position: Position | None) -> DeadLetter:
        try:
            obj = msgspec.json.decode(raw)  # unlike orjson, keeps 2**70 as a number to judge
        except msgspec.DecodeError as exc:
            return self._reject(raw, position, [FieldError("", "json", f"line is not valid JSON: {exc}")])
        except RecursionError:
            return self._reject(raw, position, [FieldError("", "json", "line nests JSON too deeply")])
        if not isinstance(obj, dict):
            return self._reject(raw, position, [FieldError("", "json", f"line is a JSON {_kind(obj)}, not an object")],
                                obj)
        errors: list[FieldError] = []
        self._walk(obj, _EVENT_TYPE, "", errors)
        self._cross_field(obj, errors)
        if not errors:  # the fast path saw a problem the walker cannot name: keep the line anyway
            errors.append(FieldError("", "format", "event rejected by the decoder"))
        return self._reject(raw, position, errors, obj)

    def _reject(self, raw: bytes | str, position: Position | None, errors: list[FieldError],
                obj: Any = None) -> DeadLetter:
        text = None
        if obj is not None:
            try:
                text = msgspec.json.encode(self.privacy.mask_value(obj)).decode()
            except RecursionError:  # absurdly deep JSON: mask it as text instead
                text = None
        if text is None:
            data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
            text = self.privacy.mask_raw(data.decode("utf-8", "backslashreplace"))
        return DeadLetter(text, errors, position)

    def _err(self, errors: list[FieldError], path: str, code: str, rule: str, value: Any = ...) -> None:
        shown = "" if value is ... else f", got {_show(value, path, self.privacy)}"
        errors.append(FieldError(path, code, f"{path or 'line'}: {rule}{shown}"))

    def _walk(self, value: Any, t: mi.Type, path: str, errors: list[FieldError]) -> None:
        """Check ``value`` against the declared type ``t``, appending every broken rule."""
        if isinstance(t, mi.UnionType):
            if value is None and any(isinstance(x, mi.NoneType) for x in t.types):
                return
            t = next(x for x in t.types if not isinstance(x, mi.NoneType))
        if isinstance(t, mi.StructType):
            self._walk_struct(value, t, path, errors)
        elif isinstance(t, mi.ListType):
            if not isinstance(value, list):
                self._err(errors, path, "type", "must be an array", value)
                return
            for i, item in enumerate(value):
                self._walk(item, t.item_type, f"{path}[{i}]", errors)
        elif isinstance(t, mi.LiteralType):
            if value not in t.values or not isinstance(value, str):
                allowed = ", ".join(map(str, t.values))
                if not isinstance(value, str):
                    self._err(errors, path, "type", "must be a string", value)
                self._err(errors, path, "enum", f"must be one of {allowed}", value)
        elif isinstance(t, mi.StrType):
            self._check_str(value, t, path, errors)
        elif isinstance(t, (mi.IntType, mi.FloatType)):
            self._check_number(value, t, path, errors)
        elif isinstance(t, mi.DateTimeType):
            if not isinstance(value, str):
                self._err(errors, path, "type", "must be an RFC 3339 string", value)
            elif self._timestamp(value) is None:
                self._err(errors, path, "format", "must be RFC 3339 with an explicit offset", value)

    def _walk_struct(self, value: Any, t: mi.StructType, path: str, errors: list[FieldError]) -> None:
        if not isinstance(value, dict):
            self._err(errors, path, "type", "must be an object", value)
            return
        known = {f.encode_name: f for f in t.fields}
        for key in value:
            if key not in known:
                self._err(errors, f"{path}.{key}" if path else key, "unknown_field", "is not a field of the contract")
        for name, f in known.items():
            sub = f"{path}.{name}" if path else name
            if name not in value:
                if f.required:
                    self._err(errors, sub, "required", "is required")
            elif value[name] is None and f.required:
                self._err(errors, sub, "required", "is required and may not be null")
                self._err(errors, sub, "type", "may not be null")
            else:
                self._walk(value[name], f.type, sub, errors)

    def _check_str(self, value: Any, t: mi.StrType, path: str, errors: list[FieldError]) -> None:
        if not isinstance(value, str):
            self._err(errors, path, "type", "must be a string", value)
            return
        n = len(value)
        if t.max_length is not None and n > t.max_length:
            self._err(errors, path, "length", f"is {n} characters, at most {t.max_length} allowed")
        if t.min_length is not None and n < t.min_length:
            self._err(errors, path, "length", f"is {n} characters, at least {t.min_length} required")
        if t.pattern is not None and re.search(t.pattern, value) is None:
            self._err(errors, path, "format", f"must match {t.pattern}", value)

    def _check_number(self, value: Any, t: mi.IntType | mi.FloatType, path: str, errors: list[FieldError]) -> None:
        want_int = isinstance(t, mi.IntType)
        ok_types = (int,) if want_int else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok_types):
            self._err(errors, path, "type", "must be an integer" if want_int else "must be a number", value)
            return
        if t.ge is not None and value < t.ge:
            self._err(errors, path, "range", f"must be >= {t.ge:g}", value)
        if t.le is not None and value > t.le:
            self._err(errors, path, "range", f"must be <= {t.le:g}", value)

    @staticmethod
    def _timestamp(value: str) -> datetime | None:
        try:
            ts = msgspec.convert(value, datetime)
        except msgspec.ValidationError:
            return None
        return ts if ts.tzinfo is not None else None

    def _cross_field(self, obj: dict[str, Any], errors: list[FieldError]) -> None:
        """Rules over reference data and several fields, tolerant of a broken structure."""
        region = obj.get("region_code")
        if isinstance(region, str) and region not in self._region_codes:
            if not _SIX_DIGITS.match(region):
                self._err(errors, "region_code", "format", "must be a 6-digit GB/T 2260 code", region)
            self._err(errors, "region_code", "unknown_region", "is not in the GB/T 2260 region table", region)
        source = obj.get("source")
        product = obj.get("product")
        if source in SOURCES and source != "opinion" and product is None:
            self._err(errors, "product", "required", f"is required for source {source!r}")
        if isinstance(product, dict):
            cat = product.get("category")
            if isinstance(cat, str) and cat not in self._category_codes:
                self._err(errors, "product.category", "unknown_category", "is not in product_categories.csv", cat)
        enterprise = obj.get("enterprise")
        if isinstance(enterprise, dict) and isinstance(enterprise.get("uscc"), str):
            problem = uscc_problem(enterprise["uscc"])
            if problem is not None:
                self._err(errors, "enterprise.uscc", problem[0], problem[1])
        if source in SOURCES:
            if obj.get(source) is None and not any(e.path == source for e in errors):
                self._err(errors, source, "required", f"is required when source is {source!r}")
            for other in SOURCES:
                if other != source and obj.get(other) is not None:
                    self._err(errors, other, "consistency", f"does not match source {source!r}")
        sampling = obj.get("sampling")
        if isinstance(sampling, dict):
            items = sampling.get("failed_items")
            n = len(items) if isinstance(items, list) else 0
            if sampling.get("result") == "fail" and n == 0:
                self._err(errors, "sampling.failed_items", "consistency", "must be non-empty when result is 'fail'")
            elif sampling.get("result") == "pass" and n > 0:
                self._err(errors, "sampling.failed_items", "consistency", "must be empty when result is 'pass'")
        occurred, reported = obj.get("occurred_at"), obj.get("reported_at")
        if isinstance(occurred, str) and isinstance(reported, str):
            t0, t1 = self._timestamp(occurred), self._timestamp(reported)
            if t0 is not None and t1 is not None and t1 < t0:
                self._err(errors, "reported_at", "consistency", f"is before occurred_at ({occurred})", reported)
