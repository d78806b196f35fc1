"""The honest `auto` device (toy_models/train/device.py): the GPU only where one step's work is large enough to
pay for its launches, with one sentence saying why; a named device is always used. CUDA is mocked: CI has none."""

from __future__ import annotations

import pytest
import torch

from toy_models.data import Dataset
from toy_models.train import MultiTrainer, TrainConfig, Trainer, device_reason
from toy_models.train import device as device_module
from toy_models.train.device import GPU_MIN_WORK, multiply_adds, step_work


def fake_dataset(name: str, side: int, samples: int = 70_000) -> Dataset:
    """A data set of `samples` images side x side (only its shape and size matter to the rule)."""
    empty = torch.zeros(0, 1, side, side)
    labels = torch.arange(10).repeat(samples // 10)
    return Dataset(name, empty, labels[: samples - 10_000], empty, labels[:10_000], tuple("0123456789"),
                   (1, side, side), empty, torch.zeros(0, dtype=torch.long), ())


@pytest.fixture
def cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_without_a_gpu_auto_says_cpu_and_why(no_gpu, digits):
    choice = device_reason(TrainConfig(), digits)
    assert choice.device.type == "cpu"
    assert choice.reason == "CPU: there is no GPU on this machine."


def test_a_tiny_mlp_on_the_digits_trains_on_the_cpu_beside_a_gpu(cuda, digits):
    choice = device_reason(TrainConfig(), digits)
    assert choice.device.type == "cpu"
    assert choice.reason.startswith("CPU: faster than the GPU for a 2-layer MLP on 1,797 digits (0.54 M multiply")


def test_a_cnn_on_mnist_sized_data_trains_on_the_gpu(cuda):
    choice = device_reason(TrainConfig(backbone="cnn", batch_size=256), fake_dataset("mnist", 28))
    assert choice.device.type == "cuda"
    assert choice.reason.startswith("GPU (CUDA): faster than the CPU for a CNN on 70,000 MNIST images")


def test_the_rule_is_the_work_of_one_step_and_the_gpu_wins_the_tie(cuda, monkeypatch, digits):
    config = TrainConfig()
    work = step_work(config, digits)
    monkeypatch.setattr(device_module, "GPU_MIN_WORK", work)
    assert device_reason(config, digits).device.type == "cuda"  # equal: the GPU
    monkeypatch.setattr(device_module, "GPU_MIN_WORK", work + 1)
    assert device_reason(config, digits).device.type == "cpu"  # one multiply-add short: the CPU


def test_the_work_counts_every_layer_the_batch_and_the_models():
    # 64·64 + 64·64 + 64·3 (the MLP) + 3·10 (the head's logits): the digits MLP
    assert multiply_adds(TrainConfig(), (1, 8, 8), 10) == 64 * 64 + 64 * 64 + 64 * 3 + 3 * 10
    digits_like = fake_dataset("digits", 8, 1000)
    assert step_work(TrainConfig(batch_size=32), digits_like, models=4) == 4 * 32 * multiply_adds(
        TrainConfig(), (1, 8, 8), 10)
    # the measured point: the MNIST MLP at batch 64 is below the break-even, so it stays on the CPU
    assert step_work(TrainConfig(), fake_dataset("mnist", 28)) < GPU_MIN_WORK
    assert step_work(TrainConfig(batch_size=147), fake_dataset("mnist", 28)) >= GPU_MIN_WORK
    assert multiply_adds(TrainConfig(backbone="cnn"), (1, 28, 28), 10) > 30 * multiply_adds(
        TrainConfig(), (1, 28, 28), 10)


def test_a_named_device_is_used_as_named(cuda, digits):
    assert device_reason(TrainConfig(device="cuda"), digits).reason == "GPU (CUDA): chosen in the settings."
    assert device_reason(TrainConfig(device="cuda"), digits).device.type == "cuda"
    cnn = device_reason(TrainConfig(device="cpu", backbone="cnn", batch_size=512), fake_dataset("mnist", 28))
    assert cnn.device.type == "cpu" and cnn.reason == "CPU: chosen in the settings."


def test_a_named_gpu_that_is_missing_is_one_sentence(no_gpu, digits):
    with pytest.raises(ValueError, match=r"^device 'cuda' was requested but no CUDA GPU is available$"):
        device_reason(TrainConfig(device="cuda"), digits)


def test_apple_gpus_follow_the_same_rule(monkeypatch, digits):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    choice = device_reason(TrainConfig(), digits)
    assert choice.device.type == "cpu" and "faster than the Apple GPU" in choice.reason


def test_the_trainers_follow_the_rule(cuda, digits):
    """With CUDA mocked, auto would once have put the digits on a (missing) GPU: now both trainers stay on the
    CPU, and the compare trainer counts its four models' work."""
    assert Trainer(TrainConfig(), dataset=digits).device.type == "cpu"
    assert MultiTrainer(TrainConfig(), dataset=digits).device.type == "cpu"
    config = TrainConfig(batch_size=256)
    assert step_work(config, digits) < GPU_MIN_WORK <= step_work(config, digits, models=4)
