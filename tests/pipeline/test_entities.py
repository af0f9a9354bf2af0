"""The entity registry: brands and makers learned from structured events reach opinion text the
next day, deterministically, and survive a snapshot."""

from __future__ import annotations

import orjson
import pytest

from detectors.lexicon import Lexicon
from pipeline.enrich import Enricher
from pipeline.entities import EntityRegistry
from schemas.event import Record
from schemas.uscc import make_uscc

DAY = 86400.0
MAKER = "914201063141592684"  # the contract example's enterprise


@pytest.fixture(scope="module")
def lexicon(catalogue):
    return Lexicon.load(catalogue=catalogue)


def _record(validator, make_event, i, **overrides) -> Record:
    out = validator.validate(orjson.dumps(make_event(event_id=f"e{i}", **overrides)))
    assert isinstance(out, Record), out
    return out


def test_a_brand_seen_in_complaints_is_read_in_posts_from_the_next_day(validator, make_event, lexicon):
    reg = EntityRegistry(lexicon)
    post = "安护的口罩戴了两天就起疹子"
    assert reg.lexicon(1741140000.0) is lexicon  # 2025-03-05 10:00 +08:00: nothing learned yet
    for i in range(3):
        reg.learn(_record(validator, make_event, i))  # brand 安护, category mask, maker MAKER
    today = reg.lexicon(1741140900.0)  # the same day: unchanged
    assert "安护" not in today.analyze(post).brands  # learned today, known tomorrow
    tomorrow = reg.lexicon(1741140900.0 + DAY)
    facts = tomorrow.analyze(post)
    assert facts.brands == ("安护",) and facts.enterprises == (MAKER,)
    assert facts.categories and facts.categories[0][0] == "mask"


def test_rare_or_shared_brands_are_not_attributed(validator, make_event, lexicon):
    reg = EntityRegistry(lexicon)
    reg.learn(_record(validator, make_event, 0, **{"product.brand": "稀有牌"}))  # once: too rare
    for i in range(5):  # a placeholder, not a brand
        reg.learn(_record(validator, make_event, 100 + i, **{"product.brand": "不详"}))
    for i, uscc in enumerate([make_uscc("420106", "314159268"), make_uscc("330106", "MA27U8XQ4"),
                              make_uscc("440300", "MA5FBWNU2")] * 2):
        reg.learn(_record(validator, make_event, 10 + i, **{"product.brand": "通用牌", "enterprise.uscc": uscc}))
    brands, makers = reg.lexicon(1741140900.0 + DAY) and reg.active
    assert "稀有牌" not in brands and "不详" not in brands and brands.get("通用牌") == "mask"
    assert "通用牌" not in makers  # three makers share it: no one maker


def test_snapshot_restores_the_same_lexicon_and_counts(validator, make_event, lexicon):
    reg = EntityRegistry(lexicon)
    for i in range(4):
        reg.learn(_record(validator, make_event, i))
    reg.lexicon(1741140900.0 + DAY)
    snap = orjson.loads(orjson.dumps(reg.snapshot()))
    again = EntityRegistry(lexicon, snap)
    assert again.snapshot() == reg.snapshot()
    post = "安护口罩有刺鼻气味"
    assert again.lexicon(1741140900.0 + DAY).analyze(post) == reg.lexicon(1741140900.0 + DAY).analyze(post)


def test_opinion_posts_teach_nothing(validator, make_event, lexicon):
    reg = EntityRegistry(lexicon)
    body = {"platform": "weibo", "text": "安护口罩不错", "sentiment": 0.5}
    post = make_event(source="opinion", complaint=None, opinion=body)
    for i in range(5):
        post["event_id"] = f"o{i}"
        out = validator.validate(orjson.dumps(post))
        assert isinstance(out, Record), out
        reg.learn(out)
    assert reg.brands == {} and reg.names == {}


def test_a_post_naming_two_brands_counts_for_the_maker_of_its_product(validator, make_event, lexicon, regions):
    """A post from 安宁市 about a 智驰 battery fire also names 安宁, a watch brand: the battery
    observation belongs to 智驰's maker, not to the first brand in the text."""
    watch_maker, battery_maker = make_uscc("532523", "Y1TXJQ1H6"), make_uscc("441402", "79XLFQLQ4")
    lex = lexicon.with_entities({"安宁": "wearable", "智驰": "lithium_battery"},
                                {"安宁": watch_maker, "智驰": battery_maker})
    body = {"platform": "weibo", "text": "又是电池起火！安宁智驰移动电源电芯自燃，楼道全是浓烟"}
    post = make_event(source="opinion", complaint=None, product=None, enterprise=None, opinion=body,
                      region_code="530181")
    record = validator.validate(orjson.dumps(post))
    assert isinstance(record, Record), record
    seen = {o.category: (o.uscc, o.brand) for o in Enricher(regions, lexicon).observe(record, lex)}
    assert seen["lithium_battery"] == (battery_maker, "智驰")
    assert seen.get("wearable", ("", "")) == ("", "")  # 安宁 is the post's own place here
    one = {"platform": "weibo", "text": "智驰移动电源电芯自燃"}  # one brand: as named
    record = validator.validate(orjson.dumps(post | {"opinion": one}))
    assert [(o.uscc, o.brand) for o in Enricher(regions, lexicon).observe(record, lex)] == [(battery_maker, "智驰")]


def test_a_brand_that_is_the_posts_own_place_is_read_as_the_place(validator, make_event, lexicon, regions):
    """"安宁一小区电池起火" from 安宁市 (or elsewhere in 昆明) names no product of the 安宁 watch
    brand; the same words from another city do name it."""
    watch_maker = make_uscc("532523", "Y1TXJQ1H6")
    lex = lexicon.with_entities({"安宁": "wearable"}, {"安宁": watch_maker})
    body = {"platform": "weibo", "text": "安宁一小区电池起火，整栋楼都是烟"}

    def named(region: str, **fields: object) -> set[tuple[str, str]]:
        post = make_event(source="opinion", complaint=None, product=None, enterprise=None, opinion=body,
                          region_code=region) | fields
        record = validator.validate(orjson.dumps(post))
        assert isinstance(record, Record), record
        return {(o.uscc, o.brand) for o in Enricher(regions, lexicon).observe(record, lex)}

    assert named("530181") == {("", "")}  # 云南省昆明市安宁市
    assert named("530102") == {("", "")}  # 昆明市五华区: 安宁 is a county of its city
    assert named("530100") == {("", "")}  # 昆明市 itself
    assert (watch_maker, "安宁") in named("110101")  # 北京: the brand
