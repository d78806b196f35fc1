"""Grading by replay: trust the settings a student's run was made with, never the numbers it reports.

    result = grade(course, load_sources(course, reports=paths, db_url=url))
    write_outputs(result, course, out_dir)      # long CSV, Canvas CSV, Moodle CSV, feedback/, rejects.csv

For each submission: check it against the course (schema, course id, version and hash, lesson and its
version); keep the newest attempt of each student and lesson; replay every run a counted check names, on the
CPU, from its initial settings and its log of hot changes (app.lessons.run_record -> toy_models.train.replay; a
compare lesson's run: every member of its MultiTrainer, then the checked member is measured);
recompute the metrics (app.lessons.checks.run_metrics); flag any claimed metric that differs from the
replayed one by more than TOLERANCE; re-evaluate each check on the replayed metrics (app.lessons.checks.evaluate)
and re-score each question (quiz_answer_correct); give the course's points. A bad submission is a reject with
its reason, and the rest are graded.

Replays are independent CPU jobs: joblib runs them in local processes, or on a Dask cluster
(`dask_scheduler="tcp://host:8786"`), through joblib's Dask backend, with the same code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from app.course.course import Course, CourseLesson
from app.course.record import ReportError, read_report, receipt_status, validate_record
from app.lessons.run_record import RunError, replay_compare_run, replay_run
from app.lessons.window import window_start

# A claimed metric matches its replay when |claimed - replayed| <= ABS_TOL + REL_TOL * |replayed|. Replays on
# one machine are bit-identical; the slack covers another CPU or PyTorch release (pytorch.org notes/randomness)
# while still catching any edit a person would make: 0.001 of accuracy is a third of one digits test image,
# and an angle of 50° is allowed 0.051°.
ABS_TOL = 1e-3
REL_TOL = 1e-3
TOLERANCE_TEXT = f"|claimed − replayed| ≤ {ABS_TOL:g} + {REL_TOL:g}·|replayed|"
# The longest replay: a check with an epoch budget is decided by its end (one epoch more is replayed, to see a
# late pass fail as the app would say); one without is bounded by the live unit's own limit (app.live.run).
MAX_REPLAY_EPOCHS = 2000


@dataclass(frozen=True)
class Source:
    """One submission to grade: where it came from, and its record (or why it could not be read)."""

    label: str  # "report.json" or "database row 12"
    record: dict | None
    error: str | None = None
    attempt: int | None = None
    received_at: str | None = None  # the server's clock when the app's Submit stored it (None for a report file,
                                    # imported or not: its import time says nothing about when it was made)
    receipt: str = "missing"  # app.course.record.receipt_status of the record under the grader's key

    @property
    def handed_in_at(self) -> str:
        """When it was handed in (the lateness rule, docs/courses.md): the server's clock for a Submit; else the
        time the report itself says, which a valid receipt verifies (time_source says which)."""
        return self.received_at or self.record["submitted_at"]

    @property
    def time_source(self) -> str:
        """"server" (the app's Submit), "receipt" (a report file the server signed), or "unverified" (a report
        file's own claim: no receipt, another key, or changed since it was signed)."""
        if self.received_at:
            return "server"
        return "receipt" if self.receipt == "verified" else "unverified"


@dataclass(frozen=True)
class Reject:
    label: str
    student_id: str
    lesson_id: str
    reason: str


@dataclass(frozen=True)
class TaskRow:
    """One graded task of one student in one lesson: a row of the long CSV."""

    student_id: str
    student_name: str
    identity: str
    lesson_id: str
    lesson_title: str
    task: str  # "question" or "check"
    task_id: str
    points: float
    points_possible: float
    status: str  # check: passed / not_yet / failed / missing / error / ungraded; question: correct / wrong / unanswered
    flagged: bool
    reason: str
    attempt: int | None
    submitted_at: str
    late: bool
    source: str
    time_source: str = "unverified"  # Source.time_source: "server", "receipt" or "unverified"


@dataclass
class GradeResult:
    rows: list[TaskRow] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    superseded: int = 0  # older attempts not graded (the newest of each student and lesson is)
    replays: int = 0
    time_sources: dict[str, int] = field(default_factory=dict)  # graded submissions by Source.time_source
    receipt_problems: list[tuple[str, str]] = field(default_factory=list)  # (label, receipt status) of graded
                                                                           # report files whose time is unverified

    def lesson_points(self) -> dict[tuple[str, str], float]:
        """(student id, lesson id) -> points."""
        totals: dict[tuple[str, str], float] = {}
        for row in self.rows:
            key = (row.student_id, row.lesson_id)
            totals[key] = totals.get(key, 0.0) + row.points
        return totals

    def students(self) -> dict[str, tuple[str, str]]:
        """Student id -> (name, identity), in first-seen order."""
        out: dict[str, tuple[str, str]] = {}
        for row in self.rows:
            out.setdefault(row.student_id, (row.student_name, row.identity))
        return out

    @property
    def flagged(self) -> list[TaskRow]:
        return [row for row in self.rows if row.flagged]


# --------------------------------------------------------------------------------------------
# Sources


def load_sources(reports: Iterable[str | Path] = (), *, store: Any = None, course_id: str | None = None,
                 receipt_key: str | None = None) -> list[Source]:
    """Report files (each read and validated; an unreadable one becomes a Source with its error) and, with a
    `store` (app.course.store.Store), every stored attempt of `course_id`. Each report's receipt is checked
    with `receipt_key` (the server's, from its secrets.toml); a row the app's Submit stored has the server's
    time, a row `import` stored is a report file like any other."""
    sources = []
    for path in reports:
        name = Path(path).name
        try:
            record = read_report(path)
            sources.append(Source(name, record, receipt=receipt_status(record, receipt_key)))
        except ReportError as err:
            sources.append(Source(name, None, str(err)))
        except Exception as err:  # whatever one file does is that file's reject, never the class's grading
            sources.append(Source(name, None, f"{name}: {surprise('the file could not be read', err)}"))
    if store is not None:
        for sub in store.submissions(course_id=course_id):
            label = f"database row {sub.id}"
            try:
                record = validate_record(sub.record, source=label)
                sources.append(Source(label, record, attempt=sub.attempt,
                                      received_at=sub.received_at if sub.origin == "app" else None,
                                      receipt=receipt_status(record, receipt_key)))
            except ReportError as err:
                sources.append(Source(label, None, str(err)))
            except Exception as err:
                sources.append(Source(label, None, f"{label}: {surprise('the row could not be read', err)}"))
    return sources


def surprise(what: str, err: BaseException) -> str:
    """`what`, with the kind of error no check foresaw and its first words: "it could not be read (X: y)."."""
    words = str(err).strip().splitlines()[0][:120] if str(err).strip() else ""
    return f"{what} ({type(err).__name__}{': ' + words if words else ''})."


def course_problem(course: Course, record: Mapping[str, Any]) -> str | None:
    """Why `record` cannot count in `course` (one sentence), or None."""
    ref = record["course"]
    if ref is None:
        return "it was not made in a course (its course is null)."
    if ref["id"] != course.id:
        return f"it belongs to course {ref['id']!r}, not {course.id!r}."
    if ref["version"] != course.version:
        return f"it was made under version {ref['version']} of course {course.id}; this course file is version " \
               f"{course.version}."
    if ref["hash"] != course.hash:
        return f"it was made under another revision of course {course.id} version {course.version} (the course " \
               "file's hash differs)."
    entry = course.lesson(record["lesson"]["id"])
    if entry is None:
        return f"lesson {record['lesson']['id']!r} is not assigned in course {course.id}."
    if record["lesson"]["version"] != entry.version:
        return f"it answers version {record['lesson']['version']} of lesson {entry.id}; the lesson is now " \
               f"version {entry.version}."
    return None


# --------------------------------------------------------------------------------------------
# Replays (module-level functions: joblib and Dask ship them to other processes)


def _run_key(run: Mapping[str, Any]) -> str:
    """Identical runs share one replay; so do the runs of several members of one compare run at one step (one
    replay trains them all). Member order matters (it is the MultiTrainer's): members are kept as a list."""
    if _is_compare(run):
        members = [[loss, part["initial"], part["hyper_log"]] for loss, part in run["members"].items()]
        return json.dumps({"unit": "compare", "members": members, "step": run["step"]}, sort_keys=True)
    return json.dumps({k: run[k] for k in ("unit", "initial", "hyper_log", "step")}, sort_keys=True)


def _is_compare(run: Mapping[str, Any]) -> bool:
    """A compare RUN that records every member (older compare RUNs recorded one member and cannot be replayed)."""
    return run.get("unit") == "compare" and "members" in run


def _replayable(entry: CourseLesson, run: Mapping[str, Any]) -> bool:
    if entry.lesson.unit == "live":
        return run["unit"] == "live"
    return entry.lesson.unit == "compare" and _is_compare(run)


def replay_job(run: Mapping[str, Any], needs: Sequence[str] | Mapping[str, Sequence[str]],
               data_dir: str | None = None, max_epochs: int = MAX_REPLAY_EPOCHS) -> dict[str, Any]:
    """Replay one RUN and measure it: {"metrics", "values", "step", "epoch"} or {"error": sentence}. A compare
    RUN's `needs` are by member loss, and its result has {"members": {loss: {"metrics", "values"}}} instead.
    Never raises: whatever a submitted file does to a replay is that submission's error, not the grader's."""
    from app.lessons.checks import run_metrics

    try:
        if _is_compare(run):
            multi, values = replay_compare_run(run, data_dir=data_dir, max_epochs=max_epochs)
            members = dict(zip(values, multi.members, strict=True))
            measured = {loss: {"metrics": run_metrics(members[loss], needs=set(names)), "values": values[loss]}
                        for loss, names in needs.items() if loss in members}
            return {"members": measured, "step": multi.step, "epoch": multi.epoch,
                    "steps_per_epoch": multi.steps_per_epoch}
        trainer, values = replay_run(run, data_dir=data_dir, max_epochs=max_epochs)
        metrics = run_metrics(trainer, needs=set(needs))
    except (RunError, ValueError, OSError) as err:
        return {"error": str(err).rstrip(".") + "."}
    except Exception as err:
        return {"error": f"the replay failed ({type(err).__name__}: {str(err)[:200]})."}
    clock = getattr(trainer, "owner", None) or trainer
    return {"metrics": metrics, "values": values, "step": trainer.step, "epoch": trainer.epoch,
            "steps_per_epoch": clock.steps_per_epoch}


def _sorted_needs(needs: set[str] | Mapping[str, set[str]]) -> list[str] | dict[str, list[str]]:
    if isinstance(needs, Mapping):
        return {loss: sorted(names) for loss, names in sorted(needs.items())}
    return sorted(needs)


def run_replays(jobs: Mapping[str, tuple], *, n_jobs: int = -1, dask_scheduler: str | None = None,
                data_dir: str | None = None) -> dict[str, dict]:
    """Replay every job (key -> (run, metric names (by member loss for a compare run)[, max epochs])) in
    parallel; key -> replay_job's result."""
    from joblib import Parallel, delayed, parallel_config

    keys = list(jobs)
    args = {k: (jobs[k][0], _sorted_needs(jobs[k][1]), data_dir, *jobs[k][2:]) for k in keys}
    calls = [delayed(replay_job)(*args[k]) for k in keys]
    if not calls:
        return {}
    if dask_scheduler:
        from dask.distributed import Client

        with Client(dask_scheduler, timeout="20s") as _client, parallel_config(backend="dask"):
            results = Parallel()(calls)
    elif n_jobs == 1 or len(calls) == 1:
        results = [replay_job(*args[k]) for k in keys]
    else:
        results = Parallel(n_jobs=n_jobs, backend="loky")(calls)
    return dict(zip(keys, results, strict=True))


# --------------------------------------------------------------------------------------------
# Scoring


def metric_mismatches(claimed: Mapping[str, float], replayed: Mapping[str, float]) -> list[str]:
    """One phrase per claimed metric the replay does not reproduce within the tolerance."""
    out = []
    for name, value in claimed.items():
        if name not in replayed:
            continue  # a metric the grader did not need; it decides nothing
        again = replayed[name]
        if math.isnan(again) or abs(value - again) > ABS_TOL + REL_TOL * abs(again):
            out.append(f"{name} was reported as {value:.6g} but the replay gives {again:.6g}")
    return out


def _past_budget(check: Any, run: Mapping[str, Any]) -> bool:
    """A run handed in after the check's epoch budget fails it, as the app says: no replay needed (a claim
    that only costs the student points need not be checked). Only where the window surely counts from the
    model's build: a logged change of a setting the check is about moves it (app.lessons.window), and where
    to, the replay's epoch length says."""
    if check.within_epochs is None or run["epoch"] <= check.within_epochs:
        return False
    return window_start(check, run, steps_per_epoch=1).start == 0  # (any change at all gives a start > 0)


def _score_check(entry: CourseLesson, check_id: str, points: float, claimed: Mapping[str, Any] | None,
                 replays: Mapping[str, dict]) -> tuple[float, str, bool, str]:
    """(points, status, flagged, reason) of one counted check."""
    from app.lessons.checks import evaluate

    if claimed is None:
        return 0.0, "missing", False, "Not in the submission."
    run = claimed.get("run")
    if run is None:
        return 0.0, "missing", False, "The submission has no run to replay for this check."
    if not _replayable(entry, run):
        return 0.0, "ungraded", True, (f"The run was recorded as a {run['unit']} run without all it needs for a "
                                       f"replay in this {entry.lesson.unit} lesson: grade this check by hand.")
    check = entry.lesson.check(check_id)
    wanted = getattr(check, "member", None)
    if _is_compare(run) and wanted and run["member"] != wanted:
        return 0.0, "failed", True, (f"Flagged: the run handed in is {run['member']}'s, but this check is about "
                                     f"{wanted}.")
    if _past_budget(check, run):
        return 0.0, "failed", False, (f"The run was handed in at epoch {run['epoch']}, after this check's budget of "
                                      f"{check.within_epochs} epochs. {check.feedback}").strip()
    result = replays[_run_key(run)]
    if "error" in result:
        return 0.0, "error", True, f"The run could not be replayed: {result['error']}"
    if _is_compare(run):
        result = {**result, **result["members"][run["member"]]}
    window = window_start(check, run, int(result.get("steps_per_epoch", 0)))  # the window the app found
    verdict = evaluate(check, result["values"], result["metrics"], window)
    problems = []
    if run["epoch"] != result["epoch"]:
        problems.append(f"the epoch was reported as {run['epoch']} but the replay reaches epoch {result['epoch']}")
    problems += metric_mismatches(run["metrics"], result["metrics"])
    if claimed["status"] != verdict.status:
        problems.append(f"the report says {claimed['status'].replace('_', ' ')} but the replay gives "
                        f"{verdict.status.replace('_', ' ')}")
    reason = verdict.reason
    if problems:
        reason = f"Flagged: {'; '.join(problems)} (tolerance {TOLERANCE_TEXT}); graded on the replay. {reason}"
    if verdict.feedback:
        reason = f"{reason} {verdict.feedback}"
    return (points if verdict.status == "passed" else 0.0), verdict.status, bool(problems), reason


def _score_question(entry: CourseLesson, question_id: str, points: float, answers: Mapping[str, Any],
                    ) -> tuple[float, str, str]:
    from app.lessons.checks import quiz_answer_correct

    if answers.get(question_id) is None:
        return 0.0, "unanswered", "Not answered."
    question = entry.lesson.question(question_id)
    shared = _shared_values(entry)
    dim = int(shared["embedding_dim"])
    correct = quiz_answer_correct(question, answers[question_id], classes=_classes(shared), dim=dim)
    if correct:
        return points, "correct", "Correct."
    return 0.0, "wrong", f"Not correct. {question.explanation}".strip()


def _shared_values(entry: CourseLesson) -> dict[str, Any]:
    from app import state

    preset = entry.preset_values
    if entry.lesson.unit == "compare":
        return state.validate_shared({k: v for k, v in preset.items() if k not in ("losses", "members")}).values
    return state.validate(preset).values


def _classes(values: Mapping[str, Any]) -> int:
    """Classes of the lesson's dataset, as the app's placeholders count them (toy: its identities)."""
    if values.get("dataset") == "toy":
        from toy_models.train import TrainConfig

        return TrainConfig().num_identities
    return 10  # digits, MNIST and Fashion-MNIST


def _rank(source: Source) -> tuple[datetime, int]:
    return datetime.fromisoformat(source.handed_in_at), source.attempt or 0


def _newest(sources: list[tuple[Source, dict]]) -> tuple[list[tuple[Source, dict]], int]:
    """The newest attempt of each (student, lesson): by hand-in time (the server's when stored), then attempt
    number; and how many older ones were left out."""
    newest: dict[tuple[str, str], tuple[Source, dict]] = {}
    for source, record in sources:
        key = (record["student"]["id"], record["lesson"]["id"])
        if key not in newest or _rank(source) >= _rank(newest[key][0]):
            newest[key] = (source, record)
    return list(newest.values()), len(sources) - len(newest)


def grade(course: Course, sources: Sequence[Source], *, n_jobs: int = -1, dask_scheduler: str | None = None,
          data_dir: str | None = None) -> GradeResult:
    """Grade `sources` against `course` (see the module docstring). Never raises for a bad submission: whatever
    one submission does that no check foresaw makes it a reject with one sentence, and the others are graded."""
    result = GradeResult()
    usable: list[tuple[Source, dict]] = []
    for source in sources:
        if source.record is None:
            result.rejects.append(Reject(source.label, "", "", source.error or f"{source.label}: unreadable."))
            continue
        try:
            problem = course_problem(course, source.record)
            _rank(source)  # (validated already; it orders the attempts, so a failure here is this file's)
        except Exception as err:
            problem = surprise("it could not be graded", err)
        if problem:
            result.rejects.append(_reject(source, f"{source.label}: {problem}"))
            continue
        usable.append((source, source.record))
    chosen, result.superseded = _newest(usable)
    for source, _ in chosen:
        result.time_sources[source.time_source] = result.time_sources.get(source.time_source, 0) + 1
        if source.time_source == "unverified" and source.receipt != "missing":
            result.receipt_problems.append((source.label, source.receipt))

    jobs: dict[str, tuple[dict, Any, int]] = {}
    for source, record in list(chosen):
        try:
            _add_jobs(jobs, course.lesson(record["lesson"]["id"]), record)
        except Exception as err:
            chosen.remove((source, record))
            result.rejects.append(_reject(source, f"{source.label}: {surprise('its runs could not be read', err)}"))
    replays = run_replays(jobs, n_jobs=n_jobs, dask_scheduler=dask_scheduler, data_dir=data_dir)
    result.replays = len(replays)

    for source, record in sorted(chosen, key=lambda sr: (sr[1]["student"]["id"], sr[1]["lesson"]["id"])):
        try:
            result.rows += _graded_rows(course.lesson(record["lesson"]["id"]), source, record, replays)
        except Exception as err:
            result.rejects.append(_reject(source, f"{source.label}: {surprise('it could not be graded', err)}"))
    return result


def _reject(source: Source, reason: str) -> Reject:
    record = source.record or {}
    return Reject(source.label, str(record["student"]["id"]), str(record["lesson"]["id"]), reason)


def _add_jobs(jobs: dict[str, tuple[dict, Any, int]], entry: CourseLesson, record: Mapping[str, Any]) -> None:
    """The replays one submission needs, merged into `jobs` (identical runs share one replay)."""
    from app.lessons.checks import check_metric_names

    for check_id in entry.checks:
        run = (record["checks"].get(check_id) or {}).get("run")
        if run is None or not _replayable(entry, run):
            continue
        check = entry.lesson.check(check_id)
        if _past_budget(check, run):
            continue
        key = _run_key(run)
        wanted = check_metric_names(check) | set(run["metrics"])
        moved = check.within_epochs is not None and window_start(check, run, steps_per_epoch=1).start > 0
        budget = MAX_REPLAY_EPOCHS if check.within_epochs is None or moved else check.within_epochs + 1
        if _is_compare(run):
            _, needs, longest = jobs.get(key, (run, {}, 0))
            needs = {**needs, run["member"]: needs.get(run["member"], set()) | wanted}
        else:
            _, needs, longest = jobs.get(key, (run, set(), 0))
            needs = needs | wanted
        jobs[key] = (run, needs, max(longest, budget))


def _graded_rows(entry: CourseLesson, source: Source, record: Mapping[str, Any],
                 replays: Mapping[str, dict]) -> list[TaskRow]:
    """Every counted task of one submission, scored."""
    student = record["student"]
    common = {
        "student_id": student["id"], "student_name": student["name"], "identity": student["identity"],
        "lesson_id": entry.id, "lesson_title": entry.title, "attempt": source.attempt,
        "submitted_at": source.handed_in_at, "late": entry.is_late(source.handed_in_at), "source": source.label,
        "time_source": source.time_source,
    }
    rows = []
    for question_id, points in entry.questions.items():
        got, status, reason = _score_question(entry, question_id, points, record["answers"])
        rows.append(TaskRow(**common, task="question", task_id=question_id, points=got, points_possible=points,
                            status=status, flagged=False, reason=reason))
    for check_id, points in entry.checks.items():
        got, status, flagged, reason = _score_check(entry, check_id, points, record["checks"].get(check_id), replays)
        rows.append(TaskRow(**common, task="check", task_id=check_id, points=got, points_possible=points,
                            status=status, flagged=flagged, reason=reason))
    return rows
