"""The sync-free path (toy_models/train/fast.py) against the plain path, on the CPU: for the same seed the two record
the same losses, accuracies and angles; the divergence guard still works; the CUDA-graph branch is chosen only on
CUDA and refuses to run anywhere else (CI has no GPU, so the capture itself cannot run here)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from toy_models.train import MultiTrainer, TrainConfig, Trainer
from toy_models.train.fast import StepGraph, StepLedger, check_graphs, settle_run, sync_free_default

pytestmark = pytest.mark.usefixtures("one_thread")

# Uneven advances: read-backs fall mid-epoch, at epoch ends and after single steps.
ADVANCES = (1, 7, 23, 40, 3, 60)


def drive(run) -> None:
    for steps in ADVANCES:
        run.advance(steps=steps)
        run.snapshot() if isinstance(run, Trainer) else run.snapshots()


def assert_same_run(plain, fast) -> None:
    assert fast.step == plain.step and fast.epoch == plain.epoch
    assert fast.history.epoch == plain.history.epoch
    np.testing.assert_allclose(fast.history.loss, plain.history.loss, rtol=1e-5)
    np.testing.assert_allclose(fast.history.train_accuracy, plain.history.train_accuracy, atol=1e-9)
    np.testing.assert_allclose(fast.history.test_accuracy, plain.history.test_accuracy, atol=1e-9)
    a, b = plain.snapshot(), fast.snapshot()
    assert b.loss == pytest.approx(a.loss, rel=1e-5)
    assert b.train_accuracy == pytest.approx(a.train_accuracy, abs=1e-9)
    np.testing.assert_allclose(b.embeddings, a.embeddings, atol=1e-5)
    np.testing.assert_allclose(b.target_angle, a.target_angle, atol=1e-3)
    assert b.angle_stats["intra_deg"] == pytest.approx(a.angle_stats["intra_deg"], abs=1e-3)
    assert [e.message for e in fast.events] == [e.message for e in plain.events]


@pytest.mark.parametrize("loss", ["arcface", "softmax", "sphereface"])
def test_the_sync_free_trainer_records_what_the_plain_one_does(digits, loss):
    config = TrainConfig(loss=loss, seed=3)
    plain, fast = Trainer(config, dataset=digits, sync_free=False), Trainer(config, dataset=digits, sync_free=True)
    drive(plain)
    drive(fast)
    assert plain.epoch >= 5  # the run crossed several epoch ends
    assert_same_run(plain, fast)
    assert fast.last_loss == pytest.approx(plain.last_loss, rel=1e-5)


def test_the_sync_free_trainer_takes_hot_changes_as_the_plain_one_does(digits):
    config = TrainConfig(loss="cosface", seed=1)
    plain, fast = Trainer(config, dataset=digits, sync_free=False), Trainer(config, dataset=digits, sync_free=True)
    for run in (plain, fast):
        run.advance(steps=30)
        run.request_hyper(margin=0.2, lr=0.003)
        run.advance(steps=50)
    assert_same_run(plain, fast)
    assert fast.hyper_log == plain.hyper_log


def test_the_sync_free_multi_trainer_records_what_the_plain_one_does(digits):
    config = TrainConfig(seed=2)
    plain = MultiTrainer(config, dataset=digits, sync_free=False)
    fast = MultiTrainer(config, dataset=digits, sync_free=True)
    drive(plain)
    drive(fast)
    for a, b in zip(plain.members, fast.members, strict=True):
        assert_same_run(a, b)


def test_the_sync_free_trainer_reads_back_once_per_advance_not_per_step(digits, monkeypatch):
    trainer = Trainer(TrainConfig(), dataset=digits, sync_free=True)
    reads = []
    original = StepLedger.read
    monkeypatch.setattr(StepLedger, "read", lambda self, extra=None: reads.append(len(self)) or original(self, extra))
    monkeypatch.setattr(torch.Tensor, "item", lambda self: pytest.fail("a step read a value back"))
    trainer.advance(steps=10)  # within the first epoch (23 steps on digits)
    assert reads == [10]


def test_a_loss_that_turns_non_finite_is_restored_at_the_read_back(digits):
    """The copy proposed at a read-back becomes last-good only once the next step's loss from it is finite, as
    the plain path keeps only weights that just gave a finite loss."""
    trainer = Trainer(TrainConfig(loss="cosface"), dataset=digits, sync_free=True)
    trainer.advance(steps=10)  # proposes the weights of step 10
    trainer.advance(steps=3)  # step 11's loss was finite: step 10's copy is kept; proposes step 13's
    kept = trainer.backbone.embedding.weight.detach().clone()
    with torch.no_grad():
        trainer.backbone.embedding.weight.fill_(3e38)  # finite weights whose forward overflows
    trainer.advance(steps=5)
    [event] = [e for e in trainer.events if e.kind == "diverged"]
    assert event.step == 14 and event.restored_step == 10  # step 13's copy never gave a finite loss
    assert "the loss became non-finite" in event.message
    assert not torch.equal(trainer.backbone.embedding.weight.detach(), kept)
    assert float(trainer.backbone.embedding.weight.detach().abs().max()) < 1e3
    assert math.isfinite(trainer.snapshot().loss)


def test_finite_weights_that_overflow_are_never_kept(digits):
    """An update that leaves weights of 3e38 (finite) after a finite loss: proposed at the read-back, they must not
    become the copy a restore goes back to, or every restore would overflow again."""
    trainer = Trainer(TrainConfig(loss="cosface"), dataset=digits, sync_free=True)
    trainer.advance(steps=4)  # proposes step 4's weights
    update = trainer.optimizer.step

    def poisoning_update(*args, **kwargs):
        update(*args, **kwargs)
        with torch.no_grad():
            trainer.backbone.embedding.weight.fill_(3e38)

    trainer.optimizer.step = poisoning_update
    trainer.advance(steps=1)  # step 5's loss is finite (step 4's copy is kept), its update poisons: proposed
    trainer.optimizer.step = update
    assert math.isfinite(trainer.last_loss)
    trainer.advance(steps=3)  # step 6 overflows
    trainer.advance(steps=3)
    events = [e for e in trainer.events if e.kind == "diverged"]
    assert [(e.step, e.restored_step) for e in events] == [(6, 4)]  # once, to the proven copy
    assert float(trainer.backbone.embedding.weight.detach().abs().max()) < 1e3
    assert math.isfinite(trainer.snapshot().loss)


def test_a_multi_member_that_diverges_is_restored_alone(digits):
    multi = MultiTrainer(TrainConfig(), dataset=digits, sync_free=True)
    multi.advance(steps=10)
    with torch.no_grad():
        multi.members[2].head.weight[0, 0] = float("inf")
    multi.advance(steps=4)
    assert [len([e for e in m.events if e.kind == "diverged"]) for m in multi.members] == [0, 0, 1, 0]
    assert multi.stack.rows_finite() == [True] * 4
    assert all(math.isfinite(s.loss) for s in multi.snapshots())


def test_settle_stops_recording_at_the_first_non_finite_loss(digits):
    trainer = Trainer(TrainConfig(), dataset=digits, sync_free=False)
    steps_before = len(trainer.history.loss)
    healthy = settle_run(trainer, 0, [0.5, math.nan, 0.4], [3, 9, 9], [64, 64, 64], True)
    assert not healthy
    assert trainer.last_loss == 0.5 and trainer._epoch_correct == 3 and trainer._epoch_steps == 1
    assert [e.step for e in trainer.events if e.kind == "diverged"] == [2]
    assert len(trainer.history.loss) == steps_before


def test_the_ledger_reads_back_what_was_added_and_grows(tmp_path):
    ledger = StepLedger(2, torch.device("cpu"), capacity=2)
    for k in range(5):
        ledger.add(torch.tensor([k, -k], dtype=torch.float32), torch.tensor([k, 2 * k]), 10 + k)
    losses, correct, sizes, extra = ledger.read(torch.tensor([True, False]))
    assert losses == [[k, -k] for k in range(5)]
    assert correct == [[k, 2 * k] for k in range(5)]
    assert sizes == [10, 11, 12, 13, 14] and extra == [1.0, 0.0]
    assert len(ledger) == 0 and ledger.read()[0] == []


def test_the_sync_free_path_is_the_default_on_cuda_only(digits):
    assert sync_free_default(torch.device("cuda")) and sync_free_default(torch.device("cuda", 1))
    assert not sync_free_default(torch.device("cpu")) and not sync_free_default(torch.device("mps"))
    assert not Trainer(TrainConfig(device="cpu"), dataset=digits).sync_free
    assert not MultiTrainer(TrainConfig(device="cpu"), dataset=digits).sync_free


def test_cuda_graphs_are_refused_off_cuda_in_one_sentence(digits):
    with pytest.raises(ValueError, match=r"^CUDA graph capture needs a CUDA device, and this run trains on cpu$"):
        Trainer(TrainConfig(device="cpu"), dataset=digits, graphs=True)
    with pytest.raises(ValueError, match="needs the sync-free path"):
        check_graphs(True, torch.device("cuda"), sync_free=False)
    assert check_graphs(True, torch.device("cuda"), sync_free=True)
    assert not check_graphs(False, torch.device("cpu"), sync_free=False)
    with pytest.raises(ValueError, match="needs a CUDA device"):  # the capture itself is guarded too
        StepGraph(lambda index: None, 64, torch.device("cpu"), None, lambda: None, lambda saved: None, lambda: None)


def test_a_trainer_with_graphs_off_never_builds_one(digits):
    trainer = Trainer(TrainConfig(), dataset=digits, sync_free=True)
    trainer.advance(steps=30)
    assert not trainer.graphs and trainer._graph is None


def test_the_graph_warm_up_leaves_no_trace(digits):
    """StepGraph runs a few real steps before it captures; keep / put back must undo them in place, optimizer
    state included, so that a run with graphs trains as one without."""
    fresh = Trainer(TrainConfig(loss="sphereface", seed=4), dataset=digits, sync_free=True)
    warmed = Trainer(TrainConfig(loss="sphereface", seed=4), dataset=digits, sync_free=True)
    weight = warmed.backbone.embedding.weight
    saved = warmed._keep_exactly()
    for _ in range(3):
        warmed._zero_grad()
        warmed._step_body(torch.arange(64))
    assert not torch.equal(weight, fresh.backbone.embedding.weight)
    assert int(warmed.head.iteration) == 3
    warmed._put_back_exactly(saved)
    assert warmed.backbone.embedding.weight is weight  # in place: the same tensor
    assert int(warmed.head.iteration) == 0
    fresh.advance(steps=40)
    warmed.advance(steps=40)
    assert warmed.last_loss == pytest.approx(fresh.last_loss, rel=1e-6)
    np.testing.assert_allclose(warmed.snapshot().embeddings, fresh.snapshot().embeddings, atol=1e-6)
