"""What every page shares per session and per process: the address bar, datasets, start-up hygiene.

Everything a user owns lives in `st.session_state` (a live unit keeps its model, optimiser and play
state there, see `app.live.run`); only read-only, shared things (datasets) are cached across sessions.
torch trains on one thread per session (streamlit_app.py sets it, and every TrainConfig the app builds
asks for it), and a closed tab stops costing CPU at once: its run_every timers lived in the browser.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping
from typing import Any

import streamlit as st

from app import hosted, state
from toy_models.data import Dataset, DatasetError, load_dataset
from toy_models.train import TrainConfig

DATA_ENV = "MARGIN_LAB_DATA"  # folder with the MNIST / Fashion-MNIST IDX files
NEEDS_FOLDER = ("mnist", "fashion-mnist")


_startup_objects_frozen = False


def freeze_startup_objects() -> None:
    """Move everything alive after the first run (torch, plotly, streamlit: ~400k objects) out of the GC's reach.

    Streamlit runs a full garbage collection after every script run, ticks included. With these
    libraries loaded that scan took ~190 ms and blocked the server (py-spy: 88 % of a slider move's
    busy time). Frozen objects are never scanned, so later collections only look at new garbage.
    Once per process.
    """
    global _startup_objects_frozen
    if not _startup_objects_frozen:
        gc.collect()
        gc.freeze()
        _startup_objects_frozen = True


# --------------------------------------------------------------------------------------------
# URL seeding
# --------------------------------------------------------------------------------------------


def raw_query() -> dict[str, list[str]]:
    """The current query parameters with repeated keys kept as lists."""
    qp = st.query_params
    return {key: qp.get_all(key) for key in qp}


def write_url(values: Mapping[str, Any]) -> None:
    """Make the address bar reproduce `values` (only when it differs, to avoid needless messages); a hosted
    page's server mark (hosted.SERVER_PARAM) stays."""
    wanted = state.to_query(values)
    current = {key: st.query_params.get_all(key) for key in st.query_params if key != hosted.SERVER_PARAM}
    if current != {key: [text] for key, text in wanted.items()}:
        kept = {k: v for k, v in st.query_params.to_dict().items() if k == hosted.SERVER_PARAM}
        st.query_params.from_dict({**wanted, **kept})


def share_link(values: Mapping[str, Any]) -> str:
    """The full link to this exact setup (host included when Streamlit knows it)."""
    from urllib.parse import urlencode, urlsplit, urlunsplit

    try:
        base = st.context.url or ""
    except Exception:  # no browser context (bare run / AppTest)
        base = ""
    parts = urlsplit(base or "http://localhost:8501/")
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(state.to_query(values)), ""))


# --------------------------------------------------------------------------------------------
# Datasets (shared, read-only) and the trainer (per session)
# --------------------------------------------------------------------------------------------


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


@st.cache_resource(show_spinner="Loading the dataset…", max_entries=8)
def cached_dataset(name: str, data_dir: str | None) -> Dataset:
    """The dataset a default TrainConfig would load, shared by all sessions (its tensors are never written).

    The train/test split depends on TrainConfig.data_seed, not on the run's seed, so one copy per dataset
    serves every seed.
    """
    cfg = TrainConfig()
    return load_dataset(
        name,
        data_dir,
        seed=cfg.data_seed,
        holdout_classes=cfg.holdout_classes,
        max_train=cfg.max_train,
        max_test=cfg.max_test,
        num_identities=cfg.num_identities,
    )


def dataset_for(values: Mapping[str, Any], data_dir: str | None) -> tuple[Dataset, str | None, str]:
    """(dataset to train on, the folder it came from, one-sentence notice or "").

    A dataset that cannot be loaded (no folder, wrong folder, corrupt file) falls back to digits,
    with the loader's own one-sentence reason.
    """
    name = values["dataset"]
    folder = data_dir if name in NEEDS_FOLDER else None
    label = state.param_by_name(values["loss"], "dataset").label_of(name).split(" (")[0]
    hint = ("the instructor has not named one in this server's config" if hosted.settings().hosted
            else f"enter it in the sidebar's Data folder box or set ${DATA_ENV}")  # fmt: skip
    if name in NEEDS_FOLDER and folder is None:
        notice = f"{label} needs a folder with its IDX files: {hint}. Training on digits meanwhile."
        return cached_dataset("digits", None), None, notice
    try:
        return cached_dataset(name, folder), folder, ""
    except DatasetError as err:
        why = str(err).rstrip(".")
        more = f" Fix the folder ({hint})." if name in NEEDS_FOLDER else ""
        notice = f"{label} could not be loaded: {why}.{more} Training on digits meanwhile."
        return cached_dataset("digits", None), None, notice
