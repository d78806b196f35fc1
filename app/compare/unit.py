"""The losses side by side: one MultiTrainer, identical batches, one small hypersphere view per loss.

    CompareUnit("cmp").render() -> CompareResult(configs, run, members)    # the Compare page
    CompareUnit("lesson-6", preset=..., locked=..., hidden=..., controls=st.container())   # a lesson (see the class)

The sidebar holds the losses to compare (each with its own margin, scale and gradient controls) and the
settings they share (learning rate, batch, backbone, seed, dataset, dimension). The main area holds the run
bar (the base's: Play, Step, Reset, pace), the small multiples (in 3-D they share one camera: turning one
turns them all) and one table of the ArcFace paper's angle statistics per loss (its Table 3), with the
closest pair of class centres beside the Tammes bound.

Hot changes (a member's margin, scale or gradient; the shared learning rate) go to the running members
only, which keep their weights; a cold change (the set of losses, the data, the dimension, the backbone,
the batch size, the seed) rebuilds every member from the seed and says so. Every widget key starts with
the unit's key ("cmp-lr", "cmp-arcface-margin"), so the page can hold other units. The unit's setup can be
shared as a link (`share_query`, `?compare=...` keys); a lesson's unit never reads the address bar. Its
defaults and a lesson's preset are plain values, checked without Streamlit in `app.compare.values`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from app import datasets, plots, state, urlbar
from app.compare.values import (
    MEMBER_NAMES,
    ComparePreset,
    check_fixable,
    default_shared,
    parse_preset,
    preset_from_link,
)
from app.compare.values import member_values as preset_member_values
from app.components.live_plotly import live_plotly
from app.live import controls, exports, preview, views
from app.live.base import PACE_KEY, Build, TrainingUnit, UnitRun
from app.live.unit import config_for
from app.training.device import device_caption
from app.training.worker import Frame
from toy_models import geometry
from toy_models.heads import LOSS_SPECS, LOSSES
from toy_models.train import DEFAULT_COMPARE_LOSSES, TrainConfig

VIEW_HEIGHT = 290  # four across and the table below fit a 1366×768 laptop screen


@dataclass(frozen=True)
class MemberView:
    """One member as a lesson sees it: its loss and its clean values by control name ("loss", margin, scale,
    gradient and the shared settings), what `app.lessons.checks.evaluate` compares with a check's settings."""

    loss: str
    values: dict[str, Any]


@dataclass
class CompareResult:
    """What the page gets back: the member configs (for the sections below), the run, and each member's values
    by loss."""

    configs: list[TrainConfig]
    run: UnitRun
    members: dict[str, MemberView] = field(default_factory=dict)


class CompareUnit(TrainingUnit):
    """Controls, the run bar, small multiples and the statistics table of several losses at once.

    CompareUnit("cmp", use_url=True)                               # the Compare page: controls in the sidebar
    CompareUnit("lesson-6", preset={"embedding_dim": 2, "losses": ["cosface", "arcface"],
                                    "members": {"arcface": {"margin": 0.2}}},
                locked={"losses", "margin"}, hidden={"backbone"}, fixed_by="This lesson", controls=st.container())

    losses:   the losses chosen when the unit opens (a preset's `losses` takes precedence).
    preset:   shared keys, `losses`, `members` = {loss: {key: value}} (`app.compare.values`) and `pace`; a bad
              preset raises ValueError with one sentence (the lesson author's mistake).
    locked:   "losses" (the member selection; "loss" means the same), shared control names and member control
              names (margin, scale, gradient: for every member): shown disabled with "<fixed_by> fixed this.";
              their values cannot change.
    hidden:   the same names, not drawn; the preset's value (or the default) stays in force.
    use_url:  read the setup from the address bar on the first run, and keep the address bar and the share
              link up to date (the Compare page); a lesson's unit leaves the address bar alone.
    epoch_probe, on_probes: see app.live.base (a lesson measures its checks on the members at every epoch end).
    """

    default_pace = "steady"
    tick_scale = 1.5
    has_details = False  # the table follows every tick

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
        epoch_probe: Callable[[], Callable[[Any], Any] | None] | None = None,
        on_probes: Callable[[UnitRun, Any], None] | None = None,
    ):
        unknown = [name for name in losses if name not in LOSSES]
        if unknown:
            raise ValueError(f"loss {unknown[0]!r} is not a loss; the losses are {', '.join(LOSSES)}")
        preset = dict(preset or {})
        super().__init__(key, fixed_by=fixed_by, controls=controls, epoch_probe=epoch_probe,
                         on_probes=on_probes,
                         pace=preset.pop(PACE_KEY, None))  # fmt: skip
        self.preset: ComparePreset = parse_preset(preset)
        self.default_losses = self.preset.losses or tuple(losses)
        self.locked = check_fixable(locked, what="locked control")
        self.hidden = check_fixable(hidden, what="hidden control")
        self.use_url = use_url

    # -- state -------------------------------------------------------------------------------------
    def _member_key(self, loss: str) -> str:
        return self._k(loss)

    @property
    def fixed(self) -> frozenset[str]:
        """What the user cannot change here: the locked and hidden names."""
        return self.locked | self.hidden

    def _note(self, name: str) -> str | None:
        return f"{self.fixed_by} fixed this." if name in self.locked else None

    @property
    def shared(self) -> dict[str, Any]:
        """The settings every member shares (by control name): the defaults, the preset's over them."""
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

    def member_views(self) -> dict[str, MemberView]:
        """Each member the run trains now, by loss in the library's order, with its clean values."""
        frame = self.run.frame
        if frame is None:
            return {}
        classes = len(frame.snapshot.class_names)
        return {c.loss: MemberView(c.loss, self.member_values(c.loss, classes)) for c in frame.configs}

    def folder(self) -> str | None:
        return datasets.data_folder(st.session_state.get(self._k("data")), self.shared["dataset"])

    # -- the link ------------------------------------------------------------------------------------
    def share_query(self) -> dict[str, str]:
        """The link's keys: the chosen losses, the shared settings by name, and each member's own values as
        `<loss>.<name>` (e.g. arcface.margin=0.25)."""
        query = {"losses": ",".join(self.chosen)}
        query.update({name: text for name, text in state.to_query(self.shared).items() if name in state.SHARED_NAMES})
        frame = self.run.frame
        classes = len(frame.snapshot.class_names) if frame is not None else 10
        for loss in self.chosen:
            values = self.member_values(loss, classes)
            own = state.to_query(values)
            for name in MEMBER_NAMES:
                if name in own:
                    query[f"{loss}.{name}"] = own[name]
        return query

    def _read_link(self) -> None:
        """On the first run of a URL-bound unit, take the setup from the address bar (a bad value is one
        sentence and the default stays)."""
        if not self.use_url or st.session_state.get(self._k("seeded")):
            return
        st.session_state[self._k("seeded")] = True
        raw = urlbar.raw_query()
        if not raw:
            return
        preset, notices = preset_from_link(raw)
        st.session_state[self._k("notices")] = notices
        if preset.losses is not None and "losses" not in self.fixed:
            st.session_state[self._k("losses")] = list(preset.losses)
        self.shared.update({k: v for k, v in preset.shared.items() if k not in self.fixed})
        self.preset = ComparePreset(self.preset.shared, self.preset.losses,
                                    {**self.preset.members, **preset.members})  # fmt: skip

    # -- callbacks ---------------------------------------------------------------------------------
    def _shared_changed(self, name: str) -> None:
        self.run.touch()
        p = state.shared_param(name)
        if name in self.fixed:  # a disabled widget cannot move; whatever moved it, the fixed value stays
            controls.seed_widgets(self.key, p, self.shared[name], force=True)
            return
        self.shared[name] = controls.read_widgets(self.key, p)

    def _member_changed(self, loss: str, name: str) -> None:
        self.run.touch()
        p = state.param_by_name(loss, name)
        kept = st.session_state[self._k("members")].get(loss)
        if p is None or kept is None:
            return
        if name in self.fixed:
            controls.seed_widgets(self._member_key(loss), p, kept[name], force=True)
            return
        kept[name] = controls.read_widgets(self._member_key(loss), p)

    # -- building ----------------------------------------------------------------------------------
    def configs(self) -> tuple[list[TrainConfig], Any]:
        """The member configs of the chosen losses, and the dataset they train on."""
        shared = self.shared
        dataset, folder, notice = datasets.dataset_for(shared, self.folder())
        self.run.data_notice = notice
        members = [self.member_values(loss, dataset.num_classes) for loss in self.chosen]
        configs = [config_for(values, dataset, folder) for values in members]
        self.run.device_note = device_caption(configs[0], dataset, len(configs)) if configs else ""
        return configs, dataset

    def _build(self) -> Build | None:
        configs, _ = self.configs()
        if not configs:
            return None
        losses = tuple(c.loss for c in configs)
        shared_cold = tuple((name, getattr(configs[0], name)) for name in sorted(TrainConfig.cold_fields))
        built_from, built_losses = dict(self.run.values), self.run.initial.get("losses")

        def changed() -> str:
            if built_losses != losses:
                return "The losses changed"
            words = state.cold_changes(built_from, self.shared)
            return f"{' and '.join(words) or 'The data'} changed"

        return Build(tuple(configs), True, (losses, shared_cold), changed)

    def _rebuilt_words(self) -> str:
        return "every member rebuilt"

    def _hand_over_hot(self) -> None:
        """Each member's changed hot settings go to that member only; the others train on as they were."""
        run = self.run
        if run.handle is None:
            return
        classes = len(run.handle.frame.snapshot.class_names)
        for index, config in enumerate(run.handle.configs):
            wanted = state.hot_values(self.member_values(config.loss, classes))
            changed = {name: value for name, value in wanted.items() if getattr(config, name) != value}
            if changed:
                run.handle.request_hyper(index, **changed)
        run.values = dict(self.shared)

    # -- drawing -----------------------------------------------------------------------------------
    def _draw_controls(self, num_classes: int) -> None:
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
        if state.is_active(state.shared_param("train_identities"), self.shared):
            self._shared_control("train_identities")  # glyphs only
        if datasets.asks_for_folder(self.shared["dataset"]) and "dataset" not in self.hidden:
            st.session_state.setdefault(self._k("data"), "")
            st.text_input("Data folder", key=self._k("data"), help="A folder holding the MNIST / Fashion-MNIST IDX "
                          f"files (.gz is fine). Empty: ${datasets.DATA_ENV}.")  # fmt: skip
        self._shared_control("embedding_dim")
        if self.use_url:
            st.header("Share")
            with st.popover("Link to this comparison", icon=":material/link:", width="stretch"):
                st.caption("This link reproduces the comparison: the losses, each one's margin, scale and gradient, "
                           "and the shared settings, seed included.")
                st.code(urlbar.link(self.share_query()), language=None, wrap_lines=True)

    def _shared_control(self, name: str) -> None:
        if name in self.hidden:
            return
        p = state.shared_param(name)
        controls.seed_widgets(self.key, p, self.shared[name], force=name in self.fixed)
        controls.draw(self.key, p, locked_note=self._note(name), on_change=self._shared_changed, args=(name,))

    def _layout(self) -> None:
        # The small multiples are redrawn every tick; four WebGL scenes keep a slow browser busy long enough
        # for Streamlit to fade the later ones to its grey "stale" look before their update is read. A live
        # view is never stale (the next tick is under way), so the fade is switched off inside this area.
        st.html(f"<style>.st-key-{self._k('views')} [data-stale='true'] {{opacity: 1 !important; "
                "transition: none !important;}</style>")
        area = st.container(key=self._k("views"))
        self.boxes.update(views=area.container(), table=area.container())

    def _progress(self, frame: Frame) -> None:
        boxes = self.boxes["progress"]
        boxes[0].metric("Epoch", f"{frame.epoch:,}", help=f"{frame.step:,} optimiser steps, one per batch, "
                        "shared by every member.")  # fmt: skip
        boxes[1].metric("Members", f"{len(frame.snapshots)}", help="Losses trained together on identical batches.")
        best = max(frame.snapshots, key=lambda snap: snap.test_accuracy)
        if frame.step == 0:  # a dash: "not yet" does not fit the run bar's column on a laptop screen
            boxes[2].metric("Best test accuracy", "–", help="Not scored yet: the test set is scored at the end of "
                            "each epoch, for every member.")  # fmt: skip
        else:
            boxes[2].metric("Best test accuracy", f"{best.test_accuracy:.1%}",
                            help=f"{state.loss_label(best.loss_name)}'s; each member's is in its view and the table.")
        widest = max(frame.snapshots, key=lambda snap: snap.angle_stats["min_center_angle_deg"])
        boxes[3].metric("Widest closest pair", f"{widest.angle_stats['min_center_angle_deg']:.1f}°",
                        help=f"{state.loss_label(widest.loss_name)}'s closest pair of class centres, the widest of "
                             "the members (the table has every member's, beside the Tammes bound).")

    def _running_text(self, frame: Frame) -> str:
        names = ", ".join(state.loss_label(c.loss) for c in frame.configs)
        return (f"{names}: identical batches from the same initial backbone (seed {frame.configs[0].seed}). "
                "Drag a sphere to turn them all.")

    def _draw_frame(self, frame: Frame) -> None:
        """Every member's latest picture and the table (every tick)."""
        dim = int(self.shared["embedding_dim"])
        snaps, configs = frame.snapshots, frame.configs
        with self.boxes["views"], st.container():
            if dim not in state.DRAWN_DIMS:
                st.info(views.undrawn_text(dim, len(snaps[0].class_names)) + " The table has every member's.",
                        icon=":material/deployed_code:")
            drawn = snaps if dim in state.DRAWN_DIMS else ()
            per_row = 4 if len(drawn) <= 4 else 3
            for start in range(0, len(drawn), per_row):
                cells = st.columns(per_row, gap="small")
                for cell, snap, config in zip(cells, drawn[start:start + per_row], configs[start:], strict=False):
                    with cell:
                        self._member_view(snap, config, dim)
        with self.boxes["table"], st.container():
            st.dataframe(statistics_table(snaps, configs, dim), hide_index=True, width="stretch",
                         column_config=DEGREE_COLUMNS)

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
        self._read_link()
        run = self.run
        run.touch()
        box = self.controls if self.controls is not None else st.sidebar
        build = self._build()
        classes = len(run.frame.snapshot.class_names) if run.frame is not None else None
        if build is not None:
            before = run.handle
            self._ensure_model(build)
            if run.handle is not before:
                run.values, run.initial = dict(self.shared), {"losses": tuple(c.loss for c in build.configs)}
            classes = len(run.frame.snapshot.class_names)
            self._hand_over_hot()
        with box:
            self._draw_controls(classes or 10)  # its callbacks ran before this run: the build is current
        if self.use_url:
            urlbar.write(self.share_query())
        if run.data_notice:
            st.warning(views.md(run.data_notice), icon=":material/folder_off:")
        if build is None:
            st.warning("Nothing to compare: choose at least one loss in the sidebar's Losses box.",
                       icon=":material/rule:")  # fmt: skip
            return None
        self._notices_and_bar(narrow=False, notices=st.session_state.get(self._k("notices"), []))
        self._layout()
        self._fragments()
        return CompareResult(list(build.configs), run, self.member_views())

    def export(self) -> None:
        """Download buttons for any member's embeddings, metrics and config, weights, and each member's view
        as HTML; built on click only."""
        run = self.run
        if run.handle is None:
            return
        configs = run.handle.frame.configs
        names = [state.loss_label(c.loss) for c in configs]
        exports.export_panel(run.handle, names, member_figures(run, self.member_values), key=self._k("export"))


def member_figures(run: UnitRun, values_of: Any) -> dict[str, Any]:
    """Each member's small view as a lazy figure builder for the export panel (from the latest frame)."""

    def build(i: int) -> Any:
        def figure() -> Any:
            frame = run.frame
            snap, config = frame.snapshots[i], frame.configs[i]
            return member_sphere(snap, config, values_of(config.loss, len(snap.class_names)))

        return figure

    return {f"{state.loss_label(c.loss)}: features on the hypersphere": build(i)
            for i, c in enumerate(run.frame.configs) if c.embedding_dim in state.DRAWN_DIMS}  # fmt: skip


def member_sphere(snap: Any, config: TrainConfig, values: Mapping[str, Any], *, as_spec: bool = False) -> Any:
    """A member's features, class weights and margin regions on the circle or sphere."""
    return plots.hypersphere_figure(
        snap.embeddings, snap.labels, snap.class_weights, class_names=snap.class_names, loss=config.loss,
        margin=views.figure_margin(values), sphereface_lambda=snap.hyper.get("sphereface_lambda", 0.0),
        as_spec=as_spec,
    )  # fmt: skip



def member_title(config: TrainConfig, snap: Any) -> str:
    """"<b>ArcFace</b> · test 91.2 %<br>m 0.25 rad (14.3°) · s 28": what a small view trains with."""
    accuracy = "test –" if snap.step == 0 else f"test {snap.test_accuracy:.1%}"
    margin_text = LOSS_SPECS[config.loss].short_margin_text(config.margin)
    parts = [margin_text] if margin_text else []
    if config.scale is not None and LOSS_SPECS[config.loss].uses_scale:
        parts.append(f"s {config.scale:g}")
    first = f"<b>{state.loss_label(config.loss)}</b> · {accuracy}"
    return first + ("<br>" + " · ".join(parts) if parts else "<br>no margin")


# One decimal in every degree column: 76.0 beside 58.7, not 76 (the table's numbers stay numbers, so they sort).
DEGREE_COLUMNS = {name: st.column_config.NumberColumn(format="%.1f") for name in (
    "W-EC (°)", "W-Inter (°)", "Intra (°)", "Inter (°)", "Closest centres (°)", "Tammes bound (°)")}  # fmt: skip


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
