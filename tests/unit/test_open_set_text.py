"""What the open-set section says: each AUC once, no repeated names, TAR called near useless when it is, and on the
glyphs the margin against its no-margin twin and K against K, from the run's own numbers."""

from __future__ import annotations

import math
import re

from app.compare import open_set_glyphs
from app.compare.open_set_glyphs import glyph_finding, k_table, seed_spread, tar_note, verify_epochs
from app.compare.verification import ordering_finding


def _row(loss: str, auc: float, tar: float = 0.03) -> dict:
    return {"loss": loss, "auc": auc, "tar_at_far_1e-2": tar, "tar_at_far_1e-3": tar / 3}


def test_a_broken_ordering_names_each_loss_once_and_each_auc_once():
    rows = [_row("softmax", 0.703), _row("arcface", 0.675), _row("cosface", 0.599)]
    holds, text = ordering_finding(rows, {"Softmax": (40.0, 60.0)}, embedding_dim=3, num_trained=8)
    assert not holds and text.startswith("On this run the ordering differs")
    assert "Softmax, plain softmax" not in text and "Softmax reaches at least the AUC of ArcFace and CosFace" in text
    for value in ("0.703", "0.675", "0.599"):
        assert text.count(value) == 1, (value, text)


def test_tar_at_a_few_percent_is_called_near_useless_and_a_good_tar_is_not():
    rows = [_row("softmax", 0.61, 0.02), _row("arcface", 0.60, 0.04)]
    note = tar_note(rows)
    assert "0.02–0.04" in note and "near useless for every loss" in note
    assert "near useless" in ordering_finding(rows, {}, embedding_dim=3, num_trained=8)[1]
    assert tar_note([_row("softmax", 0.96, 0.49), _row("arcface", 0.97, 0.55)]) == ""


def test_the_glyph_finding_weighs_the_margin_against_the_seed_spread():
    close = glyph_finding([_row("normface", 0.967), _row("arcface", 0.964), _row("softmax", 0.961)], {}, 289)
    assert "ArcFace against NormFace: -0.003, inside the spread" in close
    assert "ArcFace against Softmax: +0.003, inside the spread" in close
    assert "Change the training identities K" in close
    assert "ArcFace against NormFace: -0.010, inside" in glyph_finding([_row("normface", 0.954),
                                                                     _row("arcface", 0.944)], {}, 128)
    far = glyph_finding([_row("normface", 0.90), _row("arcface", 0.90 + 3 * seed_spread(128))], {}, 128)
    assert "+0.030, more than the seed spread of about 0.01: better here" in far
    assert "inside the spread of about 0.03" in glyph_finding([_row("normface", 0.73), _row("arcface", 0.75)], {}, 8)
    assert re.search(r"from best to worst: ArcFace 0\.930, NormFace 0\.900\.", far)


def test_the_glyph_finding_compares_k_with_k_from_the_kept_runs():
    by_k = {8: {"softmax": 0.74, "arcface": 0.76}, 128: {"softmax": 0.93, "arcface": 0.94}}
    text = glyph_finding([_row("softmax", 0.93), _row("arcface", 0.94)], by_k, 128)
    assert "From K = 8 to K = 128 the AUC moved by Softmax +0.190, ArcFace +0.180." in text
    assert k_table(by_k) == [{"K": "8", "Softmax": "0.740", "ArcFace": "0.760"},
                             {"K": "128", "Softmax": "0.930", "ArcFace": "0.940"}]


def test_every_k_verifies_about_the_same_number_of_steps():
    for k in (8, 32, 128, 289):
        epochs = verify_epochs(64 * k, 64)
        steps = epochs * math.ceil(64 * k / 64)
        assert abs(steps - open_set_glyphs.VERIFY_STEPS) <= k / 2 + 1, (k, epochs, steps)
    assert verify_epochs(10**6, 64) == 1


def test_the_seed_spread_is_the_many_identities_one_from_exactly_many_from():
    few, many, edge = open_set_glyphs.SPREAD_FEW, open_set_glyphs.SPREAD_MANY, open_set_glyphs.MANY_FROM
    assert (seed_spread(edge - 1), seed_spread(edge), seed_spread(8), seed_spread(128)) == (few, many, few, many)


def test_a_tar_of_exactly_the_useless_line_gets_no_sentence_and_just_below_it_does():
    at_line = open_set_glyphs.TAR_USELESS
    assert tar_note([{"tar_at_far_1e-2": at_line}, {"tar_at_far_1e-2": 0.02}]) == ""
    assert tar_note([{"tar_at_far_1e-2": at_line - 0.001}, {"tar_at_far_1e-2": 0.02}]).startswith(" TAR at FAR")
    assert tar_note([{"tar_at_far_1e-2": math.nan}]) == ""  # no TAR measured: nothing to call useless


def test_an_auc_equal_to_a_higher_ranked_losss_breaks_the_ordering_and_one_just_under_does_not():
    tie = [_row("softmax", 0.700), _row("normface", 0.700), _row("arcface", 0.800)]
    holds, text = ordering_finding(tie, {}, embedding_dim=3, num_trained=8)
    assert not holds and "Softmax reaches at least the AUC of NormFace" in text, text
    holds, text = ordering_finding([_row("softmax", 0.699), *tie[1:]], {}, embedding_dim=3, num_trained=8)
    assert holds, text


def test_a_held_out_set_leaves_at_least_two_classes_to_train_and_holds_out_at_least_two():
    from app.compare.verification import holdout_problem

    assert holdout_problem(range(8), 10) is None and holdout_problem([0, 1], 10) is None
    assert holdout_problem(range(9), 10) == (
        "Holding out 9 of the 10 classes leaves 1 to train on: at least two are needed, so nothing was trained."
    )
    assert holdout_problem([3], 10).startswith("Hold out at least two classes")


def test_a_loss_without_an_auc_is_left_out_of_every_sentence_and_shown_as_a_dash():
    from app.compare.verification import _number

    rows = [_row("softmax", math.nan), _row("normface", 0.70), _row("arcface", 0.80)]
    holds, text = ordering_finding(rows, {}, embedding_dim=3, num_trained=8)
    assert holds and "nan" not in text.lower() and "Softmax" not in text, text
    finding = glyph_finding(rows, {8: {"normface": 0.70, "arcface": 0.80}}, 8)
    assert "nan" not in finding.lower() and "Softmax" not in finding, finding
    assert (_number(math.nan), _number(math.inf), _number(0.5)) == ("–", "–", "0.500")
