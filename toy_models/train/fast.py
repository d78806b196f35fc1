"""The sync-free path: training steps that never wait for the device, for CUDA, where a host sync per step costs
more than the step (issue 18: the plain path on an H200 ran at 0.45x the host CPU's speed).

What the plain path does per step and this one does not:

* read the loss back (`loss.item()`) to decide whether to update and to record it: here each step writes its
  loss and its count of correct predictions into a `StepLedger` on the device;
* check the weights (`params_finite`, every GUARD_EVERY steps): here the guard looks once per read-back;
* branch on tensor values: nothing in the step depends on a tensor's value, so the device can run ahead.

The batches are already drawn on the device: `BatchStream` draws an epoch's permutation from the run's seeded
generator and the step slices it where the data lives (the same batch order on every device, so a GPU run sees
the batches its CPU replay sees). The data set stays on the device for the whole run.

Everything is read back in one transfer by `StepLedger.read` (the trainers call it at the end of `advance`, at
every epoch end and before a snapshot: once per drawn frame), and `settle_run` then replays what the plain path
would have recorded step by step: the loss curve, the epoch's sums, the correct predictions, and the divergence
guard. What differs: a loss that turns non-finite is seen at the read-back, not at once, so the weights go back to
the last copy proven good at an earlier read-back and the steps in between are lost (the plain path loses the
steps since its last copy, at most GUARD_EVERY). A copy is proven as the plain path proves it: the loss computed
from its weights was finite (the first step after the read-back that proposed it). Without a divergence the two
paths compute the same numbers (tests/unit/test_train_fast.py holds them to it on the CPU).

Where a step still waits: SphereFace's original form reads its λ step count in Python (heads/sphereface.py), once
per step; the sync-free path runs it, correctly, at the plain path's pace.

CUDA graphs (`graphs=True`, CUDA only): `StepGraph` captures one whole step (forward, backward, optimiser update,
ledger write) and replays it with one launch. A graph freezes its Python-side values (margin, scale, lr), so any
change of the run's settings is a new capture; SphereFace's original form (λ counted in Python) and steps of
another batch size (an epoch's last) run uncaptured.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

LEDGER_CAPACITY = 256  # steps a ledger holds before it grows (a read-back empties it)
GRAPH_WARMUP_STEPS = 3  # uncaptured steps on a side stream before a capture, as torch.cuda.graphs asks


def sync_free_default(device: torch.device) -> bool:
    """Whether the sync-free path is the default on `device`: on CUDA, yes; on the CPU a sync is free and the plain
    path is the reference (and no slower)."""
    return device.type == "cuda"


def check_graphs(graphs: bool, device: torch.device, sync_free: bool) -> bool:
    """`graphs`, checked: CUDA graphs need a CUDA device and the sync-free path; ValueError in one sentence
    otherwise."""
    if not graphs:
        return False
    if device.type != "cuda":
        raise ValueError(f"CUDA graph capture needs a CUDA device, and this run trains on {device.type}")
    if not sync_free:
        raise ValueError("CUDA graph capture needs the sync-free path (sync_free=True)")
    return True


class StepLedger:
    """Per-step losses (M per step: one per model) and correct-prediction counts, kept on the device until read.

    `add` copies into preallocated rows (no allocation, no sync); `read` returns everything in one transfer and
    empties the ledger.
    """

    def __init__(self, models: int, device: torch.device, capacity: int = LEDGER_CAPACITY):
        self.models = models
        self.device = device
        self.losses = torch.zeros((capacity, models), device=device)
        self.correct = torch.zeros((capacity, models), device=device)  # float: read back with the losses in one go
        self.sizes: list[int] = []  # each step's batch size (known on the host)

    def __len__(self) -> int:
        return len(self.sizes)

    def slot(self, size: int) -> int:
        """The row for the next step (growing the buffers when full: a Python decision on a Python number)."""
        row = len(self.sizes)
        if row == self.losses.shape[0]:
            self.losses = torch.cat([self.losses, torch.zeros_like(self.losses)])
            self.correct = torch.cat([self.correct, torch.zeros_like(self.correct)])
        self.sizes.append(size)
        return row

    def add(self, losses: torch.Tensor, correct: torch.Tensor, size: int) -> None:
        """One step: its loss(es) (a 0-d tensor or (M,)) and correct counts (same shape), still on the device."""
        row = self.slot(size)
        self.losses[row].copy_(losses.detach())
        self.correct[row].copy_(correct)

    def read(self, extra: torch.Tensor | None = None
             ) -> tuple[list[list[float]], list[list[int]], list[int], list[float]]:
        """(losses per step per model, correct per step per model, batch size per step, `extra`'s values), in one
        transfer; empties the ledger. `extra`: further numbers to bring along (e.g. a finite check of the weights)."""
        steps = len(self.sizes)
        parts = [self.losses[:steps].double().reshape(-1), self.correct[:steps].double().reshape(-1)]
        if extra is not None:
            parts.append(extra.detach().double().reshape(-1))
        values = torch.cat(parts).tolist()  # the one synchronisation
        cut = steps * self.models
        losses = [values[i * self.models : (i + 1) * self.models] for i in range(steps)]
        correct = [[int(v) for v in values[cut + i * self.models : cut + (i + 1) * self.models]] for i in range(steps)]
        sizes, self.sizes = self.sizes, []
        return losses, correct, sizes, values[2 * cut :]


def settle_run(run, first_step: int, losses: Sequence[float], correct: Sequence[int], sizes: Sequence[int],
               weights_finite: bool) -> bool:
    """Replay on `run` (a ModelRun) what the plain path records per step, for steps first_step + 1, ...: each loss
    (record_step), each finite step's correct predictions (add_correct). At the first non-finite loss the run's
    guard restores its last-good copy (record_step does) and the later steps, taken from broken weights, are not
    recorded. `weights_finite`: the weights after the last step; if not, the guard restores too.

    The guard's copies: the candidate proposed at the last read-back (the weights of step first_step) becomes the
    last-good copy if the first loss computed from it is finite, before anything is restored. Returns whether the
    run came through healthy: the owner then proposes its current weights (ModelRun.propose_last_good)."""
    if losses:
        run.confirm_last_good(math.isfinite(losses[0]))
    for offset, (loss, right, size) in enumerate(zip(losses, correct, sizes, strict=True)):
        step = first_step + offset + 1
        run.record_step(step, loss, size)
        if not math.isfinite(loss):
            return False
        run.add_correct(right)
    if not weights_finite:
        run.restore_last_good(first_step + len(losses), "a weight became non-finite")
        return False
    return True


class StepGraph:
    """One training step captured as a CUDA graph, replayed with one launch (CUDA only; see the module docstring).

    body(index) -> (loss, correct): one whole step on the batch `index` (forward, backward, optimiser update), its
    outputs still on the device. keep() -> state and put_back(state): a copy of what the step changes (weights,
    optimiser state, head buffers) and its restore IN PLACE (a captured graph holds the tensors' addresses), so the
    warm-up steps the capture needs leave no trace. `key`: what the capture froze; the owner recaptures when its
    key changes. Follows the whole-network example of the CUDA graphs notes (torch.cuda.graph).
    """

    def __init__(self, body: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], batch_size: int,
                 device: torch.device, key: object, keep: Callable[[], object],
                 put_back: Callable[[object], None], zero_grad: Callable[[], None]):
        if device.type != "cuda":  # never captured elsewhere: torch.cuda.graph needs a CUDA stream
            raise ValueError(f"CUDA graph capture needs a CUDA device, and this run trains on {device.type}")
        self.key = key
        self.index = torch.zeros(batch_size, dtype=torch.long, device=device)
        saved = keep()
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):  # warm-up: the allocator and lazy state settle before the capture
            for _ in range(GRAPH_WARMUP_STEPS):
                zero_grad()
                body(self.index)
        torch.cuda.current_stream(device).wait_stream(side)
        zero_grad()  # backward inside the graph allocates the gradients from the graph's own pool
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.loss, self.correct = body(self.index)
        put_back(saved)  # undo the warm-up's updates (the capture itself ran nothing)

    def step(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Replay the step on the batch `index`; (loss, correct), overwritten by the next replay."""
        self.index.copy_(index)
        self.graph.replay()
        return self.loss, self.correct
