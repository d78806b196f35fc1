"""The workable-margin and scale notes at their equality cases: a margin exactly at its limit already leaves no
room (the warning), a hair under it is workable (the caption); s exactly at its bound is large enough."""

from __future__ import annotations

import math

import pytest

from app.live import notes
from toy_models import geometry


@pytest.mark.parametrize("loss", ["arcface", "cosface"])
@pytest.mark.parametrize("dim", [2, 3])
def test_a_margin_exactly_at_its_limit_is_warned_about_and_just_under_it_is_not(loss, dim):
    sep = geometry.tammes_angle(10, dim)
    limit = geometry.max_margin(loss, separation_rad=sep, margin=0.1)
    values = {"loss": loss, "margin": limit, "scale": 64.0}
    [(level, text), *_] = notes.geometry_notes(values, 10, dim)
    assert level == "warning", text
    [(level, text), *_] = notes.geometry_notes({**values, "margin": math.nextafter(limit, 0.0)}, 10, dim)
    assert level == "caption", text


@pytest.mark.parametrize("dim", [2, 3])
def test_s_exactly_at_its_bound_is_large_enough_and_just_under_it_is_not(dim):
    bound = geometry.min_scale(10, dim, notes.TARGET_PROBABILITY).scale
    assert notes.scale_notes(bound, 10, dim) == []
    [(level, text)] = notes.scale_notes(math.nextafter(bound, 0.0), 10, dim)
    assert level == "warning" and text.startswith("s = "), text
