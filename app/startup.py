"""Once-per-process hygiene for the server: what the entry point does after the first page has run."""

from __future__ import annotations

import gc

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
