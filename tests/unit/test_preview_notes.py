"""The notes under the margin and scale sliders travel with the charts' previews, stop by stop, so the browser
can show them the moment the thumb moves (app/live/preview.py with_notes; live_plotly.js writes them)."""

from __future__ import annotations

from app.live import notes, preview
from app.plots import target_logit_figure

VALUES = {"loss": "cosface", "margin": 0.10, "scale": 16.0, "gradient": "detached"}


def build(values):
    return target_logit_figure(values["loss"], values["margin"], scale=values["scale"], as_spec=True)


def previews(withheld=()):
    out = preview.figure_previews("pg", VALUES, build, ("margin", "scale"), build(VALUES))
    return preview.with_notes(out, "pg", VALUES, "pg-notes",
                              lambda v: notes.notes_at_stop(v, 10, 2, withheld))  # fmt: skip


def test_every_stop_carries_the_notes_at_that_stop():
    found = {control["widget"]: control for control in previews()}
    margin = found["pg-margin"]
    assert margin["notes_box"] == "pg-notes"
    assert margin["notes_now"] == [list(n) for n in notes.geometry_notes(VALUES, 10, 2)]
    assert len(margin["variants"]) >= 6
    for value, patch in margin["variants"]:
        assert patch["notes"] == [list(n) for n in notes.geometry_notes({**VALUES, "margin": value}, 10, 2)]
        assert f"At m = {value:.2f}," in patch["notes"][0][1]
    # Past the bound (0.19 on a circle) the caption turns into a warning: the browser leaves that to the server.
    levels = {value: patch["notes"][0][0] for value, patch in margin["variants"]}
    assert all(level == ("warning" if value >= 0.191 else "caption") for value, level in levels.items())
    scale = found["pg-scale"]
    assert all(any("caps the probability" in text for _, text in patch["notes"]) == (value < 27.7)
               for value, patch in scale["variants"])  # fmt: skip


def test_a_withheld_fact_stays_back_at_every_stop():
    for control in previews({"margin_limit:2:*"}):
        for _, patch in control["variants"]:
            assert not any("0.19" in text for _, text in patch["notes"])
            assert patch["notes"][0] == list(notes.MARGIN_WITHHELD)


def test_notes_at_a_stop_are_remembered_and_equal_to_the_notes():
    first = notes.notes_at_stop(VALUES, 10, 2)
    assert first == notes.geometry_notes(VALUES, 10, 2)
    hits = notes._remembered.cache_info().hits
    assert notes.notes_at_stop(dict(VALUES), 10, 2) == first
    assert notes._remembered.cache_info().hits == hits + 1  # a tick's dozen stops cost nothing the second time
