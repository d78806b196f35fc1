"""The live unit: one loss's controls, the run bar and its live views, reusable on any page.

    result = LiveUnit("pg").render()                      # the Playground: URL-bound, controls in the sidebar
    result.values, result.run.frame                       # clean values, and the model's latest picture

    LiveUnit("lesson-3", preset={"loss": "sphereface", "margin": "4"}, locked={"loss", "margin"},
             hidden={"dataset"}, fixed_by="This lesson", use_url=False, controls=st.container()).render()

preset:   URL-style values (`app.state.validate` checks them; a bad preset raises ValueError: it is the
          author's mistake, and lesson files are validated when they load); `pace` sets the pace.
locked:   controls shown disabled, with a note naming who fixed them; a URL value for them is refused
          with one sentence.
hidden:   controls not shown; their preset value stays in force (and the URL cannot change it either).
use_url:  read the setup from the address bar on the first run and keep it there (one unit per page).
controls: where the controls go (default: the sidebar).
views:    {view name: container} to place the views one by one (a lesson puts each beside the prose that
          talks about it; VIEW_NAMES lists them); views not named are not drawn. Default: the unit's own
          layout, every view.
run_bar:  where the run bar goes when `views` is given (default: the top of the controls), laid out for a
          narrow column.
withheld: facts a lesson's open questions ask for (app.live.notes.FACTS): the notes and the statistics are
          worded without them.
on_details: called with the run inside the statistics fragment (every tick at the watch pace, and on every
          page run): a lesson shows its checks there, so they follow the training live.
epoch_probe, on_probes: see app.live.base (a lesson measures its checks at every epoch end).

Two units on one page never collide: widget keys, fragment keys and the run state are all prefixed
with the unit's key. The run bar, the pace, the pause policy and the tick are the base's (app.live.base).

How a page run goes:
    URL or preset -> state.validate -> widgets -> clean values -> URL written back
    -> model rebuilt if a cold value changed (said so) -> hot values handed to the running model
    -> fragments: the hot controls, the live views (a tick while playing), the loss's own views.
A hot slider (margin, scale) reruns only the fragments that show it; the browser has already redrawn its
caps and curves from the preview the server sent with the last figures (`app.live.preview`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from app import datasets, hosted, state, urlbar
from app.live import controls, exports, notes, views
from app.live.base import PACE_KEY, Build, TrainingUnit, UnitRun
from app.training import pace as paces
from app.training.device import device_caption, server_device
from app.training.worker import Frame
from toy_models.heads import LOSS_SPECS
from toy_models.train import TrainConfig

MARGIN_NAMES = ("margin", "scale", "gradient")  # drawn in the hot-controls fragment, right under the loss
SPHEREFACE_NAMES = ("sphereface_form", "lambda_base", "lambda_gamma", "lambda_power", "lambda_min")
# The views a page may place one by one (LiveUnit(views=...)); lesson files name them in their markers.
VIEW_NAMES = ("sphere", "angle_histograms", "target_logit", "decision_margins", "angle_statistics",
              "training_curves")


@dataclass
class LiveResult:
    """What a page gets back from a unit: its clean values and its run."""

    values: dict[str, Any]
    run: UnitRun

    @property
    def snapshot(self) -> Any:
        return self.run.frame.snapshot


def config_for(values: Mapping[str, Any], dataset: Any, data_dir: str | None) -> TrainConfig:
    """The TrainConfig of a set of clean values (every other field keeps the library default)."""
    fields = {**state.config_fields(values), "dataset": dataset.name, "data_dir": data_dir}
    # one torch thread: many sessions share the machine; the device: the server's setting, else auto
    return TrainConfig(**fields, num_threads=1, device=server_device()[0])


class LiveUnit(TrainingUnit):
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
        on_details: Callable[[UnitRun], None] | None = None,
        epoch_probe: Callable[[], Callable[[Any], Any] | None] | None = None,
        on_probes: Callable[[UnitRun, Any], None] | None = None,
        withheld: Collection[str] = (),
    ):
        preset = dict(preset or {})
        super().__init__(key, fixed_by=fixed_by, controls=controls, epoch_probe=epoch_probe,
                         on_probes=on_probes,
                         pace=preset.pop(PACE_KEY, None))  # fmt: skip
        self.locked = state.check_control_names(locked, what="locked control")
        self.hidden = state.check_control_names(hidden, what="hidden control")
        self.use_url = use_url
        unknown = sorted(set(views or ()) - set(VIEW_NAMES))
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a view of the live unit (views: {', '.join(VIEW_NAMES)}).")
        self.placed = dict(views) if views is not None else None
        self.run_bar = run_bar
        self.on_details = on_details
        self.withheld = frozenset(withheld)
        self.preset, problems = state.validate(preset, source="Preset")
        if problems:
            raise ValueError(problems[0])

    @staticmethod
    def read_link_next_time(key: str) -> None:
        """Make the unit with this key read its setup from the address bar at its next render (a page that
        switches to the Playground with settings in the link calls this first)."""
        st.session_state[f"{key}-seeded"] = False

    # -- state ------------------------------------------------------------------------------------
    @property
    def values(self) -> dict[str, Any]:
        """The unit's clean values (by control name); the widgets mirror them."""
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
            pace_notice = self._read_pace(raw.pop(PACE_KEY, None))
            refusal = hosted.folder_param_refusal(raw, hosted=hosted.settings().hosted)
            if refusal:  # a hosted server reads only its instructor's folders: say so, once, and drop the key
                raw = {key: value for key, value in raw.items() if key.lower() not in hosted.FOLDER_PARAMS}
            values, notices = state.validate_over_preset(raw, self.preset, self.fixed, fixed_by=self.fixed_by)
            st.session_state[self._k("values")] = values
            st.session_state[self._k("notices")] = [n for n in (refusal, pace_notice) if n] + notices
            for p in state.params_for(values["loss"]):
                controls.seed_widgets(self.key, p, values[p.name], force=bool(st.session_state.get(seeded)))
            st.session_state[seeded] = True
        return self.values

    def _read_pace(self, raw: Any) -> str:
        """A link's `pace` (the last one, if repeated): taken when it names a pace; else one sentence."""
        text = raw[-1] if isinstance(raw, list) and raw else raw
        if text is None:
            return ""
        if str(text) in paces.PACES:
            st.session_state[self._k(PACE_KEY)] = str(text)
            return ""
        return (f"URL value pace={str(text)[:24]!r} is not a pace ({', '.join(paces.PACES)}); using "
                f"{self.pace.name}.")

    def _pace_changed(self) -> None:
        if self.use_url:
            urlbar.write(self._link_query())

    def _link_query(self) -> dict[str, str]:
        """The link to this setup: every control, and the pace."""
        return {**state.to_query(self.values), PACE_KEY: self.pace.name}

    def folder(self) -> str | None:
        return datasets.data_folder(st.session_state.get(self._k("data")), self.values["dataset"])

    # -- the model --------------------------------------------------------------------------------
    def _build(self) -> Build:
        values = self.values
        dataset, folder, notice = datasets.dataset_for(values, self.folder())
        self.run.data_notice = notice
        config = config_for(values, dataset, folder)
        self.run.device_note = device_caption(config, dataset)
        cold = (*state.cold_key(values), ("dataset_used", dataset.name), ("folder", folder))
        built_from = dict(self.run.values)

        def changed() -> str:
            words = state.cold_changes(built_from, values) or ["Dataset"]  # (a fixed folder loads differently)
            return words[0] + " changed" if len(words) == 1 else ", ".join(words[:-1]) + f" and {words[-1]} changed"

        return Build((config,), False, cold, changed)

    def _ensure(self) -> None:
        run = self.run
        before = run.handle
        self._ensure_model(self._build())
        if run.handle is not before:
            run.values, run.initial = dict(self.values), dict(self.values)

    def _hand_over_hot(self) -> None:
        """Give changed hot values to the running model, which keeps its weights (checked once, by the handle's
        TrainConfig.with_hot; applied before the model's next step)."""
        run, values = self.run, self.values
        if run.handle is None:
            return
        current = run.handle.configs[0]
        changed = {name: value for name, value in state.hot_values(values).items() if getattr(current, name) != value}
        if changed:
            run.handle.request_hyper(0, **changed)
        run.values = dict(values)

    # -- callbacks (they run before the page, so they read everything from session state) ----------
    def _changed(self, name: str) -> None:
        """A control moved: take its value; a new loss starts from its own margins; hot values go to the model."""
        values = self.values
        p = state.param_by_name(values["loss"], name)
        if p is None:  # a control of the previous loss, whose callback Streamlit delivered after the loss changed
            return
        had_notices = bool(self.notices)
        self.notices.clear()  # they described the link, not the page any more
        self.run.touch()
        if name == "loss":
            self._switch_loss(controls.read_widgets(self.key, p))
        else:
            values[name] = controls.read_widgets(self.key, p)
        if self.use_url:
            urlbar.write(self._link_query())
        if not p.hot or self.run.handle is None:
            return  # a cold change: the page reruns and rebuilds the model
        self._hand_over_hot()
        if had_notices or not _in_fragment_run():
            return  # the whole page reruns anyway (the notices must go)
        if p.name in MARGIN_NAMES:
            targets = [self._k("hot"), self._k("instant")]
            if self.run.queued:
                # Waiting for a training slot: the browser's previews move the views with the thumb, and the
                # admission reruns the whole page; redrawing the views for every move of a waiting class would
                # slow the students who train.
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
        if state.param_by_name(values["loss"], "sphereface_form") is not None and "sphereface_form" not in self.hidden:
            with st.expander("SphereFace form and λ annealing", expanded=values["sphereface_form"] == "original"):
                for name in SPHEREFACE_NAMES:
                    self._control(name, values)
                if values["sphereface_form"] != "original":
                    st.caption("λ annealing belongs to the original form: choose it to set λ.")
        st.header("Training")
        for name in state.TRAINING_NAMES:
            self._control(name, values)
        st.header("Data")
        self._control("dataset", values)
        self._control("train_identities", values)  # glyphs only (state.is_active)
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
        if LOSS_SPECS[values["loss"]].feature_norm_scale(values):
            st.caption("Scale: the original form uses each feature's length ‖x‖ as its scale, so there is no s.")
        num_classes = len(self.run.frame.snapshot.class_names)
        with st.container(key=self._k("notes")):  # the charts' previews rewrite these while the thumb moves
            for level, text in notes.geometry_notes(values, num_classes, int(values["embedding_dim"]), self.withheld):
                if level == "warning":
                    st.warning(text, icon=":material/block:")
                else:
                    st.caption(text)
        self._train_when_drawn()

    def _share(self) -> None:
        # In a popover: its body is drawn only when opened, so the code block's syntax highlighter (~1.5 MB of
        # JavaScript) no longer loads with the page, beside plotly.js.
        st.header("Share")
        with st.popover("Link to this setup", icon=":material/link:", width="stretch"):
            st.caption("This link reproduces the setup, seed included:")
            st.code(urlbar.link(self._link_query()), language=None, wrap_lines=True)

    # -- views -------------------------------------------------------------------------------------
    def _layout(self) -> None:
        boxes = self.boxes
        if self.placed is None:
            top = st.columns([11, 9], gap="small")
            stats = st.container()
            middle = st.columns(2, gap="small")
            boxes.update(sphere=top[0], target=top[1], stats=stats, histograms=middle[0], decision=middle[1],
                         curves=st.container())  # fmt: skip
        else:
            placed = self.placed
            boxes.update(sphere=placed.get("sphere"), target=placed.get("target_logit"),
                         stats=placed.get("angle_statistics"), histograms=placed.get("angle_histograms"),
                         decision=placed.get("decision_margins"), curves=placed.get("training_curves"))  # fmt: skip

    def _notes_at(self) -> views.NotesAt:
        """Where the notes under the margin and scale sliders are, and what they say at any values."""
        classes, dim = len(self.run.frame.snapshot.class_names), int(self.values["embedding_dim"])
        return self._k("notes"), lambda v: notes.notes_at_stop(v, classes, dim, self.withheld)

    def _running_text(self, frame: Frame) -> str:
        return views.running_text(frame.configs[0], frame.snapshot)

    def _draw_frame(self, frame: Frame) -> None:
        # Each box outside this fragment gets exactly one container on every run: Streamlit keeps a fragment's
        # place in an outside box only if it wrote there in the last full run.
        if self.boxes["sphere"] is not None:
            with self.boxes["sphere"], st.container():
                dim, classes = int(self.values["embedding_dim"]), len(frame.snapshot.class_names)
                if dim not in state.DRAWN_DIMS:
                    st.info(views.undrawn_text(dim, classes), icon=":material/deployed_code:")
                    return
                views.sphere_view(self.key, frame.snapshot, self.values, key=self._k("sphere"),
                                  notes_at=self._notes_at())
                if classes > views.LEGEND_MAX_CLASSES:
                    st.caption(views.many_classes_text(classes))

    def _draw_details(self, frame: Frame) -> None:
        """The angle statistics, histograms and training curves (every tick at the watch pace)."""
        snap, boxes = frame.snapshot, self.boxes
        if boxes["stats"] is not None:
            with boxes["stats"], st.container():
                dim, classes = int(self.values["embedding_dim"]), len(snap.class_names)
                views.angle_statistics(snap, classes, dim, per_row=6 if self.placed is None else 3,
                                       hide_bound=notes.TAMMES in notes.withheld_here(self.withheld, dim, classes))
        if boxes["histograms"] is not None:
            with boxes["histograms"], st.container():
                views.histogram_view(snap, key=self._k("angle-hist"))
        if boxes["curves"] is not None:
            with boxes["curves"], st.container():
                views.curves_view(snap, key=self._k("curves"))
        if self.on_details is not None:
            self.on_details(self.run)

    def _instant(self) -> None:
        """The loss's own views: they need no model, only the formula and the slider values."""
        values = self.values
        lam = self.run.frame.snapshot.hyper.get("sphereface_lambda", 0.0)  # SphereFace's original form blends λ
        if self.boxes["target"] is not None:
            with self.boxes["target"], st.container():
                views.target_logit_view(self.key, values, lam, key=self._k("target-logit"), notes_at=self._notes_at())
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
            urlbar.write(self._link_query())
        self._ensure()
        self._hand_over_hot()

        # The views go out before the controls (their values are in session state already): the browser then
        # starts on the live chart's code and plotly.js while it is still building the sidebar's widgets.
        box = self.controls if self.controls is not None else st.sidebar
        # A lesson places its views beside its prose and keeps the run bar (and what it says) in one column.
        with (st.container() if self.placed is None else (self.run_bar or box)):
            self._notices_and_bar(narrow=self.placed is not None, notices=self.notices)
        self._layout()
        self._fragments()
        # In SphereFace's original form λ changes at every step: its curve follows the training.
        scheduled = LOSS_SPECS[values["loss"]].feature_norm_scale(values)
        every = 2 * self.pace.tick_s if run.playing and scheduled else None
        st.fragment(self._instant, run_every=every, key=self._k("instant"))()

        with box:
            hot_box = self._cold_controls(values)
        with hot_box:
            st.fragment(self._hot_controls, key=self._k("hot"))()
        if self.use_url:
            with box:
                st.fragment(self._share, key=self._k("share"))()
                # Built on click only (no timer, nothing in the tick): exports cost a tick nothing.
                exports.export_panel(run.handle, [state.loss_label(values["loss"])],
                                     exports.live_unit_figures(run, values), key=self._k("export"))  # fmt: skip
        return LiveResult(values, run)


def _in_fragment_run() -> bool:
    """Whether this script run reruns fragments only (a widget inside a fragment, a tick), not the page."""
    return bool(get_script_run_ctx().fragment_ids_this_run)
