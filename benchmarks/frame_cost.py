"""What a drawn frame costs to send from a worker process, against building the same frame in-process.

    python benchmarks/frame_cost.py            # about 30 s

A frame is what a tick gets back from its model (app.training.worker.Frame: the members' snapshots, configs,
epoch, probes): never the model. For the Playground's default model and the Compare page's four losses, it
prints the frame's pickled size, and the time of a one-step call (a step, then the frame built anew) in a
worker process against the same call in this process, measured alternately in one run; the difference is what
sending the call and its frame across the process boundary costs:

    frame_kb_live: K   call_ms_worker: W   call_ms_inline: I   send_ms: W - I   worker_over_inline: R
"""

from __future__ import annotations

import pickle
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.training.handle import ModelHandle
from app.training.runners import InlineRunner, WorkerPool
from toy_models.train import DEFAULT_COMPARE_LOSSES, TrainConfig


def call_ms(handle: ModelHandle, repeats: int = 30) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        handle.advance(epochs=None, seconds=1e-4)  # one step, so the frame is built anew (never the cached one)
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def main() -> int:
    import torch

    torch.set_num_threads(1)
    live = [TrainConfig(num_threads=1)]
    compare = [TrainConfig(num_threads=1, loss=loss) for loss in DEFAULT_COMPARE_LOSSES]
    pool = WorkerPool(1)
    try:
        for name, configs in (("live", live), ("compare", compare)):
            inline = ModelHandle(InlineRunner(), configs, compare=name == "compare")
            remote = ModelHandle(pool, configs, compare=name == "compare")
            for handle in (inline, remote):
                handle.advance(epochs=2, seconds=60)
            size = len(pickle.dumps(remote.frame)) / 1000
            worker_ms, inline_ms = [], []
            for _ in range(3):  # alternated rounds: the machine is shared
                worker_ms.append(call_ms(remote))
                inline_ms.append(call_ms(inline))
            w, i = statistics.median(worker_ms), statistics.median(inline_ms)
            print(f"frame_kb_{name}: {size:.1f}   call_ms_worker: {w:.1f}   call_ms_inline: {i:.1f}   "
                  f"send_ms: {w - i:.1f}   worker_over_inline: {w / i:.2f}")
    finally:
        pool.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
