"""Datasets for the pages: one cache shared by every session of the process, and the choice of a folder.

Datasets are read-only once loaded (nothing writes their tensors), so one copy per process serves every
session and every seed: the train/test split depends on `TrainConfig.data_seed`, not on the run's seed.
A dataset that cannot be loaded falls back to digits with the loader's own one-sentence reason.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from app import hosted, state
from app.training import worker
from toy_models.data import Dataset, DatasetError
from toy_models.train import TrainConfig

DATA_ENV = "MARGIN_LAB_DATA"  # folder with the MNIST / Fashion-MNIST IDX files
NEEDS_FOLDER = ("mnist", "fashion-mnist")


def asks_for_folder(dataset: str) -> bool:
    """Whether the sidebar shows a data-folder box for this dataset (never on a hosted server)."""
    return dataset in NEEDS_FOLDER and not hosted.settings().hosted


def data_folder(text: str | None, dataset: str | None = None) -> str | None:
    """The MNIST folder: the text box if filled in, else $MARGIN_LAB_DATA, else None. On a hosted server only
    the folder its instructor named for the dataset (a student cannot make the server read a typed path)."""
    settings = hosted.settings()
    if settings.hosted:
        return settings.folder_for(dataset) if dataset else None
    text = (text or "").strip() or os.environ.get(DATA_ENV, "").strip()
    return text or None


def dataset_of(config: TrainConfig) -> Dataset:
    """The dataset `config` names, from the process-wide cache that models trained in this process share too
    (app.training.worker.dataset_of); DatasetError when it cannot be loaded."""
    return worker.dataset_of(config)


def cached_dataset(name: str, data_dir: str | None, train_identities: int | None = None) -> Dataset:
    """The dataset a default TrainConfig of this name and folder (and, for glyphs, K identities) would load."""
    return dataset_of(TrainConfig(dataset=name, data_dir=data_dir, train_identities=train_identities))


def dataset_for(values: Mapping[str, Any], data_dir: str | None) -> tuple[Dataset, str | None, str]:
    """(dataset to train on, the folder it came from, one-sentence notice or "").

    A dataset that cannot be loaded (no folder, wrong folder, corrupt file) falls back to digits,
    with the loader's own one-sentence reason.
    """
    name = values["dataset"]
    folder = data_dir if name in NEEDS_FOLDER else None
    label = state.shared_param("dataset").label_of(name).split(" (")[0]
    hint = ("the instructor has not named one in this server's config" if hosted.settings().hosted
            else f"enter it in the sidebar's Data folder box or set ${DATA_ENV}")  # fmt: skip
    if name in NEEDS_FOLDER and folder is None:
        notice = f"{label} needs a folder with its IDX files: {hint}. Training on digits meanwhile."
        return cached_dataset("digits", None), None, notice
    identities = state.config_fields({"loss": "softmax", **values}).get("train_identities")  # glyphs only
    try:
        return cached_dataset(name, folder, identities), folder, ""
    except DatasetError as err:
        why = str(err).rstrip(".")
        more = f" Fix the folder ({hint})." if name in NEEDS_FOLDER else ""
        notice = f"{label} could not be loaded: {why}.{more} Training on digits meanwhile."
        return cached_dataset("digits", None), None, notice
