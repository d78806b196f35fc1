"""A student's journey through a lesson in real Chromium, and what three lessons look like on a laptop.

1. Open a lesson link (?lesson=softmax): the title, the prose and, beside it, the sphere it talks about.
2. Answer a question: the explanation shows only after "Answer, then reveal".
3. Follow the lesson (Embedding dim -> 2-D circle), press Play, and watch its checks pass on the run.
4. The Lessons list marks the lesson "checks passed"; the lesson's "Next lesson" link opens lesson 2.
Screenshots at 1366×768 of three lessons (artifacts/screenshots/lesson_*.png) show prose and view side by side.
"""

from __future__ import annotations

import re

import pytest

from app.lessons import load_lessons
from tests.e2e.test_playground import APP, LOAD_TIMEOUT_MS, assert_no_exception, open_app

pytestmark = pytest.mark.e2e
LAPTOP = {"width": 1366, "height": 768}
PLAY_TIMEOUT_MS = 240_000  # 30 epochs of digits while the browser redraws, on a busy 2-core machine
LESSONS = {lesson.id: lesson for lesson in load_lessons()}


def lesson_url(streamlit_server, lesson_id: str) -> str:
    return streamlit_server(APP).rstrip("/") + f"/lessons?lesson={lesson_id}"


def lesson_button(page, lesson_id: str, key: str):
    return page.locator(f".st-key-lesson-{lesson_id}-{key}").get_by_role("button")


def side_by_side(page, text: str, view_title: str) -> tuple[dict, dict]:
    """The bounding boxes of a paragraph and of a view's heading; asserts they share the screen side by side."""
    prose = page.get_by_text(text, exact=False).first
    view = page.get_by_role("heading", name=view_title).first
    prose.wait_for(timeout=LOAD_TIMEOUT_MS)
    view.wait_for(timeout=LOAD_TIMEOUT_MS)
    p, v = prose.bounding_box(), view.bounding_box()
    assert p["x"] + p["width"] <= v["x"], f"the view is not right of the prose: {p} {v}"
    assert v["y"] < p["y"] + p["height"] and p["y"] < v["y"] + 430, f"not side by side: {p} {v}"
    assert v["x"] + v["width"] <= LAPTOP["width"], "the view runs off a laptop screen"
    return p, v


def test_a_student_follows_a_lesson_to_its_checks_and_the_next(streamlit_server, page, screenshot_path):
    console: list = []
    open_app(page, lesson_url(streamlit_server, "softmax"), console)
    page.set_viewport_size(LAPTOP)
    lesson = LESSONS["softmax"]
    page.get_by_role("heading", name=f"{lesson.number}. {lesson.title}").wait_for(timeout=LOAD_TIMEOUT_MS)
    side_by_side(page, "Plain softmax is where every margin loss starts", "Features on the sphere")
    page.locator(".st-key-lesson-softmax-sphere").wait_for(timeout=LOAD_TIMEOUT_MS)
    page.screenshot(path=str(screenshot_path("lesson_softmax_open.png")))

    # Predict, then reveal.
    question = lesson.questions[0]
    box = page.locator(f".st-key-lesson-softmax-q-{question.id}")
    box.scroll_into_view_if_needed()
    explanation = question.explanation[:50]
    assert box.get_by_text(explanation, exact=False).count() == 0
    box.get_by_text(question.options[int(question.answer)], exact=True).click()
    box.get_by_role("button", name="Answer, then reveal").click()
    box.get_by_text(explanation, exact=False).wait_for(timeout=LOAD_TIMEOUT_MS)
    assert box.get_by_text("Right:", exact=False).count() == 1

    # The lesson's task: the circle. Then Play until every check passes on the student's own run.
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.locator('[data-testid="stRadio"]').filter(has_text="Embedding dim").get_by_text("2-D circle").click()
    page.get_by_text("Embedding dim changed: model rebuilt from seed 0.").first.wait_for(timeout=LOAD_TIMEOUT_MS)
    lesson_button(page, "softmax", "play").filter(has_text="Play").click(force=True)
    passed = page.get_by_text(re.compile(r"^Passed on your run at epoch \d+"))
    passed.nth(len(lesson.checks) - 1).wait_for(timeout=PLAY_TIMEOUT_MS)
    lesson_button(page, "softmax", "play").filter(has_text="Pause").click(force=True)
    passed.first.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_path("lesson_softmax_passed.png")))
    assert_no_exception(page)

    # The list marks it; the lesson's "Next lesson" opens lesson 2 in the same session.
    page.get_by_role("button", name="All lessons").first.click()
    card = page.locator(".st-key-lesson-card-softmax")
    card.get_by_text("checks passed").wait_for(timeout=LOAD_TIMEOUT_MS)
    assert page.locator(".st-key-lesson-card-normface").get_by_text("not started").count() == 1
    card.get_by_role("link").click()
    following = LESSONS["normface"]
    page.get_by_role("link", name=f"Next lesson: {following.number}. {following.title}").click()
    page.get_by_role("heading", name=f"{following.number}. {following.title}").wait_for(timeout=LOAD_TIMEOUT_MS)
    page.wait_for_function("() => location.search.includes('lesson=normface')", timeout=LOAD_TIMEOUT_MS)
    assert_no_exception(page)


BESIDE = """(title) => {
    const heading = [...document.querySelectorAll('h5')].find((e) => e.innerText.trim() === title);
    const column = heading && heading.closest('[data-testid="stColumn"]');
    if (!column) return null;
    const prose = [...column.parentElement.children].find((c) => c !== column);
    const p = prose.getBoundingClientRect(), v = column.getBoundingClientRect();
    return {proseChars: prose.innerText.trim().length, proseRight: p.right, viewLeft: v.left, viewRight: v.right,
            overlap: Math.min(p.bottom, v.bottom) - Math.max(p.top, v.top)};
}"""

# The view's charts have drawn (plotly's .main-svg is in each): those in the heading's column, or, for a full-width
# view, those in the block that holds the heading.
VIEW_DRAWN = """(title) => {
    const heading = [...document.querySelectorAll('h5')].find((e) => e.innerText.trim() === title);
    const box = heading && (heading.closest('[data-testid="stColumn"]')
                            || heading.closest('[data-testid="stVerticalBlock"]'));
    const charts = box ? [...box.querySelectorAll('.ml-live-plotly, .js-plotly-plot')] : [];
    return charts.length > 0 && charts.every((chart) => chart.querySelector('.main-svg'));
}"""


@pytest.mark.parametrize("lesson_id, view, beside", [
    ("cosface", "Decision margins", True),
    ("gradient", "Features on the sphere", True),
    ("side-by-side", "The losses side by side", False),  # four spheres across: the full width, under its prose
])  # fmt: skip
def test_lessons_on_a_laptop_screen(streamlit_server, page, screenshot_path, lesson_id, view, beside):
    console: list = []
    open_app(page, lesson_url(streamlit_server, lesson_id), console)
    page.set_viewport_size(LAPTOP)
    lesson = LESSONS[lesson_id]
    page.get_by_role("heading", name=f"{lesson.number}. {lesson.title}").wait_for(timeout=LOAD_TIMEOUT_MS)
    heading = page.get_by_role("heading", name=view).first
    heading.wait_for(timeout=LOAD_TIMEOUT_MS)
    heading.scroll_into_view_if_needed()
    page.wait_for_function(VIEW_DRAWN, arg=view, timeout=LOAD_TIMEOUT_MS)  # the chart beside it has drawn
    page.screenshot(path=str(screenshot_path(f"lesson_{lesson_id}.png")))
    layout = page.evaluate(BESIDE, view)
    if beside:
        assert layout is not None, f"{view} is not in a column beside prose"
        assert layout["proseChars"] > 200 and layout["proseRight"] <= layout["viewLeft"], layout
        assert layout["overlap"] > 200 and layout["viewRight"] <= LAPTOP["width"], layout
    else:
        assert layout is None  # full width
    assert_no_exception(page)
