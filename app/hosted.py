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

    # margin_lab.toml
    [margin_lab]
    hosted = true
    play_cap = 14                 # sessions training at once (default: the cores less one, at least 1)
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

from __future__ import annotations

import hashlib
import heapq
import os
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

HOSTED_ENV = "MARGIN_LAB_HOSTED"
CONFIG_ENV = "MARGIN_LAB_CONFIG"
PLAY_CAP_ENV = "MARGIN_LAB_PLAY_CAP"
BIND_ENV = "MARGIN_LAB_BIND"
DEFAULT_CONFIG = Path("margin_lab.toml")
SECTION = "margin_lab"
SESSION_TTL_S = 15  # seconds a hosted server keeps a disconnected session (a reload within it keeps the model)
QUEUE_POLL_S = 2.0  # a queued page asks again this often (well inside slot_expiry_s)
LOCAL_BIND = "127.0.0.1"  # a laptop in a classroom does not serve its neighbours
# URL parameters that would name a server path; a hosted server refuses them with one sentence.
FOLDER_PARAMS = ("data", "data_dir", "folder", "path", "dir")


class HostedConfigError(ValueError):
    """A bad hosted setting; its message is one sentence naming the file, the key and the value."""


def default_play_cap(cores: int | None = None) -> int:
    """Players at full speed on this machine: one core each, one core left for the server's own thread."""
    cores = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, cores - 1)


@dataclass(frozen=True)
class HostedSettings:
    """What the instructor's config says (the defaults are a laptop's)."""

    hosted: bool = False
    data_folders: Mapping[str, str] = field(default_factory=dict)  # dataset name -> folder
    upload_cap_mb: int = 5
    play_cap: int = field(default_factory=default_play_cap)
    bind_address: str = LOCAL_BIND
    port: int = 8501
    slot_expiry_s: float = 5.0
    source: str = "the defaults"  # where the settings came from, for messages

    def folder_for(self, dataset: str) -> str | None:
        """The folder the instructor named for a dataset (None: not offered on this server)."""
        return self.data_folders.get(dataset)

    def streamlit_flags(self) -> list[str]:
        """The `streamlit run` flags these settings imply (the launcher and docs/deploy.md use them)."""
        flags = [f"--server.address={self.bind_address}", f"--server.port={self.port}"]
        if self.hosted:
            # A closed tab's session (its model, optimiser, history) is dropped after SESSION_TTL_S, not
            # Streamlit's default 120 s: a class reopening tabs would otherwise hold dozens of models.
            flags += [f"--server.maxUploadSize={self.upload_cap_mb}",
                      f"--server.disconnectedSessionTTL={SESSION_TTL_S}"]
        return flags


_KEYS: dict[str, type | tuple[type, ...]] = {
    "hosted": bool, "data_folders": dict, "upload_cap_mb": int, "play_cap": int, "bind_address": str,
    "port": int, "slot_expiry_s": (int, float),
}  # fmt: skip


def load_settings(path: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None) -> HostedSettings:
    """The settings from the config file (if any) with the environment's overrides on top.

    `path` defaults to $MARGIN_LAB_CONFIG, else ./margin_lab.toml when it exists. Raises HostedConfigError
    with one sentence for a missing named file, a TOML syntax error, an unknown key or a wrong value.
    """
    env = os.environ if environ is None else environ
    named = path if path is not None else env.get(CONFIG_ENV) or None
    file = Path(named) if named else (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
    values: dict[str, Any] = {}
    source = "the defaults"
    if file is not None:
        values, source = _read_section(file), str(file)
    if env.get(HOSTED_ENV, "").strip():
        values["hosted"] = _env_flag(env[HOSTED_ENV])
        source = f"{source} and ${HOSTED_ENV}"
    if env.get(PLAY_CAP_ENV, "").strip():
        values["play_cap"] = _env_int(PLAY_CAP_ENV, env[PLAY_CAP_ENV])
    if env.get(BIND_ENV, "").strip():
        values["bind_address"] = env[BIND_ENV].strip()
    _check(values, source)
    return HostedSettings(**values, source=source)


def _read_section(file: Path) -> dict[str, Any]:
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HostedConfigError(f"The Margin Lab config file {str(file)!r} does not exist.") from None
    except tomllib.TOMLDecodeError as err:
        raise HostedConfigError(f"The Margin Lab config file {str(file)!r} is not valid TOML: {err}.") from None
    section = raw.get(SECTION, {})
    if not isinstance(section, dict):
        raise HostedConfigError(f"In {str(file)!r}, [{SECTION}] must be a table of settings.")
    return dict(section)


def _check(values: Mapping[str, Any], source: str) -> None:
    """One sentence naming the first bad key or value."""
    for key, value in values.items():
        if key not in _KEYS:
            raise HostedConfigError(f"{source}: {key!r} is not a Margin Lab setting (known: {', '.join(_KEYS)}).")
        wanted = _KEYS[key]
        if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
            must = _type_name(wanted)
            raise HostedConfigError(f"{source}: {key} = {value!r} has the wrong type (it must be {must}).")
    for key in ("upload_cap_mb", "play_cap", "port"):
        if key in values and values[key] < 1:
            raise HostedConfigError(f"{source}: {key} = {values[key]!r} must be at least 1.")
    if "port" in values and values["port"] > 65535:
        raise HostedConfigError(f"{source}: port = {values['port']!r} is not a TCP port (1-65535).")
    if "slot_expiry_s" in values and values["slot_expiry_s"] <= 0:
        raise HostedConfigError(f"{source}: slot_expiry_s = {values['slot_expiry_s']!r} must be positive.")
    for name, folder in values.get("data_folders", {}).items():
        if not isinstance(folder, str) or not folder.strip():
            raise HostedConfigError(f"{source}: data_folders.{name} = {folder!r} must be a folder path.")


def _type_name(wanted: type | tuple[type, ...]) -> str:
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a string", dict: "a table"}
    return names[wanted[-1]] if isinstance(wanted, tuple) else names[wanted]


def _env_flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise HostedConfigError(f"${HOSTED_ENV} = {text!r} must be 1 or 0.")


def _env_int(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise HostedConfigError(f"${name} = {text!r} must be a whole number.") from None


@lru_cache(maxsize=1)
def settings() -> HostedSettings:
    """The process's settings, read once (a bad config stops the server at its first page with one sentence)."""
    return load_settings()


SERVER_PARAM = "srv"  # a hosted page's link names the server process it is served by
MOVED_SENTENCE = ("The server process you were on stopped, so the classroom proxy moved you to another one: your "
                  "live model started again from its settings, and your submitted work is safe in the class "
                  "database.")  # fmt: skip


@lru_cache(maxsize=1)
def server_id() -> str:
    """A short name for this server process (host and pid): a page whose link names another one was moved here."""
    import socket

    return _digest(f"{socket.gethostname()}:{os.getpid()}".encode())[:10]


def moved_here(linked: str | None) -> bool:
    """Whether a session's first page names another server process in its link: the one it was on is gone."""
    return bool(linked) and linked != server_id()


def folder_param_refusal(query_keys: Any, hosted: bool) -> str | None:
    """One sentence refusing a URL parameter that names a server folder on a hosted server (else None)."""
    if not hosted:
        return None
    for key in query_keys:
        if key.lower() in FOLDER_PARAMS:
            return (f"This classroom server reads only the data folders its instructor set up, so the link's "
                    f"{key!r} parameter was ignored.")  # fmt: skip
    return None


# --------------------------------------------------------------------------------------------------
# Browser identity: one slot per browser, however many tabs it opens
# --------------------------------------------------------------------------------------------------

XSRF_COOKIE = "_streamlit_xsrf"


def browser_identity(cookies: Mapping[str, str] | None, fallback: str) -> str:
    """A stable id for the browser behind a session: the token inside Streamlit's XSRF cookie.

    Streamlit sets that cookie once per browser (tornado's format "2|mask|masked token|time", with a new
    mask each time it is written but the same token), so every tab of one browser shares it. It is not a
    login: a student who clears cookies gets a new identity; a course's student id is a better key when
    there is one. Without the cookie (XSRF protection off, AppTest) the session's own id is used.
    """
    raw = (cookies or {}).get(XSRF_COOKIE, "")
    parts = raw.split("|")
    try:
        if len(parts) == 4 and parts[0] == "2":
            mask, masked = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
            token = bytes(byte ^ mask[i % len(mask)] for i, byte in enumerate(masked)) if mask else masked
            return "browser-" + _digest(token)
    except ValueError:
        pass
    return "browser-" + _digest(raw.encode()) if raw else f"session-{fallback}"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]  # the raw token never leaves this function


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


class PlaySlots:
    """At most `capacity` browsers train at once; the others queue in arrival order.

    A browser (an identity) holds at most one slot, and one of its tabs (sessions) trains in it: Play in
    another tab moves the slot there (`take_over=True`), and the first tab then hears `Elsewhere`. So 20
    tabs of one student cost one slot and one model's training, not twenty.

    A tab keeps its slot (or its place in the queue) by calling `acquire` again, each tick, at least every
    `expiry_s`; a tab that closes sends no more ticks, so its slot frees `expiry_s` later even if no
    release comes. Thread-safe: Streamlit runs each session's script in its own thread.

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
        self._holds: deque[float] = deque(maxlen=history)  # how long finished holds lasted

    # -- the API ------------------------------------------------------------------------------------
    def acquire(self, identity: str, session: str | None = None, *,
                take_over: bool = False) -> Admitted | Queued | Elsewhere:  # fmt: skip
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
            index = list(self._queue).index(identity)
            if index < self.capacity - len(self._holders):
                del self._queue[identity]
                self._holders[identity] = _Hold(session, now, now)
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

    def _typical_hold(self) -> float | None:
        return statistics.median(self._holds) if self._holds else None

    def _estimate_wait(self, position: int, now: float) -> float | None:
        """When the position-th slot frees: each holder is expected to hold for the typical (median) hold,
        one past it for half that again; each admitted waiter then holds a typical hold in turn."""
        typical = self._typical_hold()
        if typical is None:
            return None
        free_now = (self.capacity or 0) - len(self._holders)
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


# --------------------------------------------------------------------------------------------------
# python -m app.hosted [check | serve]
# --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """`check`: print the settings in force (or the one sentence that is wrong with them);
    `serve`: run `streamlit run streamlit_app.py` bound where the settings say (extra flags pass through)."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    command = args.pop(0) if args else "check"
    try:
        chosen = load_settings()
    except HostedConfigError as err:
        print(err, file=sys.stderr)
        return 2
    if command == "check":
        print(f"Settings from {chosen.source}: hosted={chosen.hosted}, play_cap={chosen.play_cap}, "
              f"upload_cap_mb={chosen.upload_cap_mb}, bind {chosen.bind_address}:{chosen.port}, "
              f"data folders {dict(chosen.data_folders) or 'none'}.")  # fmt: skip
        return 0
    if command == "serve":
        app = Path(__file__).resolve().parents[1] / "streamlit_app.py"
        env = {**os.environ, HOSTED_ENV: "1" if chosen.hosted else "0"}
        cmd = [sys.executable, "-m", "streamlit", "run", str(app), *chosen.streamlit_flags(), *args]
        os.execve(sys.executable, cmd, env)
    print(f"Unknown command {command!r}: use check or serve.", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
