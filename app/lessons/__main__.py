"""`python -m app.lessons check [FOLDER]`: validate every lesson file; exit 1 if any has a problem."""

from __future__ import annotations

import argparse
import sys

from app.lessons.format import LESSONS_DIR, lesson_files, lesson_problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.lessons", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="validate the lesson files of a folder")
    check.add_argument("folder", nargs="?", default=str(LESSONS_DIR))
    args = parser.parse_args(argv)
    problems = lesson_problems(args.folder)
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"ok: {len(lesson_files(args.folder))} lessons")
    return 0


if __name__ == "__main__":
    sys.exit(main())
