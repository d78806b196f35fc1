"""Where a run trains, and one sentence saying why: `auto` picks the GPU only where it would be faster.

Tiny nets on a GPU are bound by kernel launches and synchronisations, not arithmetic: a GPU step costs about the
same for any small workload, while a CPU step grows with the arithmetic. So the rule compares the work of one step,
the forward multiply-adds of a batch (`step_work`: batch size x multiply-adds per sample x models trained together),
with a break-even point measured on real hardware (issue 18, an H200 beside its 16-core host, MNIST, batch 64,
the 2-layer MLP with hidden 64 and a 3-D embedding: 54,464 multiply-adds a sample, 3.49 M a step):

    the CPU took 1 / 838 s a step, the GPU 1 / 379 s: the GPU needed 2.21x the CPU's time.

With the GPU's time flat and the CPU's proportional to the work, they break even at 2.21 x 3.49 M = 7.7 M multiply-
adds a step; GPU_MIN_WORK rounds that up to 8 M. The scaffolding's own cost on the CPU (Python, a few hundred
microseconds a step) only moves the true break-even up, so the rule errs towards the CPU, whose speed the issue
measured as the safe one. The numbers are those of the plain path; benchmarks/device_check.py prints the measured
speeds to re-derive GPU_MIN_WORK from, once the sync-free path has run on a GPU.

What it gives: the digits MLP (0.54 M a step) trains on the CPU; the CNN on MNIST (1.96 M a sample, 125 M a step at
batch 64) and the MNIST MLP from batch 147 on train on the GPU. A device named in the config is always used.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn

from ..data import Dataset
from ..nets import build_backbone
from .config import TrainConfig, choose_device

GPU_MIN_WORK = 8_000_000  # forward multiply-adds of one step from which auto picks the GPU (see the docstring)
DATA_NOUNS = {"digits": "digits", "mnist": "MNIST images", "fashion-mnist": "Fashion-MNIST images",
              "toy": "toy samples", "glyphs": "glyph images"}
NET_NAMES = {"mlp": "a 2-layer MLP", "cnn": "a CNN"}
GPU_NAMES = {"cuda": "the GPU", "mps": "the Apple GPU"}


@dataclass(frozen=True)
class DeviceChoice:
    """The device a run trains on, and why, as the page says it ("CPU: faster than the GPU for ...")."""

    device: torch.device
    reason: str


def multiply_adds(config: TrainConfig, input_shape: tuple[int, ...], num_classes: int) -> int:
    """Forward multiply-adds of the config's backbone and head for one sample (linear and convolution layers),
    counted on the meta device: nothing is allocated and no random number is drawn. Cached: a page asks at every
    rerun."""
    return _multiply_adds(config.backbone, config.embedding_dim, config.hidden, tuple(input_shape), num_classes)


@functools.lru_cache(maxsize=64)
def _multiply_adds(backbone_name: str, embedding_dim: int, hidden: int, input_shape: tuple[int, ...],
                   num_classes: int) -> int:
    counts: list[int] = []

    def count(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        if isinstance(module, nn.Linear):
            counts.append(module.in_features * module.out_features)
        elif isinstance(module, nn.Conv2d):
            per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            counts.append(output[0].numel() * per_output)

    with torch.device("meta"):
        backbone = build_backbone(backbone_name, input_shape, embedding_dim, hidden=hidden)
        for module in backbone.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                module.register_forward_hook(count)
        backbone(torch.zeros((1, *input_shape)))
    return sum(counts) + embedding_dim * num_classes  # the head's logits: d per class


def step_work(config: TrainConfig, dataset: Dataset, models: int = 1) -> int:
    """Forward multiply-adds of one training step: batch x per sample x models trained together (a MultiTrainer's
    members share each step)."""
    return config.batch_size * multiply_adds(config, tuple(dataset.input_shape), dataset.num_classes) * models


def device_reason(config: TrainConfig, dataset: Dataset, models: int = 1) -> DeviceChoice:
    """The device for `config` on `dataset` (`models` trained together) and one sentence why.

    A named device (cpu, cuda, mps) is used as named (choose_device: an unavailable one is a ValueError). "auto"
    takes the CPU where there is no GPU, or where one step's work is below GPU_MIN_WORK; else the GPU.
    """
    if config.device != "auto":
        device = choose_device(config.device)
        return DeviceChoice(device, f"{_label(device)}: chosen in the settings.")
    gpu = choose_device("auto")  # CUDA, else Apple MPS, else the CPU
    if gpu.type == "cpu":
        return DeviceChoice(gpu, "CPU: there is no GPU on this machine.")
    work = step_work(config, dataset, models)
    samples = len(dataset.y_train) + len(dataset.y_test) + len(dataset.y_holdout)
    what = (f"{NET_NAMES.get(config.backbone, config.backbone)} on {samples:,} "
            f"{DATA_NOUNS.get(dataset.name, dataset.name + ' samples')}")
    detail = f"{work / 1e6:.2g} M multiply-adds a step; the GPU pays from {GPU_MIN_WORK / 1e6:g} M"
    if work < GPU_MIN_WORK:
        return DeviceChoice(torch.device("cpu"), f"CPU: faster than {GPU_NAMES[gpu.type]} for {what} ({detail}).")
    return DeviceChoice(gpu, f"{_label(gpu)}: faster than the CPU for {what} ({detail}).")


def prepare_runtime(config: TrainConfig, dataset: Dataset, models: int = 1) -> torch.device:
    """The device for the config (device_reason), after applying its thread count (process-wide by nature: the app
    keeps it at 1)."""
    device = device_reason(config, dataset, models).device
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    return device


def _label(device: torch.device) -> str:
    return {"cpu": "CPU", "cuda": "GPU (CUDA)", "mps": "Apple GPU (MPS)"}[device.type]
