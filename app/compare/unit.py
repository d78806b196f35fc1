"""The losses side by side: one MultiTrainer, identical batches, one small hypersphere view per loss.

    CompareUnit("cmp").render() -> CompareResult(configs, run, members)    # the Compare page
    CompareUnit("lesson-6", preset=..., locked=..., hidden=..., controls=st.container())   # a lesson (see the class)

The sidebar holds the losses to compare (each with its own margin, scale and gradient controls) and the
settings they share (learning rate, batch, backbone, seed, dataset, dimension). The main area holds
Play / Step / Reset, the small multiples (in 3-D they share one camera: turning one turns them all) and
one table of the ArcFace paper's angle statistics per loss (its Table 3), with the closest pair of class
centres beside the Tammes bound.

Hot changes (a member's margin, scale or gradient; the shared learning rate) go to the running members
only, which keep their weights; a cold change (the set of losses, the data, the dimension, the backbone,
the batch size, the seed) rebuilds every member from the seed and says so. Every widget key starts with
the unit's key ("cmp-lr", "cmp-arcface-margin"), so the page can hold other units. The unit never reads or writes
the URL. Its defaults and a lesson's preset are plain values, checked without Streamlit in `app.compare.values`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from app import datasets, hosted, plots, state
from app.compare.values import (
    MEMBER_NAMES,
    ComparePreset,
    check_fixable,
    default_shared,
    parse_preset,
)
from app.compare.values import member_values as preset_member_values
from app.components.live_plotly import live_plotly
from app.live import controls, exports, preview, slots, views
from app.live import run as runs
from toy_models import geometry
from toy_models.heads import LOSS_SPECS, LOSSES
from toy_models.train import DEFAULT_COMPARE_LOSSES, MultiTrainer, TrainConfig

VIEW_HEIGHT = 290  # four across and the table below fit a 1366×768 laptop screen
# A tick redraws every member's view (~0.1 s of browser time each, in software WebGL), so the page ticks
# less often than the Playground: more of each second goes to training (benchmarks/compare_speed.py).
TICK_S = 1.5


@dataclass
class CompareRun:
    """The page's run: one MultiTrainer over the chosen losses, and what the page says about it."""

    multi: MultiTrainer | None = None
    losses: tuple[str, ...] = ()
    cold: tuple = ()
    built_from: dict = field(default_factory=dict)  # the shared settings the members were built with
    reset_requested: bool = False  # the Reset button: rebuild at the next run, and say so
    queued: str = ""  # where this page waits for a training slot (a hosted server's play cap), "" when not
    playing: bool = False
    rebuilt: str = ""
    data_notice: str = ""
    last_interaction: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def touch(self) -> None:
        self.last_interaction = time.monotonic()


@dataclass(frozen=True)
class MemberRun:
    """One member as a lesson's checks see it (`CompareUnit.member_runs`).

    values:  its clean values by Param name, as `LiveUnit.values` holds them ("loss", margin, scale, gradient
             and the shared settings): what `app.lessons.checks.evaluate` compares with a check's settings.
    trainer: its `MultiMember`, a Trainer-like ModelRun (snapshot(), epoch, history, config, dataset,
             evaluate_test()): what `app.lessons.checks.run_metrics` measures. It trains with the others.
    lock:    the run's lock; hold it while reading the trainer (a tick may be training on another thread).
    """

    loss: str
    values: dict[str, Any]
    trainer: Any
    lock: threading.Lock


@dataclass
class CompareResult:
    """What the page gets back: the member configs (for the sections below), the run, and each member's values
    and trainer by loss (`CompareUnit.member_runs`)."""

    configs: list[TrainConfig]
    run: CompareRun
    members: dict[str, MemberRun] = field(default_factory=dict)


def member_sphere(snap: Any, config: TrainConfig, values: Mapping[str, Any], *, as_spec: bool = False) -> Any:
    """A member's features, class weights and margin regions on the circle or sphere."""
    return plots.hypersphere_figure(
        snap.embeddings, snap.labels, snap.class_weights, class_names=snap.class_names, loss=config.loss,
        margin=views.figure_margin(values), sphereface_lambda=snap.hyper.get("sphereface_lambda", 0.0),
        as_spec=as_spec,
    )  # fmt: skip


def member_figures(run: CompareRun, values_of: Any) -> dict[str, Any]:
    """Each member's small view as a lazy figure builder for the export panel (it takes the run's lock itself:
    the panel builds figures on a thread of its own while a tick may be training)."""

    def build(i: int) -> Any:
        def figure() -> Any:
            with run.lock:
                snap, config = run.multi.snapshot(i), run.multi.configs[i]
            return member_sphere(snap, config, values_of(config.loss, len(snap.class_names)))

        return figure

    return {f"{state.loss_label(c.loss)}: features on the hypersphere": build(i)
            for i, c in enumerate(run.multi.configs)}  # fmt: skip


class CompareUnit:
    """Controls, Play/Step/Reset, small multiples and the statistics table of several losses at once.

    CompareUnit("cmp")                                             # the Compare page: controls in the sidebar
    CompareUnit("lesson-6", preset={"embedding_dim": 2, "losses": ["cosface", "arcface"],
                                    "members": {"arcface": {"m": 0.2}}},
                locked={"losses", "margin"}, hidden={"backbone"}, fixed_by="This lesson", controls=st.container())

    losses:   the losses chosen when the unit opens (a preset's `losses` takes precedence).
    preset:   shared URL keys, `losses` and `members` = {loss: {URL key: value}} (`app.compare.values`); a bad
              preset raises ValueError with one sentence (the lesson author's mistake).
    locked:   "losses" (the member selection; "loss" means the same), shared control names (lr, batch_size,
              backbone, seed, dataset, dim) and member control names (margin, scale, gradient: for every
              member): shown disabled with "<fixed_by> fixed this."; their values cannot change.
    hidden:   the same names, not drawn; the preset's value (or the default) stays in force.
    use_url:  False only: the unit never reads or writes the address bar, so no link can override a lesson.
    """

    def __init__(
        self,
        key: str = "cmp",
        *,
        losses: Sequence[str] = DEFAULT_COMPARE_LOSSES,
        controls: Any = None,
        preset: Mapping[str, Any] | None = None,
        locked: Collection[str] = (),
        hidden: Collection[str] = (),
        fixed_by: str = "This lesson",
        use_url: bool = False,
        on_epoch: Callable[[], None] | None = None,
    ):
        """on_epoch: called (the run's lock held; no drawing) at every epoch end that Play or Step reaches: a
        lesson judges its checks on the members there (see app.live.run.advance_to_epoch_ends)."""
        unknown = [name for name in losses if name not in LOSSES]
        if unknown:
            raise ValueError(f"loss {unknown[0]!r} is not a loss; the losses are {', '.join(LOSSES)}")
        if use_url:
            raise ValueError("The Compare unit does not read the URL; use_url must be False.")
        self.key = key
        self.preset: ComparePreset = parse_preset(preset)
        self.default_losses = self.preset.losses or tuple(losses)
        self.locked = check_fixable(locked, what="locked control")
        self.hidden = check_fixable(hidden, what="hidden control")
        self.fixed_by = fixed_by
        self.on_epoch = on_epoch
        self.controls = controls

    # -- state -------------------------------------------------------------------------------------
    def _k(self, name: str) -> str:
        return f"{self.key}-{name}"

    def _member_key(self, loss: str) -> str:
        return self._k(loss)

    @property
    def fixed(self) -> frozenset[str]:
        """What the user cannot change here: the locked and hidden names."""
        return self.locked | self.hidden

    def _note(self, name: str) -> str | None:
        return f"{self.fixed_by} fixed this." if name in self.locked else None

    @property
    def run(self) -> CompareRun:
        return st.session_state.setdefault(self._k("run"), CompareRun())

    @property
    def shared(self) -> dict[str, Any]:
        """The settings every member shares (by Param name): the defaults, the preset's over them."""
        if self._k("shared") not in st.session_state:  # (setdefault would build the defaults on every call)
            st.session_state[self._k("shared")] = {**default_shared(), **self.preset.shared}
        return st.session_state[self._k("shared")]

    @property
    def chosen(self) -> list[str]:
        """The losses being compared, in the library's order (the preset's, always, when the set is fixed)."""
        if "losses" in self.fixed and st.session_state.get(self._k("losses")) != list(self.default_losses):
            st.session_state[self._k("losses")] = list(self.default_losses)  # (before the widget is drawn)
        picked = st.session_state.setdefault(self._k("losses"), list(self.default_losses))
        return [name for name in LOSSES if name in picked]

    def member_values(self, loss: str, num_classes: int) -> dict[str, Any]:
        """One member's full values (as a Playground unit holds them): its own margin, scale and gradient
        over the shared settings. Defaults depend on the classes and dimension they were made for; a
        preset's member values go over them."""
        members = st.session_state.setdefault(self._k("members"), {})
        shape = (num_classes, int(self.shared["embedding_dim"]))
        kept = members.get(loss)
        if kept is None or kept.get("_shape") != shape:
            kept = {**preset_member_values(loss, self.shared, num_classes, self.preset), "_shape": shape}
            members[loss] = kept
            for p in state.params_for(loss):
                if p.name in MEMBER_NAMES:
                    controls.seed_widgets(self._member_key(loss), p, kept[p.name], force=True)
        return {**{k: v for k, v in kept.items() if k != "_shape"}, **self.shared, "loss": loss}

    def member_runs(self) -> dict[str, MemberRun]:
        """What a lesson's checks read, per member the run trains now (by loss, in the library's order): its
        clean values and its trainer. Empty before the first render and while no loss is chosen."""
        run = self.run
        if run.multi is None:
            return {}
        return {config.loss: MemberRun(config.loss, self.member_values(config.loss, run.multi.dataset.num_classes),
                                       member, run.lock)
                for config, member in zip(run.multi.configs, run.multi.members, strict=True)}  # fmt: skip

    def folder(self) -> str | None:
        return datasets.data_folder(st.session_state.get(self._k("data")), self.shared["dataset"])

    # -- callbacks ---------------------------------------------------------------------------------
    def _shared_changed(self, name: str) -> None:
        self.run.touch()
        p = state.shared_param(name)
        if name in self.fixed:  # a disabled widget cannot move; whatever moved it, the fixed value stays
            controls.seed_widgets(self.key, p, self.shared[name], force=True)
            return
        self.shared[name] = controls.read_widgets(self.key, p)
        if p.hot and self.run.multi is not None:
            for i in range(len(self.run.multi.members)):
                self.run.multi.request_hyper(i, **{p.name: self.shared[name]})

    def _member_changed(self, loss: str, name: str) -> None:
        self.run.touch()
        p = state.param_by_name(loss, name)
        kept = st.session_state[self._k("members")][loss]
        if name in self.fixed:
            controls.seed_widgets(self._member_key(loss), p, kept[name], force=True)
            return
        kept[name] = controls.read_widgets(self._member_key(loss), p)
        multi = self.run.multi
        if multi is not None and loss in self.run.losses:
            # A hot change reaches this member only; the others keep training as they were.
            multi.request_hyper(self.run.losses.index(loss), **{p.name: kept[name]})

    def _set_playing(self, playing: bool) -> None:
        """Play or Pause; on a hosted server Play asks for a training slot first (app.live.slots), and a queued
        page says its place and polls until admitted."""
        run = self.run
        run.touch()
        if playing:
            slots.press_play(self.key, run)
        else:
            self._stop_playing()

    def _stop_playing(self) -> None:
        slots.stop_playing(self.key, self.run)

    def _wait_in_queue(self) -> None:
        result = slots.ask(self.key)
        self.run.queued = slots.sentence(result) if isinstance(result, hosted.Queued) else ""
        if isinstance(result, hosted.Admitted):
            self.run.playing = True
        if not isinstance(result, hosted.Queued):
            st.rerun()
        st.info(views.md(self.run.queued), icon=":material/hourglass_top:")

    def _step(self) -> None:
        self._stop_playing()
        if self.run.multi is not None:
            with self.run.lock:
                runs.advance_to_epoch_ends(self.run.multi, self.on_epoch, seconds=runs.STEP_LIMIT_S, epochs=1)

    def _reset(self) -> None:
        self._stop_playing()
        self.run.reset_requested = True

    # -- building ----------------------------------------------------------------------------------
    def configs(self) -> tuple[list[TrainConfig], Any]:
        """The member configs of the chosen losses, and the dataset they train on."""
        shared = self.shared
        dataset, folder, notice = datasets.dataset_for(shared, self.folder())
        self.run.data_notice = notice
        members = [self.member_values(loss, dataset.num_classes) for loss in self.chosen]
        return [runs.config_for(values, dataset, folder) for values in members], dataset

    def _ensure_multi(self, configs: list[TrainConfig], dataset: Any) -> None:
        """Build the members on first use, and again from the seed when a cold setting changed."""
        run = self.run
        losses = tuple(c.loss for c in configs)
        shared_cold = tuple((name, getattr(configs[0], name)) for name in sorted(TrainConfig.cold_fields))
        cold = (losses, shared_cold)
        if run.multi is not None and run.cold == cold and not run.reset_requested:
            return
        if run.reset_requested:
            why = "Reset"
        elif run.multi is None:
            why = ""  # the first build says nothing
        elif run.losses != losses:
            why = "The losses changed"
        else:
            changed = state.cold_changes(run.built_from, self.shared)
            why = f"{' and '.join(changed) or 'The data'} changed"
        with run.lock:
            run.multi = MultiTrainer(configs, dataset=dataset)
        run.losses, run.cold, run.built_from, run.reset_requested = losses, cold, dict(self.shared), False
        run.rebuilt = f"{why}: every member rebuilt from seed {configs[0].seed}." if why else ""

    # -- drawing -----------------------------------------------------------------------------------
    def _sidebar(self, num_classes: int) -> None:
        st.header("Losses")
        if "losses" not in self.hidden:
            st.multiselect(
                "Losses to compare", LOSSES, key=self._k("losses"), format_func=lambda n: LOSS_SPECS[n].label,
                help="Trained together on identical batches from the same initial backbone. Changing the set "
                     "rebuilds every member from the seed.", on_change=self.run.touch, disabled="losses" in self.locked,
            )  # fmt: skip
            if "losses" in self.locked:
                st.caption(f":material/lock: {self._note('losses')}")
        for loss in self.chosen:
            values = self.member_values(loss, num_classes)
            params = [p for p in state.params_for(loss) if p.name in MEMBER_NAMES and p.name not in self.hidden
                      and state.is_active(p, values)]  # fmt: skip
            if not params:
                continue
            with st.expander(state.loss_label(loss), expanded=False):
                for p in params:
                    # A fixed control always shows its value (whatever was written to its widget's state).
                    controls.seed_widgets(self._member_key(loss), p, values[p.name], force=p.name in self.fixed)
                    controls.draw(self._member_key(loss), p, locked_note=self._note(p.name),
                                  on_change=self._member_changed, args=(loss, p.name))  # fmt: skip
        st.header("Training")
        for name in state.TRAINING_NAMES:
            self._shared_control(name)
        st.header("Data")
        self._shared_control("dataset")
        if datasets.asks_for_folder(self.shared["dataset"]) and "dataset" not in self.hidden:
            st.session_state.setdefault(self._k("data"), "")
            st.text_input("Data folder", key=self._k("data"), help="A folder holding the MNIST / Fashion-MNIST IDX "
                          f"files (.gz is fine). Empty: ${datasets.DATA_ENV}.")  # fmt: skip
        self._shared_control("embedding_dim")

    def _shared_control(self, name: str) -> None:
        if name in self.hidden:
            return
        p = state.shared_param(name)
        controls.seed_widgets(self.key, p, self.shared[name], force=name in self.fixed)
        controls.draw(self.key, p, locked_note=self._note(name), on_change=self._shared_changed, args=(name,))

    def _buttons(self) -> list[Any]:
        run = self.run
        cells = st.columns([1.1, 1, 1, 1.2, 1.4, 3.3], vertical_alignment="center")
        cells[0].button("Pause" if run.playing else "Play", key=self._k("play"), type="primary", width="stretch",
                        on_click=self._set_playing, args=(not run.playing,), icon=":material/pause:" if run.playing
                        else ":material/play_arrow:")  # fmt: skip
        cells[1].button("Step", key=self._k("step"), on_click=self._step, icon=":material/skip_next:",
                        help="One epoch for every member, then pause.", width="stretch")
        cells[2].button("Reset", key=self._k("reset"), on_click=self._reset, icon=":material/restart_alt:",
                        help="Rebuild every member from the seed (pauses).", width="stretch")
        return [cells[3].empty(), cells[4].empty(), cells[5].empty()]

    def _live(self) -> None:
        """A tick: draw every member's latest picture and the table, then train all members together."""
        started = time.monotonic()
        run = self.run
        if run.playing and time.monotonic() - run.last_interaction > runs.IDLE_PAUSE_S:
            self._stop_playing()
            st.rerun()
        if run.playing and not isinstance(result := slots.ask(self.key), hosted.Admitted):  # the slot, renewed
            run.playing = False
            run.queued = slots.sentence(result)
            st.rerun()
        with run.lock:
            snaps = run.multi.snapshots()
        multi = run.multi
        self.boxes[0].metric("Epoch", f"{multi.epoch:,}", help=f"{multi.step:,} optimiser steps, one per batch, "
                             "shared by every member.")  # fmt: skip
        self.boxes[1].metric("Members", f"{len(snaps)}", help="Losses trained together on identical batches.")
        with self.boxes[2], st.container():
            st.caption(views.md(self._caption()))
        dim = int(self.shared["embedding_dim"])
        with self.boxes[3], st.container():
            per_row = 4 if len(snaps) <= 4 else 3
            for start in range(0, len(snaps), per_row):
                cells = st.columns(per_row, gap="small")
                for cell, snap, config in zip(cells, snaps[start:start + per_row], multi.configs[start:], strict=False):
                    with cell:
                        self._member_view(snap, config, dim)
        with self.boxes[4], st.container():
            st.dataframe(statistics_table(snaps, multi.configs, dim), hide_index=True, width="stretch")
        if run.playing:
            budget = max(runs.MIN_TRAIN_S, TICK_S - (time.monotonic() - started))
            with run.lock:
                runs.advance_to_epoch_ends(multi, self.on_epoch, seconds=budget)

    def _caption(self) -> str:
        multi = self.run.multi
        names = ", ".join(state.loss_label(c.loss) for c in multi.configs)
        return (f"{names}: identical batches from the same initial backbone (seed {multi.configs[0].seed}). "
                "Drag a sphere to turn them all.")

    def _member_view(self, snap: Any, config: TrainConfig, dim: int) -> None:
        values = self.member_values(config.loss, len(snap.class_names))
        spec = member_sphere(snap, config, values, as_spec=True)
        spec["layout"].update(height=VIEW_HEIGHT, margin={"t": 46, "b": 0, "l": 0, "r": 0}, showlegend=False,
                              title={"text": member_title(config, snap), "font": {"size": 13}, "x": 0.5,
                                     "xanchor": "center", "y": 0.97, "yanchor": "top"})  # fmt: skip
        previews = preview.sphere_previews(self._member_key(config.loss), values, spec, snap.class_weights,
                                           snap.hyper.get("sphereface_lambda", 0.0))  # fmt: skip
        live_plotly(spec, key=self._k(f"{config.loss}-sphere"), height=VIEW_HEIGHT, preview=previews,
                    camera_group=self._k("camera") if dim == 3 else None, config=views.NO_MODEBAR)  # fmt: skip

    def render(self) -> CompareResult | None:
        """Draw the unit; None (with one sentence on the page) when no loss is chosen."""
        run = self.run
        box = self.controls if self.controls is not None else st.sidebar
        configs, dataset = self.configs()
        with box:
            self._sidebar(dataset.num_classes)  # its callbacks ran before this run: `configs` is current
        if run.data_notice:
            st.warning(views.md(run.data_notice), icon=":material/folder_off:")
        if not configs:
            st.warning("Nothing to compare: choose at least one loss in the sidebar's Losses box.",
                       icon=":material/rule:")  # fmt: skip
            return None
        self._ensure_multi(configs, dataset)
        progress = self._buttons()
        if run.rebuilt:
            st.caption(views.md(run.rebuilt))
        # The small multiples are redrawn every tick; four WebGL scenes keep a slow browser busy long enough
        # for Streamlit to fade the later ones to its grey "stale" look before their update is read. A live
        # view is never stale (the next tick is under way), so the fade is switched off inside this area.
        st.html(f"<style>.st-key-{self._k('views')} [data-stale='true'] {{opacity: 1 !important; "
                "transition: none !important;}</style>")
        area = st.container(key=self._k("views"))
        self.boxes = [*progress, area.container(), area.container()]
        if run.queued:
            st.fragment(self._wait_in_queue, run_every=hosted.QUEUE_POLL_S, key=self._k("queue"))()
        st.fragment(self._live, run_every=0.8 * TICK_S if run.playing else None, key=self._k("live"))()
        return CompareResult(configs, run, self.member_runs())

    def export(self) -> None:
        """Download buttons for any member's embeddings, metrics and config (the whole comparison, which is
        what replays exactly), weights, and each member's view as HTML; built on click only."""
        run = self.run
        members = {state.loss_label(c.loss): m for c, m in zip(run.multi.configs, run.multi.members, strict=True)}
        exports.export_panel(members, member_figures(run, self.member_values), key=self._k("export"), lock=run.lock)


def member_title(config: TrainConfig, snap: Any) -> str:
    """"<b>ArcFace</b> · test 91.2 %<br>m 0.25 rad (14.3°) · s 28": what a small view trains with."""
    accuracy = "test –" if snap.step == 0 else f"test {snap.test_accuracy:.1%}"
    parts = []
    margin = config.margin
    unit = LOSS_SPECS[config.loss].margin_unit
    if config.loss == "combined":
        parts.append(f"m {margin[0]:g}, {margin[1]:.2f} rad, {margin[2]:.2f}")
    elif margin is not None and unit == "rad":
        parts.append(f"m {margin:.2f} rad ({math.degrees(margin):.1f}°)")
    elif margin is not None:
        parts.append(f"m {margin:g}")
    if config.scale is not None and LOSS_SPECS[config.loss].uses_scale:
        parts.append(f"s {config.scale:g}")
    first = f"<b>{state.loss_label(config.loss)}</b> · {accuracy}"
    return first + ("<br>" + " · ".join(parts) if parts else "<br>no margin")


def statistics_table(snaps: Sequence[Any], configs: Sequence[TrainConfig], dim: int) -> list[dict[str, Any]]:
    """The ArcFace paper's Table 3 for each member (degrees), its test accuracy, and the closest pair of class
    centres beside the Tammes bound (the best any layout of C centres in `dim` dimensions can reach)."""
    rows = []
    for snap, config in zip(snaps, configs, strict=True):
        stats: Mapping[str, float] = snap.angle_stats
        tammes = math.degrees(geometry.tammes_angle(len(snap.class_names), dim))
        rows.append({
            "Loss": state.loss_label(config.loss),
            "W-EC (°)": round(stats["w_ec_deg"], 1),
            "W-Inter (°)": round(stats["w_inter_deg"], 1),
            "Intra (°)": round(stats["intra_deg"], 1),
            "Inter (°)": round(stats["inter_deg"], 1),
            # A string column: before any step the test set is not scored yet, and a NaN would show as "None".
            "Test accuracy (%)": f"{100.0 * snap.test_accuracy:.1f}" if snap.step > 0 else "not yet",
            "Closest centres (°)": round(stats["min_center_angle_deg"], 1),
            "Tammes bound (°)": round(tammes, 1),
        })  # fmt: skip
    return rows
