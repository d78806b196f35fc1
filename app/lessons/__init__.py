"""Lessons: Markdown files with TOML front matter (data, never code), and the pure engine behind them.

    format     parse + validate lesson files -> Lesson (load_lesson, load_lessons, lesson_problems)
    reader     the typed field reader behind it: one LessonError sentence per bad field
    tasks      a lesson's questions and checks (Question, Check) and how they are read
    presets    a lesson's preset and solution steps, checked by app.state.validate; URL keys -> clean values
    numbers    "{{ tammes_deg(10, 3) }}" placeholders: a fixed catalogue of toy_models.geometry calls
    checks     the metrics of a run and the checks on it (run_metrics, evaluate, quiz_answer_correct, quiz_feedback)
    window     where a check's epoch window starts: the last change of a setting it is about
    headless   run a lesson's worked solution or its preset with the trainer (run_lesson)
    progress   a student's answers, check results and passing runs (in the session)
    page       the Lessons page: the list, and one lesson beside its live views (Streamlit)

`python -m app.lessons check lessons/` validates a folder of lessons.
"""

from app.lessons.checks import (
    CheckResult,
    check_metric_names,
    evaluate,
    member_metrics,
    quiz_answer_correct,
    quiz_feedback,
    run_metrics,
)
from app.lessons.format import (
    LESSONS_DIR,
    Block,
    Check,
    Lesson,
    LessonError,
    Question,
    SolutionStep,
    lesson_problems,
    load_lesson,
    load_lessons,
)
from app.lessons.numbers import fill, number_answer

__all__ = [
    "LESSONS_DIR",
    "Block",
    "Check",
    "CheckResult",
    "Lesson",
    "LessonError",
    "Question",
    "SolutionStep",
    "check_metric_names",
    "evaluate",
    "fill",
    "lesson_problems",
    "load_lesson",
    "load_lessons",
    "member_metrics",
    "number_answer",
    "quiz_answer_correct",
    "quiz_feedback",
    "run_metrics",
]
