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


def test_a_cap_or_wedge_with_exactly_no_room_is_emptied_and_its_ray_dotted():
    """A half-arc of exactly 0 (the geometry clamps a margin that does not fit to 0) is no cap at all: the preview
    empties the cap's trace and dots the class's ray; a half-arc above 0 draws a ring and keeps the ray solid."""
    import numpy as np

    plain = {"layout": {}}
    regions = [(1, {"class": 0, "role": "cap", "centre": [1.0, 0.0, 0.0]}),
               (2, {"class": 1, "role": "cap", "centre": [0.0, 1.0, 0.0]})]  # fmt: skip
    rays = {0: (5, {"line": {"dash": "solid"}}), 1: (6, {"line": {"dash": "solid"}})}
    arcs = np.array([[0.0, 0.0], [0.1, 0.1]])
    base = np.array([[0.2, 0.2], [0.2, 0.2]])
    patch = preview._region_patch(plain, regions, rays, arcs, base, "arcface", 0.5)
    assert patch["data"]["1"] == {"x": [], "y": [], "z": []} and "1" not in patch["rings"]
    assert patch["data"]["5"]["line"]["dash"] == "dot"
    assert patch["rings"]["2"][3] == 0.1 and "6" not in patch["data"]  # unchanged: still room, still solid
    back = preview._region_patch(plain, regions, rays, base, arcs, "arcface", 0.5)  # from no room to room again
    assert back["data"]["5"]["line"]["dash"] == "solid" and "6" not in back["data"]
