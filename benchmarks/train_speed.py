"""Training speed of toy_models.train, as ratios measured within one run (see benchmarks/README.md).

    python benchmarks/train_speed.py            # digits; MNIST too when ../shared/data/mnist exists
    python benchmarks/train_speed.py --quick    # fewer repeats

Prints, among others:
    trainer_vs_bare_loop: R            Trainer steps/s ÷ a hand-written PyTorch loop (same nets, batch, optimizer)
    all_at_once_vs_sequential: R       MultiTrainer (4 losses) ÷ four Trainers one after another, same steps
    fast_path_vs_autograd_reference: R MultiTrainer's hand-written batched pass ÷ its autograd reference path
    peak_rss_mnist_mb: X               peak resident memory of a 4-loss MNIST compare run (its own, in a child)
    four_losses_to_95pct_digits_s: T   wall time until softmax, SphereFace, CosFace and ArcFace all reach 95 %

The machine is shared and noisy: measurements are interleaved (A, B, A, B, ...) and the median of the
per-round ratios is reported, so a slow moment hits both sides of a ratio. Everything runs on one CPU thread,
the setting of the app. Nothing here is a test: no number can fail.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from toy_models.data import load_dataset  # noqa: E402
from toy_models.train import MultiTrainer, TrainConfig, Trainer, build_model  # noqa: E402

MNIST_DIR = REPO.parent / "shared" / "data" / "mnist"


def bare_loop(config: TrainConfig, dataset, *, fused: bool = True) -> callable:
    """A plain PyTorch training loop over the same backbone, head, batch size and optimizer as the Trainer.

    What a reader would write by hand: seeded shuffle per epoch, index a batch, forward, cross-entropy,
    backward, step. No bookkeeping, no guard, no evaluation. Returns run(steps). fused=True is the Trainer's
    optimizer (so trainer_vs_bare_loop measures the Trainer's own overhead); fused=False is torch.optim.Adam
    as a reader writes it, whose per-tensor Python overhead costs about as much as the forward pass here.
    """
    config = config.resolved()
    backbone, head = build_model(config, dataset.input_shape, dataset.num_classes)
    optimizer = torch.optim.Adam([*backbone.parameters(), *head.parameters()], lr=config.lr, fused=fused)
    x_train, y_train = dataset.x_train, dataset.y_train
    generator = torch.Generator().manual_seed(config.seed)
    state = {"order": torch.randperm(len(y_train), generator=generator), "position": 0}

    def run(steps: int) -> None:
        for _ in range(steps):
            if state["position"] >= len(y_train):
                state["order"] = torch.randperm(len(y_train), generator=generator)
                state["position"] = 0
            index = state["order"][state["position"] : state["position"] + config.batch_size]
            state["position"] += config.batch_size
            x, y = x_train[index], y_train[index]
            loss = F.cross_entropy(head(backbone(x), y), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    return run


def timed(run, steps: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of run(steps).

    With one thread, the process's CPU time counts the work itself: a neighbour who takes the core for a
    while stretches the wall time but not the CPU time, so CPU-time ratios stay put on a busy machine.
    """
    cpu, wall = time.process_time(), time.perf_counter()
    run(steps)
    return time.process_time() - cpu, time.perf_counter() - wall


class Ratio(NamedTuple):
    cpu: float  # median over rounds of CPU-time ratios: the number to quote
    wall: float  # the same with wall time (noisier on a shared machine)
    fast_rate: float  # steps per CPU second of the faster side (median)
    slow_rate: float


def interleaved_ratio(fast, slow, steps: int, rounds: int) -> Ratio:
    """Median over rounds of time(slow) / time(fast), alternating the two so that a slow moment hits both."""
    fast(steps // 5)  # warm up both (first calls allocate)
    slow(steps // 5)
    cpu_ratios, wall_ratios, fast_rates, slow_rates = [], [], [], []
    for _ in range(rounds):
        fast_cpu, fast_wall = timed(fast, steps)
        slow_cpu, slow_wall = timed(slow, steps)
        cpu_ratios.append(slow_cpu / fast_cpu)
        wall_ratios.append(slow_wall / fast_wall)
        fast_rates.append(steps / fast_cpu)
        slow_rates.append(steps / slow_cpu)
    median = statistics.median
    return Ratio(median(cpu_ratios), median(wall_ratios), median(fast_rates), median(slow_rates))


def trainer_vs_bare(dataset, config: TrainConfig, steps: int, rounds: int) -> Ratio:
    """bare time / trainer time, i.e. trainer steps/s ÷ bare-loop steps/s."""
    trainer = Trainer(config, dataset=dataset)
    bare = bare_loop(config, dataset)
    return interleaved_ratio(lambda n: trainer.advance(steps=n), bare, steps, rounds)


def all_at_once_vs_sequential(dataset, config: TrainConfig, steps: int, rounds: int) -> Ratio:
    """Four Trainers one after another ÷ one MultiTrainer with the same four losses, for the same steps."""
    multi = MultiTrainer(config, dataset=dataset)
    singles = [Trainer(c, dataset=dataset) for c in multi.configs]

    def sequential(n: int) -> None:
        for trainer in singles:
            trainer.advance(steps=n)

    return interleaved_ratio(lambda n: multi.advance(steps=n), sequential, steps, rounds)


def all_at_once_vs_single_member_multis(dataset, config: TrainConfig, steps: int, rounds: int) -> Ratio:
    """Four one-member MultiTrainers one after another ÷ one MultiTrainer with all four, for the same steps.

    Both sides run the same hand-written batched pass, so this is the gain of stacking the members alone;
    all_at_once_vs_sequential adds what the batched pass saves against a Trainer (autograd, nn.Module calls).
    """
    multi = MultiTrainer(config, dataset=dataset)
    singles = [MultiTrainer([c], dataset=dataset) for c in multi.configs]

    def sequential(n: int) -> None:
        for single in singles:
            single.advance(steps=n)

    return interleaved_ratio(lambda n: multi.advance(steps=n), sequential, steps, rounds)


def fast_path_vs_reference(dataset, config: TrainConfig, steps: int, rounds: int) -> Ratio:
    """A MultiTrainer on its autograd reference path (fast=False) ÷ one on the hand-written batched pass: what
    the written-out backward buys. Both use the same stacked parameters and optimizer update."""
    fast = MultiTrainer(config, dataset=dataset)
    reference = MultiTrainer(config, dataset=dataset, fast=False)
    return interleaved_ratio(lambda n: fast.advance(steps=n), lambda n: reference.advance(steps=n), steps, rounds)


def all_at_once_vs_plain_loops(dataset, config: TrainConfig, steps: int, rounds: int) -> Ratio:
    """Four hand-written loops with torch.optim.Adam's defaults ÷ one MultiTrainer, for the same steps."""
    multi = MultiTrainer(config, dataset=dataset)
    loops = [bare_loop(c, dataset, fused=False) for c in multi.configs]

    def sequential(n: int) -> None:
        for loop in loops:
            loop(n)

    return interleaved_ratio(lambda n: multi.advance(steps=n), sequential, steps, rounds)


def four_losses_to_95pct(dataset, config: TrainConfig, max_epochs: int = 200) -> tuple[float, float, dict[str, int]]:
    """(wall s, CPU s, epoch each loss first reached 95 %) until all four have reached ≥ 95 % test accuracy,
    from MultiTrainer construction on (the dataset is loaded beforehand, as the app caches it)."""
    cpu, wall = time.process_time(), time.perf_counter()
    multi = MultiTrainer(config, dataset=dataset)
    reached: dict[str, int] = {}
    while len(reached) < len(multi.members) and multi.epoch < max_epochs:
        multi.advance(epochs=1)
        for member in multi.members:
            if member.config.loss not in reached and member.history.test_accuracy[-1] >= 0.95:
                reached[member.config.loss] = multi.epoch
    if len(reached) < len(multi.members):
        return math.inf, math.inf, reached
    return time.perf_counter() - wall, time.process_time() - cpu, reached


# Runs `python -m toy_models ARGS` and then prints its own peak RSS in KiB. Read in the child itself: the
# ru_maxrss of RUSAGE_CHILDREN would also count the pages the child shared with this (large) process between
# fork and exec, i.e. report this process's size. VmHWM belongs to the address space the child got at exec.
_PEAK_RSS_CHILD = """
import resource, runpy, sys
sys.argv = ["toy_models", *sys.argv[1:]]
try:
    runpy.run_module("toy_models", run_name="__main__", alter_sys=True)
except SystemExit as stop:
    if stop.code:
        raise
try:
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except OSError:  # no /proc (macOS): ru_maxrss, in bytes there
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print("PEAK_RSS_KIB", peak)
"""


def peak_rss_mnist_mb() -> float:
    """Peak RSS of `python -m toy_models compare` on MNIST (60k, 1 epoch, 4 losses) in a fresh child process."""
    command = [sys.executable, "-c", _PEAK_RSS_CHILD, "compare", "--dataset", "mnist", "--data-dir", str(MNIST_DIR),
               "--epochs", "1", "--quiet"]
    output = subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True).stdout
    return int(output.split("PEAK_RSS_KIB")[-1]) / 1024


def report(name: str, ratio: Ratio, fast: str, slow: str) -> None:
    print(f"  {fast} {ratio.fast_rate:.0f} steps/CPU-s, {slow} {ratio.slow_rate:.0f}; wall-time ratio {ratio.wall:.2f}")
    print(f"{name}: {ratio.cpu:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a rough number in a few seconds)")
    args = parser.parse_args()
    rounds = 3 if args.quick else 9
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread, {rounds} interleaved rounds; "
          "ratios are medians of per-round CPU-time ratios")

    config = TrainConfig()  # the app's opening setting: ArcFace, 3-D, MLP, batch 64, Adam lr 1e-2
    digits = load_dataset("digits")
    report("trainer_vs_bare_loop", trainer_vs_bare(digits, config, steps=230, rounds=rounds), "trainer", "bare loop")
    report("all_at_once_vs_sequential", all_at_once_vs_sequential(digits, config, steps=115, rounds=rounds),
           "all-at-once", "sequential (4 trainers)")
    report("fast_path_vs_autograd_reference", fast_path_vs_reference(digits, config, steps=115, rounds=rounds),
           "fast path", "autograd reference")
    report("all_at_once_vs_four_plain_loops", all_at_once_vs_plain_loops(digits, config, steps=115, rounds=rounds),
           "all-at-once", "4 plain loops (default Adam)")
    report("all_at_once_vs_four_single_member_multis",
           all_at_once_vs_single_member_multis(digits, config, steps=115, rounds=rounds),
           "all-at-once", "4 one-member MultiTrainers")
    config_256 = dataclasses.replace(config, batch_size=256)  # information only: the app's batch is 64
    report("all_at_once_vs_sequential_batch_256",
           all_at_once_vs_sequential(digits, config_256, steps=30, rounds=rounds), "all-at-once", "sequential")
    torch.set_num_threads(2)
    report("all_at_once_vs_sequential_2_threads",
           all_at_once_vs_sequential(digits, config, steps=115, rounds=rounds), "all-at-once", "sequential")
    torch.set_num_threads(1)
    wall, cpu, reached = four_losses_to_95pct(digits, config)
    print(f"  epoch at which each first reached 95 %: {reached}; CPU time {cpu:.2f} s")
    print(f"four_losses_to_95pct_digits_s: {wall:.2f}")

    if not MNIST_DIR.is_dir():
        print(f"MNIST not found at {MNIST_DIR}: skipping the MNIST lines")
        return
    mnist = load_dataset("mnist", MNIST_DIR)
    mnist_config = TrainConfig(dataset="mnist", data_dir=str(MNIST_DIR))
    report("trainer_vs_bare_loop_mnist", trainer_vs_bare(mnist, mnist_config, steps=200, rounds=rounds),
           "trainer", "bare loop")
    report("all_at_once_vs_sequential_mnist", all_at_once_vs_sequential(mnist, mnist_config, steps=100, rounds=rounds),
           "all-at-once", "sequential (4 trainers)")
    print(f"peak_rss_mnist_mb: {peak_rss_mnist_mb():.0f}")


if __name__ == "__main__":
    main()
