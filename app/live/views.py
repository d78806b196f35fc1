"""What a live unit shows: the model's views (redrawn every tick) and the loss's own views (no model).

Pure layout over `app.plots`: each function takes plain values and a snapshot and draws into the
current Streamlit container. Every chart is a `live_plotly` chart, updated in place (Plotly.react), so
nothing goes blank between ticks and a rotated sphere keeps its camera.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import streamlit as st

from app import plots, state
from app.components.live_plotly import live_plotly
from app.live import preview
from toy_models import geometry
from toy_models.heads import LOSS_SPECS

SPHERE_HEIGHT = 430  # the sphere and the target-logit curve share the first screen at 1366×768
CURVE_HEIGHT = 430
NO_MODEBAR = {"displayModeBar": False}


def md(text: str) -> str:
    """Plain text made safe for Markdown (values from URLs may hold * _ $ : ...)."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:])", r"\\\1", text)


def _degrees(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.1f}°"


def figure_margin(values: Mapping[str, Any]) -> Any:
    """The margin as the figures take it: one number, (m1, m2, m3) for the combined margin, or None."""
    return values.get("margin")


def figure_scale(values: Mapping[str, Any]) -> float | None:
    """The s the target-logit curve is drawn with; None where s does not act (softmax, SphereFace original)."""
    scale = state.param_by_name(values["loss"], "scale")
    return float(values["scale"]) if scale is not None and state.is_active(scale, values) else None


def figure_form(values: Mapping[str, Any]) -> str:
    """The form the target-logit curve is drawn in: "original" where each feature's length ‖x‖ is the scale
    (SphereFace's original form), else "normalized"."""
    return "original" if LOSS_SPECS[values["loss"]].feature_norm_scale(values) else "normalized"


# --------------------------------------------------------------------------------------------
# The model's views (the live fragment)
# --------------------------------------------------------------------------------------------

GRADIENT_WORDS = {"detached": "straight-through margin gradient", "true": "true margin gradient"}
STATUS_CHARS = 140  # about one line of the status line's width on a 1366×768 screen


def running_text(config: Any, snap: Any) -> str:
    """One line (on a laptop screen) saying what is training now, with what the screen could otherwise hide.
    (The Margin gradient control's help says who trains which way.)"""
    spec = LOSS_SPECS[config.loss]
    text = f"Training {spec.short_label}"
    text += f" with the {GRADIENT_WORDS[config.gradient]}." if spec.has_margin_gradient else "."
    note = spec.run_note(config, snap.hyper, snap.step)
    return f"{text} {note}" if note else text


def progress_metrics(snap: Any, boxes: list[Any]) -> None:
    """Epoch, accuracies and loss, one metric per box."""
    boxes[0].metric("Epoch", f"{snap.epoch:,}", help=f"Passes over the training set ({snap.step:,} optimiser steps).")
    boxes[1].metric("Train accuracy", f"{snap.train_accuracy:.1%}", help="Over this epoch's batches so far.")
    if snap.step > 0 and snap.test_accuracy_step == 0:  # a large test set is scored at epoch ends only
        boxes[2].metric("Test accuracy", "not yet", help="The whole test set is scored at the end of each epoch "
                        "(it is large); the first score comes when epoch 1 ends.")  # fmt: skip
    else:
        boxes[2].metric("Test accuracy", f"{snap.test_accuracy:.1%}",
                        help=f"The whole test set, scored at step {snap.test_accuracy_step:,}.")
    boxes[3].metric("Loss", f"{snap.loss:.3f}", help="Moving average of the training loss.")


NotesAt = tuple[str, Callable[[Mapping[str, Any]], Any]]  # (the notes' container key, values -> their notes)


def sphere_view(unit_key: str, snap: Any, values: Mapping[str, Any], *, key: str,
                notes_at: NotesAt | None = None) -> None:
    """Features and class weights on the circle or sphere, with the margin's wedges or caps (previewed; with
    `notes_at`, the notes under the margin slider follow the thumb too)."""
    spec = plots.hypersphere_figure(
        snap.embeddings,
        snap.labels,
        snap.class_weights,
        class_names=snap.class_names,
        loss=values["loss"],
        margin=figure_margin(values),
        sphereface_lambda=snap.hyper.get("sphereface_lambda", 0.0),
        as_spec=True,
    )
    spec["layout"].update(height=SPHERE_HEIGHT, margin={"t": 60, "b": 10, "l": 10, "r": 10})
    if len(snap.class_names) > LEGEND_MAX_CLASSES:  # hundreds of glyph identities: a legend would fill the view
        spec["layout"]["showlegend"] = False
    previews = preview.sphere_previews(unit_key, values, spec, snap.class_weights,
                                       snap.hyper.get("sphereface_lambda", 0.0))  # fmt: skip
    if notes_at is not None:
        previews = preview.with_notes(previews, unit_key, values, *notes_at)
    live_plotly(spec, key=key, height=SPHERE_HEIGHT, preview=previews)


LEGEND_MAX_CLASSES = 20  # more classes than this: no legend, and the ten colours repeat


def undrawn_text(dim: int, num_classes: int) -> str:
    """What stands in the sphere's place when the features have more dimensions than a picture."""
    return (f"The features have {dim} dimensions: there is no circle or sphere to draw, and a projection to 3-D "
            f"would move the angles this lab is about. The angle statistics and histograms measure the {num_classes} "
            f"classes in all {dim} dimensions.")


def many_classes_text(num_classes: int) -> str:
    """A caption under a drawn view of more classes than the legend and the palette can tell apart."""
    return (f"{num_classes} classes: the ten colours repeat and the legend is left out; hover over a point for its "
            "class.")


def angle_statistics(snap: Any, num_classes: int, dim: int, *, per_row: int = 6, hide_bound: bool = False) -> None:
    """The ArcFace paper's angle statistics, and the closest pair of centres beside its Tammes bound
    (six in a row, or in rows of `per_row` where the column is narrow; the bound is "?" with hide_bound, while
    a lesson's question asks for it)."""
    stats = snap.angle_stats
    tammes = math.degrees(geometry.tammes_angle(num_classes, dim))
    where = "circle" if dim == 2 else "sphere" if dim == 3 else "hypersphere"
    cells = [cell for _ in range(0, 6, per_row) for cell in st.columns(per_row)]
    cells[0].metric("W-EC", _degrees(stats["w_ec_deg"]),
                    help="Mean angle between each class weight W_j and the centre of its features (ArcFace Table 3).")
    cells[1].metric("W-Inter", _degrees(stats["w_inter_deg"]),
                    help="Mean angle from each class weight to its nearest other class weight.")
    cells[2].metric("Intra", _degrees(stats["intra_deg"]),
                    help="Mean angle between a feature and its class centre: how tight each class is.")
    cells[3].metric("Inter", _degrees(stats["inter_deg"]),
                    help="Mean angle from each class centre to its nearest other centre: how far apart classes are.")
    cells[4].metric("Closest centres", _degrees(stats["min_center_angle_deg"]),
                    help="The smallest angle between any two class centres. It can never exceed the Tammes bound.")
    if hide_bound:
        cells[5].metric("Tammes bound", "?", help="The best separation the class centres could ever reach: one of "
                        "this lesson's questions asks for it, so it shows once you have answered.")  # fmt: skip
        return
    cells[5].metric("Tammes bound", f"{tammes:.1f}°",
                    help=f"The largest possible smallest angle between {num_classes} directions on a {where} "
                         f"({dim}-D): the best separation the class centres could ever reach.")


def histogram_view(snap: Any, *, key: str) -> None:
    spec = plots.angle_histograms(np.degrees(snap.target_angle), np.degrees(snap.nearest_angle), as_spec=True)
    live_plotly(spec, key=key, height=spec["layout"]["height"], config=NO_MODEBAR)


def curves_view(snap: Any, *, key: str) -> None:
    spec = plots.training_curves(snap.history, as_spec=True)
    live_plotly(spec, key=key, height=spec["layout"]["height"], config=NO_MODEBAR)


# --------------------------------------------------------------------------------------------
# The loss's own views (no model: they follow the sliders)
# --------------------------------------------------------------------------------------------


def target_logit_view(unit_key: str, values: Mapping[str, Any], sphereface_lambda: float, *, key: str,
                      notes_at: NotesAt | None = None) -> None:
    """The target logit against θ (ArcFace Fig. 4b), previewed at the margin's and scale's nearby stops (with
    `notes_at`, the notes under those sliders too)."""

    def build(v: Mapping[str, Any]) -> Any:
        spec = plots.target_logit_figure(v["loss"], figure_margin(v), scale=figure_scale(v),
                                         sphereface_lambda=sphereface_lambda, sphereface_form=figure_form(v),
                                         as_spec=True)
        spec["layout"].update(height=CURVE_HEIGHT, margin={"t": 60, "b": 10, "r": 10})
        return spec

    figure = build(values)
    previews = preview.figure_previews(unit_key, values, build, ("margin", "scale"), figure)
    if notes_at is not None:
        previews = preview.with_notes(previews, unit_key, values, *notes_at)
    live_plotly(figure, key=key, height=CURVE_HEIGHT, config=NO_MODEBAR, preview=previews)


def decision_plane(loss: str) -> str:
    """The plane the binary decision margins are drawn in: a margin in cosine units (CosFace's) is a straight band in
    the cosine plane (CosFace Fig. 2); the others are drawn in the angle plane (ArcFace Fig. 5)."""
    return "cos" if LOSS_SPECS[loss].margin_unit == "cos" else "angle"


def decision_view(unit_key: str, values: Mapping[str, Any], sphereface_lambda: float, *, key: str) -> None:
    """The binary decision margins (ArcFace Fig. 5; CosFace Fig. 2 in the cosine plane), previewed too."""
    plane = decision_plane(values["loss"])

    def build(v: Mapping[str, Any]) -> Any:
        return plots.decision_boundary_figure(v["loss"], figure_margin(v), plane=plane,
                                              sphereface_lambda=sphereface_lambda, as_spec=True)  # fmt: skip

    figure = build(values)
    # The combined margin's target can turn and rise again: its grey region is a 2-D grid of decisions
    # (~0.1 s a figure), too slow to build a dozen times per slider move, so that chart waits for the server.
    previewed = ("margin",) if LOSS_SPECS[values["loss"]].target_is_monotone else ()
    previews = preview.figure_previews(unit_key, values, build, previewed, figure)
    live_plotly(figure, key=key, height=figure["layout"]["height"], config=NO_MODEBAR, preview=previews)
