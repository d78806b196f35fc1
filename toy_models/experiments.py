"""The runs behind the papers' figures and the open-set verification, as plain functions.

Each function trains a `MultiTrainer` (identical batches, identical initial backbones) and returns one
`MemberRecord` per member: snapshots at the start, the middle and the end of training (ArcFace Fig. 4a
needs the target angles at those three moments, and `History` keeps only losses and accuracies), the
final metrics as the command line reports them, and the unit features of the held-out classes.

    records = train_side_by_side(configs, epochs=30)                 # the chosen losses as configured
    records = eight_identity_toy(["softmax", "arcface"], seed=0)     # ArcFace Fig. 3 / CosFace Fig. 4
    records = sphereface_multipliers((1, 2, 3, 4), seed=0)           # SphereFace Fig. 5, in 3-D
    records = open_set_verification(configs, holdout_classes=(8, 9)) # verification on unseen classes

Same configs and epochs, same records (the trainers are seeded; see toy_models.train).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .data import fixed_holdout, load_dataset
from .heads import check_loss
from .train import MultiTrainer, Snapshot, TrainConfig

__all__ = [
    "CHECKPOINTS",
    "COSFACE_TOY_MARGINS",
    "DEFAULT_EPOCHS",
    "SETTLE_FRACTION",
    "SPHEREFACE_MULTIPLIERS",
    "TOY_IDENTITIES",
    "MemberRecord",
    "class_names",
    "default_holdout",
    "eight_identity_toy",
    "open_set_verification",
    "paper_runs",
    "sphereface_multipliers",
    "train_side_by_side",
]

CHECKPOINTS = ("start", "middle", "end")
DEFAULT_EPOCHS = 30
# A final phase of a third as many epochs at a tenth of the learning rate (an ordinary step decay; 30 + 10, as
# tests/unit/test_science.py trains). At a constant lr the margin losses' test accuracy swings by several points
# between epochs on digits (that file measured it), so the "end" picture would depend on which epoch came last.
SETTLE_FRACTION = 1 / 3
TOY_IDENTITIES = 8  # ArcFace Fig. 3 and CosFace Fig. 4: "8 identities with 2D features"
COSFACE_TOY_MARGINS = (0.0, 0.1, 0.2)  # CosFace Fig. 4 (m = 0 is NormFace)
SPHEREFACE_MULTIPLIERS = (1.0, 2.0, 3.0, 4.0)  # SphereFace Fig. 5

Progress = Callable[[int, int], None]  # (epochs done, epochs in all)


@dataclass(frozen=True, eq=False)
class MemberRecord:
    """One member's run: what the figures and the verification table need, nothing live.

    snapshots         at the start (epoch 0), the middle and the end of training, in CHECKPOINTS order
    metrics           Trainer-style final metrics (ModelRun.evaluate_all): accuracies, angle statistics in
                      degrees and, with classes held out, verification_auc and TAR at FAR
    holdout_embeddings, holdout_labels   unit features of the held-out classes and their ORIGINAL labels
                      ((0, d) and (0,) when nothing is held out)
    """

    config: TrainConfig
    snapshots: tuple[Snapshot, ...]
    metrics: dict[str, Any]
    holdout_embeddings: np.ndarray
    holdout_labels: np.ndarray

    @property
    def final(self) -> Snapshot:
        return self.snapshots[-1]


def train_side_by_side(
    configs: Sequence[TrainConfig],
    epochs: int = DEFAULT_EPOCHS,
    *,
    settle_epochs: int | None = None,
    on_epoch: Progress | None = None,
) -> list[MemberRecord]:
    """Train the member configs together for `epochs` epochs, then `settle_epochs` (default: a third as many,
    SETTLE_FRACTION) at a tenth of each member's lr.

    The "middle" snapshot is taken after half of all the epochs. `on_epoch(done, total)` is called after each
    epoch (for a progress bar). A bad config or dataset raises ValueError / DatasetError from the trainer.
    """
    if settle_epochs is None:
        settle_epochs = round(epochs * SETTLE_FRACTION)
    if epochs < 1 or settle_epochs < 0:
        raise ValueError(f"epochs must be at least 1 and settle_epochs at least 0, got {epochs} and {settle_epochs}")
    multi = MultiTrainer(list(configs))
    total = epochs + settle_epochs
    middle = total // 2
    snapshots = [multi.snapshots()]
    for done in range(1, total + 1):
        if done == epochs + 1:
            for i, member in enumerate(multi.members):
                multi.set_hyper(i, lr=member.config.lr / 10)
        multi.advance(epochs=1)
        if done == middle:
            snapshots.append(multi.snapshots())
        if on_epoch is not None:
            on_epoch(done, total)
    snapshots.append(multi.snapshots())
    records = []
    for i, member in enumerate(multi.members):
        dataset = member.dataset
        held = member.evaluate(dataset.x_holdout, dataset.y_holdout)
        records.append(
            MemberRecord(
                config=member.initial_config,
                snapshots=tuple(s[i] for s in snapshots),
                metrics=member.evaluate_all(),
                holdout_embeddings=held.embeddings,
                holdout_labels=held.labels,
            )
        )
    return records


def class_names(config: TrainConfig) -> tuple[str, ...]:
    """The names of every class of the config's dataset, none held out (their index is the class index)."""
    dataset = load_dataset(config.dataset, config.data_dir, seed=config.data_seed, num_identities=config.num_identities)
    return dataset.class_names


def default_holdout(num_classes: int) -> tuple[int, ...]:
    """The last two classes, the open-set split the command line's examples use (--holdout-classes 8,9)."""
    return tuple(range(max(num_classes - 2, 0), num_classes))


MemberSpec = str | Mapping[str, Any] | TrainConfig


def _members(base: TrainConfig, specs: Sequence[MemberSpec]) -> list[TrainConfig]:
    """Member configs: the base with each spec's member settings (TrainConfig.member_fields: loss, margin, scale,
    ...); a spec is a loss name, a mapping with "loss", or a config whose member settings are taken."""
    configs = []
    for spec in specs:
        if isinstance(spec, TrainConfig):
            spec = {name: getattr(spec, name) for name in TrainConfig.member_fields}
        overrides = {"loss": spec} if isinstance(spec, str) else dict(spec)
        overrides.setdefault("margin", None)
        overrides.setdefault("scale", None)
        takes_easy_margin = "easy_margin" in check_loss(overrides["loss"]).target_options
        overrides.setdefault("easy_margin", base.easy_margin and takes_easy_margin)
        configs.append(dataclasses.replace(base, **overrides))
    return configs


def eight_identity_toy(
    losses: Sequence[MemberSpec],
    *,
    seed: int = 0,
    epochs: int = DEFAULT_EPOCHS,
    base: TrainConfig | None = None,
    on_epoch: Progress | None = None,
) -> list[MemberRecord]:
    """ArcFace Fig. 3 / CosFace Fig. 4 on our data: the first eight classes with a 2-D embedding.

    `losses`: loss names, mappings such as {"loss": "cosface", "margin": 0.1}, or configs (their loss, margin,
    scale and the other member settings; the rest comes from `base`). `base` supplies the dataset and
    optimizer settings (default: digits); every class from the ninth on is held out, so the remaining eight are
    the "8 identities" (on the glyphs, which hold out their own identities: the first eight, K = 8).
    """
    base = base or TrainConfig()
    num_classes = len(class_names(base))
    if num_classes < TOY_IDENTITIES:
        raise ValueError(f"the eight-identity toy needs a dataset with at least 8 classes, {base.dataset} has "
                         f"{num_classes}")
    if fixed_holdout(base.dataset, base.train_identities) is not None:  # glyphs: K = 8 is their first eight
        base = dataclasses.replace(base, embedding_dim=2, seed=seed, train_identities=TOY_IDENTITIES)
    else:
        base = dataclasses.replace(
            base, embedding_dim=2, seed=seed, holdout_classes=tuple(range(TOY_IDENTITIES, num_classes))
        )
    return train_side_by_side(_members(base, losses), epochs, on_epoch=on_epoch)


def sphereface_multipliers(
    multipliers: Sequence[float] = SPHEREFACE_MULTIPLIERS,
    *,
    seed: int = 0,
    epochs: int = DEFAULT_EPOCHS,
    base: TrainConfig | None = None,
    on_epoch: Progress | None = None,
) -> list[MemberRecord]:
    """SphereFace Fig. 5 on our data: one SphereFace member per multiplier m, a 3-D embedding.

    The base's SphereFace form, scale and λ settings apply (default: the normalised form with its default s).
    """
    base = dataclasses.replace(base or TrainConfig(), embedding_dim=3, seed=seed, loss="sphereface", margin=None,
                               easy_margin=False)
    specs = [{"loss": "sphereface", "margin": float(m), "scale": base.scale} for m in multipliers]
    return train_side_by_side(_members(base, specs), epochs, on_epoch=on_epoch)


def open_set_verification(
    configs: Sequence[TrainConfig],
    holdout_classes: Sequence[int],
    *,
    epochs: int = DEFAULT_EPOCHS,
    on_epoch: Progress | None = None,
) -> list[MemberRecord]:
    """Train the member configs with `holdout_classes` kept out of training; their records carry the
    verification metrics of those classes (metrics["verification_auc"], ...) and their features.

    A dataset that holds out identities of its own (glyphs: the same fixed ones for every K, never trained on)
    keeps them, and `holdout_classes` is ignored for it: every caller then verifies on the same pairs.
    A holdout that leaves fewer than two training classes raises DatasetError before anything trains.
    """
    held = tuple(sorted(int(c) for c in holdout_classes))
    members = [c if fixed_holdout(c.dataset, c.train_identities) is not None
               else dataclasses.replace(c, holdout_classes=held) for c in configs]
    return train_side_by_side(members, epochs, on_epoch=on_epoch)


def paper_runs(
    configs: Sequence[TrainConfig],
    *,
    epochs: int = DEFAULT_EPOCHS,
    on_progress: Callable[[float, str], None] | None = None,
) -> dict[str, list[MemberRecord]]:
    """Every run the papers' figures need, for the member configs a page compares:

        "chosen"       the configs as they are (target angles, pair angles)
        "toy"          the eight-identity toy in 2-D: the configs' losses, then CosFace with COSFACE_TOY_MARGINS
                       (at the chosen CosFace's scale, or the default)
        "sphereface"   SphereFace with SPHEREFACE_MULTIPLIERS in 3-D (the chosen SphereFace's scale and form)

    `on_progress(fraction done, what is training)` is called after every epoch.
    """
    if not configs:
        raise ValueError("pick at least one loss")
    base = configs[0]
    by_loss = {c.loss: c for c in configs}
    cosface_scale = by_loss["cosface"].scale if "cosface" in by_loss else None
    toy_members = [*configs, *({"loss": "cosface", "margin": m, "scale": cosface_scale} for m in COSFACE_TOY_MARGINS)]
    sphere_base = by_loss.get("sphereface", dataclasses.replace(base, loss="sphereface", margin=None))
    steps = (
        ("chosen", "the chosen losses", lambda report: train_side_by_side(configs, epochs, on_epoch=report)),
        ("toy", "the eight-identity toy (2-D)",
         lambda report: eight_identity_toy(toy_members, seed=base.seed, epochs=epochs, base=base, on_epoch=report)),
        ("sphereface", "SphereFace with m = 1, 2, 3, 4 (3-D)",
         lambda report: sphereface_multipliers(seed=base.seed, epochs=epochs, base=sphere_base, on_epoch=report)),
    )  # fmt: skip
    runs = {}
    for index, (name, what, train) in enumerate(steps):

        def report(done: int, total: int, index: int = index, what: str = what) -> None:
            if on_progress is not None:
                on_progress((index + done / total) / len(steps), what)

        runs[name] = train(report)
    return runs
