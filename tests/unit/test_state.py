"""app/state.py, the parameter schema: defaults from the library, clamping, notices, URL round trips, fuzz."""

from __future__ import annotations

import math
import random
import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import state
from toy_models.heads import LOSS_SPECS, LOSSES
from toy_models.train import TrainConfig

CFG = TrainConfig()
COMBINED_PARTS = ("m1", "m2", "m3")


def controls(loss: str) -> list[state.Param]:
    """Every control of `loss` with one URL key each: the combined margin counts as its three parts."""
    return [part for p in state.params_for(loss) for part in (p.parts or (p,))]


def clean_value(values: dict, name: str):
    """The clean value of control `name`. The combined margin's parts are read from values["m1"] ... or,
    once the values hold one triple, from values["margin"], so these tests do not depend on that layout."""
    if name in COMBINED_PARTS and name not in values:
        return values["margin"][COMBINED_PARTS.index(name)]
    return values[name]


# ------------------------------------------------------------------------------------------------
# The table


def test_app_opens_on_arcface_3d_digits():
    values = state.defaults()
    assert (values["loss"], values["embedding_dim"], values["dataset"]) == ("arcface", 3, "digits")


@pytest.mark.parametrize("loss", LOSSES)
def test_defaults_come_from_the_library(loss):
    by_name = {p.name: p for p in state.params_for(loss)}
    spec = LOSS_SPECS[loss]
    assert by_name["lr"].default == CFG.lr
    assert by_name["batch_size"].default == CFG.batch_size
    assert by_name["seed"].default == CFG.seed
    assert by_name["embedding_dim"].default == CFG.embedding_dim
    assert by_name["dataset"].default == CFG.dataset
    assert by_name["backbone"].default == CFG.backbone
    assert by_name["loss"].default == CFG.loss
    if spec.uses_scale:
        assert by_name["scale"].default == spec.default_scale
    else:
        assert "scale" not in by_name
    if loss == "combined":  # one control, one value (m1, m2, m3), three sliders
        parts = by_name["margin"].parts
        assert by_name["margin"].default == spec.default_margin
        assert tuple(p.default for p in parts) == spec.default_margin
        for part, (low, high) in zip(parts, spec.margin_range, strict=True):
            assert part.minimum == low and high - part.step < part.maximum <= high  # the last stop in range
    elif spec.margin_range is not None:
        p = by_name["margin"]
        low, high = spec.margin_range
        assert p.default == spec.default_margin
        assert p.minimum == low and high - p.step < p.maximum <= high  # π/2 -> 1.57, the last stop of 0.01
        assert state.stops(p)[-1] == p.maximum
    else:
        assert "margin" not in by_name


@pytest.mark.parametrize("loss", LOSSES)
def test_hot_and_cold_agree_with_the_trainer(loss):
    """A setting is hot in the UI exactly when the trainer can change it without a rebuild."""
    for p in state.params_for(loss):
        assert p.hot == (p.name in TrainConfig.hot_fields), p.name


def test_a_controls_name_is_its_url_key_and_its_trainconfig_field():
    fields = set(TrainConfig.__dataclass_fields__)
    for loss in LOSSES:
        keys = [key for p in state.params_for(loss) for key in p.url_keys]
        assert len(keys) == len(set(keys)), loss  # no key means two things under one loss
        assert {p.name for p in state.params_for(loss)} <= fields
    assert {"loss", "margin", "scale", "gradient", "lr", "embedding_dim", "dataset", "backbone", "batch_size", "seed",
            "sphereface_form", "lambda_base", "m1", "m2", "m3"} <= state.all_url_keys()


def test_old_keys_are_read_as_aliases_and_links_are_written_with_names():
    old = {"loss": "cosface", "m": "0.2", "s": "20", "grad": "true", "dim": "2", "batch": "32"}
    new = {"loss": "cosface", "margin": "0.2", "scale": "20", "gradient": "true", "embedding_dim": "2",
           "batch_size": "32"}
    assert state.validate(old) == state.validate(new)
    assert state.validate(old).notices == []
    query = state.to_query(state.validate(old).values)
    assert set(query) <= {p.name for p in state.params_for("cosface")}
    assert query["margin"] == "0.2" and query["embedding_dim"] == "2" and query["batch_size"] == "32"
    sphere = {"loss": "sphereface", "form": "original", "lbase": "500", "lgamma": "0.1", "lpower": "2", "lmin": "4"}
    values = state.validate(sphere).values
    assert (values["sphereface_form"], values["lambda_base"], values["lambda_gamma"], values["lambda_power"],
            values["lambda_min"]) == ("original", 500.0, 0.1, 2.0, 4.0)


def test_the_combined_margin_is_one_key_or_three():
    whole = state.validate({"loss": "combined", "margin": "1.5,0.2,0.1"})
    parts = state.validate({"loss": "combined", "m1": "1.5", "m2": "0.2", "m3": "0.1"})
    assert whole == parts and whole.values["margin"] == (1.5, 0.2, 0.1) and whole.notices == []
    assert state.to_query(whole.values)["margin"] == "1.5,0.2,0.1"
    wrong, notices = state.validate({"loss": "combined", "margin": "1.5,0.2"})
    assert wrong["margin"] == LOSS_SPECS["combined"].default_margin
    assert notices == ["URL value margin=1.5,0.2 is not 3 comma-separated numbers (m1, m2, m3); using the default "
                       "1,0.3,0.2."]
    clamped, notices = state.validate({"loss": "combined", "margin": "1,0.3,5"})
    assert clamped["margin"] == (1.0, 0.3, 1.0)
    assert notices == ["URL value margin=1,0.3,5 has m3=5, which is above Combined margin's maximum 1 (cosine "
                       "units); using 1,0.3,1."]


def test_locked_and_hidden_lists_read_aliases_as_names():
    assert state.check_control_names(["dim", "m", "batch_size"]) == {"embedding_dim", "margin", "batch_size"}
    with pytest.raises(ValueError, match="'width' is not a control"):
        state.check_control_names(["width"])


def test_shared_settings_need_no_loss():
    values, notices = state.validate_shared({"dim": "2", "lr": "0.001", "m": "0.3"}, source="Preset")
    assert values == {**{name: state.defaults()[name] for name in state.SHARED_NAMES}, "embedding_dim": 2,
                      "lr": 0.001}
    assert notices == ["Preset key m is not a setting every loss shares; ignored."]
    for loss in LOSSES:  # the shared settings are the same controls under every loss
        assert [p.name for p in state.params_for(loss) if p.name in state.SHARED_NAMES] == sorted(
            state.SHARED_NAMES, key=[p.name for p in state.params_for(loss)].index)


def test_units_are_in_the_labels():
    labels = {loss: {p.name: p.label for p in state.params_for(loss)} for loss in LOSSES}
    assert labels["arcface"]["margin"] == "Margin m (rad)"
    assert labels["cosface"]["margin"] == "Margin m (cosine)"
    assert labels["sphereface"]["margin"] == "Multiplier m (×)"
    assert labels["arcface"]["scale"] == "Scale s"
    parts = state.param_by_name("combined", "margin").parts
    assert [p.label for p in parts] == ["Multiplier m1 (×)", "Angular margin m2 (rad)", "Cosine margin m3 (cosine)"]


def test_schema_rows_cover_every_control():
    rows = state.schema_rows()
    assert {r["name"] for r in rows} | {a for r in rows for a in r["aliases"].split(", ") if a} == set(
        state.all_url_keys())
    assert all(r["hot/cold"] in ("hot", "cold") for r in rows)


# ------------------------------------------------------------------------------------------------
# validate: clamp, ignore, say which


BAD = [
    # (raw query, expected value name -> value, words the notice must contain)
    ({"m": "abc"}, {"margin": 0.5}, ["m=abc", "not a number"]),
    ({"m": "1e309"}, {"margin": 0.5}, ["m=1e309", "not a finite number"]),
    ({"m": "9"}, {"margin": 1.57}, ["m=9", "above ArcFace's maximum 1.57 rad", "using 1.57"]),
    ({"m": "0.333"}, {"margin": 0.33}, ["m=0.333", "falls between the control's steps of 0.01 rad", "using 0.33"]),
    ({"m": "-5"}, {"margin": 0.0}, ["m=-5", "below ArcFace's minimum 0 rad"]),
    ({"s": "0"}, {"scale": state.SCALE_RANGE[0]}, ["s=0", "below the minimum"]),
    ({"lr": "nan"}, {"lr": CFG.lr}, ["lr=nan", "not a finite number"]),
    ({"lr": "-1"}, {"lr": min(state.LR_LADDER)}, ["lr=-1", "below the minimum"]),
    ({"dim": "7"}, {"embedding_dim": 3}, ["dim=7", "not one of 2, 3"]),
    ({"embedding_dim": "7"}, {"embedding_dim": 3}, ["embedding_dim=7", "not one of 2, 3"]),
    ({"margin": "9"}, {"margin": 1.57}, ["margin=9", "above ArcFace's maximum 1.57 rad", "using 1.57"]),
    ({"loss": "tripletface"}, {"loss": "arcface"}, ["loss=tripletface", "using ArcFace"]),
    ({"dataset": "../../etc"}, {"dataset": "digits"}, ["dataset=../../etc", "not one of"]),
    ({"seed": "-1"}, {"seed": 0}, ["seed=-1", "below the minimum 0"]),
    ({"seed": "1.5"}, {"seed": 0}, ["seed=1.5", "not a whole number"]),
    ({"seed": "1e30"}, {"seed": state.SEED_MAX}, ["seed=1e30", "above the maximum"]),
    ({"unknown": "1"}, {}, ["unknown", "not a setting"]),
    ({"m": "\x00"}, {"margin": 0.5}, ["m=\\x00", "not a number"]),
    ({"m": "9" * 5000}, {"margin": 0.5}, ["m=99999", "too long"]),
    ({"m": ["0.3", "0.4"]}, {"margin": 0.4}, ["appears 2 times", "0.4"]),
    ({"m": ""}, {"margin": 0.5}, ["is empty"]),
    ({"batch": "100"}, {"batch_size": 128}, ["batch=100", "offered values"]),
    ({"loss": "normface", "m": "0.3"}, {"loss": "normface"}, ["m=0.3 ignored", "NormFace has no margin"]),
    ({"loss": "softmax", "s": "30"}, {"loss": "softmax"}, ["s=30 ignored", "Softmax has no scale"]),
    ({"loss": "combined", "m2": "3"}, {"m2": 1.57}, ["m2=3", "above"]),
    ({"loss": "sphereface", "m": "0.5"}, {"margin": 1.0}, ["m=0.5", "below SphereFace's minimum 1×"]),
]


@pytest.mark.parametrize(("raw", "expected", "words"), BAD, ids=[str(list(b[0]))[:40] for b in BAD])
def test_bad_values_are_clamped_or_ignored_with_one_sentence(raw, expected, words):
    values, notices = state.validate(raw)
    for name, value in expected.items():
        got = clean_value(values, name)
        assert got == pytest.approx(value) if isinstance(value, float) else got == value
    assert len(notices) == 1, notices
    notice = notices[0]
    assert "\n" not in notice and len(notice) < 240
    for word in words:
        assert word in notice, (word, notice)


def test_good_values_pass_silently():
    raw = {"loss": "cosface", "m": "0.2", "s": "20", "lr": "0.001", "dim": "2", "dataset": "digits", "seed": "7",
           "backbone": "cnn", "batch": "32"}
    values, notices = state.validate(raw)
    assert notices == []
    assert values == {"loss": "cosface", "margin": 0.2, "scale": 20.0, "gradient": "detached", "lr": 0.001,
                      "embedding_dim": 2, "dataset": "digits", "seed": 7, "backbone": "cnn", "batch_size": 32,
                      "train_identities": 289}


def test_case_and_spelling_are_forgiven():
    values, notices = state.validate({"loss": "ArcFace", "dataset": "Fashion_MNIST", "dim": "2.0"})
    assert notices == []
    assert (values["loss"], values["dataset"], values["embedding_dim"]) == ("arcface", "fashion-mnist", 2)


def test_a_margin_is_checked_against_the_requested_loss():
    values, notices = state.validate({"loss": "cosface", "m": "1.2"})
    assert values["margin"] == 1.0 and "CosFace's maximum 1 (cosine units)" in notices[0]


def test_many_unknown_keys_give_a_bounded_number_of_notices():
    _, notices = state.validate({f"k{i}": "1" for i in range(50)})
    assert len(notices) == 6 and "45 more" in notices[-1]


# ------------------------------------------------------------------------------------------------
# to_query: the share link reproduces the values


@pytest.mark.parametrize("loss", LOSSES)
def test_to_query_round_trips(loss):
    values = state.defaults(loss)
    query = state.to_query(values)
    again, notices = state.validate(query)
    assert notices == [] and again == values


def test_a_clamped_value_round_trips_without_new_notices():
    values, _ = state.validate({"m": "9"})
    query = state.to_query(values)
    again, notices = state.validate(query)
    assert notices == []
    assert again["margin"] == 1.57  # the slider's last stop below π/2


def test_hot_values_feed_set_hyper():
    assert state.hot_values(state.defaults("combined"))["margin"] == LOSS_SPECS["combined"].default_margin
    assert "scale" not in state.hot_values(state.defaults("softmax"))
    assert set(state.hot_values(state.defaults("sphereface"))) >= {"margin", "scale", "lr", "gradient"}
    assert "lambda_min" not in state.hot_values(state.defaults("sphereface"))  # λ acts in the original form only
    original = {**state.defaults("sphereface"), "sphereface_form": "original"}
    assert "lambda_min" in state.hot_values(original) and "scale" not in state.hot_values(original)  # ‖x‖ is s
    assert set(state.hot_values(state.defaults("arcface"))) <= TrainConfig.hot_fields


# ------------------------------------------------------------------------------------------------
# Fuzz: no mapping of strings makes validate raise, and what it returns is always usable


def _random_text(rng: random.Random) -> str:
    pools = [
        string.printable,
        "0123456789.eE+-",
        "\x00\x01\x7f\u202e\ud7ff\u00a0\ufeff ",
        "nNaAiIfF",
    ]
    pool = rng.choice(pools)
    length = rng.choice([0, 1, 2, 5, 12, 40, 300])
    return "".join(rng.choice(pool) for _ in range(length))


def test_fuzzed_queries_never_raise_and_give_valid_values():
    rng = random.Random(1234)
    keys = [*sorted(state.all_url_keys()), "x", "", "M", "loss "]
    specials = ["inf", "-inf", "nan", "1e309", "-0", "0x10", "1_000", "  3 ", "٣", "1e-400", "True", "None"]
    for _ in range(1500):
        raw = {}
        for _ in range(rng.randint(0, 6)):
            key = rng.choice(keys) if rng.random() < 0.9 else _random_text(rng)
            value = rng.choice(specials) if rng.random() < 0.3 else _random_text(rng)
            raw[key] = [value, _random_text(rng)] if rng.random() < 0.1 else value
        if rng.random() < 0.5:
            raw["loss"] = rng.choice([*LOSSES, _random_text(rng)])
        values, notices = state.validate(raw)
        assert all(isinstance(n, str) and "\n" not in n for n in notices)
        for p in controls(values["loss"]):
            value = clean_value(values, p.name)
            if p.kind in ("choice", "ladder"):
                assert value in p.options
            else:
                assert math.isfinite(value) and p.minimum <= value <= p.maximum
        TrainConfig(**state.config_fields(values))


# ------------------------------------------------------------------------------------------------
# Malformed links as the Playground reads them: each value named in one notice, the value used in its
# place, and a corrected link that reads back silently (the page writes it into the address bar). The
# page passes every key as a list (app.session.raw_query) to validate_over_preset over the defaults.
# tests/app/test_app_playground.py keeps a few of these through AppTest, for what only the page shows.

MALFORMED = [
    ({"m": "abc"}, "margin", 0.5, "m=abc"),
    ({"m": "1e309"}, "margin", 0.5, "m=1e309"),
    ({"m": "-5"}, "margin", 0.0, "m=-5"),
    ({"m": "9"}, "margin", 1.57, "m=9"),
    ({"m": "0.333"}, "margin", 0.33, "m=0.333 falls between"),
    ({"s": "0"}, "scale", 1.0, "s=0"),
    ({"lr": "nan"}, "lr", 0.01, "lr=nan"),
    ({"dim": "7"}, "embedding_dim", 3, "dim=7"),
    ({"loss": "tripletface"}, "loss", "arcface", "loss=tripletface"),
    ({"dataset": "../../etc"}, "dataset", "digits", "dataset=../../etc"),
    ({"seed": "-1"}, "seed", 0, "seed=-1"),
    ({"seed": "1.5"}, "seed", 0, "seed=1.5"),
    ({"unknown": "1"}, None, None, "unknown"),
    ({"m": "\x00"}, "margin", 0.5, "m=\\x00"),
    ({"m": "%00"}, "margin", 0.5, "m=%00"),
    ({"m": "x" * 10_000}, "margin", 0.5, "too long"),
    ({"m": ["0.3", "0.4"]}, "margin", 0.4, "appears 2 times"),
    ({"loss": "normface", "m": "0.3"}, "loss", "normface", "m=0.3 ignored"),
]


@pytest.mark.parametrize(("query", "name", "used", "words"), MALFORMED, ids=[m[3][:20] for m in MALFORMED])
def test_malformed_url_values_are_named_and_replaced(query, name, used, words):
    raw = {key: value if isinstance(value, list) else [value] for key, value in query.items()}
    values, notices = state.validate_over_preset(raw, state.defaults(), ())
    assert sum(words in n for n in notices) == 1, notices
    if name is not None:
        assert clean_value(values, name) == (pytest.approx(used) if isinstance(used, float) else used)
    again = state.validate_over_preset({k: [v] for k, v in state.to_query(values).items()}, state.defaults(), ())
    assert again.notices == [] and again.values == values


# ------------------------------------------------------------------------------------------------
# The learning-rate ladder: snapped in log space, and never silently


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Between 2e-3 and 5e-3 the geometric midpoint is 3.16e-3, the arithmetic one 3.5e-3: 0.0034 lies
        # between them, so it is nearer 5e-3 on the log scale the ladder is built on (and nearer 2e-3 linearly).
        ("0.0034", 5e-3),
        # Between 1e-3 and 2e-3: geometric midpoint 1.41e-3, arithmetic 1.5e-3.
        ("0.00145", 2e-3),
        ("0.0013", 1e-3),
        ("0.3", 0.2),  # geometric midpoint of 0.2 and 0.5 is 0.316
    ],
)
def test_learning_rate_snaps_to_the_nearest_rung_on_a_log_scale(text, expected):
    values, notices = state.validate({"lr": text})
    assert values["lr"] == expected
    assert len(notices) == 1 and f"lr={text}" in notices[0] and "offered values" in notices[0]


def test_a_learning_rate_close_to_a_rung_is_snapped_with_a_notice():
    """0.0102 is within 2 % of 0.01: it is still not what the user asked for, so they are told."""
    values, notices = state.validate({"lr": "0.0102"})
    assert values["lr"] == 0.01
    offered = state.param_by_name("arcface", "lr").describe_range()
    assert notices == [f"URL value lr=0.0102 is not one of the offered values ({offered}); using 0.01."]


def test_a_learning_rate_equal_to_a_rung_in_another_spelling_passes_silently():
    values, notices = state.validate({"lr": "1e-2"})
    assert values["lr"] == 0.01 and notices == []


# ------------------------------------------------------------------------------------------------
# Properties (hypothesis): validate never raises, always returns usable values, and says what it changed


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
URL_KEYS = sorted(state.all_url_keys())
ANY_TEXT = st.text(max_size=30) | st.sampled_from(["inf", "-inf", "nan", "1e309", "-0", " 3 ", "1_0", "٣", "1e-400"])
RAW_VALUE = ANY_TEXT | st.lists(ANY_TEXT, max_size=3) | st.integers() | st.floats() | st.booleans()


def assert_usable(values: dict) -> None:
    for p in controls(values["loss"]):
        value = clean_value(values, p.name)
        if p.kind in ("choice", "ladder"):
            assert value in p.options, (p.name, value)
        else:
            assert isinstance(value, (int, float)) and not isinstance(value, bool), (p.name, value)
            assert math.isfinite(value) and p.minimum <= value <= p.maximum, (p.name, value)
            assert type(value) is (int if p.kind == "int" else float), (p.name, value)


@PROPERTY
@given(raw=st.dictionaries(st.sampled_from(URL_KEYS) | st.text(max_size=8), RAW_VALUE, max_size=8))
def test_property_validate_never_raises_and_every_value_is_inside_its_range(raw):
    values, notices = state.validate(raw)
    assert values["loss"] in LOSSES
    assert_usable(values)
    assert all(isinstance(n, str) and n and "\n" not in n for n in notices)


def _number_text(p: state.Param) -> st.SearchStrategy[str]:
    """Text of a number for control p: inside its range, just outside, on or near a ladder rung."""
    low, high = p.minimum, p.maximum
    inside = st.floats(low, high)
    outside = st.floats(high, high * 10 + 10, exclude_min=True) | st.floats(low - 10, low, exclude_max=True)
    numbers = inside | outside
    if p.kind == "ladder":
        near = st.tuples(st.sampled_from(p.options), st.floats(0.9, 1.1)).map(lambda t: t[0] * t[1])
        numbers = numbers | st.sampled_from(p.options) | near
    if p.kind == "int":
        numbers = numbers | st.integers(int(low) - 5, int(low) + 5) | st.integers(int(high) - 5, int(high) + 5)
    return numbers.map(repr) | st.sampled_from(["", "abc", "nan", "1e400"])


@st.composite
def requested_values(draw):
    """(loss, {url key: text}) with a text for some of the loss's controls."""
    loss = draw(st.sampled_from(LOSSES))
    raw = {}
    for p in controls(loss)[1:]:
        if not draw(st.booleans()):
            continue
        if p.kind == "choice":
            raw[p.name] = draw(st.sampled_from([str(o) for o in p.options]) | st.text(max_size=6))
        else:
            raw[p.name] = draw(_number_text(p))
    return loss, raw


def _asked_for(p: state.Param, text: str):
    """What the text asks for when usable as it stands, else None (then validate must change it and say so).
    Written from the schema, not from validate."""
    if p.kind == "choice":
        wanted = text.strip().lower().replace("_", "-")
        for option in p.options:
            if str(option) == wanted:
                return option
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    if not math.isfinite(number) or not p.minimum <= number <= p.maximum:
        return None
    if p.kind == "ladder":  # a rung up to float noise (1e-9 relative: 0.1 * 0.1 is 0.010000000000000002)
        return next((o for o in p.options if math.isclose(number, o, rel_tol=1e-9)), None)
    if p.kind == "int":
        return int(number) if number.is_integer() else None
    on_a_stop = p.minimum + round((number - p.minimum) / p.step) * p.step  # sliders offer their stops only
    # a stop up to float noise is that stop (1.0000000000000002 is 1.0)
    return round(on_a_stop, 10) if math.isclose(number, on_a_stop, rel_tol=1e-9, abs_tol=1e-12) else None


@PROPERTY
@given(request=requested_values())
def test_property_a_notice_appears_exactly_when_a_value_was_changed(request):
    loss, raw = request
    values, notices = state.validate({"loss": loss, **raw})
    assert values["loss"] == loss
    assert_usable(values)
    changed = []
    for p in controls(loss)[1:]:
        if p.name not in raw:
            assert clean_value(values, p.name) == p.default
            continue
        asked = _asked_for(p, raw[p.name])
        if asked is None:
            changed.append(p.name)
        else:
            assert clean_value(values, p.name) == asked, (p.name, raw[p.name])
    assert len(notices) == len(changed), (raw, notices)
    for key, notice in zip(changed, notices, strict=True):
        assert f"URL value {key}=" in notice, (key, notice)


@st.composite
def in_range_values(draw):
    """Clean values reached through validate from any value a control offers (a slider's stops)."""
    loss = draw(st.sampled_from(LOSSES))
    raw = {"loss": loss}
    for p in controls(loss)[1:]:
        if p.kind in ("choice", "ladder"):
            raw[p.name] = str(draw(st.sampled_from(p.options)))
        elif p.kind == "int":
            raw[p.name] = str(draw(st.integers(int(p.minimum), int(p.maximum))))
        else:
            raw[p.name] = repr(draw(st.sampled_from(state.stops(p))))
    values, notices = state.validate(raw)
    assert notices == []
    return values


@PROPERTY
@given(values=in_range_values())
def test_property_the_share_link_reproduces_the_values_exactly(values):
    again, notices = state.validate(state.to_query(values))
    assert notices == []
    assert again == values


@PROPERTY
@given(lr=st.floats(min(state.LR_LADDER), max(state.LR_LADDER)))
def test_property_learning_rate_is_the_log_nearest_rung(lr):
    rungs = state.param_by_name("arcface", "lr").options
    values, _ = state.validate({"lr": repr(lr)})
    distance = [abs(math.log(r / lr)) for r in rungs]
    assert abs(math.log(values["lr"] / lr)) == pytest.approx(min(distance), abs=1e-12)


# ------------------------------------------------------------------------------------------------
# Exact sentences and edge cases (each pins behaviour a mutation run showed untested)

EXACT = [
    ({"m": ""}, "URL value m= is empty; using the default 0.5."),
    ({"m": "abc"}, "URL value m=abc is not a number; using the default 0.5."),
    ({"m": "inf"}, "URL value m=inf is not a finite number; using the default 0.5."),
    ({"seed": "1.5"}, "URL value seed=1.5 is not a whole number; using the default 0."),
    ({"s": "0"}, "URL value s=0 is below the minimum 1; using 1."),
    ({"s": "99"}, "URL value s=99 is above the maximum 64; using 64."),
    ({"seed": "1e30"}, f"URL value seed=1e30 is above the maximum {state.SEED_MAX}; using {state.SEED_MAX}."),
    ({"lr": "3"}, "URL value lr=3 is above the maximum 1; using 1."),
    ({"loss": "combined", "m1": "9"}, "URL value m1=9 is above Combined margin's maximum 4×; using 4."),
    ({"loss": "combined", "m2": "-1"}, "URL value m2=-1 is below Combined margin's minimum 0 rad; using 0."),
    ({"loss": "combined", "m3": "2"}, "URL value m3=2 is above Combined margin's maximum 1 (cosine units); using 1."),
    ({"loss": "combined", "m": "0.3"},
     "URL value m=0.3 ignored: Combined margin has no single margin m (it uses m1, m2, m3)."),
    ({"loss": "normface", "m": ["0.1", "0.2", "0.3"]}, "URL value m=0.3 ignored: NormFace has no margin m."),
    ({"loss": ["cosface", "arcface"]}, "URL key loss appears 2 times; using the last value arcface."),
    ({"m": ["0.1", "0.2", "0.3"]}, "URL key m appears 3 times; using the last value 0.3."),
    ({"m": "a" * 24}, f"URL value m={'a' * 24} is not a number; using the default 0.5."),
    ({"m": "a" * 25}, f"URL value m={'a' * 20}… is not a number; using the default 0.5."),
    ({"m": "1\u202e"}, "URL value m=1\\u202e is not a number; using the default 0.5."),
    ({"m": True}, "URL value m=true is not a number; using the default 0.5."),
    ({"m": False}, "URL value m=false is not a number; using the default 0.5."),
    ({"dataset": "x" * 81}, f"URL value dataset={'x' * 20}… is not one of digits, mnist, fashion-mnist, toy, "
                            f"glyphs; using the default digits."),
]


@pytest.mark.parametrize(("raw", "notice"), EXACT, ids=[str(e[0])[:30] for e in EXACT])
def test_notices_word_for_word(raw, notice):
    assert state.validate(raw).notices == [notice]


def test_the_source_names_the_origin():
    _, notices = state.validate({"m": ["0.1", "abc"]}, source="Lesson file")
    assert notices == ["Lesson file key m appears 2 times; using the last value abc.",
                       "Lesson file value m=abc is not a number; using the default 0.5."]


@pytest.mark.parametrize(
    ("raw", "name", "expected"),
    [
        ({"m": ["0.3"]}, "margin", 0.3),  # a one-element list is not a repeated key
        ({"s": "64"}, "scale", 64.0),  # both range ends are inside the range
        ({"s": "1"}, "scale", 1.0),
        ({"m": "1.57"}, "margin", 1.57),  # the last stop of ArcFace's slider
        ({"seed": "0" * 79 + "7"}, "seed", 7),  # exactly MAX_TEXT characters is not too long
        ({"dataset": "mnist".ljust(state.MAX_TEXT)}, "dataset", "mnist"),
        ({"seed": 5.0}, "seed", 5),  # numbers from a lesson or course file
        ({"seed": np.float64(5.0)}, "seed", 5),  # ... also as numpy scalars (a file read with pandas)
        ({"s": np.float64(20.0)}, "scale", 20.0),
        ({"m": np.float32(0.25)}, "margin", 0.25),
        ({"batch": np.int64(32)}, "batch_size", 32),
    ],
)
def test_values_that_pass_silently(raw, name, expected):
    values, notices = state.validate(raw)
    assert notices == [] and clean_value(values, name) == expected
    assert type(clean_value(values, name)) is type(expected)


def test_clamped_values_keep_their_type():
    assert type(state.validate({"s": "0"}).values["scale"]) is float
    assert type(state.validate({"loss": "sphereface", "m": "0"}).values["margin"]) is float
    assert type(state.validate({"seed": "-3"}).values["seed"]) is int
    assert type(state.validate({"seed": "1e30"}).values["seed"]) is int


def test_one_bad_value_does_not_stop_the_others():
    values, notices = state.validate({"m": "abc", "dim": [], "s": "20", "seed": "7"})
    assert (values["margin"], values["scale"], values["seed"]) == (0.5, 20.0, 7)
    assert len(notices) == 1


# --------------------------------------------------------------------------------------------
# Glyphs: the number of training identities K, and embeddings past 3-D
# --------------------------------------------------------------------------------------------


def test_glyphs_k_travels_in_the_link_and_reaches_the_config():
    from toy_models.glyphs import TRAIN_IDENTITIES

    values, notices = state.validate({"dataset": "glyphs", "train_identities": "32", "dim": "16"})
    assert notices == []
    assert values["train_identities"] == 32 and values["embedding_dim"] == 16
    query = state.to_query(values)
    assert query["train_identities"] == "32" and query["embedding_dim"] == "16"
    assert state.validate(query).values == values
    assert state.config_fields(values)["train_identities"] == 32
    too_many, notices = state.validate({"dataset": "glyphs", "k": str(TRAIN_IDENTITIES + 50)})
    assert too_many["train_identities"] == TRAIN_IDENTITIES and len(notices) == 1
    assert "train_identities" in notices[0] or "k=" in notices[0], notices


def test_k_acts_on_glyphs_only_and_stays_out_of_other_links():
    values, _ = state.validate({"dataset": "digits"})
    assert "train_identities" not in state.config_fields(values)
    assert "train_identities" not in state.to_query(values)
    assert not state.is_active(state.shared_param("train_identities"), values)
    assert "train_identities" in state.SHARED_NAMES  # every member of a comparison trains on the same K


def test_k_is_cold_and_the_dimensions_past_3_are_not_drawn():
    assert not state.shared_param("train_identities").hot
    assert state.cold_changes({"loss": "arcface", "train_identities": 8},
                              {"loss": "arcface", "train_identities": 32}) == ["Training identities K"]
    dims = state.shared_param("embedding_dim").options
    assert set(state.DRAWN_DIMS) < set(dims) and max(dims) >= 16


def test_a_config_without_k_reads_back_as_the_controls_default_and_writes_a_link():
    from app.lessons.run_record import values_of_config
    from toy_models.train import TrainConfig

    digits = values_of_config(TrainConfig())
    assert digits["train_identities"] == state.shared_param("train_identities").default
    assert "train_identities" not in state.to_query(digits)
    glyphs = values_of_config(TrainConfig(dataset="glyphs", train_identities=12))
    assert state.to_query(glyphs)["train_identities"] == "12"


def test_a_number_one_character_past_max_text_is_refused_in_one_sentence():
    values, notices = state.validate({"seed": "0" * state.MAX_TEXT + "7"})
    assert values["seed"] == state.defaults()["seed"]
    assert notices == [f"URL value seed={'0' * 20}… is too long ({state.MAX_TEXT + 1} characters) to be a number; "
                       f"using the default {state.defaults()['seed']}."]
