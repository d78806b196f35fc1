"""The play slots: at most `play_cap` browsers train at once on a hosted server; the others queue.

Pure Python (no Streamlit), so tests drive it with a fake clock.
"""

from __future__ import annotations

import heapq
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from .config import settings

# --------------------------------------------------------------------------------------------------
# Play slots
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Admitted:
    """This tab holds its browser's slot: train."""

    identity: str


@dataclass(frozen=True)
class Queued:
    """The browser waits: `position` 1 is next; `estimated_wait_s` is None until a hold has been seen."""

    identity: str
    position: int
    estimated_wait_s: float | None


@dataclass(frozen=True)
class Elsewhere:
    """Another tab of this browser holds its slot (Play was pressed there later): pause this one."""

    identity: str


@dataclass(frozen=True)
class SlotStatus:
    capacity: int | None
    playing: int
    queued: int
    typical_hold_s: float | None


def queue_sentence(queued: Queued) -> str:
    """What a queued student reads (benchmarks/classroom_load.py finds the queue length in it)."""
    if queued.estimated_wait_s is None:
        wait = "there is no estimate of the wait yet"
    elif queued.estimated_wait_s < 60:
        wait = "the wait is probably under a minute"
    else:
        wait = f"the wait is about {round(queued.estimated_wait_s / 60)} min"
    return (f"The class is using every training slot of this server: you are number {queued.position} in "
            f"the queue, and {wait}. Your model waits paused; it starts by itself when a slot frees.")  # fmt: skip


ELSEWHERE_SENTENCE = ("This browser is training in another tab, and a browser trains one model at a time on a "
                      "classroom server: press Play here to train this one instead.")  # fmt: skip


@dataclass
class _Hold:
    session: str
    seen: float
    since: float
    weight: int = 1


class PlaySlots:
    """At most `capacity` browsers train at once; the others queue in arrival order.

    A browser (an identity) holds at most one slot, and one of its tabs (sessions) trains in it: Play in
    another tab moves the slot there (`take_over=True`), and the first tab then hears `Elsewhere`. So 20
    tabs of one student cost one slot and one model's training, not twenty.

    A tab keeps its slot (or its place in the queue) by calling `acquire` again, each tick, at least every
    `expiry_s`; a tab that closes sends no more ticks, so its slot frees `expiry_s` later even if no
    release comes. Thread-safe: Streamlit runs each session's script in its own thread.

    A training that costs more than one model (a margin sweep: many margins at once) asks with a `weight`: it
    takes that many slots (at most all of them), and waits until that many are free, in its turn.

    `capacity=None` admits every tab and tracks nothing (a local run: two tabs may train two setups);
    `clock` is injectable for tests.
    """

    def __init__(self, capacity: int | None, *, expiry_s: float = 5.0, typical_hold_s: float = 120.0,
                 clock: Callable[[], float] = time.monotonic, history: int = 50):  # fmt: skip
        if capacity is not None and capacity < 1:
            raise ValueError(f"A play cap of {capacity} would admit nobody; it must be at least 1.")
        self.capacity = capacity
        self.expiry_s = expiry_s
        self.prior_hold_s = typical_hold_s
        self._clock = clock
        self._lock = threading.Lock()
        self._holders: dict[str, _Hold] = {}  # identity -> the tab training in its slot
        self._queue: dict[str, dict[str, float]] = {}  # identity -> {session: last seen}, in arrival order
        self._weights: dict[str, int] = {}  # identity -> the slots it asks for (1 unless it said more)
        self._holds: deque[float] = deque(maxlen=history)  # how long finished holds lasted

    # -- the API ------------------------------------------------------------------------------------
    def acquire(self, identity: str, session: str | None = None, *, take_over: bool = False,
                weight: int = 1) -> Admitted | Queued | Elsewhere:  # fmt: skip
        """Hold (or keep) the browser's slot for this tab, or wait in the queue.

        Play pressed: `take_over=True` (the browser's slot moves to this tab if another tab holds it).
        Each tick while playing, and each poll while queued: `take_over=False`.
        """
        session = session if session is not None else identity
        if self.capacity is None:
            return Admitted(identity)  # a laptop: every tab trains, nothing to share
        with self._lock:
            now = self._clock()
            self._expire(now)
            hold = self._holders.get(identity)
            if hold is not None:
                if hold.session != session and not take_over:
                    return Elsewhere(identity)
                hold.session, hold.seen = session, now
                return Admitted(identity)
            self._queue.setdefault(identity, {})[session] = now
            self._weights[identity] = max(1, min(int(weight), self.capacity))
            queue = list(self._queue)
            index = queue.index(identity)
            free = self.capacity - sum(h.weight for h in self._holders.values())
            if sum(self._weights.get(i, 1) for i in queue[: index + 1]) <= free:  # those before it fit too
                del self._queue[identity]
                self._holders[identity] = _Hold(session, now, now, self._weights.pop(identity))
                return Admitted(identity)
            return Queued(identity, index + 1, self._estimate_wait(index + 1, now))

    def release(self, identity: str, session: str | None = None) -> None:
        """Pause, Reset, auto-pause or the tab's end: this tab stops training (or waiting). The slot frees
        only if this tab held it. Releasing what is not held is harmless."""
        session = session if session is not None else identity
        with self._lock:
            now = self._clock()
            hold = self._holders.get(identity)
            if hold is not None and hold.session == session:
                self._free(identity, now)
            waiting = self._queue.get(identity)
            if waiting is not None:
                waiting.pop(session, None)
                if not waiting:
                    del self._queue[identity]
                    self._weights.pop(identity, None)
            self._expire(now)

    def holds(self, identity: str) -> bool:
        with self._lock:
            self._expire(self._clock())
            return identity in self._holders

    def status(self) -> SlotStatus:
        with self._lock:
            self._expire(self._clock())
            return SlotStatus(self.capacity, len(self._holders), len(self._queue), self._typical_hold())

    # -- inside the lock --------------------------------------------------------------------------
    def _free(self, identity: str, ended: float) -> None:
        hold = self._holders.pop(identity)
        self._holds.append(max(0.0, ended - hold.since))

    def _expire(self, now: float) -> None:
        """Tabs silent for expiry_s are gone (closed, lost their connection)."""
        limit = now - self.expiry_s
        for identity, hold in list(self._holders.items()):
            if hold.seen < limit:
                self._free(identity, hold.seen)  # the hold ended when the tab was last seen, not now
        for identity, sessions in list(self._queue.items()):
            for session, seen in list(sessions.items()):
                if seen < limit:
                    del sessions[session]
            if not sessions:
                del self._queue[identity]
                self._weights.pop(identity, None)

    def _typical_hold(self) -> float | None:
        return statistics.median(self._holds) if self._holds else None

    def _estimate_wait(self, position: int, now: float) -> float | None:
        """When the position-th slot frees: each holder is expected to hold for the typical (median) hold,
        one past it for half that again; each admitted waiter then holds a typical hold in turn."""
        typical = self._typical_hold()
        if typical is None:
            return None
        free_now = (self.capacity or 0) - sum(h.weight for h in self._holders.values())
        frees = [0.0] * max(0, free_now)  # free slots whose next in line has not polled yet
        for hold in self._holders.values():
            held = now - hold.since
            frees.append(typical - held if held < typical else typical / 2)
        heapq.heapify(frees)
        wait = 0.0
        for _ in range(position):
            wait = heapq.heappop(frees)
            heapq.heappush(frees, wait + typical)
        return max(0.0, wait)


@lru_cache(maxsize=1)
def play_slots() -> PlaySlots:
    """The process-wide slots: capped at play_cap on a hosted server, unlimited on a laptop."""
    chosen = settings()
    return PlaySlots(chosen.play_cap if chosen.hosted else None, expiry_s=chosen.slot_expiry_s)
