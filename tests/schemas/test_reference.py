"""Reference data: USCC check characters, the GB/T 2260 table, the catalogue, masking."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.privacy import Privacy
from schemas.regions import RegionTable
from schemas.uscc import ALPHABET, check_character, make_uscc, uscc_problem

body17 = st.text(alphabet=ALPHABET, min_size=17, max_size=17).map(lambda s: s[:2] + "330106" + s[8:])


@given(body17)
def test_uscc_made_with_its_check_character_is_valid(body):
    assert uscc_problem(body + check_character(body)) is None


@given(body17, st.sampled_from(ALPHABET))
def test_any_other_check_character_is_a_checksum_error(body, c):
    if c != check_character(body):
        problem = uscc_problem(body + c)
        assert problem is not None and problem[0] == "checksum"
        assert f"expected '{check_character(body)}'" in problem[1]


@given(body17, st.integers(0, 16), st.sampled_from(ALPHABET))
def test_single_character_substitution_is_detected(body, i, c):
    code = body + check_character(body)
    changed = code[:i] + c + code[i + 1:]
    if changed != code and changed[2:8].isdigit():
        assert uscc_problem(changed) is not None


@pytest.mark.parametrize(("code", "err"), [("91330106271828184", "length"), ("9133010627182818IK", "format"),
                                          ("91ABCDEF271828184K", "format")])
def test_uscc_shape_errors(code, err):
    assert uscc_problem(code)[0] == err


def test_contract_usccs():
    assert uscc_problem("914201063141592684") is None
    assert uscc_problem("91330106271828184K") is None
    assert make_uscc("330106", "27182818K".replace("K", "4"))[:17] == "913301062718281840"[:17]


def test_region_table_is_complete(regions: RegionTable):
    levels = [r.level for r in regions]
    assert levels.count("province") == 34  # 31 mainland + 台湾, 香港, 澳门
    assert levels.count("city") > 330
    assert levels.count("county") > 2800
    assert all(re.fullmatch(r"[0-9]{6}", r.code) for r in regions)


@settings(max_examples=200)
@given(st.data())
def test_every_chain_ends_at_a_province_and_parents_contain_children(regions: RegionTable, data):
    code = data.draw(st.sampled_from(sorted(regions.regions)))
    chain = regions.chain(code)
    assert chain[0] == code and regions.level(chain[-1]) == "province"
    assert [regions.level(c) for c in chain] == {"county": ["county", "city", "province"], "city": ["city", "province"],
                                                 "province": ["province"]}[regions.level(code)][: len(chain)]
    for parent, child in zip(chain[1:], chain, strict=False):
        assert child in regions.children(parent)
        assert child[:2] == parent[:2]


def test_region_names_and_distance(regions: RegionTable):
    assert regions.full_name("330106") == "浙江省杭州市西湖区"
    assert regions.name("110101") == "东城区" and regions.chain("110101") == ("110101", "110100", "110000")
    assert regions.distance_km("330106", "330102") < 15
    assert 520 < regions.distance_km("330100", "420100") < 620  # 杭州 → 武汉, great circle
    assert "999999" not in regions and regions.chain("999999") == ()


def test_catalogue_matches_contract(catalogue, shared_contracts):
    rows = (shared_contracts / "product_categories.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert [c.code for c in catalogue] == [r.split(",")[0] for r in rows]


@given(st.text())
def test_masking_never_raises_and_leaves_no_mobile_number(text):
    masked = Privacy.mask_text(text)
    assert re.search(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])", masked) is None or "*" in masked or masked == text


@pytest.mark.parametrize(("text", "want"), [
    ("电话13812345678", "电话138****5678"),
    ("电话 +86 138 1234 5678 谢谢", "电话 138****5678 谢谢"),
    ("身份证号11010119900307123X。", "身份证号110***********123X。"),
    ("订单号2025030512345678901", "订单号2025030512345678901"),  # a longer digit run is not a phone
])
def test_masking_examples(text, want):
    assert Privacy.mask_text(text) == want
