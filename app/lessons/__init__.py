"""Lessons: lesson files read and validated (format), their numbers (numbers), checks on a run (checks),
headless runs of their solutions (headless), the progress of a student (progress) and the page (page)."""
