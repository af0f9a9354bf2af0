"""Tests of the opinion-text lexicon (detectors/lexicon.py over config/lexicon.yaml)."""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from config import DIR
from detectors.lexicon import Lexicon, TextFacts
from schemas.categories import Catalogue
from schemas.errors import ConfigError
from schemas.uscc import make_uscc

YAML = DIR / "lexicon.yaml"
DOC: dict[str, Any] = yaml.safe_load(YAML.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def lex(catalogue: Catalogue) -> Lexicon:
    return Lexicon.load(catalogue=catalogue)


def top(facts: TextFacts) -> str | None:
    return facts.categories[0][0] if facts.categories else None


def write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "lexicon.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# ---- the contract's examples ----------------------------------------------------------

def test_contract_mask_post(lex: Lexicon) -> None:
    facts = lex.analyze("#口罩质量# 药店买的安护口罩一股怪味，戴了半天脸上起疹子，大家别买了！")
    assert top(facts) == "mask"
    assert "异味" in facts.risk_terms and "起疹子" in facts.risk_terms
    assert lex.risk_class("异味") == "quality"
    assert facts.injury
    assert facts.sentiment < -0.5


def test_contract_e_bike_news(lex: Lexicon) -> None:
    title = "小区电动自行车充电起火 消防提醒勿私拉电线"
    facts = lex.analyze("3月6日晚，某小区一辆电动自行车在楼道充电时起火……", title=title)
    assert top(facts) == "e_bike"
    assert facts.risk_terms == ("起火",)
    assert facts.hazard >= 0.9
    assert facts.sentiment < 0
    assert lex.analyze(title).risk_terms == ("起火",)


# ---- categories ------------------------------------------------------------------------

MAIN_SYNONYMS = {
    "mask": ["口罩", "医用口罩", "N95", "KN95", "外科口罩", "kn95口罩"],
    "e_bike": ["电动自行车", "电动车", "电瓶车", "电驴"],
    "lithium_battery": ["锂电池", "充电宝", "移动电源", "锂离子电池"],
    "infant_formula": ["奶粉", "婴儿奶粉", "配方奶粉", "婴幼儿配方乳粉"],
    "gas_appliance": ["燃气灶", "热水器", "燃气热水器", "煤气灶"],
    "elevator": ["电梯", "扶梯", "自动扶梯"],
    "toy": ["玩具", "毛绒玩具", "积木", "磁力珠"],
    "cosmetics": ["化妆品", "面膜", "口红", "护肤品"],
    "helmet": ["头盔", "安全帽"],
    "gas_cylinder": ["气瓶", "煤气罐", "液化气罐"],
    "hazardous_chemical": ["危险化学品", "危化品"],
    "cold_chain_food": ["冷链食品", "冻肉", "进口冻品"],
    "child_car_seat": ["儿童安全座椅", "安全座椅"],
    "baby_stroller": ["婴儿推车", "婴儿车"],
    "wood_panel": ["人造板", "密度板", "刨花板"],
    "lifting_machinery": ["起重机", "塔吊"],
    "ready_mixed_concrete": ["预拌混凝土", "商品混凝土", "混凝土"],
}


@pytest.mark.parametrize(("code", "term"), [(c, t) for c, terms in MAIN_SYNONYMS.items() for t in terms])
def test_main_synonyms_in_a_sentence(lex: Lexicon, code: str, term: str) -> None:
    facts = lex.analyze(f"昨天在网上买的{term}，用了两天感觉一般")
    assert top(facts) == code, facts.categories


def test_every_category_has_entries_and_is_found_by_its_name(lex: Lexicon, catalogue: Catalogue) -> None:
    assert set(DOC["categories"]) == {c.code for c in catalogue}
    for category in catalogue:
        assert len(DOC["categories"][category.code]) >= 3, category.code
        assert top(lex.analyze(category.name_zh)) == category.code, category.code


def test_every_strong_category_term_finds_its_category(lex: Lexicon) -> None:
    best: dict[str, tuple[float, str]] = {}
    for code, terms in DOC["categories"].items():
        for term, weight in terms.items():
            if weight > best.get(term, (0.0, ""))[0]:
                best[term] = (weight, code)
    strong = {term: code for term, (weight, code) in best.items() if weight >= 0.7}
    assert len(strong) > 300
    wrong = {term: lex.analyze(term).categories for term, code in strong.items()
             if top(lex.analyze(term)) != code}
    assert wrong == {}


def test_confidence_combines_count_and_weight(lex: Lexicon) -> None:
    once = dict(lex.analyze("电驴").categories)["e_bike"]
    twice = dict(lex.analyze("电驴，又是电驴").categories)["e_bike"]
    strong = dict(lex.analyze("电动自行车").categories)["e_bike"]
    assert 0 < once < twice < 1
    assert once < strong
    assert dict(lex.analyze("推车").categories)["baby_stroller"] < 0.5   # an ambiguous short word


def test_categories_ranked_and_capped(lex: Lexicon) -> None:
    facts = lex.analyze("口罩、充电宝、电梯、校服、化肥、水泥、钢筋都抽检了，口罩最多")
    assert len(facts.categories) == 3
    assert facts.categories[0][0] == "mask"
    confidences = [c for _, c in facts.categories]
    assert confidences == sorted(confidences, reverse=True)
    assert lex.analyze("奶粉").categories[0][0] == "infant_formula"
    assert "dairy" in dict(lex.analyze("奶粉").categories)


def test_longest_entry_wins_over_the_words_inside_it(lex: Lexicon) -> None:
    assert dict(lex.analyze("医用口罩").categories)["mask"] == pytest.approx(0.98)
    assert lex.analyze("玻璃杯碎了").categories == ()            # neutral entry hides 玻璃
    assert lex.analyze("和朋友一起火锅").risk_terms == ()          # 一起 hides 起火
    assert lex.analyze("抽检不合格").risk_terms == ("抽检不合格",)


# ---- risk terms, hazard, injury --------------------------------------------------------

@pytest.mark.parametrize(("text", "term", "low", "high"), [
    ("充电宝突然爆炸了", "爆炸", 0.95, 1.0),
    ("电瓶车自燃", "自燃", 0.95, 1.0),
    ("检测报告说含致癌物", "致癌", 0.95, 1.0),
    ("新衣服洗一次就起球", "起球", 0.1, 0.3),
    ("有股怪味", "异味", 0.1, 0.3),
    ("插座冒烟了", "冒烟", 0.7, 0.9),
    ("衣柜甲醛超标", "甲醛", 0.8, 0.9),
    ("淘宝上买到假货", "假货", 0.6, 0.8),
    ("厂家宣布召回", "召回", 0.6, 0.8),
])
def test_risk_terms_and_hazard(lex: Lexicon, text: str, term: str, low: float, high: float) -> None:
    facts = lex.analyze(text)
    assert term in facts.risk_terms
    assert low <= facts.hazard <= high
    assert facts.sentiment < 0


def test_risk_terms_deduplicated_in_order_of_first_appearance(lex: Lexicon) -> None:
    facts = lex.analyze("甲醛超标，甲醛严重超标，还有苯，起火")
    assert facts.risk_terms == ("甲醛", "超标", "苯", "起火")
    assert facts.hazard == 1.0


@pytest.mark.parametrize(("text", "injury"), [
    ("孩子被烫伤，送医院了", True),
    ("一人触电身亡", True),
    ("小孩误吞磁力珠住院", True),
    ("用了以后过敏", True),
    ("质量差还漏电", False),
    ("这批化肥是假冒的", False),
])
def test_injury(lex: Lexicon, text: str, injury: bool) -> None:
    assert lex.analyze(text).injury is injury


def test_every_risk_form_reports_its_canonical_term(lex: Lexicon) -> None:
    wrong = {}
    for klass, terms in DOC["risk_terms"].items():
        for canonical, spec in terms.items():
            assert lex.risk_class(canonical) == klass
            for form in [canonical, *(spec.get("forms") or [])]:
                facts = lex.analyze(form)
                if facts.risk_terms != (canonical,):
                    wrong[form] = facts.risk_terms
    assert wrong == {}
    assert lex.risk_class("着火") is None   # a form, not a canonical term


@pytest.mark.parametrize(("text", "term"), [
    ("電動自行車起火", "起火"), ("過敏", "過敏"), ("觸電", "觸電"), ("假貨", "假貨"),
    ("召回", "召回"), ("爆炸", "爆炸"), ("甲醛", "甲醛"), ("抽檢不合格", "抽檢不合格"),
])
def test_traditional_characters(lex: Lexicon, text: str, term: str) -> None:
    simplified = {"過敏": "过敏", "觸電": "触电", "假貨": "假货", "抽檢不合格": "抽检不合格"}.get(term, term)
    assert simplified in lex.analyze(text).risk_terms
    assert top(lex.analyze("電動自行車")) == "e_bike"
    assert top(lex.analyze("鋰電池")) == "lithium_battery"
    assert lex.analyze("大家別買").sentiment < 0
    assert lex.analyze("非常滿意").sentiment > lex.analyze("滿意").sentiment > 0


def test_case_and_full_width(lex: Lexicon) -> None:
    for text in ("KN95", "kn95", "Kn95", "ＫＮ９５", "ｋｎ９５"):
        assert top(lex.analyze(text)) == "mask", text


# ---- negation, intensifiers, sentiment -------------------------------------------------

@pytest.mark.parametrize(("text", "sign"), [
    ("这个充电宝不好用", -1),
    ("这个充电宝好用", 1),
    ("这个充电宝不是很好用", -1),
    ("不是不好用", 1),
    ("质量不错，推荐", 1),
    ("垃圾产品，大家别买", -1),
    ("不推荐", -1),
    ("不用担心", 1),
    ("没有异味，很好用", 1),
    ("非常满意", 1),
    ("差不多吧", 0),
    ("很好", 1),              # a weak word after an intensifier
    ("不是很好", -1),
    ("好像是这样", 0),        # … and alone it does not count
    ("不得不说", 0),
    ("今天天气", 0),
])
def test_sentiment_sign(lex: Lexicon, text: str, sign: int) -> None:
    s = lex.analyze(text).sentiment
    assert (s > 0) - (s < 0) == sign, s


def test_intensifiers_and_negation_strength(lex: Lexicon) -> None:
    plain = lex.analyze("好用").sentiment
    assert lex.analyze("非常好用").sentiment > plain > 0
    assert 0 < lex.analyze("有点好用").sentiment < plain
    assert lex.analyze("太差了").sentiment < lex.analyze("差").sentiment < 0
    # The negation scope is a few characters of the same clause.
    assert lex.analyze("不，好用").sentiment > 0
    assert lex.analyze("不知道为什么就是很好用").sentiment > 0


@pytest.mark.parametrize(("text", "reported"), [
    ("这款电暖器不会起火", ()),
    ("没有甲醛和苯", ()),
    ("不会起火也不会爆炸", ()),
    ("未检出甲醛", ()),
    ("无人员伤亡", ()),
    ("未造成人员伤亡", ()),
    ("不，起火了", ("起火",)),
    ("不幸身亡", ("死亡",)),
    ("不慎触电", ("触电",)),
    ("没多久就起火了", ("起火",)),
    ("不断冒烟", ("冒烟",)),
    ("会不会爆炸", ("爆炸",)),
    ("不会起火，但是漏电", ("漏电",)),
    ("没有甲醛，但是起火了", ("起火",)),
])
def test_negated_risk_terms_are_not_reported(lex: Lexicon, text: str, reported: tuple[str, ...]) -> None:
    facts = lex.analyze(text)
    assert facts.risk_terms == reported
    assert facts.injury is any(t in ("死亡", "触电") for t in reported)
    assert facts.hazard == (0.0 if not reported else facts.hazard)


def test_negation_reduces_hazard(lex: Lexicon) -> None:
    assert lex.analyze("充电宝起火").hazard == 1.0
    assert lex.analyze("充电宝不会起火").hazard == 0.0
    assert lex.analyze("不会起火").sentiment >= 0


def test_every_sentiment_word_has_its_sign(lex: Lexicon) -> None:
    wrong = {}
    for word, polarity in DOC["sentiment"]["words"].items():
        s = lex.analyze(word).sentiment
        if (s > 0) != (polarity > 0) or s == 0:
            wrong[word] = (polarity, s)
    assert wrong == {}
    for word in DOC["sentiment"]["neutral"]:
        facts = lex.analyze(word)
        assert facts.sentiment == 0 and facts.risk_terms == (), word


def test_leftmost_longest_after_a_failed_long_entry(lex: Lexicon) -> None:
    # pyahocorasick's iter_long drops "不" here after 抽查不合格 fails; iter + our pass must not.
    assert lex.analyze("监督抽查不满意").sentiment < 0
    assert lex.analyze("监督抽查不合理").sentiment < 0
    assert lex.analyze("监督抽查不会起火").risk_terms == ()


# ---- entities ----------------------------------------------------------------------------

USCC = make_uscc("330106", "MA2B3C4D5")


def test_with_entities(lex: Lexicon) -> None:
    rich = lex.with_entities({"安护": "mask", "Anker": "lithium_battery"},
                             {"安护医疗": USCC, "杭州安护医疗用品有限公司": USCC})
    facts = rich.analyze("杭州安护医疗用品有限公司生产的安护口罩，安护医疗回应了", title="ANKER")
    assert facts.brands == ("Anker", "安护")
    assert facts.enterprises == (USCC,)
    assert top(facts) == "mask"
    assert rich.analyze("安护").categories == (("mask", pytest.approx(0.6)),)
    assert rich.version != lex.version
    # The original is unchanged, and entities replace the previous ones.
    assert lex.analyze("安护").brands == ()
    assert rich.with_entities({}, {}).analyze("安护").brands == ()
    assert rich.with_entities({}, {}).version == lex.version


def test_entity_names_in_traditional_and_with_negation(lex: Lexicon) -> None:
    rich = lex.with_entities({"电小驴": "e_bike"}, {"绿源电动车": USCC})
    facts = rich.analyze("綠源電動車的電小驢不會起火，很好用")
    assert facts.brands == ("电小驴",) and facts.enterprises == (USCC,)
    assert facts.risk_terms == () and facts.sentiment > 0


@pytest.mark.parametrize(("brands", "enterprises", "match"), [
    ({"安护": "masks"}, {}, r"brands\.安护: unknown category code 'masks'"),
    ({}, {"安护医疗": USCC[:-1] + ("0" if USCC[-1] != "0" else "1")}, r"enterprises\.安护医疗: USCC .*check character"),
    ({}, {"安护医疗": "123"}, r"enterprises\.安护医疗: USCC '123': must be 18 characters"),
    ({"安": "mask"}, {}, r"brands\.安: a name must be a string of at least 2 characters"),
    ({}, {" 安护 ": USCC}, r"enterprises\. 安护 : a name must be"),
])
def test_with_entities_rejects_bad_entities(lex: Lexicon, brands: dict[str, str], enterprises: dict[str, str],
                                            match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        lex.with_entities(brands, enterprises)


# ---- immutability, determinism, version --------------------------------------------------

def test_immutable_and_deterministic(lex: Lexicon, catalogue: Catalogue) -> None:
    with pytest.raises(AttributeError, match="immutable"):
        lex.version = "x"  # type: ignore[misc]
    facts = lex.analyze("口罩起火")
    with pytest.raises(AttributeError, match="immutable|readonly|can't set|cannot assign"):
        facts.hazard = 0.0  # type: ignore[misc]
    again = Lexicon.load(catalogue=catalogue)
    assert again.version == lex.version and len(lex.version) == 16
    text = "#口罩质量# 药店买的安护口罩一股怪味，戴了半天脸上起疹子，大家别买了！"
    assert msgspec.json.encode(again.analyze(text)) == msgspec.json.encode(lex.analyze(text))


def test_pickles_for_worker_processes(lex: Lexicon) -> None:
    rich = lex.with_entities({"安护": "mask"}, {"安护医疗": USCC})
    copy = pickle.loads(pickle.dumps(rich))
    assert copy.version == rich.version
    text = "安护医疗的安护口罩不会起火，但有股怪味"
    assert copy.analyze(text) == rich.analyze(text)
    assert copy.analyze(text).enterprises == (USCC,)


def test_version_follows_content(tmp_path: Path, catalogue: Catalogue, lex: Lexicon) -> None:
    doc = yaml.safe_load(YAML.read_text(encoding="utf-8"))
    assert Lexicon.load(write(tmp_path, doc), catalogue).version == lex.version   # comments don't count
    doc["sentiment"]["words"]["好用"] = 0.7
    changed = Lexicon.load(write(tmp_path, doc), catalogue)
    assert changed.version != lex.version
    assert changed.analyze("好用").sentiment < lex.analyze("好用").sentiment


# ---- bad dictionaries ----------------------------------------------------------------------

def _minimal() -> dict[str, Any]:
    return {"categories": {"mask": {"口罩": 0.9}}, "risk_terms": {"fire": {"起火": {"weight": 1.0}}},
            "sentiment": {"words": {"好用": 0.8}, "negators": ["不"], "intensifiers": {"很": 1.3},
                          "neutral": ["不断"]}}


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda d: d["categories"].update({"masks": {"口罩": 0.9}}), r"categories\.masks: unknown category code"),
    (lambda d: d["categories"]["mask"].update({"口罩": 1.5}), r"categories\.mask\.口罩: must be in \(0, 1\], got 1\.5"),
    (lambda d: d["categories"]["mask"].update({"口罩": "high"}), r"categories\.mask\.口罩: must be a number, got 'high'"),
    (lambda d: d["categories"]["mask"].update({18650: 0.5}), r"categories\.mask\.18650: an entry must be a non-empty string"),
    (lambda d: d.update({"extra": {}}), r"lexicon\.extra: unknown section"),
    (lambda d: d.update({"categories": ["口罩"]}), r"categories: must be a mapping, got list"),
    (lambda d: d["sentiment"]["negators"].append("好用"), r"sentiment\.negators\.好用: '好用' is already defined at sentiment\.words\.好用"),
    (lambda d: d["sentiment"]["neutral"].append("口罩"), r"sentiment\.neutral\.口罩: '口罩' is neutral and has another role"),
    (lambda d: d["sentiment"]["words"].update({"还行": 0}), r"sentiment\.words\.还行: polarity must not be 0"),
    (lambda d: d["sentiment"].update({"emoji": {}}), r"sentiment\.emoji: unknown field"),
    (lambda d: d["risk_terms"]["fire"]["起火"].update({"weight": 0}), r"risk_terms\.fire\.起火\.weight: must be in \(0, 1\], got 0"),
    (lambda d: d["risk_terms"]["fire"]["起火"].update({"class": "x"}), r"risk_terms\.fire\.起火\.class: unknown field"),
    (lambda d: d["risk_terms"]["fire"]["起火"].update({"injury": "yes"}), r"risk_terms\.fire\.起火\.injury: must be true or false"),
    (lambda d: d["risk_terms"]["fire"].update({"着火": {"weight": 0.9, "forms": ["起火"]}}),
     r"risk_terms\.fire\.着火: '起火' is already defined at risk_terms\.fire\.起火"),
    (lambda d: d.update({"settings": {"negation_window": 2.5}}), r"settings\.negation_window: must be an integer, got 2\.5"),
    (lambda d: d.update({"settings": {"negation_factor": 0.5}}), r"settings\.negation_factor: must be in \[-1, 0\], got 0\.5"),
    (lambda d: d.update({"settings": {"speed": 1}}), r"settings\.speed: unknown setting"),
    (lambda d: d.update({"traditional": {"发": "發髮"}}), r"traditional\.发: must map one character to one character"),
])
def test_bad_dictionaries_raise_config_error(tmp_path: Path, catalogue: Catalogue, mutate: Any, match: str) -> None:
    doc = _minimal()
    assert Lexicon.load(write(tmp_path, doc), catalogue).analyze("口罩不好用").sentiment < 0
    mutate(doc)
    with pytest.raises(ConfigError, match=match):
        Lexicon.load(write(tmp_path, doc), catalogue)


def test_duplicate_keys_and_unreadable_files(tmp_path: Path, catalogue: Catalogue) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("categories:\n  mask: {口罩: 0.9, 口罩: 0.8}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 2: duplicate key '口罩'"):
        Lexicon.load(path, catalogue)
    path.write_text("categories: {mask: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"dup\.yaml: not valid YAML"):
        Lexicon.load(path, catalogue)
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read lexicon"):
        Lexicon.load(tmp_path / "missing.yaml", catalogue)
    path.write_text("", encoding="utf-8")   # an empty file: only the catalogue names
    assert top(Lexicon.load(path, catalogue).analyze("电动自行车")) == "e_bike"


# ---- bad input never raises ------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", " ", "\n\t ", "😀🔥💥", "\x00\x00", "\ud800不好用\udfff", "A" * 10_000,
                                  "电动车起火" * 2_000, "不" * 10_000, "，。！？" * 2_500])
def test_edge_inputs(lex: Lexicon, text: str) -> None:
    facts = lex.analyze(text, title=text[:500])
    assert -1.0 <= facts.sentiment <= 1.0
    if text == "电动车起火" * 2_000:
        assert facts.risk_terms == ("起火",) and top(facts) == "e_bike"


FRAGMENTS = st.sampled_from(sorted({t for terms in DOC["categories"].values() for t in terms}
                                   | {t for t in DOC["sentiment"]["words"]} | set(DOC["sentiment"]["negators"])
                                   | set(DOC["sentiment"]["intensifiers"]) | set(DOC["sentiment"]["neutral"])
                                   | {f for c in DOC["risk_terms"].values() for k, v in c.items()
                                      for f in [k, *(v.get("forms") or [])]}, key=str))


def _check(facts: TextFacts) -> None:
    assert -1.0 <= facts.sentiment <= 1.0 and not math.isnan(facts.sentiment)
    assert 0.0 <= facts.hazard <= 1.0
    assert len(facts.categories) <= 3
    assert all(0.0 < c <= 1.0 for _, c in facts.categories)
    assert len(set(facts.risk_terms)) == len(facts.risk_terms)
    assert facts.injury is False or facts.risk_terms


@settings(max_examples=300, deadline=None)
@given(text=st.text(), title=st.text(max_size=50))
def test_arbitrary_text_never_raises(lex: Lexicon, text: str, title: str) -> None:
    _check(lex.analyze(text, title))


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.one_of(FRAGMENTS, st.text(alphabet="，。 的了吗买用", max_size=3)), max_size=40))
def test_dictionary_soup_never_raises(lex: Lexicon, parts: list[str]) -> None:
    text = "".join(parts)
    facts = lex.analyze(text)
    _check(facts)
    assert facts == lex.analyze(text)
