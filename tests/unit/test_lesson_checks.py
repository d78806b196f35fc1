"""Checks on a run: evaluate's three answers, quiz answers, the metrics of a real run, the numbers catalogue."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from app import state
from app.lessons import checks, load_lessons, numbers
from app.lessons.checks import (
    CheckResult,
    check_metric_names,
    evaluate,
    quiz_answer_correct,
    quiz_feedback,
    run_metrics,
)
from app.lessons.format import METRICS, Check, Question
from app.lessons.presets import compare_losses, live_values, member_values
from app.lessons.window import Window
from toy_models import geometry
from toy_models.train import MultiTrainer, TrainConfig, Trainer


def make_check(**overrides) -> Check:
    fields = dict(id="spread", title="Spread", settings={"loss": "arcface", "dim": 3}, at_most={"m": 0.5},
                  at_least={}, within_epochs=30, reach={"inter_deg": 55.0}, stay_below={}, member=None,
                  feedback="Raise m towards 0.5.")
    fields.update(overrides)
    return Check(**fields)


VALUES = state.validate({"loss": "arcface", "dim": 3, "m": 0.4}).values


def test_not_yet_while_within_the_budget():
    result = evaluate(make_check(), VALUES, {"epoch": 12, "inter_deg": 48.2})
    assert result == CheckResult("spread", "not_yet", "Inter is 48.2° at epoch 12; this check needs ≥ 55° by epoch 30.",
                                 "")


def test_passed_when_the_target_is_met_in_time():
    result = evaluate(make_check(), VALUES, {"epoch": 21, "inter_deg": 57.14})
    assert result.status == "passed" and result.passed and result.feedback == ""
    assert result.reason == "Inter is 57.1° at epoch 21: at least 55° by epoch 30, as this check needs."


def test_failed_when_the_budget_is_spent():
    result = evaluate(make_check(), VALUES, {"epoch": 30, "inter_deg": 50.0})
    assert result.status == "failed" and result.feedback == "Raise m towards 0.5."
    assert result.reason == "Inter is 50.0° at epoch 30; this check needs ≥ 55° by epoch 30."
    late = evaluate(make_check(), VALUES, {"epoch": 31, "inter_deg": 60.0})
    assert late.status == "failed" and "only at epoch 31" in late.reason


def test_failed_when_a_setting_is_broken():
    too_large = state.validate({"loss": "arcface", "dim": 3, "m": 0.6}).values
    result = evaluate(make_check(), too_large, {"epoch": 1, "inter_deg": 70.0})
    assert result.status == "failed" and result.reason == "Margin m is 0.6 rad; this check needs it at most 0.5 rad."
    other_loss = state.validate({"loss": "cosface", "dim": 3}).values
    assert evaluate(make_check(), other_loss, {"epoch": 1}).reason == "Loss is CosFace; this check needs ArcFace."
    flat = state.validate({"loss": "arcface", "dim": 2}).values
    reason = evaluate(make_check(), flat, {"epoch": 1}).reason
    assert reason == "Embedding dim is 2-D circle; this check needs 3-D sphere."
    lower = make_check(at_most={}, at_least={"m": 0.45})
    assert evaluate(lower, VALUES, {"epoch": 1, "inter_deg": 70.0}).status == "failed"
    no_margin = state.validate({"loss": "softmax", "dim": 3}).values
    assert evaluate(make_check(settings={}), no_margin, {"epoch": 1, "inter_deg": 70.0}).status == "failed"


def test_stay_below_percent_and_unmeasured_metrics():
    check = make_check(reach={"test_accuracy": 0.9}, stay_below={"stuck_classes": 0})
    result = evaluate(check, VALUES, {"epoch": 3, "test_accuracy": 0.95, "stuck_classes": 2.0})
    assert result.reason == "The number of stuck classes is 2 at epoch 3; this check needs ≤ 0 by epoch 30."
    result = evaluate(check, VALUES, {"epoch": 3, "test_accuracy": 0.5, "stuck_classes": 0.0})
    assert result.reason == "Test accuracy is 50.0 % at epoch 3; this check needs ≥ 90 % by epoch 30."
    missing = evaluate(make_check(reach={"verification_auc": 0.9}), VALUES, {"epoch": 3})
    assert missing.status == "not_yet" and "not measured" in missing.reason
    assert check_metric_names(check) == {"test_accuracy", "stuck_classes", "epoch"}


def test_quiz_answers():
    choice = Question("q", "choice", "?", ("a", "b", "c"), 1, None, "", "", None)
    assert quiz_answer_correct(choice, 1, classes=10, dim=3)
    assert not quiz_answer_correct(choice, 2, classes=10, dim=3)
    assert not quiz_answer_correct(choice, None, classes=10, dim=3)
    number = Question("n", "number", "?", (), "{{ separation_deg(classes) }}", 1.0, "°", "", None)
    assert quiz_answer_correct(number, 36.9, classes=10, dim=2)
    assert quiz_answer_correct(number, "35.2", classes=10, dim=2)
    assert not quiz_answer_correct(number, 37.2, classes=10, dim=2)
    assert quiz_answer_correct(number, 45, classes=8, dim=2)  # the learner's own number of classes
    assert not quiz_answer_correct(number, "thirty-six", classes=10, dim=2)
    assert not quiz_answer_correct(number, float("nan"), classes=10, dim=2)
    plain = Question("p", "number", "?", (), 0.5, 0.0, "", "", None)
    assert quiz_answer_correct(plain, 0.5, classes=10, dim=3)
    assert not quiz_answer_correct(plain, 0.51, classes=10, dim=3)


def test_numbers_catalogue_equals_geometry():
    exact = {
        "{{ tammes_deg(10, 3) }}": math.degrees(geometry.tammes_angle(10, 3)),
        "{{ tammes_deg(classes, dim) }}": math.degrees(geometry.tammes_angle(8, 2)),
        "{{ separation_deg(classes) }}": math.degrees(geometry.multiclass_separation(8)),
        "{{ max_margin(cosface, 10) }}": geometry.max_margin("cosface", 10),
        "{{ max_margin_deg(arcface, classes) }}": math.degrees(geometry.max_margin("arcface", 8)),
        "{{ max_margin_sphere(cosface, 10) }}": geometry.max_margin("cosface",
                                                                    separation_rad=geometry.tammes_angle(10, 3)),
        "{{ max_margin_deg_sphere(arcface, 10) }}": math.degrees(geometry.tammes_angle(10, 3)),
        "{{ min_scale(10, dim, 0.99) }}": geometry.min_scale(10, 2, 0.99).scale,
        "{{ cosface_min_scale(10, 0.9) }}": geometry.cosface_min_scale(10, 0.9),
        "{{ deg(0.5) }}": math.degrees(0.5),
        "{{ plus_margin_deg(170, 0.5) }}": 170 + math.degrees(0.5),
        "{{ flat_deg(0.5) }}": 180 - math.degrees(0.5),
    }
    for placeholder, value in exact.items():
        question = Question("n", "number", "?", (), placeholder, 0.0, "", "", None)
        assert numbers.number_answer(question, classes=8, dim=2) == pytest.approx(value, rel=1e-12)
        assert numbers.fill(placeholder.replace(" }}", " :.6f }}"), classes=8, dim=2) == f"{value:.6f}"
    text = "{{ tammes_deg(10, 3) }}° and {{ min_scale(10, 2, 0.99) }}"
    assert numbers.fill(text, classes=10, dim=3) == "66.1° and 27.7"
    assert numbers.fill("{{ max_margin(sphereface, 10) }}", classes=10, dim=3) == "∞"
    with pytest.raises(ValueError, match="only arcface has one"):
        numbers.fill("{{ max_margin_deg(cosface, 10) }}", classes=10, dim=3)
    with pytest.raises(ValueError, match="not between 0 and π"):
        numbers.fill("{{ flat_deg(4) }}", classes=10, dim=3)


@pytest.fixture(scope="module")
def trained(one_thread, digits):
    trainer = Trainer(TrainConfig(loss="arcface", embedding_dim=3, num_threads=1), dataset=digits)
    trainer.advance(epochs=2)
    return trainer


def test_run_metrics_of_a_trained_digits_run(trained):
    metrics = run_metrics(trained)
    assert set(metrics) == set(METRICS) - {"verification_auc"}
    assert metrics["epoch"] == 2
    assert metrics["test_accuracy"] == trained.history.test_accuracy[-1]
    assert metrics["train_accuracy"] == trained.history.train_accuracy[-1]
    snap = trained.snapshot()
    for name, value in snap.angle_stats.items():
        assert metrics[name] == pytest.approx(value)
    # stuck_classes: classes whose median target angle over the whole test set is above 90°.
    test = trained.evaluate_test()
    theta = np.degrees(np.arccos(np.clip(np.sum(test.embeddings * test.class_weights[test.labels], 1), -1, 1)))
    expected = sum(np.median(theta[test.labels == c]) > 90 for c in range(10))
    assert metrics["stuck_classes"] == expected and 0 <= expected <= 10
    assert metrics["norm_ratio"] >= 1.0 and math.isfinite(metrics["norm_ratio"])
    assert run_metrics(trained) == metrics  # deterministic


def test_verification_auc_only_when_asked_and_cached(trained, monkeypatch):
    checks._verification_cache.clear()
    metrics = run_metrics(trained, needs={"verification_auc"})
    assert 0.0 <= metrics["verification_auc"] <= 1.0
    assert len(checks._verification_cache) == 1
    calls = []
    monkeypatch.setattr("toy_models.experiments.open_set_verification", lambda *a, **k: calls.append(a))
    assert run_metrics(trained, needs={"verification_auc"})["verification_auc"] == metrics["verification_auc"]
    assert calls == []  # the second call came from the cache


def test_member_metrics_by_loss(one_thread, digits):
    configs = [TrainConfig(loss=loss, embedding_dim=2, num_threads=1) for loss in ("softmax", "cosface")]
    multi = MultiTrainer(configs, dataset=digits)
    multi.advance(epochs=1)
    by_loss = checks.member_metrics(multi)
    assert list(by_loss) == ["softmax", "cosface"]
    assert by_loss["cosface"]["test_accuracy"] == multi.members[1].history.test_accuracy[-1]
    assert by_loss["softmax"]["epoch"] == 1
    with pytest.raises(TypeError, match="member_metrics"):
        run_metrics(multi)


# ------------------------------------------------------------------------------------------------------------
# Sentences a person would write: no ".." or ".;", no "the epoch is 15 at epoch 15"

TRIP_UPS = ("..", ".;", ".”.", "?.", ". .", "the epoch is")


def written_well(sentence: str) -> bool:
    return not any(bad in sentence.lower() for bad in TRIP_UPS) and sentence.endswith((".", ".”", "?”", "!”"))


def test_choice_feedback_quotes_the_options_without_doubled_stops():
    question = Question("q", "choice", "?", ("Nothing: softmax depends only on directions.", "It rises: the gaps "
                        "double too.", "Half of each"), 1, None, "", "", None)  # fmt: skip
    assert quiz_feedback(question, 1, classes=10, dim=3) == (True, "Right: “It rises: the gaps double too.”")
    assert quiz_feedback(question, 0, classes=10, dim=3) == (
        False, "You chose “Nothing: softmax depends only on directions.” The answer is “It rises: the gaps double "
               "too.”")
    assert quiz_feedback(question, 2, classes=10, dim=3)[1].startswith("You chose “Half of each.” The answer")
    number = Question("n", "number", "?", (), "{{ separation_deg(classes) }}", 1.0, "°", "", None)
    assert quiz_feedback(number, 36.5, classes=10, dim=2) == (True, "Right: 36.5°.")
    assert quiz_feedback(number, 30, classes=10, dim=2) == (False, "You said 30°; the answer is 36° (± 1).")


def test_every_shipped_question_and_check_reads_as_written_sentences():
    seen = 0
    for lesson in load_lessons():
        for question in lesson.questions:
            givens = range(len(question.options)) if question.kind == "choice" else (0.5, 1e6)
            for given in givens:
                _, sentence = quiz_feedback(question, given, classes=10, dim=lesson.dim)
                assert written_well(sentence), (lesson.id, question.id, sentence)
                seen += 1
        for check in lesson.checks:
            if lesson.unit == "compare":
                assert check.member in compare_losses(lesson.preset)
                values = member_values(lesson.preset, check.member, 10)
            else:
                values = live_values(lesson.preset)
            met = {**check.reach, **check.stay_below}
            missed = {name: (target - 1 if name in check.reach else target + 1) for name, target in met.items()}
            changed = Window(3, state.params_for(values["loss"])[-1].name)
            for targets, epoch, window in itertools.product((met, missed), (2, 20, 999), (None, changed)):
                reason = evaluate(check, values, {**targets, "epoch": epoch}, window).reason
                assert written_well(reason), (lesson.id, check.id, reason)
                seen += 1
    assert seen > 100


# --------------------------------------------------------------------------------------------
# The equality case of every comparison a check makes
# --------------------------------------------------------------------------------------------


def test_a_target_met_exactly_passes_and_one_hair_short_does_not():
    reach = make_check(reach={"inter_deg": 55.0})
    assert evaluate(reach, VALUES, {"epoch": 5, "inter_deg": 55.0}).status == "passed"
    assert evaluate(reach, VALUES, {"epoch": 5, "inter_deg": 54.999}).status == "not_yet"
    below = make_check(reach={}, stay_below={"loss": 1.0})
    assert evaluate(below, VALUES, {"epoch": 5, "loss": 1.0}).status == "passed"
    assert evaluate(below, VALUES, {"epoch": 5, "loss": 1.001}).status == "not_yet"
    assert evaluate(below, VALUES, {"epoch": 5, "loss": math.nan}).status == "not_yet"  # a NaN loss never passes


def test_a_setting_exactly_at_its_bound_passes_also_through_float_noise():
    at_bound = state.validate({"loss": "arcface", "dim": 3, "m": 0.5}).values
    assert evaluate(make_check(), at_bound, {"epoch": 5, "inter_deg": 60.0}).status == "passed"  # at_most m 0.5
    noisy = dict(VALUES, margin=0.1 + 0.2)  # 0.30000000000000004: a slider's float, not a real excess
    assert evaluate(make_check(at_most={"m": 0.3}), noisy, {"epoch": 5, "inter_deg": 60.0}).status == "passed"
    assert evaluate(make_check(at_most={}, at_least={"m": 0.3 + 1e-12}), dict(VALUES, margin=0.3),
                    {"epoch": 5, "inter_deg": 60.0}).status == "passed"  # fmt: skip
    for bound, value in (("at_most", 0.301), ("at_least", 0.299)):
        off = make_check(**{"at_most": {}, "at_least": {}, bound: {"m": 0.3}})
        assert evaluate(off, dict(VALUES, margin=value), {"epoch": 5, "inter_deg": 60.0}).status == "failed"


class _FakeTest:
    def __init__(self, angles_deg_by_class):
        rows, labels = [], []
        for label, angles in enumerate(angles_deg_by_class):
            for angle in np.radians(angles):
                rows.append([np.cos(angle), np.sin(angle)])
                labels.append(label)
        self.embeddings = np.array(rows)
        self.labels = np.array(labels)
        self.class_weights = np.tile([1.0, 0.0], (len(angles_deg_by_class), 1))


def test_a_class_exactly_at_90_degrees_is_not_stuck_and_one_past_it_is(monkeypatch):
    run = type("Run", (), {"evaluate_test": lambda self: _FakeTest([[80, 90, 100], [85, 90.5, 95], [10, 20, 30]])})()
    monkeypatch.setattr(checks, "_raw_test_features", lambda run: np.ones((9, 4)))
    stuck, ratio = checks._stuck_and_norms(run)
    assert stuck == 1.0  # class 0's median is exactly 90°: not stuck; class 1's is 90.5°: stuck
    assert ratio == 1.0


def test_a_class_whose_features_vanish_makes_the_norm_ratio_infinite(monkeypatch):
    run = type("Run", (), {"evaluate_test": lambda self: _FakeTest([[10, 20], [30, 40]])})()
    monkeypatch.setattr(checks, "_raw_test_features", lambda run: np.array([[2.0, 0], [2.0, 0], [0, 0], [0, 0]]))
    assert checks._stuck_and_norms(run)[1] == math.inf


def test_the_verification_cache_keeps_exactly_its_size_and_one_epoch_is_enough_to_measure(monkeypatch):
    """verification_auc is measured from one epoch on (0 epochs: no run, NaN), and its LRU keeps exactly
    VERIFICATION_CACHE_SIZE runs: the oldest is trained again only once one more has come in."""
    from toy_models import experiments
    from toy_models.train import TrainConfig

    trained: list[int] = []

    class Record:
        def __init__(self, epochs: int):
            self.metrics = {"verification_auc": 0.5 + epochs / 1000}

    def fake_verification(configs, holdout, *, epochs):
        trained.append(epochs)
        return [Record(epochs)]

    monkeypatch.setattr(experiments, "open_set_verification", fake_verification)
    monkeypatch.setattr(checks, "_verification_cache", checks.OrderedDict())
    config = TrainConfig(loss="arcface")
    assert math.isnan(checks.verification_auc(config, 0)) and trained == []
    assert checks.verification_auc(config, 1) == pytest.approx(0.501) and trained == [1]
    for epochs in range(2, checks.VERIFICATION_CACHE_SIZE + 1):
        checks.verification_auc(config, epochs)
    assert len(trained) == checks.VERIFICATION_CACHE_SIZE
    checks.verification_auc(config, 1)  # still cached: exactly SIZE runs are kept
    assert len(trained) == checks.VERIFICATION_CACHE_SIZE
    checks.verification_auc(config, checks.VERIFICATION_CACHE_SIZE + 1)  # one more: the oldest (epochs 2) goes
    checks.verification_auc(config, 2)
    assert trained[-2:] == [checks.VERIFICATION_CACHE_SIZE + 1, 2]
