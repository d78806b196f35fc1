"""Hosted mode: the classroom server's settings and the play slots that keep a class from thrashing.

Pure Python (no Streamlit): the live unit asks it whether a session may train, the launcher asks it which
flags to start Streamlit with, and tests drive it with a fake clock.

Why a cap at all: a student who plays costs about one core (a tick trains for most of its second on one
torch thread), and every Streamlit session of a process shares one interpreter. Past the number of cores
the students do not share the machine fairly, they thrash it: on 2 cores, 8 playing students trained
nine times less *in total* than one (benchmarks/classroom_load.py). So a hosted server admits at most
`play_cap` players; the next ones wait in a queue, see their place and an estimate of the wait, and are
admitted as soon as someone pauses, closes their tab or is auto-paused.

Settings (docs/deploy.md has the whole story):

    MARGIN_LAB_HOSTED=1            hosted mode on (or `hosted = true` in the config file)
    MARGIN_LAB_CONFIG=path.toml    the config file (default: ./margin_lab.toml when it exists)
    MARGIN_LAB_PLAY_CAP=12         overrides play_cap
    MARGIN_LAB_BIND=0.0.0.0        overrides bind_address
    MARGIN_LAB_WORKERS=8           overrides workers

    # margin_lab.toml
    [margin_lab]
    hosted = true
    workers = 15                  # training processes (default: one per core; 0: train in the page's
                                  # own process, as a laptop does); $MARGIN_LAB_WORKERS overrides it
    play_cap = 14                 # sessions training at once (default: the workers, one player each; without
                                  # workers one per core)
    upload_cap_mb = 5             # the largest upload accepted (Streamlit's server.maxUploadSize)
    bind_address = "0.0.0.0"      # where the server listens (a local run: 127.0.0.1)
    port = 8501
    slot_expiry_s = 5             # a slot whose holder sent no tick for this long is free again

    [margin_lab.data_folders]     # the only folders a hosted server reads; students cannot type paths
    mnist = "/srv/margin-lab/data"
    fashion-mnist = "/srv/margin-lab/data"

The API the live unit calls (one process-wide `PlaySlots`, keyed by a browser identity so that 20 tabs
of one student take one slot and train one model):

    slots = hosted.play_slots()                      # the process's slots (unlimited when not hosted)
    who = hosted.browser_identity(st.context.cookies, fallback=session_id)
    tab = f"{session_id}:{unit_key}"
    slots.acquire(who, tab, take_over=True)  # Play pressed -> Admitted | Queued(position, estimated_wait_s)
    slots.acquire(who, tab)                  # each tick; each queue poll (every QUEUE_POLL_S)
                                             #   -> Admitted | Queued | Elsewhere (another tab took the slot)
    slots.release(who, tab)                  # Pause, Step, Reset, auto-pause
    # a closed tab needs no call: its ticks stop, and its slot frees slot_expiry_s after the last one
    hosted.queue_sentence(queued), hosted.ELSEWHERE_SENTENCE    # what the page says
"""

from .cli import main
from .config import (
    BIND_ENV,
    CONFIG_ENV,
    DEFAULT_CONFIG,
    FOLDER_PARAMS,
    HOSTED_ENV,
    LOCAL_BIND,
    MOVED_SENTENCE,
    PLAY_CAP_ENV,
    QUEUE_POLL_S,
    SECTION,
    SERVER_PARAM,
    SESSION_TTL_S,
    WORKERS_ENV,
    XSRF_COOKIE,
    HostedConfigError,
    HostedSettings,
    browser_identity,
    default_play_cap,
    folder_param_refusal,
    load_settings,
    moved_here,
    server_id,
    settings,
)
from .slots import (
    ELSEWHERE_SENTENCE,
    Admitted,
    Elsewhere,
    PlaySlots,
    Queued,
    SlotStatus,
    play_slots,
    queue_sentence,
)

__all__ = [
    "BIND_ENV",
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "ELSEWHERE_SENTENCE",
    "FOLDER_PARAMS",
    "HOSTED_ENV",
    "LOCAL_BIND",
    "MOVED_SENTENCE",
    "PLAY_CAP_ENV",
    "QUEUE_POLL_S",
    "SECTION",
    "SERVER_PARAM",
    "SESSION_TTL_S",
    "WORKERS_ENV",
    "XSRF_COOKIE",
    "Admitted",
    "Elsewhere",
    "HostedConfigError",
    "HostedSettings",
    "PlaySlots",
    "Queued",
    "SlotStatus",
    "browser_identity",
    "default_play_cap",
    "folder_param_refusal",
    "load_settings",
    "main",
    "moved_here",
    "play_slots",
    "queue_sentence",
    "server_id",
    "settings",
]
