"""Throughput of the ClickHouse writer alone, for ``riskwatch bench run``.

``bench_sink`` builds validated-shape records of all four sources (the contract examples'
shapes: Chinese free text of realistic length, brands, enterprises, reach, failed items,
Kafka positions) in memory first, then times ``add_events`` + ``close`` — row building,
batching and the inserts, nothing upstream. ``synthetic_records`` is also what the
storage tests feed the writer.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from schemas.categories import Catalogue
from schemas.event import (
    Complaint, Enforcement, Enterprise, Event, FailedItem, Opinion, Position, Product, Reach, Record, Sampling,
)
from schemas.regions import RegionTable
from sinks.clickhouse import ClickHouseSink, SinkConfig
from sinks.migrations import migrate
from sinks.queries import stats
from sinks.url import connect

__all__ = ["bench_sink", "synthetic_records"]

_CST = timezone(timedelta(hours=8))
_T0 = datetime(2025, 3, 1, tzinfo=_CST)
_USCC = ("914201063141592684", "91330106271828184K")
_TEXT = ("口罩耳带一戴就断，闻着有刺鼻气味，客服一直不处理，要求退一赔三。联系电话138****5678。"
         "购买于某电商平台旗舰店，订单号已提供，批次号见包装背面。")
_POST = "#产品质量# 药店买的口罩一股怪味，戴了半天脸上起疹子，大家别买了！已经向12315投诉，看看怎么处理。"


def synthetic_records(n: int, regions: RegionTable, catalogue: Catalogue, seed: int = 0,
                      prefix: str = "bench", topic: str = "events") -> list[Record]:
    """``n`` masked records, sources mixed as in production (opinion most of the volume),
    event ids ``{prefix}-{i}``, Kafka positions in arrival order, times over 30 days."""
    rng = np.random.default_rng(seed)
    counties = [r.code for r in regions if r.level == "county"][:500]
    cats = list(catalogue.categories)
    src = rng.choice(4, size=n, p=[0.3, 0.1, 0.1, 0.5])
    region_i = rng.integers(0, len(counties), n)
    cat_i = rng.integers(0, len(cats), n)
    minutes = rng.integers(0, 30 * 24 * 60, n)
    out: list[Record] = []
    for i in range(n):
        at = _T0 + timedelta(minutes=int(minutes[i]), seconds=i % 60)
        region, cat = counties[region_i[i]], cats[cat_i[i]]
        product = Product(category=cat, name="一次性使用医用口罩", brand="安护", batch="20250201")
        kind = int(src[i])
        body: dict[str, Any]
        if kind == 0:
            body = {"source": "complaint", "complaint": Complaint(
                channel="hotline_12315", issue="quality", injury=("none", "minor", "serious")[i % 3],
                text=_TEXT, amount_cny=39.9)}
        elif kind == 1:
            fail = i % 4 == 0
            body = {"source": "sampling", "sampling": Sampling(
                task_id="2025-Q1-HB-PPE", level="provincial", sample_id=f"S{i}", result="fail" if fail else "pass",
                failed_items=[FailedItem(item="细菌过滤效率", severity="critical", measured="88%", limit="≥95%")]
                if fail else None, lab="湖北省产品质量监督检验研究院")}
        elif kind == 2:
            body = {"source": "enforcement", "enforcement": Enforcement(
                case_id=f"杭西市监案〔2025〕{i}号", violation="counterfeit", status="opened", goods_value_cny=12800.0)}
        else:
            body = {"source": "opinion", "opinion": Opinion(
                platform="weibo", text=_POST, url=f"https://weibo.com/1234567890/{i}",
                reach=Reach(followers=15200 + i, reposts=312, comments=88, likes=1024),
                sentiment=-0.6 if i % 2 else 0.3)}
            product = product if i % 3 else None
        ev = Event(schema="event/v1", event_id=f"{prefix}-{i}", occurred_at=at, region_code=region,
                   reported_at=at + timedelta(minutes=5), product=product,
                   enterprise=Enterprise(uscc=_USCC[i % 2], name="武汉某防护用品有限公司"), **body)
        out.append(Record(ev, at.timestamp(), "93c7db02f36409ad" if kind == 0 else None,
                          Position(topic=topic, partition=i % 4, offset=i // 4)))
    return out


def bench_sink(url: str, n: int = 100_000, config: SinkConfig | None = None, seed: int = 0) -> dict[str, Any]:
    """Write ``n`` synthetic events through ``ClickHouseSink`` to ``url`` (use a scratch
    database: the rows stay) and time it. Returns JSON-able figures: ``rows_per_s`` of
    the writer, the time split between row building and storing, and the distinct count
    read back (equal to ``n`` when nothing was lost). Raises ``BackendError``/``SinkError``."""
    regions, catalogue = RegionTable.load(), Catalogue.load()
    prefix = f"bench{time.time_ns()}"
    records = synthetic_records(n, regions, catalogue, seed=seed, prefix=prefix)
    backend = connect(url)
    try:
        migrate(backend)
        sink = ClickHouseSink(backend, regions, config or SinkConfig(max_age_s=60.0))
        step = 1000  # the pipeline hands the writer micro-batches
        t0 = time.perf_counter()
        for i in range(0, n, step):
            sink.add_events(records[i:i + step])
        t_add = time.perf_counter() - t0
        sink.close()
        total = time.perf_counter() - t0
        stored = int(backend.query(f"SELECT uniqExact(event_id) FROM events WHERE event_id LIKE '{prefix}-%'")[0][0])
        return {
            "url": backend.url, "rows": n, "seconds": round(total, 3),
            "rows_per_s": round(n / total) if total > 0 else None,
            "add_seconds": round(t_add, 3), "batches": sink.counters["batches_written"],
            "stored_distinct": stored, "events_total": stats(backend)["events"]["total"],
        }
    finally:
        backend.close()
