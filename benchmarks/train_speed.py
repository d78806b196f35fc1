"""Training speed of toy_models.train, as ratios measured within one run (see benchmarks/README.md).

    python benchmarks/train_speed.py            # digits; MNIST too when ../shared/data/mnist exists
    python benchmarks/train_speed.py --quick    # fewer repeats

Prints, among others:
    trainer_vs_bare_loop: R            Trainer steps/s ÷ a hand-written PyTorch loop (same nets, batch, optimizer)
    all_at_once_vs_sequential: R       MultiTrainer (4 losses) ÷ four Trainers one after another, same steps
    peak_rss_mnist_mb: X               peak resident memory of a 4-loss MNIST compare run, in a child process
    four_losses_to_95pct_digits_s: T   wall time until softmax, SphereFace, CosFace and ArcFace all reach 95 %

The machine is shared and noisy: measurements are interleaved (A, B, A, B, ...) and the median of the
per-round ratios is reported, so a slow moment hits both sides of a ratio. Everything runs on one CPU thread,
the setting of the app. Nothing here is a test: no number can fail.
"""

from __future__ import annotations

import argparse
import math
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from toy_models.data import load_dataset  # noqa: E402
from toy_models.train import MultiTrainer, TrainConfig, Trainer, build_model  # noqa: E402

MNIST_DIR = REPO.parent / "shared" / "data" / "mnist"


def bare_loop(config: TrainConfig, dataset) -> callable:
    """A plain PyTorch training loop over the same backbone, head, batch size and optimizer as the Trainer.

    What a reader would write by hand: seeded shuffle per epoch, index a batch, forward, cross-entropy,
    backward, step. No bookkeeping, no guard, no evaluation. Returns run(steps).
    """
    config = config.resolved()
    backbone, head = build_model(config, dataset.input_shape, dataset.num_classes)
    # The Trainer's optimizer settings (fused Adam), so the ratio measures the Trainer's own overhead.
    optimizer = torch.optim.Adam([*backbone.parameters(), *head.parameters()], lr=config.lr, fused=True)
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


def timed(run, steps: int) -> float:
    start = time.perf_counter()
    run(steps)
    return time.perf_counter() - start


def interleaved_ratio(fast, slow, steps: int, rounds: int) -> tuple[float, float, float]:
    """Median over rounds of time(slow) / time(fast), plus the median seconds per step of each."""
    fast(steps // 5)  # warm up both (first calls allocate)
    slow(steps // 5)
    ratios, fast_times, slow_times = [], [], []
    for _ in range(rounds):
        t_fast = timed(fast, steps)
        t_slow = timed(slow, steps)
        ratios.append(t_slow / t_fast)
        fast_times.append(t_fast / steps)
        slow_times.append(t_slow / steps)
    return statistics.median(ratios), statistics.median(fast_times), statistics.median(slow_times)


def trainer_vs_bare(dataset, config: TrainConfig, steps: int, rounds: int) -> tuple[float, float, float]:
    trainer = Trainer(config, dataset=dataset)
    bare = bare_loop(config, dataset)
    # ratio = bare time / trainer time = trainer steps/s ÷ bare steps/s
    ratio, trainer_s, bare_s = interleaved_ratio(lambda n: trainer.advance(steps=n), bare, steps, rounds)
    return ratio, 1 / trainer_s, 1 / bare_s


def all_at_once_vs_sequential(dataset, config: TrainConfig, steps: int, rounds: int) -> tuple[float, float, float]:
    multi = MultiTrainer(config, dataset=dataset)
    singles = [Trainer(c, dataset=dataset) for c in multi.configs]

    def sequential(n: int) -> None:
        for trainer in singles:
            trainer.advance(steps=n)

    ratio, multi_s, sequential_s = interleaved_ratio(lambda n: multi.advance(steps=n), sequential, steps, rounds)
    return ratio, 1 / multi_s, 1 / sequential_s


def four_losses_to_95pct(dataset, config: TrainConfig, max_epochs: int = 200) -> tuple[float, dict[str, int]]:
    """Seconds until every member has reached ≥ 95 % test accuracy (from construction, data already loaded)."""
    start = time.perf_counter()
    multi = MultiTrainer(config, dataset=dataset)
    reached: dict[str, int] = {}
    while len(reached) < len(multi.members) and multi.epoch < max_epochs:
        multi.advance(epochs=1)
        for member in multi.members:
            if member.config.loss not in reached and member.history.test_accuracy[-1] >= 0.95:
                reached[member.config.loss] = multi.epoch
    seconds = time.perf_counter() - start
    return (seconds if len(reached) == len(multi.members) else math.inf), reached


def peak_rss_mnist_mb() -> float:
    """Peak RSS of `python -m toy_models compare` on MNIST (60k, 1 epoch, 4 losses) in a fresh child process."""
    command = [sys.executable, "-m", "toy_models", "compare", "--dataset", "mnist", "--data-dir", str(MNIST_DIR),
               "--epochs", "1", "--quiet"]
    subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    # ru_maxrss of RUSAGE_CHILDREN: the largest peak among the waited-for children (only this one), in KiB.
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a rough number in a few seconds)")
    args = parser.parse_args()
    rounds = 3 if args.quick else 9
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread, rounds={rounds} (medians of per-round ratios)")

    config = TrainConfig()  # the app's opening setting: ArcFace, 3-D, MLP, batch 64, Adam lr 1e-2
    digits = load_dataset("digits")
    ratio, trainer_rate, bare_rate = trainer_vs_bare(digits, config, steps=200, rounds=rounds)
    print(f"digits trainer steps/s: {trainer_rate:.0f}  bare loop steps/s: {bare_rate:.0f}")
    print(f"trainer_vs_bare_loop: {ratio:.2f}")
    ratio, multi_rate, sequential_rate = all_at_once_vs_sequential(digits, config, steps=100, rounds=rounds)
    print(f"digits all-at-once steps/s: {multi_rate:.0f}  sequential (4 trainers) steps/s: {sequential_rate:.0f}")
    print(f"all_at_once_vs_sequential: {ratio:.2f}")
    for threads in (2,):
        torch.set_num_threads(threads)
        ratio, _, _ = all_at_once_vs_sequential(digits, config, steps=100, rounds=rounds)
        print(f"all_at_once_vs_sequential_{threads}_threads: {ratio:.2f}")
        torch.set_num_threads(1)
    seconds, reached = four_losses_to_95pct(digits, config)
    print(f"four_losses_to_95pct_digits_s: {seconds:.2f}  (epoch reached: {reached})")

    if not MNIST_DIR.is_dir():
        print(f"MNIST not found at {MNIST_DIR}: skipping the MNIST lines")
        return
    mnist = load_dataset("mnist", MNIST_DIR)
    mnist_config = TrainConfig(dataset="mnist", data_dir=str(MNIST_DIR))
    ratio, trainer_rate, bare_rate = trainer_vs_bare(mnist, mnist_config, steps=100, rounds=rounds)
    print(f"mnist trainer steps/s: {trainer_rate:.0f}  bare loop steps/s: {bare_rate:.0f}")
    print(f"trainer_vs_bare_loop_mnist: {ratio:.2f}")
    ratio, _, _ = all_at_once_vs_sequential(mnist, mnist_config, steps=50, rounds=rounds)
    print(f"all_at_once_vs_sequential_mnist: {ratio:.2f}")
    print(f"peak_rss_mnist_mb: {peak_rss_mnist_mb():.0f}")


if __name__ == "__main__":
    main()
