"""The exported JSON Schema agrees with the contract's examples."""

from __future__ import annotations

import jsonschema
import orjson

from schemas.json_schema import alert_schema, event_schema


def test_event_schema_accepts_valid_and_rejects_invalid_examples(regions, catalogue, shared_contracts):
    schema = event_schema(regions, catalogue)
    jsonschema.Draft202012Validator.check_schema(schema)
    check = jsonschema.Draft202012Validator(schema)
    for line in (shared_contracts / "examples" / "valid.jsonl").read_bytes().splitlines():
        assert list(check.iter_errors(orjson.loads(line))) == []
    expected = (shared_contracts / "examples" / "invalid.expected.jsonl").read_bytes().splitlines()
    for line, want in zip((shared_contracts / "examples" / "invalid.jsonl").read_bytes().splitlines(), expected,
                          strict=True):
        code = orjson.loads(want)["code"]
        if code in ("json", "checksum"):  # not JSON at all / arithmetic JSON Schema cannot express
            continue
        assert list(check.iter_errors(orjson.loads(line))), line[:80]


def test_alert_schema_is_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(alert_schema())
