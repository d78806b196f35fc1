"""TrainConfig's table (FIELDS): one row per field, each value checked by its row, the loss's rules after them."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from toy_models.heads import LOSSES
from toy_models.train import FIELDS, TrainConfig
from toy_models.train.config import Setting


def test_the_table_has_one_row_per_field_in_field_order_with_its_default():
    fields = dataclasses.fields(TrainConfig)
    assert list(FIELDS) == [f.name for f in fields]
    for field in fields:
        row = FIELDS[field.name]
        assert row.name == field.name and row.default == field.default and row.doc, field.name
        assert row.kind in {"int", "float", "choice", "bool", "path", "classes", "margin"}, field.name


def test_hot_and_cold_fields_come_from_the_table():
    assert TrainConfig.hot_fields == {name for name, row in FIELDS.items() if row.hot}
    assert TrainConfig.hot_fields == {"scale", "margin", "gradient", "easy_margin", "lambda_base", "lambda_gamma",
                                      "lambda_power", "lambda_min", "lr", "momentum", "weight_decay",
                                      "snapshot_per_class"}
    assert TrainConfig.cold_fields == set(FIELDS) - TrainConfig.hot_fields
    assert TrainConfig.member_fields == TrainConfig.hot_fields | {"loss", "sphereface_form"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dataset": "cifar"}, "unknown dataset 'cifar': choose one of digits, mnist, fashion-mnist, toy, glyphs"),
        ({"max_train": 0}, "max_train must be a positive integer or None, got 0"),
        ({"max_test": 2.5}, "max_test must be a positive integer or None, got 2.5"),
        ({"holdout_classes": ("8",)}, "holdout_classes must be non-negative class indices, got ('8',)"),
        ({"holdout_classes": -1}, "holdout_classes must be non-negative class indices, got -1"),
        ({"holdout_classes": 2.5}, "holdout_classes must be non-negative class indices, got 2.5"),
        ({"data_seed": -1}, "data_seed must be a non-negative integer, got -1"),
        ({"num_identities": 21}, "num_identities must be an integer from 2 to 20, got 21"),
        ({"num_identities": 1}, "num_identities must be an integer from 2 to 20, got 1"),
        ({"backbone": "resnet"}, "unknown backbone 'resnet': choose one of mlp, cnn"),
        ({"embedding_dim": 1}, "embedding_dim must be an integer of at least 2, got 1"),
        ({"hidden": 0}, "hidden must be a positive integer, got 0"),
        ({"loss": "triplet"}, f"unknown loss 'triplet': choose one of {', '.join(LOSSES)}"),
        ({"scale": 0.0}, "scale must be a positive number or None, got 0.0"),
        ({"scale": math.inf}, "scale must be a positive number or None, got inf"),
        ({"gradient": "sideways"}, "unknown gradient option 'sideways': choose one of true, detached"),
        ({"easy_margin": "yes"}, "easy_margin must be true or false, got 'yes'"),
        ({"sphereface_form": "square"}, "unknown SphereFace form 'square': choose one of normalized, original"),
        ({"lambda_min": -1.0}, "lambda_min must be a non-negative number, got -1.0"),
        ({"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs': choose one of adam, sgd"),
        ({"lr": 0}, "lr must be a positive number, got 0"),
        ({"lr": True}, "lr must be a positive number, got True"),
        ({"momentum": 1.0}, "momentum must be a number in [0, 1), got 1.0"),
        ({"momentum": -0.1}, "momentum must be a number in [0, 1), got -0.1"),
        ({"weight_decay": math.nan}, "weight_decay must be a non-negative number, got nan"),
        ({"batch_size": 2.0}, "batch_size must be a positive integer, got 2.0"),
        ({"seed": -1}, "seed must be a non-negative integer, got -1"),
        ({"device": "tpu"}, "unknown device 'tpu': choose one of auto, cpu, cuda, mps"),
        ({"num_threads": 0}, "num_threads must be a positive integer or None, got 0"),
        ({"snapshot_per_class": 0}, "snapshot_per_class must be a positive integer, got 0"),
        # the rules that join fields: the loss decides
        ({"loss": "softmax", "scale": 16.0}, "softmax takes no scale: it is a plain linear layer on unnormalised "
                                             "features"),
        ({"loss": "normface", "margin": 0.2}, "normface takes no margin"),
        ({"loss": "cosface", "easy_margin": True}, "easy_margin applies to arcface only, not cosface"),
        ({"loss": "arcface", "margin": (0.1, 0.2)}, "arcface takes one margin number, got 2"),
        ({"loss": "arcface", "margin": "0.3"}, "margin must be a number (three numbers for combined), got '0.3'"),
        ({"loss": "combined", "margin": (1.0, math.nan, 0.2)}, "margin must be finite numbers, got (1.0, nan, 0.2)"),
        ({"loss": "combined", "margin": 0.5}, "the combined margin needs three numbers m1, m2, m3 (for example "
                                              "1,0.3,0.2)"),
        ({"loss": "arcface", "margin": 2.0}, "arcface margin 2 is outside its valid range [0, 1.571] rad"),
    ],
)
def test_each_bad_value_gets_its_rows_sentence(changes, message):
    with pytest.raises(ValueError) as info:
        TrainConfig(**changes)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "changes",
    [
        {"num_identities": 2}, {"num_identities": 20}, {"embedding_dim": 2}, {"hidden": 1}, {"seed": 0},
        {"momentum": 0.0}, {"momentum": 0.999}, {"weight_decay": 0.0}, {"lambda_min": 0.0}, {"lr": 1e-12},
        {"max_train": 1}, {"num_threads": 1}, {"holdout_classes": (0,)}, {"loss": "arcface", "margin": 0.0},
        {"loss": "arcface", "margin": math.pi / 2}, {"loss": "arcface", "margin": [0.3]},
    ],
)
def test_the_ends_of_every_range_are_accepted(changes):
    config = TrainConfig(**changes)
    for name, value in changes.items():
        expected = value[0] if name == "margin" and isinstance(value, list) else value
        assert getattr(config, name) == expected


def test_rows_normalise_what_they_accept():
    config = TrainConfig(dataset=" Fashion_MNIST ", backbone=" MLP", lr=1, holdout_classes=np.int64(3),
                         lambda_base=10, scale=8)
    assert (config.dataset, config.backbone) == ("fashion-mnist", "mlp")
    assert isinstance(config.lr, float) and config.lr == 1.0
    assert config.holdout_classes == (3,) and type(config.holdout_classes[0]) is int
    assert isinstance(config.lambda_base, float) and isinstance(config.scale, float)
    assert TrainConfig(loss="combined", margin=[1, 0.3, 0.2]).margin == (1.0, 0.3, 0.2)


def test_a_row_describes_its_rule_for_a_reader():
    assert FIELDS["momentum"].describe() == "a number in [0, 1)"
    assert FIELDS["num_identities"].describe() == "an integer from 2 to 20"
    assert FIELDS["loss"].describe().startswith("one of softmax, normface")
    assert FIELDS["margin"].kind == "margin" and FIELDS["margin"].hot
    assert Setting("float", "x", name="x", low=0.5).describe() == "a number of at least 0.5"
    assert Setting("float", "x", name="x", low=0.5, low_open=True).describe() == "a number above 0.5"
