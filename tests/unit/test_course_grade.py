"""Grading by replay: honest reports score, tampered numbers are flagged and not trusted, reports from another
course are rejected while the rest is graded, the exports have the LMS columns, Dask grades as joblib does."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from _course_helpers import FIXTURES, copy_of, course_at, live_record, write_course

from app.course import cli
from app.course.exports import CANVAS_FIXED, LONG_COLUMNS, MOODLE_FIXED, feedback_name, safe_cell, write_outputs
from app.course.grade import Source, course_problem, grade, load_sources
from app.course.record import REPORT_SIZE_CAP, report_json
from app.course.store import Store

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def setup(tmp_path_factory, digits):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("course")
    course = course_at(folder)
    return {
        "folder": folder,
        "course": course,
        "ada": live_record(course, student_id="s1", name="Ada Lovelace", dataset=digits),
        "bob": live_record(course, student_id="s2", name="Bob", answers={"wedge": 0, "spacing": 50},
                           submitted_at="2026-12-20T08:00:00+00:00", dataset=digits),
        "cy": live_record(course, "beta", student_id="s3", name="Cy", answers={"which": 0}, dataset=digits),
    }


def rows_of(result, student_id, lesson_id="alpha"):
    return {row.task_id: row for row in result.rows if row.student_id == student_id and row.lesson_id == lesson_id}


def test_honest_reports_are_replayed_and_scored(setup):
    course = setup["course"]
    result = grade(course, [Source("ada.json", setup["ada"]), Source("bob.json", setup["bob"]),
                            Source("cy.json", setup["cy"])], n_jobs=1)
    assert result.rejects == [] and result.flagged == []
    ada = rows_of(result, "s1")
    assert (ada["wedge"].status, ada["wedge"].points) == ("correct", 1.0)
    assert (ada["spacing"].status, ada["spacing"].points) == ("correct", 2.0)  # 36° within the tolerance of 1
    assert (ada["learns"].status, ada["learns"].points, ada["learns"].points_possible) == ("passed", 3.0, 3.0)
    assert (ada["spread"].status, ada["spread"].points) == ("not_yet", 0.0)
    assert "Inter is" in ada["spread"].reason
    bob = rows_of(result, "s2")
    assert (bob["wedge"].status, bob["spacing"].status) == ("wrong", "wrong") and bob["wedge"].points == 0
    assert bob["wedge"].late  # submitted after 2026-12-15, the due date
    assert not ada["wedge"].late
    cy = rows_of(result, "s3", "beta")
    assert (cy["which"].status, cy["unit"].status) == ("correct", "unanswered")
    totals = result.lesson_points()
    assert totals[("s1", "alpha")] == 6.0 and totals[("s2", "alpha")] == 3.0
    assert result.replays == 2  # Ada and Bob trained the same run, and both alpha checks name it: one replay


def test_a_tampered_metric_is_flagged_and_the_replay_decides(setup):
    tampered = copy_of(setup["ada"])
    spread = tampered["checks"]["spread"]
    spread["status"] = "passed"
    spread["run"]["metrics"]["inter_deg"] = 95.0
    tampered["checks"]["learns"]["run"]["metrics"]["test_accuracy"] += 0.01  # a small edit is caught too
    result = grade(setup["course"], [Source("ada.json", tampered)], n_jobs=1)
    rows = rows_of(result, "s1")
    assert rows["spread"].flagged and rows["spread"].points == 0.0 and rows["spread"].status == "not_yet"
    assert "inter_deg was reported as 95 but the replay gives" in rows["spread"].reason
    assert "the report says passed but the replay gives not yet" in rows["spread"].reason
    assert rows["learns"].flagged and rows["learns"].status == "passed"  # graded on the replay, still flagged
    assert "test_accuracy was reported as" in rows["learns"].reason
    assert not rows["wedge"].flagged


def test_a_tampered_run_or_epoch_is_flagged(setup):
    tampered = copy_of(setup["ada"])
    tampered["checks"]["learns"]["run"]["epoch"] = 3
    tampered["checks"]["spread"]["run"]["initial"]["m"] = "9"
    result = grade(setup["course"], [Source("ada.json", tampered)], n_jobs=1)
    rows = rows_of(result, "s1")
    assert rows["learns"].flagged and "the epoch was reported as 3 but the replay reaches epoch 2" in rows[
        "learns"].reason
    assert rows["spread"].status == "error" and rows["spread"].flagged and rows["spread"].points == 0
    assert "could not be replayed" in rows["spread"].reason and "m=9" in rows["spread"].reason


def test_a_run_past_the_budget_fails_and_a_huge_step_count_is_not_replayed(setup):
    late = copy_of(setup["ada"])
    late["checks"]["learns"]["run"]["epoch"] = 4  # learns must pass by epoch 3
    huge = late["checks"]["spread"]["run"]
    huge["step"] = 10**9  # claims epoch 2 still: replaying a billion steps would take days
    result = grade(setup["course"], [Source("ada.json", late)], n_jobs=1)
    rows = rows_of(result, "s1")
    assert rows["learns"].status == "failed" and "after this check's budget of 3 epochs" in rows["learns"].reason
    assert rows["spread"].status == "error" and rows["spread"].flagged
    assert "beyond 4 epochs" in rows["spread"].reason


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda r: r.update(course=None), "not made in a course"),
        (lambda r: r["course"].update(id="other-course"), "belongs to course 'other-course', not 'test-course'"),
        (lambda r: r["course"].update(version=2), "made under version 2 of course test-course; this course file is"),
        (lambda r: r["course"].update(hash="0" * 64), "another revision of course test-course version 3"),
        (lambda r: r["lesson"].update(version=1), "answers version 1 of lesson alpha; the lesson is now version 2"),
        (lambda r: r["lesson"].update(id="delta"), "lesson 'delta' is not assigned in course test-course"),
    ],
)
def test_a_report_from_another_course_or_version_is_rejected_and_the_rest_graded(setup, change, words):
    odd = copy_of(setup["ada"])
    change(odd)
    assert words in course_problem(setup["course"], odd)
    result = grade(setup["course"], [Source("odd.json", odd), Source("bob.json", setup["bob"])], n_jobs=1)
    (reject,) = result.rejects
    assert reject.label == "odd.json" and words in reject.reason and reject.reason.startswith("odd.json: ")
    assert {row.student_id for row in result.rows} == {"s2"}


def test_a_compare_lesson_run_is_stored_but_left_for_the_instructor(setup):
    compare = copy_of(setup["ada"])
    compare["lesson"] = {"id": "gamma", "version": 1}
    compare["answers"] = {"who": 1, "separation": 36}
    run = copy_of(setup["ada"]["checks"]["learns"]["run"])
    run["unit"] = "compare"
    compare["checks"] = {"arcface-margin": {"status": "passed", "reason": "ArcFace reached 41 %.", "run": run}}
    result = grade(setup["course"], [Source("cmp.json", compare)], n_jobs=1)
    rows = rows_of(result, "s1", "gamma")
    assert (rows["who"].points, rows["separation"].points) == (1.0, 1.0)
    assert rows["arcface-margin"].status == "ungraded" and rows["arcface-margin"].flagged
    assert "grade this check by hand" in rows["arcface-margin"].reason
    assert result.replays == 0


def test_the_newest_attempt_is_graded(setup):
    older = copy_of(setup["ada"])
    older["answers"] = {"wedge": 0}
    older["submitted_at"] = "2026-12-09T10:00:00+00:00"
    result = grade(setup["course"], [Source("new.json", setup["ada"]), Source("old.json", older)], n_jobs=1)
    assert result.superseded == 1
    assert rows_of(result, "s1")["wedge"].status == "correct" and rows_of(result, "s1")["wedge"].source == "new.json"
    # Times compare as instants, not as text: 11:00+02:00 is before 10:00+00:00.
    older["submitted_at"] = "2026-12-10T11:00:00+02:00"
    result = grade(setup["course"], [Source("old.json", older), Source("new.json", setup["ada"])], n_jobs=1)
    assert rows_of(result, "s1")["wedge"].source == "new.json"
    # A stored submission's time is the server's: the student's clock decides neither order nor lateness.
    stored = [Source("row 1", setup["ada"], attempt=1, received_at="2026-12-16T08:00:00+00:00"),
              Source("row 2", older, attempt=2, received_at="2026-12-16T09:00:00+00:00")]
    result = grade(setup["course"], stored, n_jobs=1)
    row = rows_of(result, "s1")["wedge"]
    assert row.source == "row 2" and row.late and row.submitted_at == "2026-12-16T09:00:00+00:00"


def test_the_cli_grades_report_files_and_lists_the_bad_ones(setup, tmp_path, capsys):
    reports = []
    for name in ("ada", "bob", "cy"):
        path = tmp_path / f"{name}.json"
        path.write_text(report_json(setup[name]), encoding="utf-8")
        reports.append(path)
    (tmp_path / "notes.json").write_text("this is not json", encoding="utf-8")
    (tmp_path / "huge.json").write_bytes(b"{" + b" " * REPORT_SIZE_CAP + b"}")
    missing = copy_of(setup["ada"])
    del missing["student"]
    (tmp_path / "missing.json").write_text(json.dumps(missing), encoding="utf-8")
    reports += [tmp_path / "notes.json", tmp_path / "huge.json", tmp_path / "missing.json"]
    course_file = write_course(setup["folder"], (setup["folder"] / "course.toml").read_text(encoding="utf-8"),
                               "copy.toml")
    out = tmp_path / "grades"
    code = cli.main(["grade", "--course", str(course_file), "--lessons", str(FIXTURES), "--out", str(out),
                     "--jobs", "1", *map(str, reports)])  # (processes: the Dask test below runs joblib's)
    printed = capsys.readouterr().out
    assert code == 0
    assert "graded 3 submission(s) of 3 student(s)" in printed and "3 rejected" in printed
    assert "rejected: notes.json: the file is not JSON" in printed
    assert "rejected: huge.json: the file is 256 kB, over the 256 kB limit" in printed
    assert "rejected: missing.json: student: missing." in printed

    with (out / "grades_long.csv").open(encoding="utf-8") as file:
        long_rows = list(csv.DictReader(file))
    assert tuple(long_rows[0]) == LONG_COLUMNS
    assert len(long_rows) == 4 + 4 + 3  # alpha: 2 questions + 2 checks, twice; beta: 2 questions + 1 check
    ada_learns = next(r for r in long_rows if r["student_id"] == "s1" and r["task_id"] == "learns")
    assert (ada_learns["points"], ada_learns["status"], ada_learns["flagged"]) == ("3", "passed", "no")

    with (out / "canvas.csv").open(encoding="utf-8") as file:
        canvas = list(csv.reader(file))
    assert tuple(canvas[0][:5]) == CANVAS_FIXED
    assert canvas[0][5:] == ["Alpha: a small ArcFace lesson for the course tests (alpha)",
                             "Beta: a CosFace lesson for the course tests (beta)",
                             "Fixture: two losses side by side (gamma)"]
    assert canvas[1] == ["    Points Possible", "", "", "", "", "7", "3", "4"]
    assert ["Ada Lovelace", "", "s1", "s1", "", "6", "", ""] in canvas
    assert ["Cy", "", "s3", "s3", "", "", "1", ""] in canvas  # one question right; its check failed (15 %)

    with (out / "moodle.csv").open(encoding="utf-8") as file:
        moodle = list(csv.reader(file))
    assert tuple(moodle[0][:4]) == MOODLE_FIXED and len(moodle) == 4
    assert ["Ada", "Lovelace", "s1", "", "6", "", ""] in moodle

    feedback = (out / "feedback" / feedback_name("s1")).read_text(encoding="utf-8")
    assert "Feedback for Ada Lovelace [s1]" in feedback and "6 of 7 points" in feedback
    assert "Beta: a CosFace lesson for the course tests: nothing handed in" in feedback
    with (out / "rejects.csv").open(encoding="utf-8") as file:
        rejects = list(csv.DictReader(file))
    assert sorted(r["source"] for r in rejects) == ["huge.json", "missing.json", "notes.json"]


def test_the_cli_imports_reports_and_grades_from_the_database(setup, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'class.db'}"
    paths = []
    for name in ("ada", "ada", "cy"):  # Ada hands in twice: two attempts, the newest graded
        path = tmp_path / f"{name}-{len(paths)}.json"
        path.write_text(report_json(setup[name]), encoding="utf-8")
        paths.append(str(path))
    assert cli.main(["import", "--db", url, *paths]) == 0
    assert "saved as attempt 2" in capsys.readouterr().out
    course_file = setup["folder"] / "course.toml"
    out = tmp_path / "grades"
    assert cli.main(["grade", "--course", str(course_file), "--lessons", str(FIXTURES), "--db", url, "--out",
                     str(out), "--jobs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "graded 2 submission(s) of 2 student(s)" in printed and "1 older attempt(s) superseded" in printed
    sources = load_sources(store=Store(url), course_id="test-course")
    assert [s.attempt for s in sources] == [1, 2, 1]


def test_the_cli_says_one_sentence_for_an_unreachable_database(setup, tmp_path, capsys):
    code = cli.main(["grade", "--course", str(setup["folder"] / "course.toml"), "--lessons", str(FIXTURES),
                     "--db", "postgresql://u:pw@127.0.0.1:9/x", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "cannot be reached" in err[0] and "pw" not in err[0].split("(")[0]


def test_odd_student_ids_stay_data_in_the_exports(setup, tmp_path):
    odd = copy_of(setup["ada"])
    odd["student"]["id"] = "=HYPERLINK(\"http://evil\")/../../etc/passwd"
    odd["student"]["name"] = "<b>Mallory</b>"
    result = grade(setup["course"], [Source("odd.json", odd)], n_jobs=1)
    written = write_outputs(result, setup["course"], tmp_path)
    assert all(path.resolve().is_relative_to(tmp_path.resolve()) for path in written)
    name = feedback_name(odd["student"]["id"])
    assert "/" not in name and (tmp_path / "feedback" / name).exists()
    with (tmp_path / "canvas.csv").open(encoding="utf-8") as file:
        canvas = list(csv.reader(file))
    assert canvas[2][2] == "'" + odd["student"]["id"] and canvas[2][0] == "<b>Mallory</b>"
    assert safe_cell("-0.5") == "-0.5" and safe_cell("-cmd") == "'-cmd" and safe_cell("+1") == "'+1"


@pytest.mark.slow
def test_a_dask_local_cluster_grades_as_joblib_does(setup):
    from dask.distributed import LocalCluster

    sources = [Source("ada.json", setup["ada"]), Source("bob.json", setup["bob"]), Source("cy.json", setup["cy"])]
    by_joblib = grade(setup["course"], sources, n_jobs=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        by_dask = grade(setup["course"], sources, dask_scheduler=cluster.scheduler_address)
    assert by_dask.rows == by_joblib.rows
    assert by_dask.replays == by_joblib.replays == 2
    assert sum(row.points for row in by_dask.rows) > 0


@pytest.mark.slow
def test_a_shipped_lesson_run_with_a_hot_change_grades_as_passed(tmp_path, digits):
    """Lesson 9 (gradient) as a student does it: the true gradient traps seed 0, then switching the running
    model to the straight-through gradient frees it. Each check keeps the run as it was when it passed."""
    from app import state
    from app.course.course import load_course
    from app.course.record import new_record
    from app.lessons.checks import check_metric_names, evaluate, run_metrics
    from app.lessons.format import load_lessons
    from app.lessons.run_record import run_record
    from toy_models.train import TrainConfig, Trainer

    lessons = [lesson for lesson in load_lessons() if lesson.id == "gradient"]
    if not lessons:
        pytest.skip("lesson 9 (gradient) is not in lessons/")
    course = load_course(write_course(tmp_path, '[course]\nid = "real"\ntitle = "Real"\nversion = 1\n\n'
                                                '[[lessons]]\nid = "gradient"\n'), lessons=lessons)
    entry = course.lesson("gradient")
    first, second = entry.lesson.solution
    values = state.validate(first.values).values
    trainer = Trainer(TrainConfig(**state.config_fields(values), num_threads=1), dataset=digits)
    passed = {}

    def check_all(values):
        for check in entry.lesson.checks:
            if check.id in passed:
                continue
            metrics = run_metrics(trainer, needs=check_metric_names(check))
            verdict = evaluate(check, values, metrics)
            if verdict.status == "passed":
                passed[check.id] = {"status": "passed", "reason": verdict.reason,
                                    "run": run_record(trainer, metrics)}

    for _ in range(first.epochs):
        trainer.advance(epochs=1)
        check_all(values)
    values = state.validate(second.values).values
    trainer.request_hyper(**state.hot_values(values))  # as the live unit hands a slider change over
    for _ in range(second.epochs):
        trainer.advance(epochs=1)
        check_all(values)
    assert set(passed) == {"find-trap", "free-them"}
    record = new_record(course=course.ref(), student_id="s1", student_name="Ada", identity="typed",
                        lesson_id="gradient", lesson_version=entry.version, answers={}, checks=passed,
                        started_at="2026-12-10T09:30:00+00:00")
    result = grade(course, [Source("ada.json", json.loads(report_json(record)))], n_jobs=1)
    rows = rows_of(result, "s1", "gradient")
    assert result.flagged == [] and result.replays == 2
    assert rows["find-trap"].status == rows["free-them"].status == "passed"
    switched_at = first.epochs * trainer.steps_per_epoch
    assert passed["free-them"]["run"]["hyper_log"] == [[switched_at, {"grad": "detached"}]]
