"""The server operator's device setting (MARGIN_LAB_DEVICE) and the caption under the run bar."""

from __future__ import annotations

import pytest
import torch

from app.training.device import DEVICE_ENV, device_caption, server_device
from toy_models.train import TrainConfig


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.mark.parametrize("raw", ["", "  ", "auto", "AUTO"])
def test_unset_or_auto_is_auto(raw):
    assert server_device({DEVICE_ENV: raw}) == ("auto", "")
    assert server_device({}) == ("auto", "")


def test_a_named_device_that_exists_is_used(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert server_device({DEVICE_ENV: "cuda"}) == ("cuda", "")
    assert server_device({DEVICE_ENV: " CPU "}) == ("cpu", "")


def test_a_missing_gpu_or_a_wrong_word_falls_back_to_auto_in_one_sentence(no_gpu):
    device, problem = server_device({DEVICE_ENV: "cuda"})
    assert device == "auto"
    assert problem == ("MARGIN_LAB_DEVICE='cuda' cannot be used (device 'cuda' was requested but no CUDA GPU is "
                       "available), so auto decides.")
    device, problem = server_device({DEVICE_ENV: "gpu"})
    assert device == "auto"
    assert problem == "MARGIN_LAB_DEVICE='gpu' is not a device (choose one of auto, cpu, cuda, mps), so auto decides."


def test_the_caption_says_the_problem_then_the_reason(no_gpu, monkeypatch, digits):
    monkeypatch.setenv(DEVICE_ENV, "gpu")
    caption = device_caption(TrainConfig(), digits)
    assert caption.startswith("MARGIN_LAB_DEVICE='gpu' is not a device")
    assert caption.endswith("so auto decides. CPU: there is no GPU on this machine.")
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert device_caption(TrainConfig(device="cpu"), digits) == "CPU: chosen in the settings."
