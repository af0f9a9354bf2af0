"""JSON Schema (draft 2020-12) export of the event and warning contracts.

Generated from the same msgspec types the validator decodes with, then tightened with
what JSON Schema can say about reference data and cross-field rules: the region and
category code lists, the USCC alphabet, one body per ``source``, ``failed_items`` against
``result``. Two rules need arithmetic or comparison JSON Schema cannot express — the USCC
check character and ``reported_at`` ≥ ``occurred_at`` — they are stated in ``x-riskwatch``
annotations and enforced by ``schemas.validator``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from schemas.alert import Alert
from schemas.categories import Catalogue
from schemas.event import SOURCES, Event
from schemas.regions import RegionTable

__all__ = ["alert_schema", "event_schema"]

_DRAFT = "https://json-schema.org/draft/2020-12/schema"
RFC3339_OFFSET = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
USCC_PATTERN = r"^[0-9A-HJ-NPQRTUW-Y]{2}[0-9]{6}[0-9A-HJ-NPQRTUW-Y]{10}$"


def _timestamps(node: Any) -> None:
    """Give every date-time string the RFC 3339-with-offset pattern (``format`` alone is advisory)."""
    if isinstance(node, dict):
        if node.get("format") == "date-time":
            node["pattern"] = RFC3339_OFFSET
        for v in node.values():
            _timestamps(v)
    elif isinstance(node, list):
        for v in node:
            _timestamps(v)


def event_schema(regions: RegionTable, catalogue: Catalogue) -> dict[str, Any]:
    """The event/v1 schema with the shipped reference data inlined."""
    schema = msgspec.json.schema(Event)
    defs = schema["$defs"]
    _timestamps(defs)
    ev = defs["Event"]
    ev["properties"]["region_code"] = {"type": "string", "enum": sorted(r.code for r in regions)}
    defs["Product"]["properties"]["category"] = {"type": "string", "enum": [c.code for c in catalogue]}
    defs["Enterprise"]["properties"]["uscc"] = {
        "type": "string", "pattern": USCC_PATTERN,
        "x-riskwatch": "GB 32100-2015 check character: weights 3^i mod 31, check = 31 - (sum mod 31), 31 -> '0'",
    }
    ev["x-riskwatch"] = "reported_at, when present, is not before occurred_at"
    ev["allOf"] = [
        {"if": {"properties": {"source": {"const": src}}, "required": ["source"]},
         "then": {"required": [src] + ([] if src == "opinion" else ["product"]),
                  "properties": {src: {"type": "object"}, **{o: {"type": "null"} for o in SOURCES if o != src}}}}
        for src in SOURCES
    ]
    defs["Sampling"]["allOf"] = [
        {"if": {"properties": {"result": {"const": "fail"}}, "required": ["result"]},
         "then": {"required": ["failed_items"], "properties": {"failed_items": {"type": "array", "minItems": 1}}}},
        {"if": {"properties": {"result": {"const": "pass"}}, "required": ["result"]},
         "then": {"properties": {"failed_items": {"anyOf": [{"type": "null"}, {"type": "array", "maxItems": 0}]}}}},
    ]
    return {"$schema": _DRAFT, "$id": "urn:riskwatch:event/v1", "title": "riskwatch event/v1", **schema}


def alert_schema() -> dict[str, Any]:
    """The alert/v1 schema."""
    schema = msgspec.json.schema(Alert)
    _timestamps(schema["$defs"])
    for key in ("window_start", "window_end", "triggered_at"):
        schema["$defs"]["Alert"]["properties"][key] = {"type": "string", "pattern": RFC3339_OFFSET}
    return {"$schema": _DRAFT, "$id": "urn:riskwatch:alert/v1", "title": "riskwatch alert/v1", **schema}
