"""The export panel: download a run's embeddings (CSV), metrics and config (JSON, replayable), weights
(.pt state_dict) and any figure (standalone HTML), from the Playground or the Compare page.

    export_panel(handle, ["ArcFace"], live_unit_figures(run, values), key="pg-export")

Thin: the bytes come from `toy_models.export` and `app.plots.export`, built where the model lives (the
functions below run there, through the handle, and only the file travels back). Nothing is built while the
page draws: each download button gets a callable that Streamlit runs only when it is clicked, and the panel is
a fragment without a timer, so it adds nothing to a training tick and choosing a figure reruns only the panel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import streamlit as st

from app import plots, state
from app.live import views
from app.plots.export import figure_html
from toy_models import export
from toy_models.train import MultiTrainer

# -- built where the model lives (module-level, so a worker process can run them) ------------------------


def _member(model: Any, index: int) -> Any:
    return model.members[index] if isinstance(model, MultiTrainer) else model


def embeddings_file(model: Any, index: int) -> str:
    return export.embeddings_csv(_member(model, index))


def run_file(model: Any, index: int) -> str:
    return export.run_json(_member(model, index))


def weights_file(model: Any, index: int) -> bytes:
    return export.weights_bytes(_member(model, index))


def _figure(value: Any) -> Any:
    """A figure, a figure dict, or a zero-argument callable that builds one (built only when asked)."""
    return value() if callable(value) else value


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-") or "run"


def export_panel(handle: Any, names: Sequence[str], figures: Mapping[str, Any], *, key: str) -> None:
    """Download buttons for one of the handle's members (`names`, in member order; a choice appears when there
    are several) and a chosen figure of `figures` (name -> figure, figure dict, or a callable building one).
    Before any training it shows one sentence instead."""
    st.fragment(_panel, key=f"{key}-fragment")(handle, list(names), figures, key=key)


def _panel(handle: Any, names: list[str], figures: Mapping[str, Any], *, key: str) -> None:
    st.header("Export")
    if handle is None or handle.step == 0:
        st.info(export.NOTHING_YET, icon=":material/download_for_offline:")
        return
    name = names[0] if len(names) == 1 else st.selectbox("Model", names, key=f"{key}-model")
    index = names.index(name)
    stem = f"margin-lab-{_slug(name)}"
    st.caption("Files are built from the model as it is when you click.")
    st.download_button(
        "Embeddings (CSV)", lambda: handle.call(embeddings_file, index), file_name=f"{stem}-embeddings.csv",
        mime="text/csv", key=f"{key}-csv", on_click="ignore", icon=":material/table:", width="stretch",
        help="The unit-length test embeddings with labels, class names and predictions, one row per sample.",
    )  # fmt: skip
    st.download_button(
        "Metrics and config (JSON)", lambda: handle.call(run_file, index), file_name=f"{stem}-run.json",
        mime="application/json", key=f"{key}-json", on_click="ignore", icon=":material/data_object:",
        width="stretch",
        help="The angle statistics, accuracies and the exact config. `python -m toy_models replay FILE` "
             "re-trains from the seed and checks the metrics (not after a setting was changed mid-run).",
    )  # fmt: skip
    st.download_button(
        "Weights (.pt)", lambda: handle.call(weights_file, index), file_name=f"{stem}-weights.pt",
        mime="application/octet-stream", key=f"{key}-weights", on_click="ignore", icon=":material/memory:",
        width="stretch",
        help="The backbone's and head's state_dict. Load with `toy_models.export.load_weights(path)`, which "
             "reads it with torch.load(..., weights_only=True).",
    )  # fmt: skip
    if figures:
        chosen = st.selectbox("Figure", list(figures), key=f"{key}-figure")
        st.download_button(
            "Figure (HTML)", lambda: figure_html(_figure(figures[chosen]), title=chosen),
            file_name=f"{stem}-{_slug(chosen)}.html", mime="text/html", key=f"{key}-html", on_click="ignore",
            icon=":material/image:", width="stretch",
            help="A standalone page with plotly.js inside: it opens offline, and stays interactive.",
        )  # fmt: skip


def live_unit_figures(run: Any, values: Mapping[str, Any]) -> dict[str, Callable[[], Any]]:
    """The live unit's views as builders (name -> callable), drawn from the run's latest frame when called."""

    def snapshot() -> Any:
        return run.frame.snapshot

    def sphere() -> Any:
        snap = snapshot()
        return plots.hypersphere_figure(
            snap.embeddings, snap.labels, snap.class_weights, class_names=snap.class_names, loss=values["loss"],
            margin=views.figure_margin(values), sphereface_lambda=snap.hyper.get("sphereface_lambda", 0.0),
        )  # fmt: skip

    def histograms() -> Any:
        snap = snapshot()
        return plots.angle_histograms(np.degrees(snap.target_angle), np.degrees(snap.nearest_angle))

    def target_logit() -> Any:
        lam = snapshot().hyper.get("sphereface_lambda", 0.0)
        return plots.target_logit_figure(values["loss"], views.figure_margin(values), scale=views.figure_scale(values),
                                         sphereface_lambda=lam, sphereface_form=views.figure_form(values))  # fmt: skip

    def decision() -> Any:
        lam = snapshot().hyper.get("sphereface_lambda", 0.0)
        plane = views.decision_plane(values["loss"])
        return plots.decision_boundary_figure(values["loss"], views.figure_margin(values), plane=plane,
                                              sphereface_lambda=lam)  # fmt: skip

    drawn = run.frame.configs[0].embedding_dim in state.DRAWN_DIMS  # past 3-D: no circle or sphere to export
    return {
        **({"Hypersphere": sphere} if drawn else {}),
        "Angle histograms": histograms,
        "Training curves": lambda: plots.training_curves(snapshot().history),
        "Target logit": target_logit,
        "Decision margins": decision,
    }
