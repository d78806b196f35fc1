"""A lesson's sphere view is headed for what it shows: the circle in 2-D, the sphere in 3-D."""

from __future__ import annotations

from apphelpers import texts
from lessonhelpers import open_lesson, set_control

from app.live.controls import widget_key


def test_a_2d_lesson_heads_its_view_the_circle_and_a_switch_to_3d_the_sphere():
    at = open_lesson("cosface")  # the preset trains ten classes on a circle
    headings = [t for t in texts(at.markdown) if t.startswith("##### Features on")]
    assert headings == ["##### Features on the circle"]
    set_control(at, widget_key("lesson-cosface", "embedding_dim"), 3)
    headings = [t for t in texts(at.markdown) if t.startswith("##### Features on")]
    assert headings == ["##### Features on the sphere"]
