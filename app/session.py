"""The per-session side of the Playground: URL seeding, the trainer's lifecycle, play state, hygiene.

Everything a user owns lives in `st.session_state` (their model, optimiser, history, play flag);
only read-only, shared things (datasets) are cached across sessions. No thread is started here:
training advances synchronously inside a fragment tick with a time budget.

Hygiene (many sessions may share one machine):
- torch trains on one thread (streamlit_app.py sets it, and every TrainConfig the page builds asks for it);
- a tick trains for at most TICK_BUDGET_S seconds;
- a closed tab sends no more ticks (run_every timers live in the browser), so its session stops
  costing CPU at once; its model is freed when Streamlit drops the session
  (server.disconnectedSessionTTL);
- playing stops by itself after IDLE_PAUSE_S seconds without any interaction, or at MAX_EPOCHS.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from app import state
from toy_models.data import Dataset, DatasetError, load_dataset
from toy_models.train import TrainConfig, Trainer

# run_every while playing: 2 redraws a second. The browser, not the trainer, is the limit: a tick's
# redraw costs it about 0.35 s of main-thread time on a 2-core machine without a GPU
# (benchmarks/ui_latency.py), so faster ticks only queue up and train less.
TICK_S = 0.5
TICK_BUDGET_S = 0.4  # training time per tick; the server draws the rest in well under 0.1 s

IDLE_PAUSE_S = 10 * 60  # auto-pause after this long without a click or slider move
MAX_EPOCHS = 2000  # auto-pause once a run reaches this many epochs (digits converges in about 50)
STEP_LIMIT_S = 20.0  # Step trains one epoch, but never blocks the page longer than this (a CNN on MNIST)
DATA_ENV = "MARGIN_LAB_DATA"  # folder with the MNIST / Fashion-MNIST IDX files
NEEDS_FOLDER = ("mnist", "fashion-mnist")

# Session-state keys owned by this module.
PARAMS = "_params"  # the current clean values (by Param.name); the widgets mirror them
SEEDED = "_seeded_from_url"
URL_NOTICES = "_url_notices"
RUN = "_run"


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


@dataclass
class RunState:
    """One user's live run: the trainer and what the page says about it."""

    trainer: Trainer | None = None
    cold: tuple = ()  # the cold values the trainer was built from
    values: dict = field(default_factory=dict)  # the values it was built from / last synced to
    playing: bool = False
    rebuilt: str = ""  # "Embedding dim changed: model rebuilt from seed 0."
    auto_paused: str = ""  # why playing stopped by itself
    data_notice: str = ""  # why the chosen dataset could not be used
    last_divergence: str = ""  # the latest divergence message of the trainer (shown until a rebuild)
    last_hyper: str = ""  # the latest hot change applied to the running model
    rebuilt_count: int = 0  # bumps at every rebuild, so the page toasts each one once
    toasted: int = 0
    events_seen: int = 0  # trainer events already announced
    last_interaction: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # held while the model is used


def run_state() -> RunState:
    if RUN not in st.session_state:
        st.session_state[RUN] = RunState()
    return st.session_state[RUN]


# --------------------------------------------------------------------------------------------
# URL seeding
# --------------------------------------------------------------------------------------------


def raw_query() -> dict[str, list[str]]:
    """The current query parameters with repeated keys kept as lists."""
    qp = st.query_params
    return {key: qp.get_all(key) for key in qp}


def seed_from_url() -> dict[str, Any]:
    """Validate the URL on a session's first run, and again when the user goes Back/Forward.

    Otherwise the values in session state stand (the widgets own them). On Back/Forward the
    widgets are set to what the URL of that history entry says, so history walks through setups.
    """
    ctx = get_script_run_ctx()
    history = bool(getattr(ctx, "is_history_navigation", False))
    if not st.session_state.get(SEEDED) or history:
        values, notices = state.validate(raw_query())
        st.session_state[PARAMS] = values
        st.session_state[URL_NOTICES] = notices
        if st.session_state.get(SEEDED):
            for p in state.params_for(values["loss"]):
                st.session_state[p.key] = values[p.name]
        st.session_state[SEEDED] = True
    return st.session_state[PARAMS]


def write_url(values: Mapping[str, Any]) -> None:
    """Make the address bar reproduce `values` (only when it differs, to avoid needless messages)."""
    wanted = state.to_query(values)
    current = {key: st.query_params.get_all(key) for key in st.query_params}
    if current != {key: [text] for key, text in wanted.items()}:
        st.query_params.from_dict(wanted)


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


def data_folder(text: str | None) -> str | None:
    """The MNIST folder: the text box if filled in, else $MARGIN_LAB_DATA, else None."""
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
    try:
        return cached_dataset(name, folder), folder, ""
    except DatasetError as err:
        why = str(err).rstrip(".")
        hint = f" Enter the folder below or set ${DATA_ENV}." if name in NEEDS_FOLDER else ""
        label = state.param_by_name(values["loss"], "dataset").label_of(name).split(" (")[0]
        notice = f"{label} could not be loaded: {why}.{hint} Training on digits meanwhile."
        return cached_dataset("digits", None), None, notice


def config_for(values: Mapping[str, Any], dataset: Dataset, data_dir: str | None) -> TrainConfig:
    """The TrainConfig of a set of clean values (every other field keeps the library default)."""
    fields: dict[str, Any] = {}
    for p in state.params_for(values["loss"]):
        if p.config and p.name in values and p.config != "margin":
            fields[p.config] = values[p.name]
    fields.update(state.hot_values(values))
    fields["dataset"] = dataset.name
    fields["data_dir"] = data_dir
    fields["num_threads"] = 1  # many sessions share the machine; one thread each
    return TrainConfig(**fields)


def ensure_trainer(values: Mapping[str, Any], data_dir: str | None) -> RunState:
    """Build the trainer on first use and whenever a cold setting changed; say so visibly.

    Hot settings are handed over separately (`sync_hot`), so the model keeps its weights for them.
    """
    run = run_state()
    dataset, folder, notice = dataset_for(values, data_dir)
    run.data_notice = notice
    cold = (*state.cold_key(values), ("dataset_used", dataset.name), ("folder", folder))
    if run.trainer is not None and run.cold == cold:
        return run
    changed = state.cold_changes(run.values, values) if run.trainer is not None else []
    if run.trainer is not None and not changed:
        changed = ["Dataset"]  # the same choice now loads differently (e.g. the data folder was fixed)
    run.trainer = Trainer(config_for(values, dataset, folder), dataset=dataset)
    run.cold = cold
    run.values = dict(values)
    run.events_seen = 0
    run.last_divergence = ""
    run.last_hyper = ""
    if changed:
        what = changed[0] if len(changed) == 1 else ", ".join(changed[:-1]) + f" and {changed[-1]}"
        run.rebuilt = f"{what} changed: model rebuilt from seed {values['seed']}."
        run.rebuilt_count += 1
    return run


def reset(values: Mapping[str, Any], data_dir: str | None) -> None:
    """Rebuild the model from the seed (Reset button) and pause."""
    run = run_state()
    run.trainer = None
    run.cold = ()
    run.playing = False
    run.auto_paused = ""
    ensure_trainer(values, data_dir)
    run.rebuilt = f"Reset: model rebuilt from seed {values['seed']}."
    run.rebuilt_count += 1


def sync_hot(run: RunState, values: Mapping[str, Any]) -> dict[str, Any]:
    """Hand changed hot values (margin, scale, lr, λ) to the running model, which keeps its weights.

    Returns what changed ({} if nothing did).
    """
    wanted = state.hot_values(values)
    current = run.trainer.config
    changed = {}
    for name, value in wanted.items():
        have = getattr(current, name)
        if isinstance(have, tuple) or isinstance(value, tuple):
            same = tuple(have or ()) == tuple(value)
        else:
            same = have == value
        if not same:
            changed[name] = value
    if changed:
        run.trainer.set_hyper(**changed)
    run.values = dict(values)
    return changed


def touch() -> None:
    """Record an interaction (every full rerun is one: a click, a slider move, a page load)."""
    run_state().last_interaction = time.monotonic()


def new_events(run: RunState) -> list[Any]:
    """Trainer events (TrainEvent) not yet announced: divergences and hot-setting changes."""
    events = list(run.trainer.events)
    fresh = events[run.events_seen :]
    run.events_seen = len(events)
    return fresh
