"""The live unit: a loss's controls, Play / Step / Reset and its live views, reusable on any page.

    result = LiveUnit("pg").render()                      # the Playground: URL-bound, controls in the sidebar
    result.values, result.run.trainer, result.snapshot    # clean values, the run, the model's picture now

    LiveUnit("lesson-3", preset={"loss": "sphereface", "m": "4"}, locked={"loss", "margin"},
             hidden={"dataset"}, fixed_by="This lesson", use_url=False, controls=st.container()).render()

preset:   URL-style values (`app.state.validate` checks them; a bad preset raises ValueError: it is
          the author's mistake, and lesson files are validated when they load).
locked:   controls shown disabled, with a note naming who fixed them; a URL value for them is refused
          with one sentence.
hidden:   controls not shown; their preset value stays in force (and the URL cannot change it either).
use_url:  read the setup from the address bar on the first run and keep it there (one unit per page).
controls: where the controls go (default: the sidebar).
views:    {view name: container} to place the views one by one (a lesson puts each beside the prose that
          talks about it; VIEW_NAMES lists them); views not named are not drawn. Default: the unit's own
          layout, every view.
run_bar:  where Play / Step / Reset and the progress metrics go when `views` is given (default: the top
          of the controls), laid out for a narrow column.
on_details: called with the run inside the statistics fragment (every other tick while playing, and on
          every page run): a lesson shows its checks there, so they follow the training live.
on_epoch: called with the run (its lock held; no drawing) at every epoch end that Play or Step reaches:
          a lesson judges its checks there, at the epoch ends its headless runs judge them.

Two units on one page never collide: widget keys, fragment keys and the run state are all prefixed
with the unit's key.

How a page run goes:
    URL or preset -> state.validate -> widgets -> clean values -> URL written back
    -> trainer rebuilt if a cold value changed (said so) -> hot values handed to the running model
    -> fragments: the hot controls, the live views (a tick while playing), the loss's own views.
A hot slider (margin, scale) reruns only the fragments that show it; the browser has already
redrawn its caps and curves from the preview the server sent with the last figures
(`app.live.preview`), so the page follows the thumb with no round trip.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

# Private Streamlit internals (tests/unit/test_streamlit_internals.py fails loudly if an upgrade removes them):
# the id of the fragment now running, and the fragments queued in this script run.
from streamlit.runtime.scriptrunner_utils.script_run_context import ThreadState

from app import datasets, hosted, state, urlbar
from app.live import controls, exports, notes, slots, views
from app.live import run as runs
from app.live.run import LiveRun

MARGIN_NAMES = ("margin", "scale", "gradient")  # drawn in the hot-controls fragment, right under the loss
SPHEREFACE_NAMES = ("sphereface_form", "lambda_base", "lambda_gamma", "lambda_power", "lambda_min")
TRAINING_NAMES = ("lr", "batch_size", "backbone", "seed")
DATA_NAMES = ("dataset", "embedding_dim")
# The views a page may place one by one (LiveUnit(views=...)); lesson files name them in their markers.
VIEW_NAMES = ("sphere", "angle_histograms", "target_logit", "decision_margins", "angle_statistics",
              "training_curves")


@dataclass
class LiveResult:
    """What a page gets back from a unit: its clean values and its run."""

    values: dict[str, Any]
    run: LiveRun

    @property
    def snapshot(self) -> Any:
        with self.run.lock:
            return self.run.trainer.snapshot()


class LiveUnit:
    """One set of controls bound to one model and its live views; see the module docstring."""

    def __init__(
        self,
        key: str = "pg",
        *,
        preset: Mapping[str, Any] | None = None,
        locked: Collection[str] = (),
        hidden: Collection[str] = (),
        fixed_by: str = "This lesson",
        use_url: bool = True,
        controls: Any = None,
        views: Mapping[str, Any] | None = None,
        run_bar: Any = None,
        on_details: Callable[[LiveRun], None] | None = None,
        on_epoch: runs.EpochHook | None = None,
    ):
        self.key = key
        self.locked = state.check_control_names(locked, what="locked control")
        self.hidden = state.check_control_names(hidden, what="hidden control")
        self.fixed_by = fixed_by
        self.use_url = use_url
        self.controls = controls
        unknown = sorted(set(views or ()) - set(VIEW_NAMES))
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a view of the live unit (views: {', '.join(VIEW_NAMES)}).")
        self.placed = dict(views) if views is not None else None
        self.run_bar = run_bar
        self.on_details = on_details
        self.on_epoch = on_epoch
        self.preset, problems = state.validate(preset or {}, source="Preset")
        if problems:
            raise ValueError(problems[0])

    @staticmethod
    def read_link_next_time(key: str) -> None:
        """Make the unit with this key read its setup from the address bar at its next render (a page that
        switches to the Playground with settings in the link calls this first)."""
        st.session_state[f"{key}-seeded"] = False

    # -- state ------------------------------------------------------------------------------------
    def _k(self, name: str) -> str:
        return f"{self.key}-{name}"

    @property
    def run(self) -> LiveRun:
        key = self._k("run")
        if key not in st.session_state:
            st.session_state[key] = LiveRun()
        return st.session_state[key]

    @property
    def values(self) -> dict[str, Any]:
        """The unit's clean values (by Param name); the widgets mirror them."""
        return st.session_state[self._k("values")]

    @property
    def notices(self) -> list[str]:
        return st.session_state.setdefault(self._k("notices"), [])

    @property
    def fixed(self) -> frozenset[str]:
        """Controls the user cannot change here (locked or hidden). Fixing the margin fixes the loss too:
        a margin means something only for its own loss."""
        fixed = self.locked | self.hidden
        return fixed | {"loss"} if "margin" in fixed else fixed

    def _seed(self) -> dict[str, Any]:
        """The clean values: from the URL (or the preset) on the first run and on Back/Forward."""
        history = self.use_url and urlbar.history_navigation()
        seeded = self._k("seeded")
        if not st.session_state.get(seeded) or history:
            raw = urlbar.raw_query() if self.use_url else {}
            raw.pop(hosted.SERVER_PARAM, None)  # a hosted page's server mark, not a setting
            refusal = hosted.folder_param_refusal(raw, hosted=hosted.settings().hosted)
            if refusal:  # a hosted server reads only its instructor's folders: say so, once, and drop the key
                raw = {key: value for key, value in raw.items() if key.lower() not in hosted.FOLDER_PARAMS}
            values, notices = state.validate_over_preset(raw, self.preset, self.fixed, fixed_by=self.fixed_by)
            notices = [refusal, *notices] if refusal else notices
            st.session_state[self._k("values")] = values
            st.session_state[self._k("notices")] = notices
            for p in state.params_for(values["loss"]):
                controls.seed_widgets(self.key, p, values[p.name], force=bool(st.session_state.get(seeded)))
            st.session_state[seeded] = True
        return self.values

    def folder(self) -> str | None:
        return datasets.data_folder(st.session_state.get(self._k("data")), self.values["dataset"])

    # -- callbacks (they run before the page, so they read everything from session state) ----------
    def _changed(self, name: str) -> None:
        """A control moved: take its value; a new loss starts from its own margins; hot values go to the model."""
        values = self.values
        p = state.param_by_name(values["loss"], name)
        had_notices = bool(self.notices)
        self.notices.clear()  # they described the link, not the page any more
        self.run.touch()
        if name == "loss":
            self._switch_loss(controls.read_widgets(self.key, p))
        else:
            values[name] = controls.read_widgets(self.key, p)
        if self.use_url:
            urlbar.write(state.to_query(values))
        if not p.hot or self.run.trainer is None:
            return  # a cold change: the page reruns and rebuilds the model
        runs.hand_over_hot(self.run, values)
        if had_notices or not _in_fragment_run():
            return  # the whole page reruns anyway (the notices must go)
        if p.name in MARGIN_NAMES:
            targets = [self._k("hot"), self._k("instant")]
            if self.run.queued:
                # Waiting for a training slot (a hosted server's queue): the browser's previews move the views with
                # the thumb, the model has not moved, and the admission reruns the whole page. Redrawing the views on
                # the server for every slider move of a waiting class would slow the students who train.
                targets = [self._k("hot")]
            elif not self.run.playing:  # while playing the next tick redraws the model's views
                targets.append(self._k("live"))
            if self.use_url:
                targets.append(self._k("share"))
            st.rerun(targets)

    def _switch_loss(self, new_loss: str) -> None:
        """A new loss starts from its own margin defaults; shared settings (lr, data, seed, s) stay."""
        old = self.values
        fresh = state.defaults(new_loss)
        kept = ("loss", "margin", *SPHEREFACE_NAMES)
        new = {**fresh, **{k: v for k, v in old.items() if k in fresh and k not in kept}, "loss": new_loss}
        st.session_state[self._k("values")] = new
        for p in state.params_for(new_loss):
            if p.name in kept:
                controls.seed_widgets(self.key, p, new[p.name], force=True)

    def _set_playing(self, playing: bool) -> None:
        """Play or Pause, as the button said when it was clicked (not a toggle: under load Streamlit may
        deliver one click to two coalesced reruns, and a toggle would undo itself). On a hosted server Play
        asks for a training slot first (app.live.slots): it may queue instead."""
        run = self.run
        run.auto_paused = ""
        run.touch()
        if playing:
            slots.press_play(self.key, run)
        else:
            self._stop_playing()

    def _stop_playing(self) -> None:
        slots.stop_playing(self.key, self.run)

    def _step(self) -> None:
        self._stop_playing()
        runs.hand_over_hot(self.run, self.values)
        runs.step_one_epoch(self.run, self.on_epoch)

    def _reset(self) -> None:
        self._stop_playing()
        runs.reset(self.run, self.values, self.folder())

    # -- controls ----------------------------------------------------------------------------------
    def _control(self, name: str, values: Mapping[str, Any]) -> None:
        p = state.param_by_name(values["loss"], name)
        if p is None or name in self.hidden or not state.is_active(p, values):
            return
        note = f"{self.fixed_by} fixed this." if name in self.fixed else None
        controls.seed_widgets(self.key, p, values[name])
        controls.draw(self.key, p, locked_note=note, on_change=self._changed, args=(name,))

    def _cold_controls(self, values: dict[str, Any]) -> Any:
        """Every control outside the hot fragment; returns the container reserved for that fragment."""
        st.header("Loss")
        self._control("loss", values)
        hot_box = st.container()
        if values["loss"] == "sphereface" and "sphereface_form" not in self.hidden:
            with st.expander("SphereFace form and λ annealing", expanded=values["sphereface_form"] == "original"):
                for name in SPHEREFACE_NAMES:
                    self._control(name, values)
                if values["sphereface_form"] != "original":
                    st.caption("λ annealing belongs to the original form: choose it to set λ.")
        st.header("Training")
        for name in TRAINING_NAMES:
            self._control(name, values)
        st.header("Data")
        self._control("dataset", values)
        if datasets.asks_for_folder(values["dataset"]) and "dataset" not in self.hidden:
            st.session_state.setdefault(self._k("data"), "")
            st.text_input(
                "Data folder", key=self._k("data"), placeholder=f"${datasets.DATA_ENV} or a folder with the IDX files",
                help=f"A folder with the MNIST / Fashion-MNIST IDX files (.gz is fine). Empty: ${datasets.DATA_ENV}.",
            )  # fmt: skip
        self._control("embedding_dim", values)
        return hot_box

    def _hot_controls(self) -> None:
        """Margin, scale and gradient with the notes that follow them (a fragment: a move reruns only this,
        the loss's own views and, while paused, the model's views)."""
        values = self.values
        for name in MARGIN_NAMES:
            self._control(name, values)
        if values["loss"] == "sphereface" and values.get("sphereface_form") == "original":
            st.caption("Scale: the original form uses each feature's length ‖x‖ as its scale, so there is no s.")
        num_classes = self.run.trainer.dataset.num_classes
        for level, text in notes.geometry_notes(values, num_classes, int(values["embedding_dim"])):
            if level == "warning":
                st.warning(text, icon=":material/block:")
            else:
                st.caption(text)
        self._train_when_drawn()

    def _train_when_drawn(self) -> None:
        """Train the rest of a tick once every fragment of this unit queued in this run has drawn.

        Why: Streamlit folds fragment reruns that are due together into one script run (the tick and
        the details, say) and runs them one after another. A fragment waiting behind the tick's
        training shows its old elements as stale, and Streamlit fades stale elements after ~0.5 s:
        the statistics and histograms flickered grey every other tick. So the tick's training moves
        to the end of the last of this unit's fragments in the run.
        """
        run = self.run
        current = ThreadState.get().fragment_id
        if current is not None:
            run.fragment_ids.add(current)
        if run.tick_started is None:
            return
        queued = list(getattr(get_script_run_ctx(), "fragment_ids_this_run", None) or [])
        if current in queued and any(f in run.fragment_ids for f in queued[queued.index(current) + 1 :]):
            return  # a later fragment of this unit draws first, then trains
        started, run.tick_started = run.tick_started, None
        runs.train_rest_of_tick(run, started, self.on_epoch)

    def _share(self) -> None:
        # In a popover: its body is drawn only when opened, so the code block's syntax highlighter (~1.5 MB of
        # JavaScript, ~0.5 s of parsing on this machine) no longer loads with the page, beside plotly.js.
        st.header("Share")
        with st.popover("Link to this setup", icon=":material/link:", width="stretch"):
            st.caption("This link reproduces the setup, seed included:")
            st.code(urlbar.link(state.to_query(self.values)), language=None, wrap_lines=True)

    # -- views -------------------------------------------------------------------------------------
    def _buttons(self) -> list[Any]:
        """Play / Step / Reset, and the four boxes the live fragment fills with progress metrics: in one row
        across the page, or (a lesson's run bar, a narrow column) buttons above two rows of metrics."""
        run = self.run
        if self.placed is None:
            cells = st.columns([1.1, 1, 1, 1.1, 1.3, 1.3, 1.1], vertical_alignment="center")
            buttons, metrics = cells[:3], cells[3:]
        else:  # a sidebar is ~300 px: Play on its own row, Step and Reset under it, then two rows of metrics
            buttons = [st.container(), *st.columns(2, gap="small")]
            metrics = [*st.columns(2), *st.columns(2)]
        buttons[0].button("Pause" if run.playing else "Play", key=self._k("play"), type="primary",
                          icon=":material/pause:" if run.playing else ":material/play_arrow:",
                          on_click=self._set_playing, args=(not run.playing,), width="stretch")
        buttons[1].button("Step", key=self._k("step"), icon=":material/skip_next:", on_click=self._step,
                          help="Train one epoch, then pause.", width="stretch")
        buttons[2].button("Reset", key=self._k("reset"), icon=":material/restart_alt:", on_click=self._reset,
                          help="Rebuild the model from the seed (pauses).", width="stretch")
        return [box.empty() for box in metrics]

    def _live(self) -> None:
        """A tick: draw the model's latest picture first (nothing goes stale), then train for the rest of it."""
        started = time.monotonic()
        run, values = self.run, self.values
        if runs.check_pauses(run):
            slots.give_back(self.key)
            st.rerun()  # the Play button and the tick timer must change
        if run.playing:  # renew the training slot (a hosted server): lost to another tab, or expired in a stall
            result = slots.ask(self.key)
            if not isinstance(result, hosted.Admitted):
                run.playing = False
                run.queued = slots.sentence(result) if isinstance(result, hosted.Queued) else ""
                run.auto_paused = "" if run.queued else slots.sentence(result)
                st.rerun()
        with run.lock:
            snap = run.trainer.snapshot()
        for event in runs.new_events(run):
            if event.kind == "diverged":
                st.toast(event.message, icon=":material/warning:")
        views.progress_metrics(snap, self.boxes["progress"])
        # Each box outside this fragment gets exactly one container on every run (messages may be none):
        # Streamlit keeps a fragment's place in an outside box only if it wrote there in the last full run.
        with self.boxes["messages"], st.container():
            self._messages(snap)
        if self.boxes["sphere"] is not None:
            with self.boxes["sphere"], st.container():
                views.sphere_view(self.key, snap, values, key=self._k("sphere"))
        run.tick_started = started
        self._train_when_drawn()

    def _wait_in_queue(self) -> None:
        """While queued for a training slot: ask again; once admitted, play (the whole unit redraws)."""
        run = self.run
        result = slots.ask(self.key)
        if isinstance(result, hosted.Admitted):
            run.queued, run.playing = "", True
            st.rerun()
        run.queued = slots.sentence(result)
        if not isinstance(result, hosted.Queued):  # the browser's slot went to another tab meanwhile
            run.queued, run.auto_paused = "", run.queued
            st.rerun()

    def _details(self) -> None:
        """The angle statistics, histograms and training curves: redrawn half as often as the sphere while
        playing (each redraw costs the browser ~0.1 s that the training and a dragged sphere need more)."""
        with self.run.lock:
            snap = self.run.trainer.snapshot()
        boxes = self.boxes
        if boxes["stats"] is not None:
            with boxes["stats"], st.container():
                views.angle_statistics(snap, len(snap.class_names), int(self.values["embedding_dim"]),
                                       per_row=6 if self.placed is None else 3)
        if boxes["histograms"] is not None:
            with boxes["histograms"], st.container():
                views.histogram_view(snap, key=self._k("angle-hist"))
        if boxes["curves"] is not None:
            with boxes["curves"], st.container():
                views.curves_view(snap, key=self._k("curves"))
        if self.on_details is not None:
            self.on_details(self.run)
        self._train_when_drawn()

    def _messages(self, snap: Any) -> None:
        run = self.run
        line = views.running_text(run.trainer.config, snap)
        if run.last_hyper:
            line += f" Applied to the running model, no reset: {run.last_hyper}."
        st.caption(views.md(line))
        if run.last_divergence:
            st.warning(views.md(run.last_divergence) + "; training goes on from there. A smaller lr, s or m may "
                       "help.", icon=":material/warning:")  # fmt: skip
        if run.auto_paused:
            st.info(views.md(run.auto_paused), icon=":material/pause_circle:")
        if run.queued:
            st.info(views.md(run.queued), icon=":material/hourglass_top:")

    def _instant(self) -> None:
        """The loss's own views: they need no model, only the formula and the slider values."""
        values = self.values
        lam = self.run.trainer.hyper()["sphereface_lambda"]  # SphereFace's original form blends in λ·cos θ
        if self.boxes["target"] is not None:
            with self.boxes["target"], st.container():
                views.target_logit_view(self.key, values, lam, key=self._k("target-logit"))
        if self.boxes["decision"] is not None:
            with self.boxes["decision"], st.container():
                views.decision_view(self.key, values, lam, key=self._k("decision"))
        self._train_when_drawn()

    # -- the whole unit ----------------------------------------------------------------------------
    def render(self) -> LiveResult:
        values = self._seed()
        run = self.run
        run.touch()
        if self.use_url:
            urlbar.write(state.to_query(values))
        runs.ensure_trainer(run, values, self.folder())
        runs.hand_over_hot(run, values)

        # The views go out before the controls (their values are in session state already): the browser
        # then starts on the live chart's code and plotly.js while it is still building the sidebar's
        # widgets, and the first sphere appears sooner (benchmarks/ui_latency.py, first_plot).
        box = self.controls if self.controls is not None else st.sidebar
        # A lesson places its views beside its prose and keeps the run bar (and what it says) in one column.
        with (st.container() if self.placed is None else (self.run_bar or box)):
            for notice in self.notices:
                st.warning(views.md(notice), icon=":material/link_off:")
            if run.data_notice:
                st.warning(views.md(run.data_notice), icon=":material/folder_off:")
            progress = self._buttons()
            if run.rebuilt:
                st.caption(views.md(run.rebuilt))
                if run.toasted != run.rebuilt_count:
                    st.toast(run.rebuilt, icon=":material/restart_alt:")
                    run.toasted = run.rebuilt_count
            messages = st.container()
        if self.placed is None:
            top = st.columns([11, 9], gap="small")
            stats = st.container()
            middle = st.columns(2, gap="small")
            self.boxes = {"progress": progress, "messages": messages, "sphere": top[0], "target": top[1],
                          "stats": stats, "histograms": middle[0], "decision": middle[1], "curves": st.container()}
        else:
            placed = self.placed
            self.boxes = {"progress": progress, "messages": messages, "sphere": placed.get("sphere"),
                          "target": placed.get("target_logit"), "stats": placed.get("angle_statistics"),
                          "histograms": placed.get("angle_histograms"), "decision": placed.get("decision_margins"),
                          "curves": placed.get("training_curves")}
        if run.queued:
            st.fragment(self._wait_in_queue, run_every=hosted.QUEUE_POLL_S, key=self._k("queue"))()
        st.fragment(self._live, run_every=runs.TICK_EVERY_S if run.playing else None, key=self._k("live"))()
        st.fragment(self._details, run_every=runs.DETAILS_S if run.playing else None, key=self._k("details"))()
        original = values["loss"] == "sphereface" and values.get("sphereface_form") == "original"
        # In SphereFace's original form λ changes at every step: its curve follows the training.
        every = 2 * runs.TICK_S if run.playing and original else None
        st.fragment(self._instant, run_every=every, key=self._k("instant"))()

        with box:
            hot_box = self._cold_controls(values)
        with hot_box:
            st.fragment(self._hot_controls, key=self._k("hot"))()
        if self.use_url:
            with box:
                st.fragment(self._share, key=self._k("share"))()
                # Built on click only (no timer, nothing in the tick): exports cost a tick nothing.
                exports.export_panel({values["loss"]: run.trainer}, exports.live_unit_figures(run.trainer, values,
                                     run.lock), key=self._k("export"), lock=run.lock)  # fmt: skip
        return LiveResult(values, run)


def _in_fragment_run() -> bool:
    """Whether this script run reruns fragments only (a widget inside a fragment, a tick), not the page."""
    ctx = get_script_run_ctx()
    return bool(getattr(ctx, "fragment_ids_this_run", None))
