"""The event contract enforced exactly: examples, codes, paths, fuzzing, masking."""

from __future__ import annotations

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.dead_letter import DeadLetter
from schemas.errors import CODES
from schemas.event import Record
from schemas.validator import MAX_LINE_BYTES, Validator


def _lines(path):
    return [line for line in path.read_bytes().split(b"\n") if line]


def test_every_valid_example_passes(validator: Validator, shared_contracts):
    for line in _lines(shared_contracts / "examples" / "valid.jsonl"):
        out = validator.validate(line)
        assert isinstance(out, Record), out


def test_every_invalid_example_rejected_with_expected_path_and_code(validator: Validator, shared_contracts):
    lines = _lines(shared_contracts / "examples" / "invalid.jsonl")
    expected = [orjson.loads(x) for x in _lines(shared_contracts / "examples" / "invalid.expected.jsonl")]
    assert len(lines) == len(expected)
    for line, want in zip(lines, expected, strict=True):
        out = validator.validate(line)
        assert isinstance(out, DeadLetter)
        assert (want["path"], want["code"]) in {(e.path, e.code) for e in out.errors}, out.errors


@pytest.mark.parametrize(
    ("overrides", "path", "code"),
    [
        ({"event_id": "x" * 65}, "event_id", "length"),
        ({"event_id": ""}, "event_id", "format"),
        ({"event_id": None}, "event_id", "required"),
        ({"event_id": 42}, "event_id", "type"),
        ({"schema": "event/v2"}, "schema", "enum"),
        ({"source": "rumour"}, "source", "enum"),
        ({"occurred_at": "2025-02-30T10:00:00+08:00"}, "occurred_at", "format"),
        ({"occurred_at": 1741141200}, "occurred_at", "type"),
        ({"reported_at": "2025-03-05T09:00:00+08:00"}, "reported_at", "consistency"),
        ({"region_code": "33010"}, "region_code", "format"),
        ({"region_code": "330199"}, "region_code", "unknown_region"),
        ({"product.category": None}, "product.category", "required"),
        ({"product.name": "口" * 201}, "product.name", "length"),
        ({"product.colour": "red"}, "product.colour", "unknown_field"),
        ({"enterprise.uscc": "91420106314159268"}, "enterprise.uscc", "length"),
        ({"enterprise.uscc": "9142010631415926IO"}, "enterprise.uscc", "format"),
        ({"complaint.channel": "fax"}, "complaint.channel", "enum"),
        ({"complaint.injury": "lethal"}, "complaint.injury", "enum"),
        ({"complaint.amount_cny": -1}, "complaint.amount_cny", "range"),
        ({"complaint.amount_cny": "39.9"}, "complaint.amount_cny", "type"),
        ({"complaint.amount_cny": True}, "complaint.amount_cny", "type"),
        ({"complaint.text": "长" * 5001}, "complaint.text", "length"),
        ({"complaint": "投诉"}, "complaint", "type"),
        ({"complaint": None}, "complaint", "required"),
        ({"opinion": {"platform": "weibo", "text": "x"}}, "opinion", "consistency"),
        ({"complaint.complainant.phone": 13812345678}, "complaint.complainant.phone", "type"),
    ],
)
def test_rule_violations_have_contract_codes_and_paths(validator: Validator, make_event, overrides, path, code):
    out = validator.validate(orjson.dumps(make_event(**overrides)))
    assert isinstance(out, DeadLetter)
    assert (path, code) in {(e.path, e.code) for e in out.errors}, out.errors
    for e in out.errors:
        assert e.code in CODES
        assert e.message.startswith(e.path or "line")


def test_several_problems_are_all_reported(validator: Validator, make_event):
    event = make_event(region_code="999999", **{"product.category": "spaceship", "enterprise.uscc": "914201063141592680"})
    out = validator.validate(orjson.dumps(event))
    assert {("region_code", "unknown_region"), ("product.category", "unknown_category"),
            ("enterprise.uscc", "checksum")} <= {(e.path, e.code) for e in out.errors}


def test_sampling_pass_with_failed_items_is_inconsistent(validator: Validator, shared_contracts):
    event = orjson.loads(_lines(shared_contracts / "examples" / "valid.jsonl")[1])
    event["sampling"]["result"] = "pass"
    out = validator.validate(orjson.dumps(event))
    assert ("sampling.failed_items", "consistency") in {(e.path, e.code) for e in out.errors}


def test_message_names_field_rule_and_value(validator: Validator, make_event):
    out = validator.validate(orjson.dumps(make_event(**{"enterprise.uscc": "914201063141592680"})))
    assert [e.message for e in out.errors] == ["enterprise.uscc: check character is '0', expected '4'"]


def test_null_optional_fields_are_absent(validator: Validator, make_event):
    out = validator.validate(orjson.dumps(make_event(reported_at=None, **{"complaint.text": None})))
    assert isinstance(out, Record)


@pytest.mark.parametrize("raw", [b"", b"   ", b"[]", b"null", b"42", b'"s"', b"\xff\xfe{", b"{" * 10000,
                                 b'{"a":1', "汉字".encode("gbk"), b"[" * 100000,
                                 b'{"a":' * 5000 + b"1" + b"}" * 5000])
def test_garbage_is_rejected_as_json(validator: Validator, raw):
    out = validator.validate(raw)
    assert isinstance(out, DeadLetter)
    assert out.codes == ["json"]


@pytest.mark.parametrize(("value", "code"), [(b"99999999999999999999999", "range"), (b"1e400", "json"),
                                             (b"-1", "range"), (b"1.5", "type")])
def test_extreme_numbers_are_rejected_not_crashed(validator: Validator, make_event, value, code):
    raw = orjson.dumps(make_event(**{"complaint.amount_cny": 1})).replace(b'"amount_cny":1', b'"amount_cny":' + value)
    out = validator.validate(raw)
    if code == "type":  # amount accepts fractions; reach counts do not
        opinion = b'{"schema":"event/v1","event_id":"o1","source":"opinion","occurred_at":"2025-03-05T10:15:00+08:00",'
        out = validator.validate(opinion + b'"region_code":"330106","opinion":{"platform":"weibo","text":"x",'
                                 b'"reach":{"likes":' + value + b"}}}")
    assert isinstance(out, DeadLetter)
    assert code in out.codes, out.errors


def test_oversized_line_rejected_without_parsing(validator: Validator):
    out = validator.validate(b'{"x": "' + b"a" * MAX_LINE_BYTES + b'"}')
    assert isinstance(out, DeadLetter) and out.codes == ["length"]


# -- privacy ---------------------------------------------------------------------------------

def test_complainant_becomes_pseudonym_and_text_is_masked(validator: Validator, make_event):
    out = validator.validate(orjson.dumps(make_event()))
    assert isinstance(out, Record)
    assert out.event.complaint.complainant is None
    assert out.complainant is not None and len(out.complainant) == 16
    assert "13812345678" not in out.event.complaint.text and "138****5678" in out.event.complaint.text
    again = validator.validate(orjson.dumps(make_event(event_id="other-1")))
    assert again.complainant == out.complainant  # repeat complainants are recognisable


def test_pseudonym_depends_on_salt(regions, catalogue, make_event):
    from schemas.privacy import Privacy

    a = Validator(regions, catalogue, Privacy(b"salt-a")).validate(orjson.dumps(make_event()))
    b = Validator(regions, catalogue, Privacy(b"salt-b")).validate(orjson.dumps(make_event()))
    assert a.complainant != b.complainant


@pytest.mark.parametrize("overrides", [
    {"event_id": "bad id"},
    {"complaint.complainant.phone": 13812345678},
    {"complaint.complainant.name": ["张三"]},
    {"complainant": {"name": "张三", "phone": "13812345678"}},
    {"region_code": "999999", "complaint.text": "身份证110101199003071234 电话 138-1234-5678"},
])
def test_dead_letters_hold_no_personal_data(validator: Validator, make_event, overrides):
    line = orjson.dumps(make_event(**overrides))
    for raw in (line, line[:-5]):  # parseable and truncated (not JSON)
        out = validator.validate(raw)
        assert isinstance(out, DeadLetter)
        text = msgspec.json.encode(out).decode()
        for secret in ("13812345678", "张三", "110101199003071234", "1234-5678"):
            assert secret not in text, (secret, text)


# -- fuzzing: validation never raises anything but its own results -------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=20,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(validator: Validator, raw):
    out = validator.validate(raw)
    assert isinstance(out, (Record, DeadLetter))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(json_values)
def test_arbitrary_json_never_raises(validator: Validator, value):
    out = validator.validate(orjson.dumps(value))
    assert isinstance(out, DeadLetter)
    assert out.errors and all(e.code in CODES for e in out.errors)


_mutations = st.dictionaries(
    st.sampled_from(["event_id", "source", "occurred_at", "reported_at", "region_code", "product", "product.category",
                     "enterprise", "enterprise.uscc", "complaint", "complaint.channel", "complaint.injury",
                     "complaint.amount_cny", "complaint.text", "complaint.complainant", "sampling", "opinion",
                     "extra"]),
    json_values, max_size=3)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
          deadline=None)
@given(_mutations)
def test_fast_and_slow_paths_agree(validator: Validator, make_event, mutation):
    """What the fast path accepts the explainer finds no fault with, and every rejection names a rule."""
    nested = {k.split(".")[0] for k in mutation if "." in k}
    event = make_event(**{k: v for k, v in mutation.items() if v is not None and k not in nested})
    raw = orjson.dumps(event)
    out = validator.validate(raw)
    explained = validator._explain(raw, None)  # the slow path alone
    if isinstance(out, Record):
        assert [e for e in explained.errors if e.message != "event rejected by the decoder"] == []
    else:
        assert out.errors and all(e.code in CODES for e in out.errors)
        assert "event rejected by the decoder" not in {e.message for e in out.errors}
