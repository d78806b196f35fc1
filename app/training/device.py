"""Where a page's models train: the server operator's choice (MARGIN_LAB_DEVICE), else the honest `auto` of
toy_models.train.device (the GPU only where it is faster for the workload), and the caption that says so.

    MARGIN_LAB_DEVICE=cuda streamlit run streamlit_app.py     # every model on the GPU, even where slower
    device_caption(config, dataset, models)                   # "CPU: faster than the GPU for a 2-layer MLP ..."
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from toy_models.data import Dataset
from toy_models.train import DEVICES, TrainConfig, choose_device, device_reason

DEVICE_ENV = "MARGIN_LAB_DEVICE"


def server_device(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(the device the pages' configs name, "" or one sentence why the operator's setting was not used). Unset,
    empty or "auto": auto. A value that is no device, or a GPU this machine lacks, falls back to auto, said once
    on the page rather than as an error in every session."""
    env = os.environ if environ is None else environ
    raw = env.get(DEVICE_ENV, "").strip()
    value = raw.lower()
    if value in ("", "auto"):
        return "auto", ""
    if value not in DEVICES:
        return "auto", f"{DEVICE_ENV}={raw!r} is not a device (choose one of {', '.join(DEVICES)}), so auto decides."
    try:
        choose_device(value)
    except ValueError as err:
        return "auto", f"{DEVICE_ENV}={raw!r} cannot be used ({err}), so auto decides."
    return value, ""


def device_caption(config: TrainConfig, dataset: Dataset, models: int = 1) -> str:
    """The line under the run bar: where the config's models train and why, after any problem with the setting."""
    _, problem = server_device()
    return " ".join(part for part in (problem, device_reason(config, dataset, models).reason) if part)
