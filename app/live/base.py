"""The unit of training every page uses: its state, run bar, pace, pause policy and tick.

The Playground's `LiveUnit` (one model) and the Compare page's `CompareUnit` (several losses as one
MultiTrainer) are both a `TrainingUnit`: what differs is how they build their model and what they draw.

    class SomeUnit(TrainingUnit):
        def _build(self) -> Build | None           # the configs to train, and the cold key that forces a rebuild
        def _hand_over_hot(self) -> None            # hot settings that changed, to self.handle.request_hyper
        def _layout(self) -> None                   # self.boxes: where the views go
        def _draw_frame(self, frame) -> None        # the views that follow every tick
        def _draw_details(self, frame) -> None      # the slower views (statistics, histograms, curves)
        def _draw_controls(self) -> None            # the sidebar

What the base does, the same for every unit:
- Play / Pause (as the button said when clicked), Step (one epoch), Reset (rebuild from the seed, pause);
  on a hosted server all three go through the play cap (app.live.slots): Play and Step may queue.
- The pace: how many epochs a tick trains and how often ticks come (app.training.pace), from *watch*
  (every epoch drawn) to *as fast as the machine*; a lesson's preset may set it (`pace = "watch"`).
- The pause policy: playing stops by itself after IDLE_PAUSE_S without a click, or at MAX_EPOCHS, and
  says why; the message goes once the model is rebuilt or Play is pressed.
- The tick: collect the frame the model sent back, draw it, and start the next advance where the model
  lives (app.training.handle). A worker trains while the page draws.
- Epoch ends: a unit may carry `epoch_probe`, a function called before each advance that returns the probe
  to run where the model lives at every epoch end the advance reaches (or None), and `on_probes(run,
  probes)`, called on the page with what the probes returned, in order.
- A model whose worker died is said in one sentence and rebuilt from the seed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

# Private Streamlit internals (tests/unit/test_streamlit_internals.py fails loudly if an upgrade removes them):
# the id of the fragment now running, and the fragments queued in this script run.
from streamlit.runtime.scriptrunner_utils.script_run_context import ThreadState

from app import hosted
from app.live import slots, views
from app.training import pace as paces
from app.training import runners
from app.training.handle import ModelHandle, ModelLost
from app.training.worker import STEP_LIMIT_S, Frame
from toy_models.train import TrainConfig

IDLE_PAUSE_S = 10 * 60  # auto-pause after this long without a click or slider move
MAX_EPOCHS = 2000  # auto-pause once a run reaches this many epochs (digits converges in about 50)
PACE_KEY = "pace"  # the pace's key in a link and in a lesson's preset

Probe = Callable[[Any], Any]  # probe(model) -> anything picklable, at an epoch end, where the model lives


@dataclass(frozen=True)
class Build:
    """What a unit trains: its configs (one, or the members of a comparison), and the cold key (a change of it
    rebuilds the model from the seed) with the words that name what changed."""

    configs: tuple[TrainConfig, ...]
    compare: bool
    cold: tuple
    changed: Callable[[], str]  # "Embedding dim changed", computed only when a rebuild happens


@dataclass
class UnitRun:
    """One unit's run, in st.session_state under its key: the handle on its model and what the page says."""

    handle: ModelHandle | None = None
    cold: tuple = ()
    values: dict = field(default_factory=dict)  # the values it was built from / last synced to
    initial: dict = field(default_factory=dict)  # the values it was built from (a lesson's run record)
    playing: bool = False
    rebuilt: str = ""  # "Embedding dim changed: model rebuilt from seed 0."
    rebuilt_count: int = 0  # bumps at every rebuild, so the page toasts each one once
    toasted: int = 0
    auto_paused: str = ""  # why playing stopped by itself
    played_from: int = 0  # the epoch Play was last pressed at: the MAX_EPOCHS cap counts from there
    queued: str = ""  # where this tab waits for a training slot (a hosted server's play cap), "" when not
    data_notice: str = ""  # why the chosen dataset could not be used
    device_note: str = ""  # where the model trains and why ("CPU: faster than the GPU for ...")
    lost: str = ""  # the model's worker died (said until Play is pressed)
    last_divergence: str = ""
    last_hyper: str = ""
    events_seen: dict = field(default_factory=dict)  # member -> events already announced
    reset_requested: bool = False
    tick_started: float | None = None  # a tick that has drawn and still owes its training
    ticks: int = 0
    fragment_ids: set = field(default_factory=set)  # Streamlit's ids of this unit's fragments
    last_interaction: float = field(default_factory=time.monotonic)

    def touch(self) -> None:
        """Record an interaction (a click, a slider move, a page load): it postpones the idle pause."""
        self.last_interaction = time.monotonic()

    @property
    def frame(self) -> Frame | None:
        return None if self.handle is None else self.handle.frame

    @property
    def trainer(self) -> Any:
        """The model itself when it lives in this process (tests read it; pages read frames)."""
        return None if self.handle is None else self.handle.local_model()


def runner() -> Any:
    """The process's runner: worker processes on a hosted server (or MARGIN_LAB_WORKERS), else this process."""
    settings = hosted.settings()
    return runners.process_runner(runners.worker_count(settings.workers, hosted=settings.hosted))


def pause_reason(idle_s: float, epoch: int | None, played_from: int) -> str:
    """Why Play stops by itself now, in one sentence ("" when it goes on): more than IDLE_PAUSE_S without
    interaction, or MAX_EPOCHS trained since Play was pressed (at `played_from`)."""
    if idle_s > IDLE_PAUSE_S:
        return (f"Paused automatically after {IDLE_PAUSE_S // 60} minutes without interaction (it saves the CPU). "
                "Press Play to go on.")
    if epoch is not None and epoch - played_from >= MAX_EPOCHS:
        return (f"Paused automatically at epoch {epoch}: Play trains at most {MAX_EPOCHS} epochs at a time. Press "
                "Play to go on, or Reset.")
    return ""


class TrainingUnit:
    """The shared skeleton of a live unit; see the module docstring. Subclasses set `default_pace`."""

    default_pace = paces.DEFAULT_PACE
    # A tick of this unit lasts this many pace ticks: the Compare page redraws four WebGL scenes a tick
    # (~0.1 s of browser time each, in software), so its ticks come less often and train more epochs each.
    tick_scale = 1.0
    has_details = True  # a unit with slower views (statistics, histograms, curves) redrawn by their own fragment
    wide_status = True  # the status line runs across the page (set by each render: a lesson's sidebar is narrow)
    boxes: dict[str, Any]

    def __init__(self, key: str, *, fixed_by: str = "This lesson", controls: Any = None,
                 epoch_probe: Callable[[], Probe | None] | None = None,
                 on_probes: Callable[[UnitRun, Sequence[Any]], None] | None = None, pace: str | None = None):
        if pace is not None and pace not in paces.PACES:
            raise ValueError(f"pace {pace!r} is not a pace; the paces are {', '.join(paces.PACES)}.")
        self.key = key
        self.fixed_by = fixed_by
        self.controls = controls
        self.epoch_probe = epoch_probe
        self.on_probes = on_probes
        self.preset_pace = pace

    # -- state ------------------------------------------------------------------------------------------
    def _k(self, name: str) -> str:
        return f"{self.key}-{name}"

    @property
    def run(self) -> UnitRun:
        key = self._k("run")
        if key not in st.session_state:
            st.session_state[key] = UnitRun()
        return st.session_state[key]

    @property
    def handle(self) -> ModelHandle:
        return self.run.handle

    @property
    def pace(self) -> paces.Pace:
        key = self._k(PACE_KEY)
        if key not in st.session_state:
            st.session_state[key] = self.preset_pace or self.default_pace
        return paces.PACES.get(st.session_state[key], paces.PACES[self.default_pace])

    # -- hooks for subclasses ---------------------------------------------------------------------------
    def _build(self) -> Build | None:
        raise NotImplementedError

    def _hand_over_hot(self) -> None:
        raise NotImplementedError

    def _layout(self) -> None:
        raise NotImplementedError

    def _draw_frame(self, frame: Frame) -> None:
        raise NotImplementedError

    def _draw_details(self, frame: Frame) -> None:
        """The slower views; none by default."""

    def _running_text(self, frame: Frame) -> str:
        return ""

    # -- the model ----------------------------------------------------------------------------------------
    def _ensure_model(self, build: Build) -> None:
        """Build the model on first use, after Reset, after a lost worker, and whenever a cold setting changed;
        say why (the first build says nothing)."""
        run = self.run
        fresh = run.handle is None or run.handle.lost
        if not fresh and run.cold == build.cold and not run.reset_requested:
            return
        if run.reset_requested:
            why = "Reset"
        elif run.handle is None:
            why = ""
        elif run.handle.lost:
            why = "The worker was lost"
        else:
            why = build.changed()
        if run.handle is not None:
            run.handle.close()
        run.handle = None
        run.handle = ModelHandle(runner(), build.configs, compare=build.compare)
        run.cold, run.reset_requested = build.cold, False
        run.events_seen, run.last_divergence, run.last_hyper = {}, "", ""
        run.auto_paused, run.played_from = "", 0  # the message was about the old model
        if why:
            run.rebuilt = f"{why}: {self._rebuilt_words()} from seed {build.configs[0].seed}."
            run.rebuilt_count += 1

    def _rebuilt_words(self) -> str:
        return "model rebuilt"

    def _guard(self, action: Callable[[], Any]) -> Any:
        """Run `action` on the handle; a lost worker pauses the unit and is said in one sentence."""
        try:
            return action()
        except ModelLost as lost:
            run = self.run
            run.lost = str(lost)
            self._stop_playing()
            return None

    # -- the run bar's callbacks (they run before the page) --------------------------------------------------
    def _set_playing(self, playing: bool) -> None:
        """Play or Pause, as the button said when it was clicked (not a toggle: under load Streamlit may deliver
        one click to two coalesced reruns). On a hosted server Play asks for a training slot: it may queue."""
        run = self.run
        run.auto_paused, run.lost = "", ""
        run.touch()
        if playing:
            run.played_from = run.handle.epoch if run.handle is not None else 0
            slots.press_play(self.key, run)
        else:
            self._stop_playing()

    def _stop_playing(self) -> None:
        slots.stop_playing(self.key, self.run)
        if self.run.handle is not None:
            self.run.handle.set_playing(False)

    def _step(self) -> None:
        """One epoch, then pause. On a hosted server Step needs a training slot too: without one it says so."""
        run = self.run
        run.touch()
        self._stop_playing()
        run.auto_paused = ""
        result = slots.ask(self.key, pressed=True)
        if not isinstance(result, hosted.Admitted):
            run.auto_paused = "Step waits for a training slot too: " + slots.sentence(result)
            return
        try:
            if run.handle is not None and not run.handle.lost:
                self._hand_over_hot()
                frame = self._guard(lambda: run.handle.advance(epochs=1, seconds=STEP_LIMIT_S, probe=self._probe()))
                if frame is not None:
                    self._take_probes(frame)
        finally:
            slots.give_back(self.key)

    def _reset(self) -> None:
        """Rebuild from the seed at this run, and pause."""
        self._stop_playing()
        self.run.reset_requested = True
        self.run.auto_paused = ""

    def _probe(self) -> Probe | None:
        return self.epoch_probe() if self.epoch_probe is not None else None

    def _set_pace(self) -> None:
        self.run.touch()
        self._pace_changed()

    def _pace_changed(self) -> None:
        """A unit bound to the address bar writes the new pace into its link."""

    def _tick_plan(self) -> tuple[float, int | None]:
        """(seconds between ticks, the most epochs a tick trains; None: as many as fit in the tick)."""
        return self.pace.plan(self.tick_scale)

    # -- the policy -----------------------------------------------------------------------------------------
    def _check_pauses(self) -> bool:
        """Stop playing after IDLE_PAUSE_S without interaction or at MAX_EPOCHS, and say why; True if it did."""
        run = self.run
        if not run.playing:
            return False
        epoch = None if run.handle is None else run.handle.epoch
        run.auto_paused = pause_reason(time.monotonic() - run.last_interaction, epoch, run.played_from)
        if not run.auto_paused:
            return False
        self._stop_playing()
        return True

    # -- drawing the run bar ----------------------------------------------------------------------------------
    def _run_bar(self, narrow: bool) -> list[Any]:
        """Play / Step / Reset and the pace, then the boxes the tick fills with progress metrics: in one row
        across the page, or (a lesson's sidebar, ~300 px) stacked for a narrow column."""
        run = self.run
        if narrow:
            buttons = [st.container(), *st.columns(2, gap="small")]
            pace_box = st.container()
            metrics = [*st.columns(2), *st.columns(2)]
        else:
            cells = st.columns([1.2, 1.1, 1.25, 1.45, 0.95, 1.35, 1.35, 1.25], gap="small", vertical_alignment="center")
            buttons, pace_box, metrics = cells[:3], cells[3], cells[4:]
        buttons[0].button("Pause" if run.playing else "Play", key=self._k("play"), type="primary",
                          icon=":material/pause:" if run.playing else ":material/play_arrow:",
                          on_click=self._set_playing, args=(not run.playing,), width="stretch")  # fmt: skip
        buttons[1].button("Step", key=self._k("step"), icon=":material/skip_next:", on_click=self._step,
                          help="Train one epoch, then pause.", width="stretch")
        buttons[2].button("Reset", key=self._k("reset"), icon=":material/restart_alt:", on_click=self._reset,
                          help="Rebuild the model from the seed (pauses).", width="stretch")
        self.pace  # noqa: B018 - seeds the widget's value before it is drawn
        pace_box.selectbox("Pace", list(paces.PACES), key=self._k(PACE_KEY), on_change=self._set_pace,
                           format_func=lambda name: paces.PACES[name].label, label_visibility="collapsed",
                           help="How fast Play trains: Watch 3 epochs a second, every epoch drawn, "
                                "statistics included; Steady 10; Fast 30; Max speed trains for the whole of every "
                                "tick.")  # fmt: skip
        return [box.empty() for box in metrics]

    def _messages(self, frame: Frame) -> None:
        run = self.run
        line = self._running_text(frame)
        if run.rebuilt and self.wide_status:  # one status line across the page (a narrow column has its own)
            line = f"{run.rebuilt} {line}"
        if run.last_hyper:
            line += f" Applied to the running model, no reset: {run.last_hyper}."
        if run.device_note and self.wide_status:
            line = f"{line} {run.device_note}".strip()
        if line:  # one line across the page; a longer one ends in "…" and shows whole in its tooltip
            st.caption(views.md(line), help=views.md(line) if len(line) > views.STATUS_CHARS else None)
        if run.last_divergence:
            st.warning(views.md(run.last_divergence) + "; training goes on from there. A smaller lr, s or m may "
                       "help.", icon=":material/warning:")  # fmt: skip
        for text, icon in ((run.lost, ":material/error:"), (run.auto_paused, ":material/pause_circle:"),
                           (run.queued, ":material/hourglass_top:")):  # fmt: skip
            if text:
                st.info(views.md(text), icon=icon)

    def _announce_events(self, frame: Frame) -> None:
        run = self.run
        for member, snap in enumerate(frame.snapshots):
            fresh = snap.events[run.events_seen.get(member, 0):]
            run.events_seen[member] = len(snap.events)
            for event in fresh:
                if event.kind == "diverged":
                    run.last_divergence = event.message
                    st.toast(event.message, icon=":material/warning:")
                else:
                    run.last_hyper = event.message

    def _take_probes(self, frame: Frame) -> None:
        if self.on_probes is not None and frame.probes:
            self.on_probes(self.run, frame.probes)

    # -- the fragments ------------------------------------------------------------------------------------------
    def _tick(self) -> None:
        """A tick: collect what the model sent back, draw it (nothing goes stale), then train the next slice."""
        started = time.monotonic()
        run = self.run
        if self._check_pauses():
            st.rerun()  # the Play button and the tick timer must change
        if run.playing:  # renew the training slot (a hosted server): lost to another tab, or expired in a stall
            result = slots.ask(self.key)
            if not isinstance(result, hosted.Admitted):
                run.playing = False
                run.handle.set_playing(False)
                run.queued = slots.sentence(result) if isinstance(result, hosted.Queued) else ""
                run.auto_paused = "" if run.queued else slots.sentence(result)
                st.rerun()
        frame = self._guard(run.handle.collect)
        if frame is None:
            st.rerun()  # the worker was lost: the page says so and rebuilds
        run.ticks += 1
        self._announce_events(frame)
        self._take_probes(frame)
        self._progress(frame)
        with self.boxes["messages"], st.container():
            self._messages(frame)
        self._draw_frame(frame)
        run.tick_started = started
        self._train_when_drawn()

    def _progress(self, frame: Frame) -> None:
        views.progress_metrics(frame.snapshot, self.boxes["progress"])

    def _details(self) -> None:
        """The slower views: every tick at *watch*, every other tick otherwise (each redraw costs the browser
        time that the training and a dragged sphere need more)."""
        frame = self.run.frame
        if frame is not None:
            self._draw_details(frame)
        self._train_when_drawn()

    def _wait_in_queue(self) -> None:
        """While queued for a training slot: ask again; once admitted, play (the whole unit redraws)."""
        run = self.run
        result = slots.ask(self.key)
        if isinstance(result, hosted.Admitted):
            run.queued, run.playing = "", True
            st.rerun()
        run.queued = slots.sentence(result)
        if not isinstance(result, hosted.Queued):  # the browser's slot went to another tab meanwhile
            run.queued, run.auto_paused = "", run.queued
            st.rerun()

    def _train_when_drawn(self) -> None:
        """Start the tick's training once every fragment of this unit queued in this run has drawn.

        Why: Streamlit folds fragment reruns that are due together into one script run (the tick and the
        details, say) and runs them one after another. A fragment waiting behind the tick's training shows its
        old elements as stale, and Streamlit fades stale elements after ~0.5 s: the statistics flickered grey.
        So the tick's training moves to the end of the last of this unit's fragments in the run.
        """
        run = self.run
        current = ThreadState.get().fragment_id
        if current is not None:
            run.fragment_ids.add(current)
        if run.tick_started is None:
            return
        queued = list(get_script_run_ctx().fragment_ids_this_run or [])
        if current in queued and any(f in run.fragment_ids for f in queued[queued.index(current) + 1 :]):
            return  # a later fragment of this unit draws first, then trains
        started, run.tick_started = run.tick_started, None
        if not run.playing or run.handle is None:
            return
        every, epochs = self._tick_plan()
        budget = every  # a paced tick's epochs take a fraction of it on any machine that can keep the pace
        if epochs is None:  # full speed: train for what is left of the tick
            budget = max(paces.MIN_TRAIN_S, paces.TICK_S * self.tick_scale - (time.monotonic() - started))
        left = MAX_EPOCHS - (run.handle.epoch - run.played_from)  # Play trains at most MAX_EPOCHS at a time
        if left <= 0:
            return  # the next tick pauses, and says so
        epochs = left if epochs is None else min(epochs, left)
        self._hand_over_hot()
        if not run.handle.placed_well() and run.handle.step == 0:
            # About to play in a worker another student trains in while a worker idles: an untrained model is
            # built again there (same seed, same weights), so two players do not share one core.
            run.handle = self._guard(run.handle.moved) or run.handle
        run.handle.set_playing(True)
        self._guard(lambda: run.handle.start(epochs=epochs, seconds=budget, probe=self._probe()))

    def _fragments(self) -> None:
        """The unit's timed fragments: the queue poll, the tick, the slower details."""
        run, pace = self.run, self.pace
        if run.queued:
            st.fragment(self._wait_in_queue, run_every=hosted.QUEUE_POLL_S, key=self._k("queue"))()
        every, _ = self._tick_plan()
        st.fragment(self._tick, run_every=every if run.playing else None, key=self._k("live"))()
        if self.has_details:
            details = pace.details_every * every if run.playing else None
            st.fragment(self._details, run_every=details, key=self._k("details"))()

    def _notices_and_bar(self, narrow: bool, notices: Collection[str] = ()) -> None:
        """The notices about the link or the data, the run bar, and the rebuild message (toasted once)."""
        run = self.run
        for notice in notices:
            st.warning(views.md(notice), icon=":material/link_off:")
        if run.data_notice:
            st.warning(views.md(run.data_notice), icon=":material/folder_off:")
        progress = self._run_bar(narrow)
        self.wide_status = not narrow
        if run.device_note and narrow:  # across the page it closes the status line instead (one line on a laptop)
            st.caption(views.md(run.device_note))
        if run.rebuilt:
            if narrow:  # across the page it opens the status line instead: a line more would push the statistics
                st.caption(views.md(run.rebuilt))  # row off a 1366×768 screen
            if run.toasted != run.rebuilt_count:
                st.toast(run.rebuilt, icon=":material/restart_alt:")
                run.toasted = run.rebuilt_count
        # The status line is rewritten by every tick, so it is never stale: Streamlit's grey fade of elements
        # waiting for a slow tick (four WebGL scenes on the Compare page) is switched off for it.
        st.html(f"<style>.st-key-{self._k('messages')} [data-stale='true'] {{opacity: 1 !important; "
                "transition: none !important;}</style>")
        if not narrow:  # across the page it stays one line, so the statistics row stays on a 1366×768 screen; the
            # tooltip with the whole of a longer line keeps its place at the right end, clear of the "…"
            line = f".st-key-{self._k('messages')} [data-testid='stCaptionContainer'] p"
            st.html(f"<style>{line} {{white-space: nowrap; overflow: hidden; text-overflow: ellipsis; "
                    f"position: relative; padding-right: 1.5rem;}} "
                    f"{line} > span:last-child {{position: absolute; right: 0; top: 0;}}</style>")
        self.boxes = {"progress": progress, "messages": st.container(key=self._k("messages"))}
