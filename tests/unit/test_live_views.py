"""The live views as the page writes them: test accuracy is "not yet" only after a step and before the first
scoring of a large test set; the sphere keeps its legend up to exactly LEGEND_MAX_CLASSES classes."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from app import state
from app.live import views
from app.live.views import _degrees, progress_metrics


class Box:
    def __init__(self):
        self.shown: tuple[str, str] | None = None

    def metric(self, label: str, value: str, *, help: str) -> None:
        self.shown = (label, value)


@pytest.mark.parametrize(("step", "scored_at", "shown"), [
    (0, 0, "10.0%"),  # before training: the untrained model's score
    (1, 0, "not yet"),  # trained, the large test set not yet scored
    (1, 1, "45.0%"),
])  # fmt: skip
def test_test_accuracy_is_not_yet_only_between_the_first_step_and_the_first_score(step, scored_at, shown):
    accuracy = 0.10 if step == 0 else 0.45
    snap = SimpleNamespace(epoch=0, step=step, train_accuracy=0.5, test_accuracy=accuracy,
                           test_accuracy_step=scored_at, loss=2.3)  # fmt: skip
    boxes = [Box() for _ in range(4)]
    progress_metrics(snap, boxes)
    assert boxes[2].shown == ("Test accuracy", shown)
    assert [box.shown[0] for box in boxes] == ["Epoch", "Train accuracy", "Test accuracy", "Loss"]


@pytest.mark.parametrize(("classes", "legend"), [(20, True), (21, False)])
def test_the_sphere_keeps_its_legend_up_to_exactly_20_classes(monkeypatch, classes, legend):
    drawn = []
    monkeypatch.setattr(views, "live_plotly", lambda spec, **kwargs: drawn.append(spec))
    rng = np.random.default_rng(0)
    snap = SimpleNamespace(embeddings=rng.normal(size=(4 * classes, 3)), labels=np.arange(4 * classes) % classes,
                           class_weights=rng.normal(size=(classes, 3)), class_names=[str(k) for k in range(classes)],
                           hyper={})  # fmt: skip
    views.sphere_view("pg", snap, state.defaults(), key="sphere")
    [spec] = drawn
    assert spec["layout"].get("showlegend", True) is legend


def test_an_angle_that_is_missing_or_not_finite_reads_as_a_dash():
    assert [_degrees(v) for v in (None, math.nan, math.inf, 12.345)] == ["–", "–", "–", "12.3°"]
