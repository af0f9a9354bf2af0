"""ClickHouse storage: one schema and one set of queries for the server and for chDB.

- ``sinks.url`` — ``connect(url)``: ``clickhouse://…`` (native protocol, 18.16 and later),
  ``clickhouses://…`` (TLS) or ``chdb:///dir/db`` (embedded); passwords never shown.
- ``sinks.base`` — the ``Backend`` Protocol both engines implement, ``BackendError``.
- ``sinks.migrations`` — the schema as numbered migrations; ``migrate(backend)``.
- ``sinks.clickhouse`` — ``ClickHouseSink``/``SinkConfig``: batched, retried, idempotent
  writes that survive outages (spool or back-pressure).
- ``sinks.queries`` — ``stats``, ``query``, ``hourly``, ``load_events``, ``add_alert_action``.
- ``sinks.bench`` — ``bench_sink(url, n)``; ``sinks.local_server`` — a throw-away server.

Nothing is imported here, so that ``import sinks`` loads neither clickhouse-driver nor
chDB (importing chDB starts its engine).
"""

__all__: list[str] = []
