"""Courses: course files, submissions (record, store), grading by replay. Only `serving` knows Streamlit.

    record.py   the submission record and report files: validate_record, parse_report, report_json
    course.py   course files (docs/courses.md): load_course, Course, CourseLesson, course_toml
    store.py    submissions in SQLAlchemy (SQLite by default, PostgreSQL for a hosted class): Store
    grade.py    grading by replay with joblib or Dask: grade, load_sources
    exports.py  long CSV, Canvas and Moodle CSVs, feedback texts: write_outputs
    access.py   instructor access: scrypt password hashes, slowed retries, the email allowlist
    cli.py      python -m app.course validate | import | grade | hash-password
    serving.py  the course as the app serves it (--course / ?course=), the shared store, the student's
                identity (Streamlit; the only module here that imports it, and nothing here imports it)

A run's replayable RUN (run_record / replay_run) is the lesson engine's: app.lessons.run_record.
"""

from app.course.course import (
    DEFAULT_COURSE,
    Course,
    CourseError,
    CourseLesson,
    builtin_course,
    builtin_courses,
    load_course,
)
from app.course.record import (
    APP_VERSION,
    REPORT_SIZE_CAP,
    ReportError,
    new_record,
    parse_report,
    read_report,
    report_json,
    validate_record,
)
from app.lessons.run_record import RunError, run_record

__all__ = [
    "APP_VERSION",
    "DEFAULT_COURSE",
    "REPORT_SIZE_CAP",
    "Course",
    "CourseError",
    "CourseLesson",
    "ReportError",
    "RunError",
    "builtin_course",
    "builtin_courses",
    "load_course",
    "new_record",
    "parse_report",
    "read_report",
    "report_json",
    "run_record",
    "validate_record",
]
