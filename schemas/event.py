"""Event contract v1 (``shared/contracts/EVENTS.md`` §1–2) as msgspec types.

Structural rules (types, enums, lengths, ranges, formats, unknown fields) are declared
here once; ``schemas.validator`` decodes with them on the fast path and walks the same
declarations to explain a rejection. Rules that need reference data or several fields
(region, category, USCC, ``failed_items`` against ``result``, body against ``source``,
``reported_at`` ≥ ``occurred_at``) live in ``schemas.validator``.

Optional fields default to ``None``; JSON ``null`` is read as absent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "Complainant", "Complaint", "Enforcement", "Enterprise", "Event", "FailedItem", "Opinion",
    "Position", "Product", "Reach", "Record", "Sampling", "SOURCES",
]

SOURCES = ("complaint", "sampling", "enforcement", "opinion")

Text = lambda n: Annotated[str, Meta(max_length=n)]  # noqa: E731 — a length-capped string type
NonNeg = Annotated[float, Meta(ge=0, le=1e15)]  # the upper bound only keeps out overflow (1e400 → inf)
Count = Annotated[int, Meta(ge=0, le=2**63 - 1)]
Timestamp = Annotated[datetime, Meta(tz=True)]  # RFC 3339 with an explicit offset

EVENT_ID_RE = r"^[A-Za-z0-9._:-]{1,64}$"
URL_RE = r"^https?://[^\s/?#]+[^\s]*$"


class _Strict(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    """Base: unknown fields are rejected, absent optionals are not re-encoded. ``gc=False``:
    decoded events hold no reference cycles, so the cycle collector need not track them."""


class Product(_Strict):
    category: str
    name: Text(200) | None = None
    brand: Text(100) | None = None
    model: Text(100) | None = None
    batch: Text(64) | None = None


class Enterprise(_Strict):
    uscc: str
    name: Text(200) | None = None


class Complainant(_Strict):
    name: str | None = None
    phone: str | None = None
    id_number: str | None = None


class Complaint(_Strict):
    channel: Literal["hotline_12315", "web", "app", "wechat", "other"]
    issue: Literal["quality", "safety", "counterfeit", "false_advertising", "labeling", "after_sales", "other"]
    injury: Literal["none", "minor", "serious", "fatal"] = "none"
    text: Text(5000) | None = None
    amount_cny: NonNeg | None = None
    complainant: Complainant | None = None


class FailedItem(_Strict):
    item: str
    severity: Literal["critical", "major", "minor"]
    standard: str | None = None
    measured: str | None = None
    limit: str | None = None


_SEVERITY_INDEX = {"critical": 0, "major": 1, "minor": 2}


class Sampling(_Strict):
    task_id: Text(64)
    level: Literal["national", "provincial", "municipal", "county"]
    sample_id: Text(64)
    result: Literal["pass", "fail"]
    failed_items: list[FailedItem] | None = None
    lab: Text(200) | None = None

    def severity_counts(self) -> tuple[int, int, int]:
        """Failed items by severity: ``(critical, major, minor)`` (A类, B类, C类)."""
        counts = [0, 0, 0]
        for item in self.failed_items or ():
            counts[_SEVERITY_INDEX[item.severity]] += 1
        return counts[0], counts[1], counts[2]


class Enforcement(_Strict):
    case_id: Text(64)
    violation: Literal["counterfeit", "substandard", "unlicensed", "false_certification",
                       "false_advertising", "origin_fraud", "other"]
    status: Literal["opened", "closed"]
    goods_value_cny: NonNeg | None = None
    penalty_cny: NonNeg | None = None


class Reach(_Strict):
    followers: Count | None = None
    reposts: Count | None = None
    comments: Count | None = None
    likes: Count | None = None


class Opinion(_Strict):
    platform: Literal["weibo", "wechat", "douyin", "xiaohongshu", "news", "forum", "other"]
    text: Annotated[str, Meta(min_length=1, max_length=10000)]
    url: Annotated[str, Meta(max_length=2000, pattern=URL_RE)] | None = None
    title: Text(500) | None = None
    reach: Reach | None = None
    sentiment: Annotated[float, Meta(ge=-1.0, le=1.0)] | None = None


class Event(_Strict):
    """One event on the wire (``schema`` = ``event/v1``)."""

    schema: Literal["event/v1"]
    event_id: Annotated[str, Meta(min_length=1, max_length=64, pattern=EVENT_ID_RE)]
    source: Literal["complaint", "sampling", "enforcement", "opinion"]
    occurred_at: Timestamp
    region_code: str
    reported_at: Timestamp | None = None
    product: Product | None = None
    enterprise: Enterprise | None = None
    complaint: Complaint | None = None
    sampling: Sampling | None = None
    enforcement: Enforcement | None = None
    opinion: Opinion | None = None


class Position(msgspec.Struct, omit_defaults=True, frozen=True):
    """Where a record came from: a file line (from 1) or a Kafka topic/partition/offset."""

    file: str | None = None
    line: int | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


class Record(msgspec.Struct, gc=False):
    """A validated, masked event as it travels downstream.

    ``event`` has the complainant removed and free text masked; ``ts`` is ``occurred_at`` in
    epoch seconds; ``complainant`` the salted pseudonym (or ``None``); ``position`` the
    ingest position that replay uses to reproduce arrival order.
    """

    event: Event
    ts: float
    complainant: str | None = None
    position: Position | None = None
