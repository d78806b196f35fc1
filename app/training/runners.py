"""Where models live and train: in this process (a laptop, a test), or in a pool of worker processes.

    runner = InlineRunner()              # every call runs at once, here
    runner = WorkerPool(4)               # four worker processes; a model stays in the one that built it
    slot = runner.place()                # the worker a new model goes to (the one holding fewest models)
    future = runner.submit(slot, fn, *args)          # a concurrent.futures.Future

Why processes: one Streamlit process runs every session's script on one interpreter, and training threads
there contend for its GIL with each other and with the drawing (benchmarks/classroom_why.py: 16 students on
16 cores got 0.016x of one student's speed each). A worker process trains on a core of its own, and the page
process only draws the snapshots that come back.

Each worker is a standard-library `ProcessPoolExecutor` with one process, so the calls for one model queue in
the process that holds it, in order, and nothing home-made carries them. Workers start from a forkserver that
has imported torch and the trainer once, so a new or restarted worker is ready in a fraction of a second. A
worker that dies (killed, out of memory) breaks its executor: its calls fail with BrokenProcessPool, the
handles whose models it held say so in one sentence, and the pool replaces it with a fresh process, so the
other workers, and the server, go on.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

WORKERS_ENV = "MARGIN_LAB_WORKERS"
_PRELOAD = ["torch", "toy_models.train", "app.training.worker"]


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)  # a worker trains on one core; the pool has one worker per core


class InlineRunner:
    """Every call runs at once, in this process: nothing is pickled and no process starts (a laptop's default,
    and what AppTest sessions use)."""

    size = 0

    def place(self) -> int:
        return 0

    def generation(self, slot: int) -> int:
        return 0

    def submit(self, slot: int, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # the caller's future.result() raises it, as a pool's would
            future.set_exception(error)
        return future

    def forget(self, slot: int) -> None:
        pass

    def set_playing(self, slot: int, run_id: str, playing: bool) -> None:
        pass

    def crowded(self, slot: int) -> bool:
        return False

    def broken(self, slot: int, generation: int) -> None:
        pass

    def shutdown(self) -> None:
        pass


class WorkerPool:
    """`size` worker processes; a model is built in the one holding the fewest models and stays there."""

    def __init__(self, size: int, *, context: str = "forkserver"):
        if size < 1:
            raise ValueError(f"a worker pool needs at least one worker, got {size}")
        self.size = size
        self._context = multiprocessing.get_context(context)
        if context == "forkserver":
            self._context.set_forkserver_preload(_PRELOAD)
        self._lock = threading.Lock()
        self._executors: list[ProcessPoolExecutor | None] = [None] * size
        self._generations = [0] * size
        self._models = [0] * size
        self._playing: list[set[str]] = [set() for _ in range(size)]  # the models training now, per worker

    def _executor(self, slot: int) -> ProcessPoolExecutor:
        with self._lock:
            executor = self._executors[slot]
            if executor is None:
                executor = ProcessPoolExecutor(1, mp_context=self._context, initializer=_init_worker)
                self._executors[slot] = executor
            return executor

    def place(self) -> int:
        """The worker a new model should live in: the one training the fewest models now, then holding the
        fewest."""
        with self._lock:
            slot = min(range(self.size), key=lambda i: (len(self._playing[i]), self._models[i]))
            self._models[slot] += 1
            return slot

    def forget(self, slot: int) -> None:
        """A model of `slot` was dropped."""
        with self._lock:
            self._models[slot] = max(0, self._models[slot] - 1)

    def set_playing(self, slot: int, run_id: str, playing: bool) -> None:
        """Whether a model of `slot` is training now (Play) or not (Pause, a closed tab, a drop)."""
        with self._lock:
            (self._playing[slot].add if playing else self._playing[slot].discard)(run_id)

    def crowded(self, slot: int) -> bool:
        """Whether another model trains in `slot`'s worker while some worker trains none: a model about to
        play there would share a core that another worker leaves idle."""
        with self._lock:
            return bool(self._playing[slot]) and any(not playing for playing in self._playing)

    def generation(self, slot: int) -> int:
        """Bumped whenever the worker of `slot` is replaced: a model built before lives no more."""
        return self._generations[slot]

    def submit(self, slot: int, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        return self._executor(slot).submit(fn, *args, **kwargs)

    def broken(self, slot: int, generation: int) -> None:
        """The worker of `slot` (as of `generation`) died: replace it (its models are gone; the next call starts a
        fresh process). A report about a generation already replaced changes nothing."""
        with self._lock:
            if generation != self._generations[slot]:
                return
            executor, self._executors[slot] = self._executors[slot], None
            self._generations[slot] += 1
            self._models[slot] = 0
            self._playing[slot] = set()
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def pids(self) -> list[int | None]:
        """The worker processes' ids (None where none has started): a test kills one."""
        out = []
        for executor in self._executors:
            processes = getattr(executor, "_processes", None) or {}
            out.append(next(iter(processes), None))
        return out

    def shutdown(self) -> None:
        for slot, executor in enumerate(self._executors):
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)
                self._executors[slot] = None


def worker_count(setting: int | None, *, hosted: bool, cores: int | None = None) -> int:
    """How many worker processes a server runs: the setting (MARGIN_LAB_WORKERS or the hosted config) when
    given, else one per core on a hosted server, and none on a laptop (a single student trains in the page's
    process, with no process to start). Not one less for the page process: it only draws, and waits on the
    workers meanwhile (2 players on 2 cores: 0.92x of one alone with 2 workers, benchmarks/classroom_load.py)."""
    if setting is not None:
        return max(0, setting)
    if not hosted:
        return 0
    cores = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, cores)


_runner: InlineRunner | WorkerPool | None = None
_runner_lock = threading.Lock()


def process_runner(size: int) -> InlineRunner | WorkerPool:
    """The process's runner: `size` workers (0: in-process), made on first use and kept."""
    global _runner
    with _runner_lock:
        if _runner is None:
            _runner = WorkerPool(size) if size > 0 else InlineRunner()
        return _runner


def reset_process_runner() -> None:
    """Shut the process's runner down (tests that change the setting)."""
    global _runner
    with _runner_lock:
        if _runner is not None:
            _runner.shutdown()
        _runner = None
