"""The Compare page's margin sweep: one loss at a grid of margins, trained together, then scrubbed in the browser.

    render(configs, key="cmp-sweep")     # configs: the page's member configs (MultiTrainer(configs) accepts them)

The user picks one of the page's margin losses, how many margins (≥ 8) and their span, and the epochs; Start
trains every margin as one MultiTrainer (toy_models.sweep.MarginSweep) in slices of SLICE_S per rerun of a
fragment, so Stop answers within a second and Resume goes on where it stopped. A finished sweep is kept in
the session under its settings: a rerun, or coming back later, shows it without training again. The figure
(app.plots.sweep) holds every margin as a plotly frame, so its slider needs no server.

A span beyond the workable range gets one sentence naming the range; the sweep shown before stays.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass

import streamlit as st

from app import datasets, hosted
from app.live import slots
from app.plots.sweep import sweep_figure
from toy_models.data import DatasetError
from toy_models.heads import LOSS_SPECS
from toy_models.sweep import MIN_COUNT, SWEEPABLE_LOSSES, MarginSweep, margin_grid, workable_range
from toy_models.train import TrainConfig

SLICE_S = 0.5  # training per rerun while a sweep runs: a Stop click waits at most this long
# What a sweep costs next to one model, in training slots of a hosted server: measured here (one thread, digits,
# 3-D), an epoch of 8, 16 and 24 margins trained together took 1.6, 2.5 and 3.2 times one model's epoch.
TICK_EVERY_S = 0.6  # the browser asks for the next slice a little after one ends
MAX_COUNT = 24
DEFAULT_EPOCHS = 20
MAX_EPOCHS = 200


@dataclass
class SweepState:
    """What the section keeps in st.session_state[f"{key}-state"]."""

    sweeps: dict  # settings key -> MarginSweep (finished, stopped or running)
    running: str | None = None  # the settings key of the sweep now training
    shown: str | None = None  # the settings key of the last sweep drawn (kept on screen through bad input)
    figures: dict = dataclasses.field(default_factory=dict)  # settings key -> (step, figure)


def _settings_key(base: TrainConfig, margins: Sequence[float], epochs: int) -> str:
    """The cache key of a sweep: everything it depends on (the config without its margin, the grid, epochs)."""
    values = base.resolved().to_dict()
    values.pop("margin", None)
    return json.dumps({"config": values, "margins": [round(m, 12) for m in margins], "epochs": epochs},
                      sort_keys=True)


def _state(key: str) -> SweepState:
    name = f"{key}-state"
    if name not in st.session_state:
        st.session_state[name] = SweepState(sweeps={})
    return st.session_state[name]


def _unit(loss: str) -> str:
    return {"rad": " (rad)", "cos": " (cosine units)", "x": " (multiplier)"}.get(LOSS_SPECS[loss].margin_unit, "")


def _progress_text(sweep: MarginSweep) -> str:
    epoch = min(sweep.trainer.epoch, sweep.epochs)
    return f"{len(sweep.margins)} margins, epoch {epoch} of {sweep.epochs} ({100 * sweep.progress:.0f} %)"


def _remembered(key: str, name: str, default, *, allowed: Sequence | None = None) -> str:
    """The widget key f"{key}-{name}", its value set from the section's memory when Streamlit has forgotten it.

    Streamlit drops a widget's value when a run does not draw it (the user went to another page); the memory
    (not a widget key) survives, so coming back shows the settings, and the sweep, the user left.
    """
    widget = f"{key}-{name}"
    memory = st.session_state.setdefault(f"{key}-memory", {})
    if widget not in st.session_state:
        value = memory.get(widget, default)
        st.session_state[widget] = value if allowed is None or value in allowed else default
    return widget


def _controls(configs: Sequence[TrainConfig], key: str):
    """The loss, count, span and epochs the user asks for: (base config, margins or None, epochs, problem).

    margins is None when there is a problem: a span beyond the workable range, a dataset that cannot load.
    """
    sweepable = [c for c in configs if c.loss in SWEEPABLE_LOSSES]
    losses = list(dict.fromkeys(c.loss for c in sweepable))
    cols = st.columns([3, 2, 2, 2, 2])
    loss = cols[0].selectbox("Loss to sweep", losses, format_func=lambda name: LOSS_SPECS[name].label,
                             key=_remembered(key, "loss", losses[0], allowed=losses))
    base = next(c for c in sweepable if c.loss == loss)
    try:
        dataset = datasets.dataset_of(base)
    except DatasetError as error:  # the page says how to fix the folder; here one sentence is enough
        return base, None, DEFAULT_EPOCHS, f"The sweep cannot load its dataset: {str(error).rstrip('.')}."
    classes, dim = dataset.num_classes, base.embedding_dim
    count = int(cols[1].number_input("Margins", min_value=MIN_COUNT, max_value=MAX_COUNT, step=1,
                                     key=_remembered(key, "count", MIN_COUNT)))
    default = margin_grid(loss, classes, dim, count)
    low_formula, high_formula = (float(v) for v in LOSS_SPECS[loss].margin_range)
    # The span's keys name what its default depends on, so a new loss, dimension or count starts from its own.
    where = f"{loss}-{classes}-{dim}-{count}"
    low = cols[2].number_input(f"Lowest m{_unit(loss)}", min_value=low_formula, max_value=high_formula,
                               step=0.01, format="%.3f", key=_remembered(key, f"low-{where}", default[0]))
    high = cols[3].number_input(f"Highest m{_unit(loss)}", min_value=low_formula, max_value=high_formula,
                                step=0.01, format="%.3f", key=_remembered(key, f"high-{where}", default[-1]))
    epochs = int(cols[4].number_input("Epochs", min_value=1, max_value=MAX_EPOCHS, step=1,
                                      key=_remembered(key, "epochs", DEFAULT_EPOCHS)))
    memory = st.session_state[f"{key}-memory"]
    for name, value in (("loss", loss), ("count", count), (f"low-{where}", low), (f"high-{where}", high),
                        ("epochs", epochs)):
        memory[f"{key}-{name}"] = value
    limits = workable_range(loss, classes, dim)
    st.caption(f"Workable for {limits.where()}: m in {limits.describe()}. Every margin trains on the same batches "
               "from the same initial network, so the sweep shows what the margin alone does.")
    try:
        margins = margin_grid(loss, classes, dim, count, low=low, high=high)
    except ValueError as error:
        return base, None, epochs, str(error)
    return base, margins, epochs, ""


def sweep_weight(count: int) -> int:
    """The training slots a sweep of `count` margins takes on a hosted server (its cost next to one model)."""
    return max(1, round(1 + count / 11))


def _train_slice(key: str) -> None:
    """One slice of training, and the progress (a fragment: reruns every TICK_EVERY_S while a sweep runs).
    On a hosted server every slice goes through the play cap, with the sweep's weight: past the cap it waits."""
    state = _state(key)
    sweep = state.sweeps.get(state.running) if state.running else None
    if sweep is None:
        return
    result = slots.ask_job(key, sweep_weight(len(sweep.margins)))
    if not isinstance(result, hosted.Admitted):
        st.info(slots.sentence(result) or "This sweep waits for training slots.", icon=":material/hourglass_top:")
        return
    sweep.advance(seconds=SLICE_S)
    st.progress(sweep.progress, text=f"Training the sweep: {_progress_text(sweep)}")
    if sweep.done:
        slots.give_back_job(key)
        state.running = None
        state.shown = next(k for k, v in state.sweeps.items() if v is sweep)
        st.rerun()  # the whole section: the buttons and the finished figure


def _figure(state: SweepState, settings: str):
    """The sweep's figure, built once per sweep and step (plotly validates every frame: a second or so)."""
    sweep = state.sweeps[settings]
    cached = state.figures.get(settings)
    if cached is None or cached[0] != sweep.step:
        with st.spinner(f"Drawing the {len(sweep.margins)} margins…"):
            cached = (sweep.step, sweep_figure(sweep.results()))
        state.figures[settings] = cached
    return cached[1]


def render(configs: Sequence[TrainConfig], *, key: str) -> None:
    """The margin sweep section for the page's member configs; every key it creates starts with `key`."""
    if not any(c.loss in SWEEPABLE_LOSSES for c in configs):
        st.info("A margin sweep needs SphereFace, CosFace or ArcFace among the chosen losses.")
        return
    state = _state(key)
    base, margins, epochs, problem = _controls(configs, key)
    settings = _settings_key(base, margins, epochs) if margins is not None else None
    sweep = state.sweeps.get(settings) if settings else None

    if problem:
        st.error(problem, icon=":material/block:")
    buttons = st.columns([1, 6], vertical_alignment="center")
    running = state.running is not None
    if running and state.running != settings:
        st.caption("A sweep with other settings is training: Stop it to start this one.")
    # Buttons act in the script, not in callbacks: a callback would carry the settings of the run that drew it,
    # and a value typed just before the click would be missed.
    if running:
        if buttons[0].button("Stop", key=f"{key}-stop", icon=":material/stop:"):
            slots.give_back_job(key)
            state.running = None
            st.rerun()
    elif sweep is None:
        if buttons[0].button("Start", key=f"{key}-start", icon=":material/play_arrow:", type="primary",
                             disabled=margins is None):
            state.sweeps[settings] = MarginSweep(base, margins, epochs=epochs, dataset=datasets.dataset_of(base))
            state.running = settings
            st.rerun()
    elif not sweep.done:
        if buttons[0].button("Resume", key=f"{key}-resume", icon=":material/play_arrow:", type="primary"):
            state.running = settings
            st.rerun()
        buttons[1].caption(f"Stopped: {_progress_text(sweep)}.")
    else:
        buttons[1].caption(f"Done: {_progress_text(sweep)}. Kept for this session.")

    if running:
        st.fragment(_train_slice, run_every=TICK_EVERY_S, key=f"{key}-tick")(key)

    if running:  # the running sweep is drawn once it is done; meanwhile the last one drawn stays
        show = state.shown if state.shown != state.running else None
    else:
        show = settings if sweep is not None and sweep.step > 0 else state.shown
    if show is None or show not in state.sweeps or state.sweeps[show].step == 0:
        return
    if show != settings:
        st.caption("Showing the last sweep drawn; these settings have not been swept yet.")
    elif not state.sweeps[show].done:
        st.caption("The margins as they are now, part-way through training.")
    state.shown = show
    st.plotly_chart(_figure(state, show), key=f"{key}-figure", config={"displaylogo": False})
    st.caption("Drag the slider under the figure to move through the margins: each position is already in your "
               "browser, so nothing is recomputed. Left, the test features of that margin on the circle or "
               "sphere; right, test accuracy, and Intra (how tight each class is) and Inter (how far apart the "
               "classes are) against m, as in CosFace's Fig. 5. A larger margin should pull classes tighter and "
               "push them apart, until it asks for more room than the classes have and accuracy falls.")
