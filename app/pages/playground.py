"""The Playground: pick a loss, move its margin and scale, press Play, watch the features move.

Flow of one full run (any click or slider move):
    URL (first run only) -> state.validate -> widgets -> clean values -> URL written back
    -> trainer rebuilt if a cold value changed (said so), hot values handed to the running model
    -> the live fragment (trains while playing, draws the model's views)
    -> the instant analytic views (no model: they follow the sliders at once).
While playing, only the fragment reruns, every session.TICK_S seconds.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import streamlit as st

from app import plots, session, state
from app.components.live_plotly import live_plotly
from toy_models import geometry
from toy_models.heads import LOSS_SPECS

MARGIN_NAMES = ("margin", "m1", "m2", "m3")
LAMBDA_NAMES = ("sphereface_form", "lambda_base", "lambda_gamma", "lambda_power", "lambda_min")
DATA_DIR_KEY = "data_dir"


def md(text: str) -> str:
    """Plain text made safe for Markdown (values from URLs may hold * _ $ : ...)."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:])", r"\\\1", text)


# --------------------------------------------------------------------------------------------
# Callbacks: they run before the page, so they read everything from session state.
# --------------------------------------------------------------------------------------------


def _params() -> dict[str, Any]:
    return st.session_state[session.PARAMS]


def _user_changed() -> None:
    """Any control moved: the URL notices of the first load no longer describe the page."""
    st.session_state[session.URL_NOTICES] = []


def _on_loss_change() -> None:
    """A new loss starts from its own margin defaults; shared settings (lr, data, seed, s) stay."""
    _user_changed()
    old = _params()
    new_loss = st.session_state["loss"]
    fresh = state.defaults(new_loss)
    keep = {k: v for k, v in old.items() if k in fresh and k not in (*MARGIN_NAMES, *LAMBDA_NAMES, "loss")}
    new = {**fresh, **keep, "loss": new_loss}
    st.session_state[session.PARAMS] = new
    for p in state.params_for(new_loss):
        if p.name in (*MARGIN_NAMES, *LAMBDA_NAMES):
            st.session_state[p.key] = new[p.name]


def _set_playing(playing: bool) -> None:
    """Play or Pause, as the button said when it was clicked.

    Not a toggle: under load Streamlit may deliver one click to two coalesced reruns, and a
    toggle would then undo itself.
    """
    run = session.run_state()
    run.playing = playing
    run.auto_paused = ""
    session.touch()


def _step() -> None:
    """One epoch, then pause (the Playground's Step)."""
    run = session.run_state()
    run.playing = False
    run.auto_paused = ""
    if run.trainer is not None:
        with run.lock:
            session.sync_hot(run, _params())
            run.trainer.advance(epochs=1, seconds=session.STEP_LIMIT_S)


def _reset() -> None:
    session.reset(_params(), session.data_folder(st.session_state.get(DATA_DIR_KEY)))


# --------------------------------------------------------------------------------------------
# Controls
# --------------------------------------------------------------------------------------------


def _slider_format(step: float | None) -> str:
    if step is None or step >= 1:
        return "%.0f"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"%.{decimals}f"


def control(p: state.Param, values: dict[str, Any], box: Any = None) -> Any:
    """The widget of one schema entry, seeded from the clean values; returns its value."""
    box = box or st.sidebar
    if p.key not in st.session_state:
        st.session_state[p.key] = values[p.name]
    common = {"key": p.key, "help": p.help}
    if p.name == "loss":
        value = box.selectbox(p.label, p.options, format_func=p.label_of, on_change=_on_loss_change, **common)
    elif p.kind == "choice" and len(p.options) > 3:
        value = box.selectbox(p.label, p.options, format_func=p.label_of, on_change=_user_changed, **common)
    elif p.kind == "choice":
        value = box.radio(p.label, p.options, format_func=p.label_of, horizontal=True, on_change=_user_changed,
                          **common)
    elif p.kind == "ladder":
        value = box.select_slider(p.label, p.options, format_func=lambda v: f"{v:g}", on_change=_user_changed,
                                  **common)
    elif p.kind == "int":
        value = box.number_input(p.label, int(p.minimum), int(p.maximum), step=1, on_change=_user_changed,
                                 **common)
    else:
        value = box.slider(p.label, float(p.minimum), float(p.maximum), step=float(p.step),
                           format=_slider_format(p.step), on_change=_user_changed, **common)
    values[p.name] = value
    return value


def _fmt_angle(rad: float) -> str:
    return f"{rad:.2f} rad ({math.degrees(rad):.1f}°)"


def geometry_notes(values: Mapping[str, Any], num_classes: int, dim: int) -> list[tuple[str, str]]:
    """(level, sentence) notes about the workable margin and scale for C classes in `dim` dimensions.

    level is "caption" (the workable range) or "warning" (the setting is beyond it). In 2-D the class
    centres can at best be spread evenly on the circle (2π/C apart); in 3-D the Tammes bound gives
    the best possible separation on the sphere.
    """
    loss = values["loss"]
    sep = geometry.tammes_angle(num_classes, dim)
    where = "on a circle" if dim == 2 else "on a sphere"
    spread = f"{num_classes} classes {where}"
    best = f"neighbouring centres are at best {math.degrees(sep):.1f}° apart"
    notes: list[tuple[str, str]] = []
    name = state.loss_label(loss)
    if loss == "arcface":
        m, limit = values["margin"], geometry.max_margin(loss, separation_rad=sep)
        if m >= limit:
            notes.append(("warning", f"m = {m:.2f} rad leaves no room: with {spread} {name}'s margin must stay "
                                     f"below {_fmt_angle(limit)}."))
        else:
            arc = geometry.feasible_half_arc(loss, m, separation_rad=sep)
            notes.append(("caption", f"Workable for {spread}: m < {_fmt_angle(limit)} ({best}). At m = {m:.2f}, "
                                     f"a sample must stay within ±{math.degrees(arc):.1f}° of its centre."))
    elif loss == "cosface":
        m, limit = values["margin"], geometry.max_margin(loss, separation_rad=sep)
        if m >= limit:
            notes.append(("warning", f"m = {m:.2f} leaves no room: with {spread} {name}'s margin must stay below "
                                     f"{limit:.2f} (1 − cos {math.degrees(sep):.1f}°)."))
        else:
            arc = geometry.feasible_half_arc(loss, m, separation_rad=sep)
            notes.append(("caption", f"Workable for {spread}: m < {limit:.2f} ({best}). At m = {m:.2f}, a sample "
                                     f"must stay within ±{math.degrees(arc):.1f}° of its centre."))
    elif loss == "sphereface":
        m = values["margin"]
        arc = geometry.feasible_half_arc(loss, m, separation_rad=sep)
        notes.append(("caption", f"SphereFace has no hard limit, but with {spread} ({best}) a sample must stay "
                                 f"within ±{math.degrees(arc):.1f}° of its centre at m = {m:.2f}."))
    elif loss == "combined":
        margin = (values["m1"], values["m2"], values["m3"])
        limit = geometry.max_margin(loss, separation_rad=sep, margin=margin, component="m3")
        if limit <= 0:
            notes.append(("warning", f"m2 = {margin[1]:.2f} rad alone leaves no room: with {spread} ({best}) "
                                     "even m3 = 0 is too much; lower m2."))
        elif margin[2] >= limit:
            notes.append(("warning", f"m3 = {margin[2]:.2f} leaves no room: with m2 = {margin[1]:.2f} and {spread} "
                                     f"m3 must stay below {limit:.2f}."))
        else:
            arc = geometry.feasible_half_arc(loss, margin, separation_rad=sep)
            notes.append(("caption", f"Workable for {spread}: m3 < {limit:.2f} at m2 = {margin[1]:.2f} ({best}); "
                                     f"a sample must stay within ±{math.degrees(arc):.1f}° of its centre."))
    if LOSS_SPECS[loss].uses_scale and "scale" in values:
        floor = geometry.cosface_min_scale(num_classes, 0.99)
        if values["scale"] < floor:
            notes.append(("warning", f"s = {values['scale']:g} caps the probability: with {num_classes} classes no "
                                     f"sample can reach p = 0.99 unless s ≥ {floor:.2f} (CosFace §3.3)."))
    return notes


def sidebar(values: dict[str, Any]) -> tuple[Any, str | None]:
    """All controls; returns (the box for the geometry notes, the data folder)."""
    loss = values["loss"]
    by_name = {p.name: p for p in state.params_for(loss)}
    sb = st.sidebar
    sb.header("Loss")
    control(by_name["loss"], values)
    for name in MARGIN_NAMES:
        if name in by_name:
            p = by_name[name]
            value = control(p, values)
            if p.unit == "rad":
                sb.caption(f"{p.key} = {value:.2f} rad = **{math.degrees(value):.1f}°**")
    if "scale" in by_name:
        control(by_name["scale"], values)
    notes_box = sb.container()
    if "sphereface_form" in by_name:
        with sb.expander("SphereFace form and λ annealing"):
            control(by_name["sphereface_form"], values, st)
            for name in LAMBDA_NAMES[1:]:
                control(by_name[name], values, st)
            if values["sphereface_form"] != "original":
                st.caption("λ only acts in the original form.")

    sb.header("Training")
    control(by_name["lr"], values)
    control(by_name["batch_size"], values)
    control(by_name["backbone"], values)
    control(by_name["seed"], values)

    sb.header("Data")
    control(by_name["dataset"], values)
    folder = None
    if values["dataset"] in session.NEEDS_FOLDER:
        if DATA_DIR_KEY not in st.session_state:
            st.session_state[DATA_DIR_KEY] = ""
        sb.text_input(
            "Data folder",
            key=DATA_DIR_KEY,
            placeholder=f"${session.DATA_ENV} or a folder with the IDX files",
            help=f"A folder holding the MNIST / Fashion-MNIST IDX files (.gz is fine). Empty: ${session.DATA_ENV}.",
        )
        folder = session.data_folder(st.session_state.get(DATA_DIR_KEY))
    control(by_name["dim"], values)
    return notes_box, folder


# --------------------------------------------------------------------------------------------
# Live views (the fragment)
# --------------------------------------------------------------------------------------------


def _figure_margin(values: Mapping[str, Any]) -> Any:
    if values["loss"] == "combined":
        return (values["m1"], values["m2"], values["m3"])
    return values.get("margin")


def _degrees(value: float) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.1f}°"


def angle_statistics_row(snap: Any, num_classes: int, dim: int) -> None:
    """The ArcFace paper's angle statistics, and the closest pair of centres beside its Tammes bound.

    One full-width row, so every label fits without being cut off.
    """
    stats = snap.angle_stats
    tammes = math.degrees(geometry.tammes_angle(num_classes, dim))
    where = "circle" if dim == 2 else "sphere"
    cells = st.columns(6)
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
    cells[5].metric("Tammes bound", f"{tammes:.1f}°",
                    help=f"The largest possible smallest angle between {num_classes} directions on a {where} "
                         f"({dim}-D): the best separation the class centres could ever reach.")


def live_views() -> None:
    """Train for one time budget (when playing) and draw everything that depends on the model."""
    run = session.run_state()
    values = _params()
    if run.playing and time.monotonic() - run.last_interaction > session.IDLE_PAUSE_S:
        run.playing = False
        run.auto_paused = (f"Paused automatically after {session.IDLE_PAUSE_S // 60} minutes without "
                           "interaction (it saves the CPU). Press Play to go on.")
        st.rerun()
    # One thread at a time on the model: when a slider move interrupts a tick, Streamlit may start
    # the new run while the old one is still inside advance() (two threads on one model crashed the
    # server with a segfault in the e2e test).
    with run.lock:
        session.sync_hot(run, values)
        trainer = run.trainer
        if run.playing:
            trainer.advance(seconds=session.TICK_BUDGET_S)
        snap = trainer.snapshot()
    if run.playing and trainer.epoch >= session.MAX_EPOCHS:
        run.playing = False
        run.auto_paused = (f"Paused automatically at epoch {trainer.epoch}: a run stops at "
                           f"{session.MAX_EPOCHS} epochs. Press Play to go on, or Reset.")
        st.rerun()
    for event in session.new_events(run):
        if event.kind == "diverged":
            run.last_divergence = event.message
            st.toast(event.message, icon=":material/warning:")
        else:
            run.last_hyper = event.message

    cols = st.columns(5)
    cols[0].metric("Epoch", f"{snap.epoch:,}", help="Passes over the training set.")
    cols[1].metric("Step", f"{snap.step:,}", help="Optimiser steps (mini-batches).")
    cols[2].metric("Train accuracy", f"{snap.train_accuracy:.1%}")
    cols[3].metric("Test accuracy", f"{snap.test_accuracy:.1%}")
    cols[4].metric("Loss", f"{snap.loss:.3f}", help="Moving average of the training loss.")

    # Messages go into a container that exists on every tick, so one appearing does not shift the
    # elements below it: a shifted sphere would be mounted afresh and lose the user's camera.
    with st.container():
        if run.last_divergence:
            st.warning(md(run.last_divergence) + "; training goes on from there. A smaller lr, s or m may help.",
                       icon=":material/warning:")
        if run.auto_paused:
            st.info(md(run.auto_paused), icon=":material/pause_circle:")
        if run.last_hyper:
            st.caption(f"Applied to the running model, no reset: {md(run.last_hyper)}")

    dim = int(values["dim"])
    num_classes = len(snap.class_names)
    left, right = st.columns([3, 2], gap="medium")
    with left:
        figure = plots.hypersphere_figure(
            snap.embeddings,
            snap.labels,
            snap.class_weights,
            class_names=snap.class_names,
            loss=values["loss"],
            margin=_figure_margin(values),
            sphereface_lambda=snap.hyper.get("sphereface_lambda", 0.0),
        )
        if dim == 3:
            live_plotly(figure, key="sphere", height=520)
        else:
            st.plotly_chart(figure, key="circle")
    with right:
        st.plotly_chart(
            plots.angle_histograms(np.degrees(snap.target_angle), np.degrees(snap.nearest_angle)),
            key="angle_hist",
            config={"displayModeBar": False},
        )
    angle_statistics_row(snap, num_classes, dim)
    st.plotly_chart(plots.training_curves(snap.history), key="curves", config={"displayModeBar": False})


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------


def main() -> None:
    values = session.seed_from_url()
    session.touch()
    notes_box, folder = sidebar(values)
    session.write_url(values)
    run = session.ensure_trainer(values, folder)
    num_classes = run.trainer.dataset.num_classes
    dim = int(values["dim"])
    for level, text in geometry_notes(values, num_classes, dim):
        if level == "warning":
            notes_box.warning(text, icon=":material/block:")
        else:
            notes_box.caption(text)

    with st.sidebar:
        st.header("Share")
        st.caption("This link reproduces the setup, seed included:")
        st.code(session.share_link(values), language=None, wrap_lines=True)

    st.title("Margin Lab · Playground")
    st.caption(
        "Train a tiny network and watch how the margin shapes its features on the hypersphere. Margins, scale "
        "and learning rate apply to the running model; the other settings rebuild it from the seed."
    )
    for notice in st.session_state.get(session.URL_NOTICES, []):
        st.warning(md(notice), icon=":material/link_off:")
    if run.data_notice:
        st.warning(md(run.data_notice), icon=":material/folder_off:")

    c1, c2, c3, c4 = st.columns([1, 1, 1, 5], vertical_alignment="center")
    c1.button("Pause" if run.playing else "Play", key="play", type="primary",
              icon=":material/pause:" if run.playing else ":material/play_arrow:", on_click=_set_playing,
              args=(not run.playing,),
              help="Train continuously; sliders act on the running model.", width="stretch")
    c2.button("Step", key="step", icon=":material/skip_next:", on_click=_step,
              help="Train one epoch, then pause.", width="stretch")
    c3.button("Reset", key="reset", icon=":material/restart_alt:", on_click=_reset,
              help="Rebuild the model from the seed (pauses).", width="stretch")
    if run.rebuilt:
        c4.caption(md(run.rebuilt))
        if run.toasted != run.rebuilt_count:
            st.toast(run.rebuilt, icon=":material/restart_alt:")
            run.toasted = run.rebuilt_count

    st.fragment(live_views, run_every=session.TICK_S if run.playing else None)()

    st.subheader("Instant views: the loss itself")
    st.caption("These follow the sliders at once: they need no model, only the formula of the loss.")
    a, b = st.columns(2)
    loss, margin = values["loss"], _figure_margin(values)
    lam = run.trainer.hyper()["sphereface_lambda"]  # SphereFace's original form blends in λ·cos θ
    with a:
        st.plotly_chart(
            plots.target_logit_figure(loss, margin, scale=values.get("scale"), sphereface_lambda=lam),
            key="target_logit",
        )
    with b:
        plane = "cos" if loss == "cosface" else "angle"  # CosFace's margin is a straight band in cos θ
        st.plotly_chart(
            plots.decision_boundary_figure(loss, margin, plane=plane, sphereface_lambda=lam),
            key="decision_boundary",
        )


main()
