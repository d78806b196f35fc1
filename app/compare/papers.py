"""Compare page section: the papers' figures, reproduced on the page's data (docs/losses.md §9).

render(configs, key=...) draws the figures that need no model at once (target logits, decision margins) and
the trained ones after "Reproduce the figures" (toy_models.experiments.paper_runs: 3 to 5 CPU-seconds on digits,
with a progress bar that shows the time so far and the time it took).
Results are cached in st.session_state under the key, per configs, so a rerun never retrains.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import streamlit as st

from app.plots import papers
from toy_models import experiments
from toy_models.data import DatasetError
from toy_models.metrics import pair_angles
from toy_models.train import TrainConfig

EPOCHS = experiments.DEFAULT_EPOCHS  # then a third as many at a tenth of the lr (experiments.train_side_by_side)
PANELS_PER_ROW = 4
T = TypeVar("T")
NO_LOSSES = "Pick at least one loss to reproduce the papers' figures."


def cache_key(configs: Sequence[TrainConfig], **extra: Any) -> str:
    """A stable text key of the member configs (and any extra settings) for the session cache."""
    return json.dumps({"configs": [c.to_dict() for c in configs], **extra}, sort_keys=True)


def show_figure(figure_id: str, figure: Any, *, key: str) -> None:
    """A figure under its heading, with its caption (what to look for, the paper figure it mirrors)."""
    caption = papers.paper_captions()[figure_id]
    st.markdown(f"**{caption.title}**")
    st.plotly_chart(figure, key=f"{key}-{figure_id}", config={"displayModeBar": False})
    st.caption(f"{caption.text} *Mirrors {caption.mirrors}.*")


def show_panels(figure_id: str, rows: Sequence[Sequence[Any]], *, key: str) -> None:
    """Rows of small figures (hypersphere panels) under one heading and caption."""
    caption = papers.paper_captions()[figure_id]
    st.markdown(f"**{caption.title}**")
    for r, row in enumerate(rows):
        for start in range(0, len(row), PANELS_PER_ROW):
            columns = st.columns(PANELS_PER_ROW)
            for c, figure in enumerate(row[start : start + PANELS_PER_ROW]):
                with columns[c]:
                    st.plotly_chart(figure, key=f"{key}-{figure_id}-{r}-{start + c}",
                                    config={"displayModeBar": False})
    st.caption(f"{caption.text} *Mirrors {caption.mirrors}.*")


def _sphere_panels(records: Sequence[experiments.MemberRecord], *, subtitle_stat: bool = True) -> list:
    panels = []
    for record in records:
        snap = record.final
        stats = snap.angle_stats
        panels.append({
            "features": snap.embeddings, "labels": snap.labels, "class_weights": snap.class_weights,
            "loss": record.config.loss, "margin": record.config.margin, "class_names": snap.class_names,
            "subtitle": (f"Intra {stats['intra_deg']:.1f}°, Inter {stats['inter_deg']:.1f}°, "
                         f"test accuracy {snap.test_accuracy:.1%}") if subtitle_stat else None,
        })  # fmt: skip
    return papers.sphere_panels(panels)


def train_with_status(label: str, done_label: str, failure: str, train: Callable[[Callable[[float, str], None]], T]
                      ) -> T | None:
    """Run `train(report)` inside a status box with a progress bar (`report(fraction, text)` moves it, and it shows
    the seconds so far); `done_label` may say how long it took ("{took}": "4.2 s"). None, with one sentence
    ("<failure>: <reason>"), when the data cannot load or a setting is refused."""
    started = time.perf_counter()
    with st.status(label, expanded=True) as status:
        bar = st.progress(0.0)

        def report(fraction: float, text: str) -> None:  # the time so far, so a slow machine says how slow it is
            bar.progress(min(fraction, 1.0), text=f"{text} · {time.perf_counter() - started:.0f} s so far")

        try:
            result = train(report)
        except (ValueError, DatasetError) as error:
            status.update(label="Nothing was trained.", state="error")
            st.error(f"{failure}: {error}")
            return None
        took = time.perf_counter() - started
        status.update(label=done_label.format(took=f"{took:.1f} s"), state="complete", expanded=False)
    return result


def _train(configs: Sequence[TrainConfig]) -> dict[str, list[experiments.MemberRecord]] | None:
    """Train every run the figures need, with a status box; None (and one sentence) when the data cannot load."""
    return train_with_status(
        "Training the runs behind the figures…", "Trained in {took}: the figures below come from these runs.",
        "The figures could not be trained",
        lambda report: experiments.paper_runs(configs, epochs=EPOCHS,
                                              on_progress=lambda fraction, what: report(fraction, f"Training {what}")),
    )  # fmt: skip


def render(configs: Sequence[TrainConfig], *, key: str) -> None:
    """The papers' figures for the member configs the Compare page trains (one per chosen loss)."""
    configs = list(configs)
    if not configs:
        st.info(NO_LOSSES)
        return
    margins = {c.loss: c.effective_margin for c in configs}

    # The loss itself: closed form, no training.
    show_figure("target_logits", papers.target_logit_curves(
        [{"loss": c.loss, "margin": c.effective_margin, "easy_margin": c.easy_margin} for c in configs]), key=key)
    # Full width, one under the other: each is a 2×2 grid of panels, too cramped in half a laptop screen.
    show_figure("decision_margins", papers.decision_margin_panels(margins), key=key)
    show_figure("cosine_margins", papers.cosine_margin_panels(margins), key=key)

    # What training does: runs, cached per configs.
    results = st.session_state.setdefault(f"{key}-results", {})
    this = cache_key(configs, epochs=EPOCHS)
    if st.button("Reproduce the figures", key=f"{key}-run", type="primary", disabled=this in results,
                 help="Trains the chosen losses, the eight-identity toy and SphereFace's m = 1..4 from the seed"):
        runs = _train(configs)
        if runs is not None:
            results[this] = runs
    runs = results.get(this)
    if runs is None:
        st.caption("Press **Reproduce the figures** to train the runs behind the figures below: on digits about 2,600 "
                   "steps of small models, 3 to 5 s of CPU on one core (benchmarks/figure_speed.py --reproduce), "
                   "longer while other training shares the machine; a progress bar says how far it is and how long "
                   "it has taken. Each run starts from the seed, so the figures are the same every time.")
        return

    chosen = runs["chosen"]
    total_epochs = chosen[0].final.epoch
    stages = ("start (epoch 0)", f"middle (epoch {chosen[0].snapshots[1].epoch})", f"end (epoch {total_epochs})")
    show_figure("target_angles", papers.target_angle_histograms(
        [(papers.member_label(r.config.loss, r.config.margin), [s.target_angle for s in r.snapshots])
         for r in chosen], stage_labels=stages), key=key)  # fmt: skip
    show_figure("pair_angles", papers.pair_angle_histograms(
        [(papers.member_label(r.config.loss, r.config.margin),
          *pair_angles(r.final.embeddings, r.final.labels, seed=r.config.seed)) for r in chosen]), key=key)  # fmt: skip
    toy = runs["toy"]
    show_panels("eight_identities", [_sphere_panels(toy[: len(configs)]), _sphere_panels(toy[len(configs) :])],
                key=key)
    show_panels("sphereface_multipliers", [_sphere_panels(runs["sphereface"])], key=key)
