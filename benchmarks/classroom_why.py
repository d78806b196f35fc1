"""Why a class's total training speed falls as students are added to one Streamlit process: measurements.

    python benchmarks/classroom_why.py            # about 3 minutes on 2 cores
    python benchmarks/classroom_why.py --quick    # shorter windows
    (also: python benchmarks/classroom_load.py --investigate)

Each experiment isolates one suspect, and reports CPU time beside wall time, so that the other work on a
shared machine does not pass for an effect:

1. threads vs processes: W copies of the Playground's default training loop (Trainer.advance in slices,
   one torch thread each, no Streamlit), as W threads of one interpreter and as W processes. Total
   epochs/s and epochs per CPU-second. Threads sharing one interpreter are what Streamlit sessions are.
2. Python's switch interval (sys.setswitchinterval) for 4 threads: does a longer or shorter GIL slice help?
3. The per-tick drawing cost: what one tick of the live unit builds besides training (the snapshot, the
   sphere, histogram and curve figure specs, their JSON), in CPU ms.
4. Streamlit's garbage collection after every script run (runner.postScriptGC): how long one
   gc.collect() takes with W trainers alive, after the app's gc.freeze() of the start-up objects.
5. (in classroom_load.py, with a server) py-spy samples of the server holding the GIL, by where they are.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import resource
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SLICE_S = 0.25  # each loop trains in slices, as the app's ticks do


def _default_config():
    from app import state
    from toy_models.train import TrainConfig

    values, _ = state.validate({}, source="Benchmark")
    fields = state.config_fields(values)
    return TrainConfig(**{**fields, "num_threads": 1})


def _train_for(window_s: float, start_at: float, out: list, index: int) -> None:
    import torch

    from toy_models.train import Trainer

    torch.set_num_threads(1)
    trainer = Trainer(_default_config())
    trainer.advance(epochs=1)  # warm
    time.sleep(max(0.0, start_at - time.monotonic()))
    epoch0, deadline, cpu0, switches0 = trainer.epoch, time.monotonic() + window_s, time.thread_time(), _switches()
    while time.monotonic() < deadline:
        trainer.advance(seconds=min(SLICE_S, max(0.01, deadline - time.monotonic())))
    out[index] = (trainer.epoch - epoch0, time.thread_time() - cpu0, _switches() - switches0)


def _switches() -> int:
    """This thread's context switches so far (a thread waiting for the GIL is switched out and back in)."""
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_nvcsw + usage.ru_nivcsw


def _process_worker(args: tuple[float, float]) -> tuple[int, float]:
    window_s, start_at = args
    out = [(0, 0.0, 0)]
    _train_for(window_s, start_at, out, 0)
    return out[0]


def threads(workers: int, window_s: float, switch_s: float | None = None) -> tuple[float, float, float, float]:
    """(total epochs/s, epochs per CPU-second, CPU cores used, context switches per epoch) of `workers`
    threads in this process."""
    import torch

    torch.set_num_threads(1)
    old = sys.getswitchinterval()
    if switch_s is not None:
        sys.setswitchinterval(switch_s)
    try:
        out = [(0, 0.0, 0)] * workers
        start_at = time.monotonic() + 2.0 + 0.5 * workers
        pool = [threading.Thread(target=_train_for, args=(window_s, start_at, out, i)) for i in range(workers)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    finally:
        sys.setswitchinterval(old)
    epochs, cpu, switches = (sum(o[k] for o in out) for k in range(3))
    return epochs / window_s, epochs / cpu, cpu / window_s, switches / max(epochs, 1)


def beside_busy_python(window_s: float, switch_s: float | None = None) -> tuple[float, float]:
    """Epochs/s of one training thread while another thread runs pure Python (JSON of a figure spec, as a
    tick's drawing does): a thread that drops the GIL at every torch op waits for it at every op."""
    import torch

    torch.set_num_threads(1)
    old = sys.getswitchinterval()
    if switch_s is not None:
        sys.setswitchinterval(switch_s)
    stop = threading.Event()
    spec = {"data": [{"x": list(range(2000)), "y": [float(i) * 0.5 for i in range(2000)], "name": "n"}] * 6}

    def busy() -> None:
        while not stop.is_set():
            json.dumps(spec)

    try:
        out = [(0, 0.0, 0)]
        start_at = time.monotonic() + 2.0
        trainer_thread = threading.Thread(target=_train_for, args=(window_s, start_at, out, 0))
        trainer_thread.start()
        time.sleep(max(0.0, start_at - time.monotonic()))
        drawer = threading.Thread(target=busy)
        drawer.start()
        trainer_thread.join()
        stop.set()
        drawer.join()
    finally:
        sys.setswitchinterval(old)
    return out[0][0] / window_s, out[0][1] / window_s  # epochs/s, the training thread's CPU cores


def processes(workers: int, window_s: float) -> tuple[float, float, float]:
    """The same with `workers` processes (spawned: a clean interpreter each)."""
    context = multiprocessing.get_context("spawn")
    start_at = time.monotonic() + 8.0 + 1.0 * workers  # spawned interpreters import torch first
    with context.Pool(workers) as pool:
        results = pool.map(_process_worker, [(window_s, start_at)] * workers)
    epochs, cpu, switches = (sum(r[k] for r in results) for k in range(3))
    return epochs / window_s, epochs / cpu, cpu / window_s, switches / max(epochs, 1)


def tick_drawing_ms(repeats: int = 20) -> dict[str, float]:
    """CPU ms of what a playing tick builds besides training, with the Playground's default setup."""
    import numpy as np
    import torch

    from app import plots, state
    from app.live import views
    from toy_models.train import Trainer

    torch.set_num_threads(1)
    values, _ = state.validate({}, source="Benchmark")
    trainer = Trainer(_default_config())
    trainer.advance(epochs=3)
    costs: dict[str, list[float]] = {"snapshot": [], "sphere spec": [], "histograms spec": [], "curves spec": [],
                                     "JSON of the three": []}  # fmt: skip
    for _ in range(repeats):
        trainer.advance(steps=5)
        t = time.process_time()
        snap = trainer.snapshot()
        costs["snapshot"].append(time.process_time() - t)
        t = time.process_time()
        sphere = plots.hypersphere_figure(snap.embeddings, snap.labels, snap.class_weights,
                                          class_names=snap.class_names, loss=values["loss"],
                                          margin=views.figure_margin(values), as_spec=True)  # fmt: skip
        costs["sphere spec"].append(time.process_time() - t)
        t = time.process_time()
        hist = plots.angle_histograms(np.degrees(snap.target_angle), np.degrees(snap.nearest_angle), as_spec=True)
        costs["histograms spec"].append(time.process_time() - t)
        t = time.process_time()
        curves = plots.training_curves(snap.history, as_spec=True)
        costs["curves spec"].append(time.process_time() - t)
        t = time.process_time()
        for spec in (sphere, hist, curves):
            json.dumps(spec, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v))
        costs["JSON of the three"].append(time.process_time() - t)
    return {name: 1000 * statistics.median(values) for name, values in costs.items()}


def gc_collect_ms(trainers: int) -> float:
    """One full gc.collect() with `trainers` live trainers and their snapshots, after gc.freeze()."""
    import torch

    from toy_models.train import Trainer

    torch.set_num_threads(1)
    gc.collect()
    gc.freeze()
    keep = []
    for _ in range(trainers):
        trainer = Trainer(_default_config())
        trainer.advance(epochs=2)
        keep.append((trainer, trainer.snapshot()))
    times = []
    for _ in range(5):
        t = time.perf_counter()
        gc.collect()
        times.append(time.perf_counter() - t)
    gc.unfreeze()
    del keep
    return 1000 * statistics.median(times)


def main(quick: bool = False) -> None:
    window = 4.0 if quick else 8.0
    sizes = [1, 2, 4] if quick else [1, 2, 4, 8]
    print("1. Training alone, no Streamlit (total epochs/s | epochs per CPU-second | CPU cores used "
          "| context switches per epoch):", flush=True)  # fmt: skip
    for workers in sizes:
        t = threads(workers, window)
        p = processes(workers, window)
        print(f"   W={workers}: threads {t[0]:6.1f} | {t[1]:5.1f} | {t[2]:4.2f} | {t[3]:6.0f}    "
              f"processes {p[0]:6.1f} | {p[1]:5.1f} | {p[2]:4.2f} | {p[3]:6.0f}", flush=True)
    print("2. Switch interval, 4 threads (total epochs/s | epochs per CPU-second | cores | switches/epoch):")
    for switch in (0.0005, 0.005, 0.05):
        t = threads(4, window, switch_s=switch)
        print(f"   sys.setswitchinterval({switch}): {t[0]:6.1f} | {t[1]:5.1f} | {t[2]:4.2f} | {t[3]:6.0f}", flush=True)
    print("2b. One training thread alone, and beside one thread of pure Python (epochs/s, the training thread's "
          "CPU cores; a fair share of one interpreter would be half):", flush=True)  # fmt: skip
    alone = threads(1, window)
    parts = [f"alone {alone[0]:.1f} ({alone[2]:.2f} cores)"]
    for switch in (0.0005, 0.005, 0.05):
        epochs, cores = beside_busy_python(window, switch)
        parts.append(f"beside busy Python, switch interval {switch * 1000:g} ms: {epochs:.1f} ({cores:.2f} cores)")
    print("   " + "; ".join(parts), flush=True)
    print("3. A tick's drawing, besides training (CPU ms, median):", flush=True)
    costs = tick_drawing_ms(8 if quick else 20)
    print("   " + ", ".join(f"{name} {ms:.1f}" for name, ms in costs.items())
          + f"; sum {sum(costs.values()):.0f} ms", flush=True)  # fmt: skip
    print("4. One gc.collect() after gc.freeze(), as Streamlit runs after every script run (ms):", flush=True)
    for trainers in (1, 4, 16) if not quick else (1, 4):
        print(f"   with {trainers:>2} trainers alive: {gc_collect_ms(trainers):6.1f} ms", flush=True)


# py-spy --gil samples of a running server (classroom_load.py --profile)

PROFILE_CATEGORIES = (  # the first that matches a sample's stack names it (deepest frames are tested first)
    ("training (toy_models)", ("toy_models/",)),
    ("figures (app/plots, plotly)", ("app/plots/", "plotly/")),
    ("page code (app/)", ("/app/",)),
    ("Streamlit (script runs, protobuf, websocket)", ("streamlit/", "google/protobuf", "starlette/", "uvicorn/",
                                                      "websockets/", "anyio/", "asyncio/")),
)


def gil_profile(pid: int, seconds: float, rate: int = 100) -> dict[str, float] | None:
    """Where the server's GIL is held: py-spy samples of the threads holding it, by category (fractions of
    all samples the window could hold), plus 'GIL free' for the rest. None when py-spy cannot attach."""
    import shutil
    import subprocess
    import tempfile

    spy = shutil.which("py-spy")
    if spy is None:
        return None
    with tempfile.NamedTemporaryFile(suffix=".txt") as out:
        cmd = [spy, "record", "--gil", "--nonblocking", "-r", str(rate), "-d", str(int(seconds)), "-f", "raw",
               "-o", out.name, "--pid", str(pid)]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            return None
        counts: dict[str, float] = {}
        for line in Path(out.name).read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            frames = stack.split(";")[::-1]  # deepest first
            name = "other"
            for frame in frames:
                found = next((label for label, marks in PROFILE_CATEGORIES if any(m in frame for m in marks)), None)
                if found:
                    name = found
                    break
            counts[name] = counts.get(name, 0) + int(count)
    possible = rate * int(seconds)
    shares = {name: count / possible for name, count in sorted(counts.items(), key=lambda kv: -kv[1])}
    shares["GIL free (no Python running)"] = max(0.0, 1 - sum(shares.values()))
    return shares


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    main(quick=parser.parse_args().quick)

