"""Compare page section: open-set verification on classes held out of training.

render(configs, key=...) lets the user pick the held-out classes (default: the last two), trains the member
configs without them (toy_models.experiments.open_set_verification) and shows the ROC curves of pair
verification on them, a table of AUC and TAR at FAR = 1e-2 and 1e-3 per loss, and the pair angles behind
those numbers. When the ordering differs from what the papers lead one to expect (margin losses above
normalised softmax above softmax), the section says so and explains it with the run's own numbers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import streamlit as st

from app import datasets
from app.compare import open_set_glyphs
from app.compare.papers import NO_LOSSES, cache_key, show_figure, train_with_status
from app.plots import papers, verification
from toy_models import experiments
from toy_models.data import DatasetError, fixed_holdout
from toy_models.heads import LOSS_SPECS
from toy_models.metrics import pair_angles, pair_similarities
from toy_models.train import TrainConfig

EPOCHS = experiments.DEFAULT_EPOCHS  # then a third as many at a tenth of the lr (experiments.train_side_by_side)
# Where the papers place each loss in open-set verification: margins above normalised softmax above softmax.
EXPECTED_RANK = {name: spec.verification_rank for name, spec in LOSS_SPECS.items()}
RANK_WORDS = {0: "plain softmax", 1: "normalised softmax", 2: "a margin loss"}


def holdout_problem(held: Sequence[int], num_classes: int) -> str | None:
    """One sentence when the held-out set cannot give a verification run, else None."""
    if num_classes - len(held) < 2:
        return (f"Holding out {len(held)} of the {num_classes} classes leaves {num_classes - len(held)} to train "
                "on: at least two are needed, so nothing was trained.")
    if len(held) < 2:
        return "Hold out at least two classes: verification needs pairs of different classes the model never saw."
    return None


def ordering_finding(rows: Sequence[Mapping[str, Any]], medians: Mapping[str, tuple[float, float]],
                     embedding_dim: int, num_trained: int) -> tuple[bool, str]:
    """(whether the papers' ordering holds, one paragraph saying so with this run's numbers).

    rows: verification_rows (loss, auc; each named by its loss's short name); medians: {short name: (median
    same-class pair angle, median different-class pair angle)} in degrees, over the held-out classes. The ordering
    breaks where a loss the papers rank lower (EXPECTED_RANK) reaches at least the AUC of one they rank higher.
    """
    scored = [{**r, "label": papers.short_label(r["loss"])} for r in rows if math.isfinite(r["auc"])]
    ranking = ", ".join(f"{r['label']} {r['auc']:.3f}" for r in sorted(scored, key=lambda r: -r["auc"]))
    breaches = []
    for low in scored:
        beaten = [h for h in scored if EXPECTED_RANK[h["loss"]] > EXPECTED_RANK[low["loss"]] and h["auc"] <= low["auc"]]
        if beaten:  # each AUC is written once, in the ranking below
            breaches.append(f"{low['label']} reaches at least the AUC of {_and(h['label'] for h in beaten)}")
    tar = open_set_glyphs.tar_note(rows)
    if not breaches:
        return True, (f"AUC from best to worst: {ranking}. This is the order the papers lead one to expect: the "
                      "margin losses verify unseen classes better than normalised softmax, and that better than "
                      f"plain softmax.{tar}")
    gaps = "; ".join(f"{label}: {same:.0f}° against {other:.0f}° (a gap of {other - same:.0f}°)"
                     for label, (same, other) in medians.items())
    text = (
        f"On this run the ordering differs from what the papers lead one to expect (margin losses above normalised "
        f"softmax above softmax): {'; '.join(breaches)}. AUC from best to worst: {ranking}. "
        f"Why: the papers train 512-D features on thousands of identities, so an unseen face still finds a "
        f"direction of its own. Here the features have {embedding_dim} dimensions and the {num_trained} trained "
        f"classes already share them out, so an unseen class lands on or between the trained clusters; a margin "
        f"pulls features harder onto the trained class directions, which helps the trained classes and need not "
        f"help unseen ones. The held-out pairs show it, as the median angle of same-class pairs against "
        f"different-class pairs: {gaps}. The smaller the gap, the harder the unseen classes are to tell apart.{tar}"
    )
    return False, text


def _and(names: Any) -> str:
    """"A", "A and B", "A, B and C"."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _number(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) else "–"


def table_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """verification_rows as the table shows them: three decimals, "–" where a value cannot be computed."""
    return [{"Loss": r["label"], "AUC": _number(r["auc"]), "TAR @ FAR 1e-2": _number(r["tar_at_far_1e-2"]),
             "TAR @ FAR 1e-3": _number(r["tar_at_far_1e-3"]), "same-class pairs": f"{r['positive_pairs']:,}",
             "different-class pairs": f"{r['negative_pairs']:,}"} for r in rows]


@st.cache_data(show_spinner=False)
def _class_names(dataset: str, data_dir: str | None, data_seed: int, num_identities: int) -> tuple[str, ...]:
    return experiments.class_names(TrainConfig(dataset=dataset, data_dir=data_dir, data_seed=data_seed,
                                               num_identities=num_identities))


def _train(configs: Sequence[TrainConfig], held: Sequence[int], epochs: int) -> list[experiments.MemberRecord] | None:
    return train_with_status(
        "Training without the held-out classes…", "Trained without the held-out classes in {took}.",
        "Verification could not be trained",
        lambda report: experiments.open_set_verification(
            configs, held, epochs=epochs,
            on_epoch=lambda done, total: report(done / total, f"epoch {done} of {total}")),
    )  # fmt: skip


def _chosen_holdout(names: Sequence[str], key: str) -> list[int] | None:
    """The classes the user holds out (default: the last two); None, with one sentence, when they cannot do."""
    # Streamlit forgets a widget's value when a run does not draw it (the user went to another page); the
    # section's memory (not a widget key) survives, so coming back shows the classes the user held out.
    widget, memory = f"{key}-holdout", st.session_state.setdefault(f"{key}-memory", {})
    default = list(experiments.default_holdout(len(names)))
    if widget not in st.session_state:
        st.session_state[widget] = [c for c in memory.get(widget, default) if c < len(names)]
    held = st.multiselect(
        "Held-out classes (never trained on)", list(range(len(names))), format_func=lambda c: names[c], key=widget,
        help="These classes stay out of training; verification asks whether two of their samples are the same class",
    )  # fmt: skip
    memory[widget] = list(held)
    problem = holdout_problem(held, len(names))
    if problem:
        st.warning(problem)
        return None
    return sorted(held)


def render(configs: Sequence[TrainConfig], *, key: str) -> None:
    """Open-set verification of the member configs the Compare page trains."""
    configs = list(configs)
    if not configs:
        st.info(NO_LOSSES.replace("reproduce the papers' figures", "verify on held-out classes"))
        return
    base = configs[0]
    fixed = fixed_holdout(base.dataset, base.train_identities)
    try:
        if fixed is None:
            names = _class_names(base.dataset, base.data_dir, base.data_seed, base.num_identities)
        else:
            trained = len(datasets.dataset_of(base).y_train)
    except DatasetError as error:
        st.error(f"The classes could not be listed: {error}")
        return
    if fixed is None:
        held, epochs = _chosen_holdout(names, key), EPOCHS
        if held is None:
            return
        num_trained = len(names) - len(held)
    else:  # glyphs: their own held-out identities, the same for every K; every K trains about as many steps
        held, epochs, num_trained = list(fixed), open_set_glyphs.verify_epochs(trained, base.batch_size), fixed[0]
        st.caption(f"Held out: the glyphs' own {len(held)} identities, the same for every K and never trained on. "
                   f"Training: {epochs} epochs of the K = {num_trained} identities, then a third as many at a tenth "
                   f"of the learning rate (about {open_set_glyphs.VERIFY_STEPS:,} steps for every K, so that only K "
                   "changes).")

    results = st.session_state.setdefault(f"{key}-results", {})
    this = cache_key(configs, holdout=held, epochs=epochs)
    if st.button("Train and verify", key=f"{key}-run", type="primary", disabled=this in results,
                 help="Trains the chosen losses from the seed without the held-out classes"):
        records = _train(configs, held, epochs)
        if records is not None:
            results[this] = records
    records = results.get(this)
    if records is None:
        st.caption("Press **Train and verify** to train the chosen losses without the held-out classes.")
        return

    members, angle_panels, medians = [], [], {}
    for record in records:
        label = papers.member_label(record.config.loss, record.config.margin)
        seed = 0  # the pair sample of ModelRun.evaluate_all, so the table matches the command line's numbers
        positive, negative = pair_similarities(record.holdout_embeddings, record.holdout_labels, seed=seed)
        members.append((label, record.config.loss, positive, negative))
        same_deg, other_deg = pair_angles(record.holdout_embeddings, record.holdout_labels, seed=seed)
        angle_panels.append((label, same_deg, other_deg))
        medians[papers.short_label(record.config.loss)] = (float(np.median(same_deg)), float(np.median(other_deg)))
    rows = verification.verification_rows(members)

    log_far = st.toggle("Log FAR axis", value=True, key=f"{key}-log-far",
                        help="Off: a linear axis, on which the area under each curve is its AUC")
    show_figure("roc", verification.roc_figure(members, log_far=log_far), key=key)
    st.table(table_rows(rows))
    for r in rows:
        for note in r["notes"].values():
            st.caption(f"{r['label']}: {note}.")
    if fixed is None:
        holds, text = ordering_finding(rows, medians, base.embedding_dim, num_trained)
        (st.success if holds else st.warning)(text)
    else:
        # Every K verified with these settings is kept, so the finding can compare K against K.
        kept = st.session_state.setdefault(f"{key}-by-k", {})
        by_k = kept.setdefault(cache_key([dataclasses.replace(c, train_identities=None) for c in configs]), {})
        by_k[num_trained] = {r["loss"]: float(r["auc"]) for r in rows if math.isfinite(r["auc"])}
        st.info(open_set_glyphs.glyph_finding(rows, by_k, num_trained) + open_set_glyphs.tar_note(rows))
        st.table(open_set_glyphs.k_table(by_k))
    st.plotly_chart(papers.pair_angle_histograms(
        angle_panels, title="Angles between pairs of held-out features"), key=f"{key}-held-pairs",
                    config={"displayModeBar": False})
    st.caption("The same pair angles as above, on the held-out classes: the two humps overlap where verification "
               "fails.")
