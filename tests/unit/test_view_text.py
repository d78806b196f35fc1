"""Small texts the views share: λ printed one way everywhere, and the sphere view's heading in 2-D."""

from __future__ import annotations

import pytest

from app.lesson_page.titles import view_anchor, view_link, view_title
from app.plots import lambda_text


@pytest.mark.parametrize(("lam", "text"), [(1000.0, "1000"), (999.6, "1000"), (123.4, "123"), (12.3456, "12.3"),
                                           (1.0, "1"), (0.5, "0.5"), (0.012345, "0.0123"), (0.0, "0")])  # fmt: skip
def test_lambda_is_whole_above_100_and_three_significant_digits_below(lam, text):
    assert lambda_text(lam) == text


def test_lambda_never_prints_in_scientific_notation():
    for lam in (1e-4, 5e-5, 1e3, 4999.9):
        assert "e" not in lambda_text(lam), lam


def test_the_sphere_view_is_the_circle_in_2d():
    assert view_title("sphere", 2) == "Features on the circle" and view_title("sphere", 3) == "Features on the sphere"
    assert view_link("sphere", 2) == "[Features on the circle](#features-on-the-circle)"
    assert view_anchor("papers_figures") == "the-papers-figures"
    assert view_title("training_curves", 2) == "Training curves"
