"""`python -m toy_models`: train one head, compare several, or replay a saved run, without the app.

    python -m toy_models train --loss arcface --dim 3 --epochs 30 --json run.json
    python -m toy_models compare --losses softmax,sphereface,cosface,arcface --holdout-classes 8,9
    python -m toy_models replay run.json          # also a run exported from the app (toy_models.export)

Bad arguments exit with status 2 and one line on stderr that starts with "error:"; an unexpected failure
exits with status 1 and one such line (set MARGIN_LAB_DEBUG=1 for the traceback). A progress line goes to
stderr for runs longer than a second (not with --quiet); a short summary goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .data import DATASETS
from .export import run_record
from .heads import LOSS_SPECS, LOSSES, parse_margin
from .nets import BACKBONES
from .train import DEFAULT_COMPARE_LOSSES, DEVICES, OPTIMIZERS, MultiTrainer, TrainConfig, Trainer

DEBUG_ENV = "MARGIN_LAB_DEBUG"
PROGRESS_AFTER_S = 1.0  # runs shorter than this print no progress line
PROGRESS_EVERY_S = 0.1
REPORTED_METRICS = ("train_accuracy", "test_accuracy", "w_ec_deg", "w_inter_deg", "intra_deg", "inter_deg",
                    "min_center_angle_deg")
VERIFICATION_METRICS = ("verification_auc", "tar_at_far_1e-2", "tar_at_far_1e-3")


class UsageError(Exception):
    """A problem with the arguments: exit status 2."""


class ReplayMismatch(Exception):
    """A replayed run did not reproduce its saved metrics: exit status 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print the usage and "prog: error: ..."; we want one line
        raise UsageError(message)


# --------------------------------------------------------------------------------------------------------
# Arguments


def _int_list(text: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated class indices such as 8,9, got {text!r}") from None


def _name_list(text: str) -> tuple[str, ...]:
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated loss names")
    return names


def _add_shared_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", default=defaults.dataset,
                      help=f"one of {', '.join(DATASETS)} (default: %(default)s)")
    data.add_argument("--data-dir", help="folder with the MNIST / Fashion-MNIST IDX files")
    data.add_argument("--holdout-classes", type=_int_list, default=(), metavar="8,9",
                      help="classes kept out of training, for open-set verification")
    data.add_argument("--max-train", type=int, help="subsample the training set to this many samples")
    data.add_argument("--max-test", type=int, help="subsample the test set to this many samples")
    data.add_argument("--data-seed", type=int, default=defaults.data_seed,
                      help="seed of the train/test split (and of the glyphs' samples)")
    data.add_argument("--train-identities", type=int, metavar="K",
                      help="glyphs: train on the first K identities (default: all); its held-out ones are fixed")

    model = parser.add_argument_group("model")
    model.add_argument("--backbone", default=defaults.backbone,
                       help=f"one of {', '.join(BACKBONES)} (default: %(default)s)")
    model.add_argument("--dim", type=int, default=defaults.embedding_dim,
                       help="embedding dimension (default: %(default)s)")
    model.add_argument("--hidden", type=int, default=defaults.hidden, help="hidden width (default: %(default)s)")
    model.add_argument("--scale", type=float, help="scale s of the normalised losses (default: each loss's own)")
    model.add_argument("--gradient", default=defaults.gradient, help="'true' or 'detached' (default: %(default)s)")
    model.add_argument("--sphereface-form", default=defaults.sphereface_form, help="'normalized' or 'original'")

    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=int, default=30, help="epochs to train (default: %(default)s)")
    train.add_argument("--optimizer", default=defaults.optimizer, help=f"one of {', '.join(OPTIMIZERS)}")
    train.add_argument("--lr", type=float, default=defaults.lr, help="learning rate (default: %(default)s)")
    train.add_argument("--momentum", type=float, default=defaults.momentum, help="SGD momentum")
    train.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    train.add_argument("--batch-size", type=int, default=defaults.batch_size, help="(default: %(default)s)")
    train.add_argument("--seed", type=int, default=defaults.seed, help="seed of the initial weights and shuffling")
    train.add_argument("--device", default=defaults.device, help=f"one of {', '.join(DEVICES)} (default: %(default)s)")
    train.add_argument("--threads", type=int, default=1,
                       help="torch CPU threads (default: 1; these nets are too small to gain from more)")

    out = parser.add_argument_group("output")
    out.add_argument("--json", type=Path, metavar="PATH", help="write config, history, metrics and events here")
    out.add_argument("--quiet", action="store_true", help="no progress line on stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m toy_models", description="Train margin-loss heads (softmax, SphereFace, "
                     "CosFace, ArcFace, ...) on small image datasets and report the angle statistics.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    train = commands.add_parser("train", help="train one head on one dataset",
                                description="Train one backbone + head and report its metrics.")
    train.add_argument("--loss", default=TrainConfig().loss, help=f"one of {', '.join(LOSSES)} (default: %(default)s)")
    train.add_argument("--margin", help="the loss's margin: a number, or m1,m2,m3 for combined (default: the loss's)")
    train.add_argument("--easy-margin", action="store_true", help="ArcFace: no margin beyond 90°")
    _add_shared_arguments(train)

    compare = commands.add_parser(
        "compare", help="train several heads at once on identical batches",
        description="Train several losses side by side (identical initial backbones and mini-batches, one "
                    "batched model) and report each one's metrics.",
    )
    compare.add_argument("--losses", type=_name_list, default=DEFAULT_COMPARE_LOSSES, metavar="L1,L2,...",
                         help=f"losses to compare (default: {','.join(DEFAULT_COMPARE_LOSSES)})")
    compare.add_argument("--margin", action="append", default=[], metavar="LOSS=M",
                         help="a margin for one loss, e.g. arcface=0.3 or combined=1,0.3,0.2 (repeatable)")
    _add_shared_arguments(compare)

    replay = commands.add_parser("replay", help="re-run a saved --json run and compare its metrics",
                                 description="Re-run the config of a JSON file written by train or compare and "
                                             "check that the metrics come out the same.")
    replay.add_argument("path", type=Path, help="the JSON file")
    replay.add_argument("--tolerance", type=float, default=1e-6, help="largest accepted absolute difference")
    replay.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    return parser


def _base_config(args: argparse.Namespace, **loss_settings: Any) -> TrainConfig:
    return TrainConfig(
        dataset=args.dataset,
        data_dir=args.data_dir,
        holdout_classes=tuple(args.holdout_classes),
        max_train=args.max_train,
        max_test=args.max_test,
        data_seed=args.data_seed,
        train_identities=args.train_identities,
        backbone=args.backbone,
        embedding_dim=args.dim,
        hidden=args.hidden,
        gradient=args.gradient,
        sphereface_form=args.sphereface_form,
        optimizer=args.optimizer,
        lr=args.lr,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        num_threads=args.threads,
        **loss_settings,
    )


def _train_config(args: argparse.Namespace) -> TrainConfig:
    if args.loss not in LOSS_SPECS:
        raise UsageError(f"unknown loss {args.loss!r}: choose one of {', '.join(LOSSES)}")
    margin = None if args.margin is None else parse_margin(args.margin, args.loss)
    if args.margin is not None and margin is None:
        raise UsageError(f"{args.loss} takes no margin")
    return _base_config(args, loss=args.loss, scale=args.scale, margin=margin, easy_margin=args.easy_margin)


def _compare_configs(args: argparse.Namespace) -> list[TrainConfig]:
    for loss in args.losses:
        if loss not in LOSS_SPECS:
            raise UsageError(f"unknown loss {loss!r}: choose one of {', '.join(LOSSES)}")
    margins: dict[str, Any] = {}
    for item in args.margin:
        loss, sep, value = item.partition("=")
        loss = loss.strip()
        if not sep:
            raise UsageError(f"--margin in compare takes LOSS=VALUE (for example arcface=0.3), got {item!r}")
        if loss not in args.losses:
            raise UsageError(f"--margin names {loss!r}, which is not among the compared losses")
        margins[loss] = parse_margin(value, loss)
    base = _base_config(args, loss="softmax")
    specs = []
    for loss in args.losses:
        spec: dict[str, Any] = {"loss": loss, "margin": margins.get(loss)}
        if LOSS_SPECS[loss].uses_scale:
            spec["scale"] = args.scale
        specs.append(spec)
    return [TrainConfig(**{**base.to_dict(), "holdout_classes": base.holdout_classes, **spec}) for spec in specs]


def _check_epochs(epochs: int) -> int:
    if epochs < 0:
        raise UsageError(f"--epochs must be 0 or more, got {epochs}")
    return epochs


# --------------------------------------------------------------------------------------------------------
# Running


class _Progress:
    """A one-line progress bar on stderr, shown only once a run has taken longer than PROGRESS_AFTER_S."""

    def __init__(self, total_steps: int, enabled: bool):
        self.total = max(total_steps, 1)
        self.enabled = enabled
        self.start = time.perf_counter()
        self.shown = False

    def update(self, step: int, epoch: int, epochs: int, text: str) -> None:
        if not self.enabled or time.perf_counter() - self.start < PROGRESS_AFTER_S:
            return
        width = 30
        filled = int(width * min(step / self.total, 1.0))
        bar = "#" * filled + "." * (width - filled)
        sys.stderr.write(f"\r[{bar}] epoch {epoch}/{epochs} step {step}/{self.total} {text}   ")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _train(runner: Trainer | MultiTrainer, epochs: int, quiet: bool, steps: int | None = None) -> float:
    """Train `runner` up to step `steps`, or else to the end of epoch `epochs`; returns the wall time."""
    start = time.perf_counter()
    total = epochs * runner.steps_per_epoch if steps is None else steps
    progress = _Progress(total, enabled=not quiet)
    members = runner.members if isinstance(runner, MultiTrainer) else [runner]
    try:
        while runner.step < total:
            runner.advance(total - runner.step, seconds=PROGRESS_EVERY_S)
            text = " ".join(f"{m.config.loss}:{m.snapshot().loss:.3f}" for m in members) if len(members) > 1 \
                else f"loss {members[0].snapshot().loss:.3f}"
            progress.update(runner.step, runner.epoch, epochs, text)
    finally:
        progress.close()
    return time.perf_counter() - start


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    try:
        path.write_text(json.dumps(payload, indent=1, allow_nan=False) + "\n")
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror or err}") from err


def _summary_line(record: dict[str, Any]) -> str:
    m = record["metrics"]

    def fmt(key: str, digits: int = 3) -> str:
        value = m.get(key)
        return "n/a" if value is None else f"{value:.{digits}f}"

    text = (f"{record['loss']:<11} train {fmt('train_accuracy')}  test {fmt('test_accuracy')}  "
            f"W-EC {fmt('w_ec_deg', 1)}°  W-Inter {fmt('w_inter_deg', 1)}°  "
            f"Intra {fmt('intra_deg', 1)}°  Inter {fmt('inter_deg', 1)}°")
    if "verification_auc" in m:
        text += (f"  AUC {fmt('verification_auc')}  TAR@1e-2 {fmt('tar_at_far_1e-2')}  "
                 f"TAR@1e-3 {fmt('tar_at_far_1e-3')}")
    return text


def _print_summary(title: str, records: list[dict[str, Any]]) -> None:
    print(title)
    for record in records:
        print("  " + _summary_line(record))
        for note in record["metric_notes"].values():
            print(f"    note: {note}")
        for event in record["events"]:
            if event["kind"] == "diverged":
                print(f"    event: {event['message']}")


def _cmd_train(args: argparse.Namespace) -> int:
    epochs = _check_epochs(args.epochs)
    config = _as_usage_error(_train_config, args)
    trainer = _setup(lambda: Trainer(config))
    seconds = _train(trainer, epochs, args.quiet)
    record = run_record(trainer, epochs)
    payload = {"command": "train", **record}
    if args.json:
        _write_json(args.json, payload)
    c = trainer.config
    _print_summary(f"{c.loss} on {c.dataset}: {c.embedding_dim}-D {c.backbone}, {epochs} epochs, "
                   f"{trainer.step} steps, {seconds:.1f} s", [record])
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    epochs = _check_epochs(args.epochs)
    configs = _as_usage_error(_compare_configs, args)
    multi = _setup(lambda: MultiTrainer(configs))
    seconds = _train(multi, epochs, args.quiet)
    records = [run_record(member, epochs) for member in multi.members]
    if args.json:
        _write_json(args.json, {"command": "compare", "epochs": epochs, "runs": records})
    c = multi.members[0].config
    _print_summary(f"{len(records)} losses on {c.dataset}: {c.embedding_dim}-D {c.backbone}, {epochs} epochs, "
                   f"{multi.step} steps, {seconds:.1f} s", records)
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    try:
        saved = json.loads(args.path.read_text())
    except OSError as err:
        raise UsageError(f"cannot read {args.path}: {err.strerror or err}") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        where = f"{err.msg} at line {err.lineno}" if isinstance(err, json.JSONDecodeError) else "not UTF-8 text"
        raise UsageError(f"{args.path} is not valid JSON ({where})") from err
    print(replay(saved, tolerance=args.tolerance, quiet=args.quiet, source=str(args.path)))
    return 0


def _replay_length(runs: list[dict[str, Any]], source: str) -> tuple[int, int | None]:
    """(epochs, steps) shared by every saved run: steps (exact) wins; without it, whole epochs."""
    lengths = {(run["config"].get("epochs"), run["config"].get("steps")) for run in runs}
    epochs, steps = next(iter(lengths))
    if len(lengths) != 1 or not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
        raise UsageError(f"{source}: every run needs the same non-negative integer 'epochs' in its config")
    if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 0):
        raise UsageError(f"{source}: 'steps' in the config must be a non-negative integer, got {steps!r}")
    return epochs, steps


def replay(saved: Any, *, tolerance: float = 1e-6, quiet: bool = True, source: str = "the JSON") -> str:
    """Re-run a record written by train or compare --json (or by toy_models.export) and compare its metrics.

    Returns the line that says it matched. UsageError (one sentence) for a record that cannot be replayed (no run
    in it, a config value out of range, a hot change made while training); ReplayMismatch when a metric differs
    by more than `tolerance`.
    """
    runs = saved.get("runs") if isinstance(saved, dict) and saved.get("command") == "compare" else [saved]
    if not isinstance(runs, list) or not runs or not all(
        isinstance(r, dict) and isinstance(r.get("config"), dict) and isinstance(r.get("metrics"), dict) for r in runs
    ):
        raise UsageError(f"{source} holds no run written by train or compare --json")
    epochs, steps = _replay_length(runs, source)
    configs = []
    for run in runs:
        values = {k: v for k, v in run["config"].items() if k not in ("epochs", "steps")}
        try:
            configs.append(TrainConfig.from_dict(values))
        except ValueError as err:
            raise UsageError(f"{source}: the saved config is not valid: {err}") from err
        changed = [e for e in run.get("events", []) if isinstance(e, dict) and e.get("kind") == "hyper"]
        if changed:
            raise UsageError(f"{source}: settings were changed while this run trained ({changed[0].get('message')}), "
                             "and replay starts from the first config only, so it cannot reproduce the metrics")
        for key, value in run["metrics"].items():
            if value is not None and not _is_number(value):
                raise UsageError(f"{source}: the saved metric {key!r} is not a number ({value!r})")
    if saved.get("command") == "compare":
        runner = _setup(lambda: MultiTrainer(configs))
        members = runner.members
    else:
        runner = _setup(lambda: Trainer(configs[0]))
        members = [runner]
    _train(runner, epochs, quiet, steps)
    worst = (0.0, "", None, None)
    for member, run in zip(members, runs, strict=True):
        fresh = run_record(member, epochs, steps)["metrics"]
        for key, old in run["metrics"].items():
            new = fresh.get(key)
            if old is None and new is None:
                continue
            diff = math.inf if old is None or new is None else abs(float(new) - float(old))
            if diff > worst[0]:
                worst = (diff, f"{member.config.loss} {key}", old, new)
    if worst[0] > tolerance:
        raise ReplayMismatch(f"replay differs: {worst[1]} was {worst[2]}, now {worst[3]} "
                             f"(more than the tolerance {tolerance:g}; was the file edited?)")
    return f"replay matches: {len(members)} run(s), largest difference {worst[0]:.3g} (tolerance {tolerance:g})"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_usage_error(function, *args):
    """Call function(*args); the ValueError of an invalid setting becomes a UsageError (exit status 2)."""
    try:
        return function(*args)
    except ValueError as err:  # DatasetError is a ValueError too
        raise UsageError(str(err)) from err


def _setup(build):
    """Build a trainer; a bad dataset, holdout or device is the user's argument, so it exits with status 2."""
    return _as_usage_error(build)


# --------------------------------------------------------------------------------------------------------


def _one_line(message: object) -> str:
    return " ".join(str(message).split()) or "unknown error"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 runtime failure, 2 bad arguments)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        commands = {"train": _cmd_train, "compare": _cmd_compare, "replay": _cmd_replay}
        return commands[args.command](args)
    except UsageError as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return 2
    except ReplayMismatch as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return 1
    except SystemExit as exit_:  # --help
        return exit_.code if isinstance(exit_.code, int) else 0
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if os.environ.get(DEBUG_ENV):
            raise
        print(f"error: {_one_line(err)} ({type(err).__name__}; set {DEBUG_ENV}=1 for the traceback)",
              file=sys.stderr)
        return 1
