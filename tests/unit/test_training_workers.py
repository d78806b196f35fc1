"""Training out of the page's process: the same run in a worker as in-process, and a worker's death.

The pool's workers are real processes (a forkserver), started once for this module.
"""

from __future__ import annotations

import functools
import gc
import os
import signal
import time

import pytest

from app.lessons.probe import ProbePlan, measure_checks
from app.training import worker
from app.training.handle import LOST_SENTENCE, ModelHandle, ModelLost
from app.training.runners import InlineRunner, WorkerPool, worker_count
from toy_models.train import TrainConfig

pytestmark = pytest.mark.slow  # starts worker processes and trains small models


@pytest.fixture(scope="module")
def pool():
    pool = WorkerPool(2)
    yield pool
    pool.shutdown()


def _run(runner, *, hot_at_epoch: int = 2) -> tuple:
    """Three epochs with a hot change after the second, as a tick, a slider move and a Step would do."""
    handle = ModelHandle(runner, [TrainConfig(num_threads=1, seed=5)])
    handle.advance(epochs=hot_at_epoch, seconds=60)
    handle.request_hyper(0, margin=0.3)
    frame = handle.advance(epochs=1, seconds=60)
    snap = frame.snapshot
    return frame.epoch, frame.step, snap.angle_stats, snap.test_accuracy, snap.embeddings.tobytes()


def test_a_run_in_a_worker_gives_the_same_metrics_as_in_process(pool):
    assert _run(InlineRunner()) == _run(pool)


def test_the_epoch_probe_runs_where_the_model_lives_and_comes_back_in_order(pool):
    handle = ModelHandle(pool, [TrainConfig(num_threads=1)])
    probe = ProbePlan((("spread", None, frozenset({"inter_deg"})),), "live")
    frame = handle.advance(epochs=3, seconds=60, probe=functools.partial(measure_checks, plan=probe))
    assert [p["spread"].metrics["epoch"] for p in frame.probes] == [1.0, 2.0, 3.0]
    assert frame.probes[-1]["spread"].record["epoch"] == 3 and frame.worker != os.getpid()


def test_a_frame_is_small(pool):
    import pickle

    handle = ModelHandle(pool, [TrainConfig(num_threads=1)])
    frame = handle.advance(epochs=1, seconds=60)
    assert len(pickle.dumps(frame)) < 64_000  # points and metrics, never the model


def test_a_killed_worker_loses_only_its_models_in_one_sentence(pool):
    first = ModelHandle(pool, [TrainConfig(num_threads=1)])
    second = ModelHandle(pool, [TrainConfig(num_threads=1)])
    assert first.slot != second.slot  # a new model goes to the worker holding the fewest
    victim = first.advance(epochs=1, seconds=60).worker
    first.start(epochs=None, seconds=5.0)  # killed mid-run
    os.kill(victim, signal.SIGKILL)
    with pytest.raises(ModelLost) as lost:
        first.collect()
    assert str(lost.value) == LOST_SENTENCE and "\n" not in str(lost.value)
    with pytest.raises(ModelLost):  # the handle is spent: every later call says the same
        first.advance(epochs=1, seconds=1)
    before = second.epoch
    assert second.advance(epochs=2, seconds=60).epoch == before + 2  # the other worker trains on
    again = ModelHandle(pool, [TrainConfig(num_threads=1)])  # the pool replaced the dead worker
    assert again.advance(epochs=1, seconds=60).worker != victim


def test_a_forgotten_handle_frees_its_place_in_the_worker(pool):
    gc.collect()  # (handles of earlier tests go first)
    handle = ModelHandle(pool, [TrainConfig(num_threads=1)])
    slot, run_id = handle.slot, handle.run_id
    held = pool._models[slot]
    del handle
    gc.collect()
    assert pool._models[slot] == held - 1
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the drop reaches the worker after the calls queued before it
        if not pool.submit(slot, worker.call_exists, run_id).result(timeout=30):
            break
        time.sleep(0.05)
    assert not pool.submit(slot, worker.call_exists, run_id).result(timeout=30)


def test_worker_count_is_one_per_core_when_hosted_and_none_on_a_laptop():
    assert worker_count(None, hosted=False, cores=16) == 0
    assert worker_count(None, hosted=True, cores=16) == 16
    assert worker_count(None, hosted=True, cores=2) == 2
    assert worker_count(None, hosted=True, cores=1) == 1
    assert worker_count(4, hosted=False, cores=16) == 4
    assert worker_count(0, hosted=True, cores=16) == 0
    with pytest.raises(ValueError, match="at least one worker"):
        WorkerPool(0)


def test_a_model_about_to_play_beside_a_player_moves_to_an_idle_worker():
    pool = WorkerPool(2)
    try:
        first, other, third = (ModelHandle(pool, [TrainConfig(num_threads=1)]) for _ in range(3))
        assert first.slot == third.slot != other.slot  # three models on two workers: two share one
        first.set_playing(True)
        assert not third.placed_well() and other.placed_well()  # third would share first's core; one idles
        untrained = third.refresh().snapshot.class_weights
        moved = third.moved()
        assert moved.slot == other.slot and moved.placed_well()
        assert (moved.frame.snapshot.class_weights == untrained).all()  # the same seed: the same model
        moved.advance(epochs=1, seconds=60)
        with pytest.raises(ValueError, match="not trained yet"):
            moved.moved()  # a trained model stays where it is
        first.set_playing(False)
        assert ModelHandle(pool, [TrainConfig(num_threads=1)]).placed_well()
    finally:
        pool.shutdown()


def test_a_pool_of_one_worker_is_a_pool_and_of_none_is_one_sentence():
    pool = WorkerPool(1)  # (its process starts with its first model: none is started here)
    try:
        assert pool.size == 1
    finally:
        pool.shutdown()
    with pytest.raises(ValueError, match=r"^a worker pool needs at least one worker, got 0$"):
        WorkerPool(0)
