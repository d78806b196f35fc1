"""A lesson on screen, and the list of lessons.

    show_list(lessons, problems)        # the Lessons page: minutes, objectives, a progress mark each
    LessonPage(lesson, lessons).render()

A lesson's body is read as sections: the prose (with its questions and checks) up to a view marker,
and the views named there. On a laptop screen the prose sits on the left and its views on the right,
so the text talks about the view beside it (Distill-style). The live unit draws each view into the box
its marker made; its run bar (Play, Step, Reset, the epoch and accuracies) and its controls sit in the
sidebar, always in reach. Numbers in the prose are filled in from the code (`app.lessons.numbers`)
for the learner's current number of classes and dimension, at every page run.

Questions are answered before their answer shows (the first answer counts). Checks are evaluated on
the learner's own run while it trains (inside the live unit's statistics fragment); a check that
needs a costly metric (a held-out-classes replay) has a button instead. Nothing in a lesson file is
executed: markers name views from a fixed list, placeholders name functions from a fixed catalogue.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Sequence
from typing import Any

import streamlit as st

from app import state
from app.compare import papers as papers_section
from app.compare import sweep as sweep_section
from app.compare import verification as verification_section
from app.compare.unit import CompareUnit
from app.course import serving
from app.course.record import ReportError, new_record, report_json
from app.course.store import StoreError
from app.lesson_page import handin, progress
from app.lesson_page.titles import sections, view_link, view_title
from app.lessons import numbers, withhold
from app.lessons.checks import check_metric_names, evaluate, quiz_feedback
from app.lessons.probe import ProbePlan, measure_checks, measure_now
from app.live import LiveUnit
from app.live.views import md

PLAYGROUND_UNIT_KEY = "pg"  # the Playground's unit (app/pages/playground.py)
LESSONS_PAGE = "app/pages/lessons.py"
PLAYGROUND_PAGE = "app/pages/playground.py"
COMPARE_VIEWS = frozenset({"compare", "papers_figures", "open_set_verification", "margin_sweep"})
COSTLY_METRICS = frozenset({"verification_auc"})  # a replay with classes held out: on request only
STATUS_ICONS = {"passed": ":material/check_circle:", "not_yet": ":material/pending:", "failed": ":material/error:"}


# --------------------------------------------------------------------------------------------
# The list
# --------------------------------------------------------------------------------------------


def in_course(lessons: Sequence[Any], course: Any) -> list[Any]:
    """The course's lessons in its order, each with the course's preset laid over its own and the course's locked and
    hidden controls added (a compare lesson's members merge loss by loss)."""
    by_id = {lesson.id: lesson for lesson in lessons}
    out = []
    for entry in course.lessons:
        lesson = by_id.get(entry.id)
        if lesson is None:
            continue
        preset = {**lesson.preset, **{k: v for k, v in entry.preset.items() if k != "members"}}
        if "members" in entry.preset:
            members = {loss: dict(values) for loss, values in lesson.preset.get("members", {}).items()}
            for loss, values in entry.preset["members"].items():
                members[loss] = {**members.get(loss, {}), **values}
            preset["members"] = members
        out.append(dataclasses.replace(lesson, preset=preset, locked=lesson.locked | entry.locked,
                                       hidden=lesson.hidden | entry.hidden))  # fmt: skip
    return out


def due_text(course: Any, lesson_id: str) -> str:
    entry = course.lesson(lesson_id) if course is not None else None
    return f" · due {entry.due:%Y-%m-%d %H:%M} UTC" if entry is not None and entry.due is not None else ""


def points_text(course: Any, lesson_id: str) -> str:
    """" · 5 points" for a lesson of a course ("1 point", "2.5 points"), "" outside a course."""
    entry = course.lesson(lesson_id) if course is not None else None
    if entry is None:
        return ""
    points = entry.points_possible
    return f" · {points:g} point{'' if points == 1 else 's'}"


def show_list(lessons: Sequence[Any], problems: Sequence[str] = (), *, course: Any = None) -> None:
    """Every lesson with its minutes, summary, objectives, due date (in a course) and the student's progress mark."""
    for problem in problems:
        st.warning(md(problem), icon=":material/description:")
    total = sum(lesson.minutes for lesson in lessons)
    st.caption(f"{len(lessons)} lessons, about {total} minutes in all. Each one trains a tiny network on your "
               "machine while you read: press Play in the sidebar, answer the questions before the answers show, "
               "and pass the checks on your own run.")  # fmt: skip
    for lesson in lessons:
        status = progress.progress_of(lesson.id).status(lesson)
        with st.container(border=True, key=f"lesson-card-{lesson.id}"):
            left, right = st.columns([4, 1], vertical_alignment="center")
            left.page_link(LESSONS_PAGE, label=f"{lesson.number}. {lesson.title}", icon=progress.MARKS[status],
                           query_params={"lesson": lesson.id})
            right.caption(f"{lesson.minutes} min · {status}{points_text(course, lesson.id)}"
                          f"{due_text(course, lesson.id)}")
            left.caption(md(lesson.summary))
            with left.expander("Objectives"):
                st.markdown("\n".join(f"- {md(objective)}" for objective in lesson.objectives))


# --------------------------------------------------------------------------------------------
# One lesson
# --------------------------------------------------------------------------------------------


class LessonPage:
    """One lesson: its prose, views, questions and checks around one live unit."""

    def __init__(self, lesson: Any, lessons: Sequence[Any], *, course: Any = None):
        self.lesson = lesson
        self.course = course
        self.lessons = list(lessons)
        self.key = f"lesson-{lesson.id}"
        self.progress = progress.progress_of(lesson.id)

    # -- layout -----------------------------------------------------------------------------------
    def render(self) -> None:
        lesson = self.lesson
        self.progress.open()
        # A button, not a link: Streamlit keeps the query of the page it links to (the lesson would reopen).
        st.button("All lessons", icon=":material/arrow_back:", key=f"{self.key}-all", type="tertiary",
                  on_click=st.query_params.clear)
        st.title(f"{lesson.number}. {lesson.title}", anchor=False)
        where = f" in {md(self.course.title)}" if self.course is not None else ""
        st.caption(f"Lesson {lesson.number}{where} · about {lesson.minutes} minutes{due_text(self.course, lesson.id)}")
        with st.container(border=True):
            st.markdown("**By the end of this lesson you can:**\n" + "\n".join(
                f"- {md(objective)}" for objective in lesson.objectives))  # fmt: skip

        self.top = st.container()
        text_boxes: list[tuple[Any, Any]] = []  # (block, container) filled once the unit has its values
        view_boxes: dict[str, Any] = {}
        # The views of a section stay in sight while its prose scrolls past them (a sticky column).
        # (The column itself sticks, sized to its content, inside the row as tall as the prose.)
        st.html("<style>[data-testid='stColumn']:has(> div > [class*='st-key-lesson-views-']), "
                "[data-testid='stColumn']:has([class*='st-key-lesson-views-']) "
                "{position: sticky; top: 3.5rem; align-self: flex-start;}</style>")
        held_views = {block.text_or_name for block in lesson.blocks  # a view that would show an open answer
                      if block.kind == "view" and withhold.held_back(block, self.progress.answers)}  # fmt: skip
        for index, (text, views) in enumerate(sections(lesson.blocks)):
            live_views = [v for v in views if v not in COMPARE_VIEWS]
            left, right = st.columns([5, 6], gap="large") if live_views else (st.container(), None)
            with left:
                text_boxes += [(block, st.container()) for block in text]
            if right is not None:
                right = right.container(key=f"lesson-views-{index}")
            for name in views:
                with right if name in live_views else st.container():
                    st.markdown(f"##### {view_title(name, self._dim())}")
                    if name in held_views:
                        st.caption("This view shows the answer to the question beside it: it appears once you "
                                   "have answered.")
                    else:
                        view_boxes[name] = st.container()
        self.check_boxes = {block.text_or_name: box for block, box in text_boxes if block.kind == "check"}
        self.check_after = {block.text_or_name: block for block, _ in text_boxes if block.kind == "check"}
        footer = st.container()

        if lesson.unit == "compare":
            self._render_compare(view_boxes)
        else:
            with st.sidebar:
                st.header("Your run")
                run_bar = st.container()
            result = self._unit(view_boxes, run_bar).render()
            self.values, self.run = result.values, result.run
            self.classes = len(result.snapshot.class_names)
        for block, box in text_boxes:
            with box:
                self._text_block(block)
        with footer:
            self._footer()

    def _render_compare(self, view_boxes: dict[str, Any]) -> None:
        """A compare lesson: the Compare unit where its marker is (or under the objectives), its sections in
        their boxes, and the checks redrawn on their own timer while the members train."""
        lesson = self.lesson
        unit = CompareUnit(self.key, preset=lesson.unit_preset, locked=lesson.locked, hidden=lesson.hidden,
                           fixed_by="This lesson", epoch_probe=self._probe, on_probes=self._judge)  # fmt: skip
        with view_boxes.get("compare") or self.top:
            result = unit.render()
        if result is None:
            return
        self.compare = result
        first = next(iter(result.members.values()))
        self.values, self.run = first.values, result.run
        self.classes = len(result.run.frame.snapshot.class_names)
        sections = {"papers_figures": papers_section, "open_set_verification": verification_section,
                    "margin_sweep": sweep_section}  # fmt: skip
        for name, section in sections.items():
            if name in view_boxes:
                with view_boxes[name]:
                    section.render(result.configs, key=f"{self.key}-{name}")
        every = 2.0 if result.run.playing else None
        st.fragment(self._compare_checks, run_every=every, key=f"{self.key}-checks")()

    def _compare_checks(self) -> None:
        for check in self.lesson.checks:
            box = self.check_boxes.get(check.id)
            if box is not None:
                with box, st.container(border=True, key=f"{self.key}-c-{check.id}"):
                    self._show_check(check)

    def _unit(self, view_boxes: dict[str, Any], run_bar: Any) -> LiveUnit:
        lesson = self.lesson
        return LiveUnit(self.key, preset=lesson.unit_preset, locked=lesson.locked, hidden=lesson.hidden,
                        fixed_by="This lesson", use_url=False, views=view_boxes, run_bar=run_bar,
                        on_details=self._live_checks, epoch_probe=self._probe, on_probes=self._judge,
                        withheld=withhold.withheld_facts(lesson, self.progress.answers))  # fmt: skip

    def _dim(self) -> int:
        """The run's embedding dimension now (the preset's before the unit has its values)."""
        return int(st.session_state.get(f"{self.key}-values", {}).get("embedding_dim", self.lesson.dim))

    def _fill(self, text: str) -> str:
        return numbers.fill(text, classes=self.classes, dim=int(self.values["embedding_dim"]))

    def _text_block(self, block: Any) -> None:
        if block.kind == "prose" and withhold.held_back(block, self.progress.answers):  # it gives the answer away
            st.caption(":material/lock: The next paragraph shows once you have answered the question above.")
        elif block.kind == "prose":
            st.markdown(self._fill(block.text_or_name))
        elif block.kind == "question":
            self._question(self.lesson.question(block.text_or_name))
        elif block.kind == "check":
            self._check_controls(self.lesson.check(block.text_or_name))

    # -- questions --------------------------------------------------------------------------------
    def _question(self, question: Any) -> None:
        """Predict, then reveal: the answer and its explanation show only once an answer is given."""
        given = self.progress.answers.get(question.id)
        key = f"{self.key}-q-{question.id}"
        with st.container(border=True, key=key):
            st.markdown(f":material/help: **Predict:** {self._fill(question.prompt)}")
            if given is None:
                with st.form(f"{key}-form", border=False):
                    if question.kind == "choice":
                        options = [self._fill(o) for o in question.options]
                        choice = st.radio("Your answer", range(len(options)), index=None,
                                          format_func=options.__getitem__, key=f"{key}-choice")  # fmt: skip
                    else:
                        choice = st.number_input(f"Your answer ({question.unit})" if question.unit else "Your answer",
                                                 value=None, step=0.1, format="%g", key=f"{key}-number")  # fmt: skip
                    if st.form_submit_button("Answer, then reveal", type="primary") and choice is None:
                        st.warning("Choose or type an answer first: the answer shows once you have committed to one.")
                    elif choice is not None:
                        self.progress.answer(question.id, choice)
                        given = choice
                        if (withhold.question_facts(question) or self._holds_a_check(question.id)
                                or self._holds_a_view(question.id)):
                            st.rerun()  # the unit drew its notes, checks and views without this answer: now they
                            # may show
            if given is not None:
                self._reveal(question, given)

    def _reveal(self, question: Any, given: Any) -> None:
        right, sentence = quiz_feedback(question, given, classes=self.classes, dim=int(self.values["embedding_dim"]))
        if right:
            st.success(sentence, icon=":material/check:")
        else:
            st.error(sentence, icon=":material/close:")
        pointer = f" See {view_link(question.view, self._dim())}." if question.view else ""
        st.markdown(self._fill(question.explanation) + pointer)

    # -- checks -----------------------------------------------------------------------------------
    def _held(self, check: Any) -> bool:
        """Whether the check waits for an answer: its title or feedback would give the answer away."""
        block = getattr(self, "check_after", {}).get(check.id)
        return block is not None and withhold.held_back(block, self.progress.answers)

    def _holds_a_check(self, question_id: str) -> bool:
        return any(question_id in block.after for block in getattr(self, "check_after", {}).values())

    def _holds_a_view(self, question_id: str) -> bool:
        """Whether a view of this lesson waits for this question's answer (`[after: ID]` above `[view: ...]`)."""
        return any(block.kind == "view" and question_id in block.after for block in self.lesson.blocks)

    def _check_controls(self, check: Any) -> None:
        """The check's box (filled live by `_live_checks`) and, for a costly metric, the button that runs it (there
        even while the check is held back: the button names no answer, and a run may be measured before)."""
        if self._costly(check) and not self.progress.has_passed(check.id):
            st.button("Check my run", key=f"{self.key}-c-{check.id}-run", icon=":material/fact_check:",
                      on_click=self._check_now, args=(check,),
                      help="This check trains your settings again with some classes held out (a few seconds).")

    def _live_checks(self, run: Any) -> None:
        """Every check's box, redrawn with the statistics (each box gets one container on every run)."""
        for check in self.lesson.checks:
            box = self.check_boxes.get(check.id)
            if box is None:
                continue
            with box, st.container(border=True, key=f"{self.key}-c-{check.id}"):
                self._show_check(check)

    @staticmethod
    def _costly(check: Any) -> bool:
        return bool(check_metric_names(check) & COSTLY_METRICS)

    def _member_of(self, check: Any) -> str | None:
        return check.member if self.lesson.unit == "compare" else None

    def _probe(self) -> Any:
        """The epoch-end probe for the checks still open (not passed, cheap), or None when there are none."""
        due = tuple((check.id, self._member_of(check), frozenset(check_metric_names(check)))
                    for check in self.lesson.checks
                    if not self.progress.has_passed(check.id) and not self._costly(check))  # fmt: skip
        return functools.partial(measure_checks, plan=ProbePlan(due, self.lesson.unit)) if due else None

    def _judge(self, run: Any, probes: Any) -> None:
        """What the epoch-end probes measured, in order: judge each check, and keep a pass with its run."""
        for measured in probes:
            for check_id, found in measured.items():
                if not self.progress.has_passed(check_id):
                    self._record_result(self.lesson.check(check_id), found)

    def _check_now(self, check: Any) -> None:
        """The "Check my run" button: measure a costly check now, where the model lives."""
        handle = self.run.handle if self.run is not None else None
        if handle is None or handle.lost:
            return
        needs = check_metric_names(check)
        found = handle.call(measure_now, check.id, self._member_of(check), needs, self.lesson.unit)
        if check.id in found:
            self._record_result(check, found[check.id])

    def _record_result(self, check: Any, found: Any) -> None:
        result = evaluate(check, found.values, found.metrics, found.window(check))
        st.session_state.setdefault(f"{self.key}-results", {})[check.id] = (result, int(found.metrics.get("epoch", 0)))
        if result.status == "passed":
            self.progress.passed(check.id, result.reason, found.record)
            progress.save(serving.shared_store()[0], self.lesson.id)  # a reload now keeps the pass

    def _show_check(self, check: Any) -> None:
        if self._held(check):  # still judged on the run: a pass says so, the check's words wait for the answer
            if self.progress.has_passed(check.id):
                st.success(f"Passed on your run at epoch {self.progress.checks[check.id]['run']['epoch']}. What it "
                           "asked shows once you have answered the question above.", icon=STATUS_ICONS["passed"])
            else:
                st.caption(":material/lock: This check shows once you have answered the question above.")
            return
        st.markdown(f":material/flag: **Check:** {md(check.title)}")
        if self.progress.has_passed(check.id):
            record = self.progress.checks[check.id]
            st.success(f"Passed on your run at epoch {record['run']['epoch']}. {record['reason']}",
                       icon=STATUS_ICONS["passed"])  # fmt: skip
            return
        result, epoch = st.session_state.get(f"{self.key}-results", {}).get(check.id, (None, 0))
        if result is None:
            st.caption("Press **Check my run** when your run is ready.")
        elif result.status == "failed" and epoch > 0:  # the run the student trained missed: say what to try
            st.warning(result.reason, icon=STATUS_ICONS["failed"])
            st.info(f"**What to try:** {result.feedback}", icon=":material/lightbulb:")
        else:  # still reachable, or nothing trained yet: the task, not a failure
            st.caption(f"{STATUS_ICONS['not_yet']} Not yet: {result.reason}")
            if result.feedback:
                with st.expander("Hint"):
                    st.markdown(result.feedback)

    # -- the end of the lesson ----------------------------------------------------------------------
    def _hand_in(self) -> None:
        """Submit to the class database (kept as a new attempt each time) and download the same record as a report
        file; a database that cannot be reached is said in one sentence, and the download still works."""
        st.subheader("Hand in", anchor=False)
        course = self.course
        store, notice = serving.shared_store()  # (the last part of the page: a slow database delays nothing)
        if store is None:
            st.warning(md(notice) + " You can still download your report below.", icon=":material/cloud_off:")
        who = serving.identify(self.key)
        if who is None:
            st.caption("Say who you are to submit this lesson or download your report.")
            return
        kind = {"login": "logged in", "class-code": "class code and typed ID: a weak identity",
                "typed": "typed on this computer"}[who["identity"]]  # fmt: skip
        st.caption(md(f"Handing in as {who['id']} ({kind})."))
        try:
            record = self._record(course, who)
        except ReportError as error:
            st.error(f"This lesson cannot be handed in: {error}", icon=":material/error:")
            return
        inside = handin.contents(record, self.lesson)
        st.caption(inside.sentence)  # what Submit and the report send, before either is pressed
        confirm = f"{self.key}-submit-empty"  # set while the page asks whether to send an empty hand-in
        left, right = st.columns(2)
        if left.button("Submit", type="primary", icon=":material/upload:", key=f"{self.key}-submit",
                       width="stretch"):  # fmt: skip
            if inside.empty and not st.session_state.get(confirm):
                st.session_state[confirm] = True  # ask once: an empty hand-in is likelier a slip than a choice
            else:
                st.session_state.pop(confirm, None)
                self._submit(record)
        if st.session_state.get(confirm) and not inside.empty:  # answered since: nothing left to ask
            st.session_state.pop(confirm, None)
        if st.session_state.get(confirm):
            self._ask_before_empty(confirm, record)
        safe_id = re.sub(r"[^A-Za-z0-9_-]+", "_", who["id"])
        with right:
            st.download_button("Download the report", report_json(record), width="stretch",
                               file_name=f"margin-lab-{self.lesson.id}-{safe_id}.json", mime="application/json",
                               icon=":material/download:", key=f"{self.key}-report", on_click="ignore")

    def _ask_before_empty(self, confirm: str, record: dict) -> None:
        """The second half of the empty hand-in's question: "Submit anyway" sends it, "Not yet" drops the question
        (either way it is asked again at the next empty Submit)."""
        if st.session_state.get(f"{confirm}-yes"):  # pressed at the last run: send, and ask no more
            st.session_state.pop(confirm, None)
            self._submit(record)
            return
        st.warning("You have answered no question and passed no check yet: this hand-in is empty. Submit it "
                   "anyway?", icon=":material/help:")
        yes, no = st.columns(2)
        yes.button("Submit anyway", key=f"{confirm}-yes", icon=":material/upload:", width="stretch")
        no.button("Not yet", key=f"{confirm}-no", width="stretch", on_click=st.session_state.pop,
                  args=(confirm, None))

    def _submit(self, record: dict) -> None:
        """Store the record; say what happened in one sentence, the receipt's time in the student's own time."""
        store, notice = serving.shared_store()
        if store is None:
            st.error(f"NOT saved. {md(notice)}", icon=":material/cloud_off:")
            return
        try:
            receipt = store.submit(record)
        except StoreError as error:  # (its details go to the log and the instructor, not to the student)
            serving.log.warning("A submission was not saved: %s", error)
            st.error(f"NOT saved: {error.public} Download the report below and hand it in instead.",
                     icon=":material/cloud_off:")  # fmt: skip
            return
        try:
            zone, offset = st.context.timezone, st.context.timezone_offset
        except Exception:  # no browser behind the session (AppTest)
            zone, offset = None, None
        received = handin.local_time(receipt.received_at, zone, offset)
        st.success(f"Saved: attempt {receipt.attempt}, received at {received}. "
                   f"{handin.contents(record, self.lesson).sentence}", icon=":material/cloud_done:")

    def _record(self, course: Any, who: dict[str, str]) -> dict:
        """The submission record of this lesson now: answers, every check's latest word (a passed one with the run
        that passed it), who, when, and the course it belongs to."""
        checks = {}
        results = st.session_state.get(f"{self.key}-results", {})
        for check in self.lesson.checks:
            if self.progress.has_passed(check.id):
                kept = self.progress.checks[check.id]
                checks[check.id] = {"status": "passed", "reason": kept["reason"], "run": kept["run"]}
            else:
                result = results.get(check.id, (None, 0))[0]
                checks[check.id] = {"status": result.status if result else "not_yet",
                                    "reason": result.reason if result else "Not tried yet.", "run": None}  # fmt: skip
        entry = course.lesson(self.lesson.id) if course is not None else None
        return new_record(course=course.ref() if entry is not None else None, student_id=who["id"],
                          student_name=who["name"], identity=who["identity"], lesson_id=self.lesson.id,
                          lesson_version=self.lesson.version, answers=dict(self.progress.answers), checks=checks,
                          started_at=self.progress.opened_at or progress.now(),
                          receipt_key=serving.receipt_key())  # fmt: skip

    def _footer(self) -> None:
        self._hand_in()
        st.divider()
        left, right = st.columns(2)
        with left:
            ids = [lesson.id for lesson in self.lessons]
            later = self.lessons[ids.index(self.lesson.id) + 1 :] if self.lesson.id in ids else []
            if later:
                st.page_link(LESSONS_PAGE, label=f"Next lesson: {later[0].number}. {later[0].title}",
                             icon=":material/arrow_forward:", query_params={"lesson": later[0].id})
            else:
                st.button("All lessons", icon=":material/list:", key=f"{self.key}-all-end", type="tertiary",
                          on_click=st.query_params.clear)
        with right:
            if st.button("Explore these settings in the Playground", icon=":material/science:",
                         key=f"{self.key}-explore", help="Opens the Playground with this lesson's current settings."):
                LiveUnit.read_link_next_time(PLAYGROUND_UNIT_KEY)
                st.switch_page(PLAYGROUND_PAGE, query_params=state.to_query(self.values))
