"""The play cap inside a live unit: a unit asks `app.hosted`'s process-wide play slots before it trains.

On a laptop the slots are unlimited and every call admits at once. On a hosted server (MARGIN_LAB_HOSTED=1)
Play is a request: admitted, or queued with a place and a wait estimate, polled every QUEUE_POLL_S until a
slot frees; every tick renews the slot (a closed tab stops ticking and its slot frees slot_expiry_s later);
Pause, Step, Reset and the auto-pause give it back at once. One browser holds one slot whatever its tabs do:
Play in another tab moves the slot there, and this tab is told why it stopped.
"""

from __future__ import annotations

import uuid
from typing import Any

import streamlit as st

from app import hosted

SESSION_ID_KEY = "slots-session-id"


def _who(unit_key: str) -> tuple[str, str]:
    """(who holds the slot, which tab asks): the browser, by its cookie, so that all its tabs share one slot.

    Never a typed student id: a student who typed a classmate's id would otherwise take the classmate's slot.
    """
    session = session_id()
    try:
        cookies = dict(st.context.cookies)
    except Exception:  # no browser behind the session (AppTest, a bare run)
        cookies = {}
    return hosted.browser_identity(cookies, fallback=session), f"{session}:{unit_key}"


def session_id() -> str:
    """This session's own id: a random token kept in its session state (Streamlit's session id is the same for
    every AppTest session, and a reconnecting browser may get a new one)."""
    return st.session_state.setdefault(SESSION_ID_KEY, uuid.uuid4().hex)


def ask(unit_key: str, *, pressed: bool = False) -> Any:
    """Admitted, Queued or Elsewhere (hosted.*): `pressed` for the Play button (it takes the browser's slot
    over from another tab), plain for a tick or a queue poll."""
    who, tab = _who(unit_key)
    return hosted.play_slots().acquire(who, tab, take_over=pressed)


def give_back(unit_key: str) -> None:
    who, tab = _who(unit_key)
    hosted.play_slots().release(who, tab)


def ask_job(job_key: str, weight: int) -> Any:
    """A training job beside the browser's live model (a margin sweep): its own hold of `weight` slots, asked
    again at every slice of its training (a closed tab's job frees its slots as a tick's would)."""
    who, tab = _who(job_key)
    return hosted.play_slots().acquire(f"{who}/{job_key}", tab, weight=weight)


def give_back_job(job_key: str) -> None:
    who, tab = _who(job_key)
    hosted.play_slots().release(f"{who}/{job_key}", tab)


def press_play(unit_key: str, run: Any) -> None:
    """The Play button of a unit whose run has `playing` and `queued`: admitted, or queued with its sentence."""
    result = ask(unit_key, pressed=True)
    run.queued = sentence(result)
    run.playing = isinstance(result, hosted.Admitted)


def stop_playing(unit_key: str, run: Any) -> None:
    """Pause, Step, Reset, auto-pause: leave the queue or give the training slot back at once."""
    if run.playing or run.queued:
        give_back(unit_key)
    run.playing, run.queued = False, ""


def sentence(result: Any) -> str:
    """What the page says about a result that is not Admitted ("" when it is)."""
    if isinstance(result, hosted.Queued):
        return hosted.queue_sentence(result)
    if isinstance(result, hosted.Elsewhere):
        return hosted.ELSEWHERE_SENTENCE
    return ""
