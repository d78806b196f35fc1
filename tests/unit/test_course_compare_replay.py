"""Compare lessons are graded by replay: a MultiTrainer trained live-style replays to identical member metrics,
a compare RUN records every member, an honest one grades passed and a tampered number is flagged."""

from __future__ import annotations

import json
import threading

import pytest
import torch
from _course_helpers import COMPARE_RUN, copy_of, course_at, record_with, write_course

from app import state
from app.course.grade import Source, grade
from app.course.record import ReportError, new_record, report_json, validate_record
from app.lessons.checks import check_metric_names, evaluate, run_metrics
from app.lessons.run_record import RunError, replay_run, run_record
from toy_models.train import MultiTrainer, TrainConfig, replay_multi

pytestmark = pytest.mark.usefixtures("one_thread")

BASE = TrainConfig(embedding_dim=2, max_train=500, seed=5, num_threads=1)


def live_style_multi(digits) -> MultiTrainer:
    """Ticks of uneven length (by the clock), a hot change handed over from another thread to one member and
    one made between ticks on another."""
    multi = MultiTrainer(BASE, losses=["softmax", {"loss": "arcface", "margin": 0.1}, "cosface"], dataset=digits)
    multi.advance(steps=11)
    multi.advance(seconds=0.03)
    handover = threading.Thread(target=multi.request_hyper, args=(1,), kwargs={"margin": 0.3, "lr": 0.02})
    handover.start()
    handover.join()
    multi.advance(seconds=0.02)
    multi.set_hyper(2, margin=0.25)
    multi.advance(steps=17)
    return multi


def test_replay_multi_reproduces_every_member(digits):
    multi = live_style_multi(digits)
    assert [len(m.hyper_log) for m in multi.members] == [0, 1, 1]
    again = replay_multi([m.initial_config for m in multi.members], [list(m.hyper_log) for m in multi.members],
                         multi.step, dataset=digits)
    assert again.step == multi.step and again.epoch == multi.epoch
    for member, replayed in zip(multi.members, again.members, strict=True):
        assert replayed.config == member.config
        assert run_metrics(replayed) == run_metrics(member)
    # Without the hot change on member 1 its metrics differ: the replay really applies the log.
    plain = replay_multi([m.initial_config for m in multi.members], [[], [], list(multi.members[2].hyper_log)],
                         multi.step, dataset=digits)
    assert run_metrics(plain.members[1]) != run_metrics(multi.members[1])


def test_replay_multi_refuses_a_bad_log_in_one_sentence(digits):
    configs = [BASE]
    with pytest.raises(ValueError, match=r"member 0 hyper_log\[0\]: step 9 is beyond the run's last step 5"):
        replay_multi(configs, [[[9, {"lr": 0.1}]]], 5, dataset=digits)
    with pytest.raises(ValueError, match="one log per member"):
        replay_multi(configs, [[], []], 5, dataset=digits)


def compare_values(loss: str, **own) -> dict:
    return state.validate({"loss": loss, "dim": 2, "seed": 4, "lr": 0.01, **own}).values


def test_a_compare_run_records_every_member_and_replays_the_checked_one(digits):
    values = {"softmax": compare_values("softmax"), "arcface": compare_values("arcface", m=0.05)}
    configs = [TrainConfig(**state.config_fields(v), num_threads=1) for v in values.values()]
    multi = MultiTrainer(configs, dataset=digits)
    multi.advance(steps=7)
    multi.request_hyper(1, **state.hot_values({**values["arcface"], "margin": 0.2}))
    multi.advance(steps=20)
    arcface = multi.members[1]
    metrics = run_metrics(arcface)
    run = run_record(arcface, metrics, unit="compare")
    assert run["unit"] == "compare" and run["member"] == "arcface"
    assert list(run["members"]) == ["softmax", "arcface"]  # the MultiTrainer's order
    assert run["members"]["softmax"]["hyper_log"] == []
    assert run["members"]["arcface"]["hyper_log"] == [[7, {"margin": "0.2"}]]
    assert (run["step"], run["epoch"]) == (27, multi.epoch)
    json.dumps(run, allow_nan=False)
    replayed, end_values = replay_run(run)
    assert run_metrics(replayed) == metrics
    assert end_values["margin"] == pytest.approx(0.2) and end_values["loss"] == "arcface"
    mislabelled = copy_of(run)
    mislabelled["members"]["arcface"]["initial"]["loss"] = "cosface"
    with pytest.raises(RunError, match=r"run\.members\.arcface\.initial: its loss is cosface, not arcface\."):
        replay_run(mislabelled)


@pytest.mark.parametrize(("change", "words"), [
    (lambda r: r.update(member="cosface"), "checks.c.run.member: 'cosface' is not one of the run's members."),
    (lambda r: r.update(members={}), "checks.c.run.members: has 0 members (1 to 16)."),
    (lambda r: r["members"]["arcface"].pop("hyper_log"), "checks.c.run.members.arcface.hyper_log: missing."),
    (lambda r: r["members"]["arcface"]["hyper_log"].append([30, {"m": "0.3"}]),
     "checks.c.run.hyper_log: a change at step 30 is beyond the run's step 10."),
    (lambda r: r.update(members={f"l{i}": {"initial": {}, "hyper_log": []} for i in range(17)}),
     "has 17 members (1 to 16)"),
    (lambda r: r.update(initial={}), "checks.c.run.initial: is not a field of a submission."),
])
def test_the_validator_checks_a_compare_run_in_one_sentence(change, words):
    assert validate_record(record_with(copy_of(COMPARE_RUN)))["checks"]["c"]["run"]["member"] == "arcface"
    run = copy_of(COMPARE_RUN)
    change(run)
    with pytest.raises(ReportError) as err:
        validate_record(record_with(run), source="r.json")
    assert words in str(err.value) and str(err.value).startswith("r.json: ")


# ----------------------------------------------------------------------------------------------------------
# Grading: lesson 06 (side by side) as a student does it


@pytest.fixture(scope="module")
def side_by_side(tmp_path_factory, digits):
    """Lesson 06's worked solution in one MultiTrainer (as the Compare unit builds it), each check judged on its
    member at every epoch end and recorded when it passes, as the lesson page does."""
    from app.course.course import load_course
    from app.lessons.format import load_lessons
    from app.lessons.headless import _Compare

    torch.set_num_threads(1)
    lessons = [lesson for lesson in load_lessons() if lesson.id == "side-by-side"]
    if not lessons:
        pytest.skip("lesson 06 (side-by-side) is not in lessons/")
    folder = tmp_path_factory.mktemp("compare-course")
    course = load_course(write_course(folder, '[course]\nid = "real"\ntitle = "Real"\nversion = 1\n\n'
                                              '[[lessons]]\nid = "side-by-side"\n'), lessons=lessons)
    entry = course.lesson("side-by-side")
    (step,) = entry.lesson.solution
    unit = _Compare()
    unit.start(step.values, False)
    members = {member.config.loss: member for member in unit.multi.members}
    passed = {}
    unit.multi.advance(steps=5)  # a first tick shorter than an epoch, as the live unit's ticks are
    for _ in range(step.epochs):
        unit.multi.advance(steps=unit.multi.steps_per_epoch - unit.multi.step % unit.multi.steps_per_epoch)
        for check in entry.lesson.checks:
            if check.id in passed:
                continue
            member = members[check.member]
            metrics = run_metrics(member, needs=check_metric_names(check))
            verdict = evaluate(check, unit.values[check.member], metrics)
            if verdict.status == "passed":
                passed[check.id] = {"status": "passed", "reason": verdict.reason,
                                    "run": run_record(member, metrics, unit="compare")}
        if len(passed) == len(entry.lesson.checks):
            break
    at_end = {}  # every check judged once more at the end: three members' runs of one moment
    for check in entry.lesson.checks:
        member = members[check.member]
        metrics = run_metrics(member, needs=check_metric_names(check))
        verdict = evaluate(check, unit.values[check.member], metrics)
        at_end[check.id] = {"status": verdict.status, "reason": verdict.reason,
                            "run": run_record(member, metrics, unit="compare")}

    def record_of(checks, student_id):
        record = new_record(course=course.ref(), student_id=student_id, student_name="Ada", identity="typed",
                            lesson_id=entry.id, lesson_version=entry.version, answers={}, checks=checks,
                            started_at="2026-12-10T09:30:00+00:00")
        return json.loads(report_json(record))

    return course, record_of(passed, "s1"), record_of(at_end, "s2")


def check_rows(result):
    return {row.task_id: row for row in result.rows if row.task == "check"}


@pytest.mark.slow
def test_an_honest_compare_report_grades_passed(side_by_side):
    course, record, _ = side_by_side
    assert set(record["checks"]) == {"arcface-table3", "cosface-table3", "sphereface-table3"}
    run = record["checks"]["arcface-table3"]["run"]
    assert run["member"] == "arcface" and list(run["members"]) == ["softmax", "sphereface", "cosface", "arcface"]
    result = grade(course, [Source("ada.json", record)], n_jobs=1)
    rows = check_rows(result)
    assert result.rejects == [] and result.flagged == []
    assert {row.status for row in rows.values()} == {"passed"}
    assert sum(row.points for row in rows.values()) == sum(row.points_possible for row in rows.values()) > 0
    assert result.replays == len({c["run"]["step"] for c in record["checks"].values()})  # one per moment


def test_the_members_of_one_compare_run_share_one_replay(side_by_side):
    course, _, at_end = side_by_side
    runs = [c["run"] for c in at_end["checks"].values()]
    assert len({r["member"] for r in runs}) == 3 and len({r["step"] for r in runs}) == 1
    result = grade(course, [Source("end.json", at_end)], n_jobs=1)
    assert result.replays == 1 and result.flagged == [] and result.rejects == []
    rows = check_rows(result)
    assert {check: row.status for check, row in rows.items()} == {k: c["status"] for k, c in at_end["checks"].items()}
    assert sum(row.points for row in rows.values()) > 0


@pytest.mark.slow
def test_a_tampered_compare_metric_is_flagged(side_by_side):
    course, record, _ = side_by_side
    tampered = copy_of(record)
    metrics = tampered["checks"]["arcface-table3"]["run"]["metrics"]
    metrics["inter_deg"] += 0.5
    result = grade(course, [Source("ada.json", tampered)], n_jobs=1)
    rows = check_rows(result)
    assert rows["arcface-table3"].flagged and rows["arcface-table3"].status == "passed"  # graded on the replay
    assert "inter_deg was reported as" in rows["arcface-table3"].reason
    assert not rows["cosface-table3"].flagged


def test_a_tampered_member_setting_is_caught_by_the_replay(side_by_side):
    """A student who claims ArcFace trained with a margin it never had: the replay with that margin gives other
    numbers, so the claim is flagged; a run of another member handed in for the check is flagged too."""
    course, record, _ = side_by_side
    tampered = copy_of(record)
    run = tampered["checks"]["arcface-table3"]["run"]
    run["members"]["arcface"]["initial"]["m"] = "0.3"
    other = tampered["checks"]["cosface-table3"]
    other["run"] = copy_of(record["checks"]["sphereface-table3"]["run"])
    rows = check_rows(grade(course, [Source("ada.json", tampered)], n_jobs=1))
    assert rows["arcface-table3"].flagged and "was reported as" in rows["arcface-table3"].reason
    assert rows["cosface-table3"].flagged and rows["cosface-table3"].points == 0.0
    assert "sphereface's, but this check is about cosface" in rows["cosface-table3"].reason


def test_an_old_style_compare_run_is_still_left_for_the_instructor(tmp_path, digits):
    course = course_at(tmp_path)
    run = {"unit": "compare", "initial": {"loss": "arcface"}, "hyper_log": [], "step": 3, "epoch": 0,
           "metrics": {"test_accuracy": 0.5}}
    record = record_with(run, course=course.ref())
    record["checks"] = {"arcface-margin": record["checks"]["c"]}
    rows = check_rows(grade(course, [Source("old.json", validate_record(record))], n_jobs=1))
    assert rows["arcface-margin"].status == "ungraded" and "grade this check by hand" in rows["arcface-margin"].reason


def test_the_lesson_pages_probe_records_a_compare_member(digits):
    """The lesson page measures and records a check where the model lives, through app.lessons.probe."""
    from app.lessons.probe import ProbePlan, measure_checks

    values = {"softmax": compare_values("softmax"), "arcface": compare_values("arcface", m=0.2)}
    multi = MultiTrainer([TrainConfig(**state.config_fields(v), num_threads=1) for v in values.values()],
                         dataset=digits)
    multi.advance(steps=4)
    found = measure_checks(multi, ProbePlan((("c", "softmax", frozenset({"test_accuracy"})),), "compare"))["c"]
    metrics, run = found.metrics, found.record
    assert found.values["loss"] == "softmax"  # the member's settings at that moment, for the check's settings
    checked = validate_record(record_with(run))["checks"]["c"]["run"]
    assert checked["member"] == "softmax" and list(checked["members"]) == ["softmax", "arcface"]
    replayed, _ = replay_run(checked)
    assert run_metrics(replayed) == metrics
