"""A class of simulated students on one server: each opens the Playground, presses Play and keeps playing.

    python benchmarks/classroom_load.py --quick               # a smoke run: N = 1, 2, 4, short windows
    python benchmarks/classroom_load.py                       # N = 1, 2, 4, 8, 16; one process, then 2 + HAProxy
    python benchmarks/classroom_load.py --ns 4 --topologies 1 --server-flag runner.postScriptGC=false
    python benchmarks/classroom_load.py --ns 2,8 --players 2 --topologies 1   # the play cap, emulated: 2 play
    python benchmarks/classroom_load.py --capped 2            # hosted mode, play cap 2 (once the live unit uses
                                                              #   app.hosted.PlaySlots; queued pages are counted)
    python benchmarks/classroom_load.py --investigate         # why the total falls: threads vs processes, GC, ...

No browser: each student speaks Streamlit's own websocket protocol from Python (the `websockets` package,
which Streamlit itself depends on). Like the browser, a student
  1. GETs the page (the proxy's affinity cookie and Streamlit's XSRF cookie come back, and are sent on);
  2. opens ws://HOST/_stcore/stream and sends a BackMsg `rerun_script` (the page load);
  3. reads the ForwardMsg deltas: the Play button's widget id, the margin slider's id, options and fragment,
     and the Epoch metric;
  4. presses Play (a rerun carrying the button's trigger value), then honours every `auto_rerun` message
     the way the browser's run_every timer does: a fragment rerun every `interval` seconds;
  5. every few seconds moves the margin slider one stop (a fragment rerun with the slider's new value) and
     times it until the script-finished message of the rerun that redrew the slider's fragment.
It measures epochs/s from the Epoch metric (first and last value seen in the window), the slider-to-ack
latency, and how many students the page shows a queue place to (app.hosted.queue_sentence).

Only 127.0.0.1 is ever targeted; every loop is bounded by the window. It prints; with more than one process it
also checks that the proxy spread the class evenly (no two processes more than one student apart) and exits 1
when it did not, since such a run measures the proxy, not the servers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from websockets.asyncio.client import connect  # noqa: E402 - Streamlit's own dependency

QUERY = "pace=max"  # the Playground's link: --pace sets it

from benchmarks.proc_usage import context_switches, cpu_seconds, switches_between  # noqa: E402
from deploy.stack import Stack  # noqa: E402

UNIT = "pg"  # the Playground's live unit: its widget keys are "pg-..."
PLAY_KEY = f"{UNIT}-play"
MARGIN_KEY = f"{UNIT}-margin"
QUEUE_RE = re.compile(r"you are number (\d+) in the queue")
SLIDER_EVERY_S = 3.0
ACK_TIMEOUT_S = 30.0


def _protos():
    # Imported late: importing streamlit costs a second and the --help should not wait for it.
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    return BackMsg, ForwardMsg, WidgetState


@dataclass
class StudentResult:
    name: str
    epochs_per_s: float | None = None
    slider_ack_s: list[float] = field(default_factory=list)
    slider_timeouts: int = 0
    queued_position: int | None = None  # the last queue place the page showed (None: admitted)
    server_cookie: str = ""
    error: str = ""


class Student:
    """One simulated browser tab on the Playground."""

    def __init__(self, base_url: str, name: str, *, play: bool = True, cookies: dict[str, str] | None = None,
                 slider: bool = True):  # fmt: skip
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.play = play
        self.moves_slider = slider
        self.cookies: dict[str, str] = dict(cookies or {})
        self.result = StudentResult(name)
        self.BackMsg, self.ForwardMsg, self.WidgetState = _protos()
        self.page_hash = ""
        self.query = QUERY  # the link the student opened (its pace: as fast as the machine, unless --pace)
        self.play_id = ""
        self.play_label = ""
        self.slider: dict | None = None  # id, options, index, fragment
        self.epochs: list[tuple[float, int]] = []
        self.timers: dict[str, asyncio.Task] = {}
        self.finished = asyncio.Event()
        self.finished_count = 0
        self.ws = None
        self.slider_sent_at: float | None = None
        self.slider_redrawn = False
        self.held: dict[str, object] = {}  # widget id -> the WidgetState the browser would send with every rerun

    # -- HTTP, like the browser's first request --------------------------------------------------
    def _get_page(self) -> None:
        """The page, then the health check the page's script makes before it opens the websocket (Streamlit
        sets its XSRF cookie there; the proxy sets its affinity cookie on the first response)."""
        for path in ("/", "/_stcore/health"):
            request = urllib.request.Request(self.base_url + path, headers=self._cookie_header())
            with urllib.request.urlopen(request, timeout=30) as response:
                for header in response.headers.get_all("Set-Cookie") or []:
                    for key, morsel in SimpleCookie(header).items():
                        self.cookies[key] = morsel.value
                response.read()

    def _cookie_header(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    # -- the protocol -----------------------------------------------------------------------------
    async def _send_rerun(self, *, fragment: str = "", widgets: list | None = None, auto: bool = False) -> None:
        msg = self.BackMsg()
        state = msg.rerun_script
        state.query_string = self.query
        state.page_script_hash = self.page_hash
        state.fragment_id = fragment
        state.is_auto_rerun = auto
        sent = {widget.id: widget for widget in widgets or []}
        # Like the browser, every rerun carries the value of every value widget it shows (the pace box among
        # them): a widget left out would read as its default in that rerun.
        for widget in [*(w for key, w in self.held.items() if key not in sent), *sent.values()]:
            state.widget_states.widgets.append(widget)
        await self.ws.send(msg.SerializeToString())

    def _handle(self, raw: bytes) -> None:
        msg = self.ForwardMsg()
        msg.ParseFromString(raw)
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.page_hash = msg.new_session.page_script_hash
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "auto_rerun":
            self._start_timer(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
        elif kind == "delta":
            self._delta(msg.delta)
        elif kind == "script_finished":
            self.finished_count += 1
            self.finished.set()
            if self.slider_sent_at is not None and self.slider_redrawn:
                self.result.slider_ack_s.append(time.monotonic() - self.slider_sent_at)
                self.slider_sent_at = None

    def _delta(self, delta) -> None:
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        kind = element.WhichOneof("type")
        if kind == "button" and element.button.id.endswith(PLAY_KEY):
            self.play_id, self.play_label = element.button.id, element.button.label
        elif kind == "selectbox":
            # The server sends a box's value only when it sets it (set_value); otherwise the browser keeps the
            # value it holds, starting from the default.
            box = element.selectbox
            if box.set_value and box.HasField("raw_value"):
                self.held[box.id] = self.WidgetState(id=box.id, string_value=box.raw_value)
            elif box.id not in self.held and box.HasField("default") and box.default < len(box.options):
                self.held[box.id] = self.WidgetState(id=box.id, string_value=box.options[box.default])
        elif kind == "slider" and element.slider.id.endswith(MARGIN_KEY):
            slider = element.slider
            options = list(slider.options)
            index = slider.value[0] if slider.value else (slider.default[0] if slider.default else 0)
            if self.slider is None:
                self.slider = {"id": slider.id, "options": options, "index": int(index)}
                held = self.WidgetState(id=slider.id)
                held.string_array_value.data.append(options[int(index)])
                self.held[slider.id] = held
            self.slider["fragment"] = delta.fragment_id
            if self.slider_sent_at is not None:
                self.slider_redrawn = True
        elif kind == "metric" and element.metric.label == "Epoch":
            with contextlib.suppress(ValueError):
                self.epochs.append((time.monotonic(), int(element.metric.body.replace(",", ""))))
        elif kind in ("markdown", "alert"):
            body = element.markdown.body if kind == "markdown" else element.alert.body
            found = QUEUE_RE.search(body)
            if found:
                self.result.queued_position = int(found.group(1))

    def _start_timer(self, fragment: str, interval: float) -> None:
        """The browser's run_every timer: a fragment rerun every `interval` seconds (0 stops it)."""
        old = self.timers.pop(fragment, None)
        if old is not None:
            old.cancel()
        if interval > 0:
            self.timers[fragment] = asyncio.ensure_future(self._tick_loop(fragment, interval))

    async def _tick_loop(self, fragment: str, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self._send_rerun(fragment=fragment, auto=True)

    async def _receive(self) -> None:
        async for raw in self.ws:
            self._handle(raw)

    async def _wait_finished(self, timeout: float) -> None:
        self.finished.clear()
        await asyncio.wait_for(self.finished.wait(), timeout)

    async def _press_play(self) -> None:
        button = self.WidgetState(id=self.play_id, trigger_value=True)
        await self._send_rerun(widgets=[button])

    async def _move_slider(self) -> None:
        slider = self.slider
        step = 1 if slider["index"] + 1 < len(slider["options"]) else -1
        slider["index"] += step
        widget = self.WidgetState(id=slider["id"])
        widget.string_array_value.data.append(slider["options"][slider["index"]])
        self.held[slider["id"]] = widget
        self.slider_redrawn = False
        self.slider_sent_at = time.monotonic()
        await self._send_rerun(fragment=slider.get("fragment", ""), widgets=[widget])

    # -- one student's session ------------------------------------------------------------------
    async def run(self, *, warmup_s: float, window_s: float, start_at: float) -> StudentResult:
        try:
            await asyncio.get_running_loop().run_in_executor(None, self._get_page)
            self.result.server_cookie = self.cookies.get("MLSERVER", "")
            ws_url = self.base_url.replace("http://", "ws://") + "/_stcore/stream"
            async with connect(ws_url, subprotocols=["streamlit"], additional_headers=self._cookie_header(),
                               max_size=None, open_timeout=60) as ws:  # fmt: skip
                self.ws = ws
                receiver = asyncio.ensure_future(self._receive())
                try:
                    await self._send_rerun()
                    await self._wait_finished(120)
                    if not self.play_id:
                        raise RuntimeError("the page has no Play button (pg-play)")
                    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
                    if self.play:
                        await self._press_play()
                    await asyncio.sleep(warmup_s)
                    window_start = time.monotonic()
                    self.epochs.clear()
                    next_slider = window_start + SLIDER_EVERY_S * (0.5 + (hash(self.name) % 100) / 100)
                    while time.monotonic() < window_start + window_s:
                        await asyncio.sleep(0.1)
                        if self.moves_slider and self.slider is not None and time.monotonic() >= next_slider:
                            if self.slider_sent_at is not None:  # the last one never came back
                                if time.monotonic() - self.slider_sent_at > ACK_TIMEOUT_S:
                                    self.result.slider_timeouts += 1
                                    self.slider_sent_at = None
                            else:
                                await self._move_slider()
                            next_slider = time.monotonic() + SLIDER_EVERY_S
                    if self.slider_sent_at is not None and time.monotonic() - self.slider_sent_at > ACK_TIMEOUT_S:
                        self.result.slider_timeouts += 1  # (one still under way at the end is not counted)
                    if len(self.epochs) >= 2:
                        (t0, e0), (t1, e1) = self.epochs[0], self.epochs[-1]
                        self.result.epochs_per_s = (e1 - e0) / (t1 - t0) if t1 > t0 else 0.0
                    else:
                        self.result.epochs_per_s = 0.0
                    for timer in self.timers.values():
                        timer.cancel()
                    if self.play and self.play_label == "Pause":  # leave the server idle for the next N
                        await self._press_play()
                        with contextlib.suppress(asyncio.TimeoutError):
                            await self._wait_finished(20)
                finally:
                    for timer in self.timers.values():
                        timer.cancel()
                    receiver.cancel()
        except Exception as err:
            self.result.error = f"{type(err).__name__}: {err}"
        return self.result


# --------------------------------------------------------------------------------------------------
# A class: N students at once, and the server's CPU use meanwhile
# --------------------------------------------------------------------------------------------------


@dataclass
class ClassResult:
    n: int
    players: int
    students: list[StudentResult]
    cores_used: float
    wall_s: float
    switches_per_s: float = 0.0
    profile: dict[str, float] | None = None

    @property
    def playing(self) -> list[StudentResult]:
        return [s for s in self.students[: self.players] if s.queued_position is None and not s.error]

    def per_student(self) -> float:
        values = [s.epochs_per_s for s in self.playing if s.epochs_per_s is not None]
        return statistics.median(values) if values else 0.0

    def total(self) -> float:
        return sum(s.epochs_per_s or 0.0 for s in self.students)

    def ack(self) -> float | None:
        acks = [a for s in self.students for a in s.slider_ack_s]
        return statistics.median(acks) if acks else None

    def per_cpu_s(self) -> float:
        """Epochs per second of server CPU: what the machine's other load does not change."""
        return self.total() / max(self.cores_used, 0.01)

    def queued(self) -> int:
        return sum(1 for s in self.students if s.queued_position is not None)


async def _run_class(url: str, n: int, *, warmup_s: float, window_s: float, players: int | None = None,
                     pids: list[int] | None = None, profile: bool = False,
                     waiting_sliders: bool = False) -> ClassResult:  # fmt: skip
    players = n if players is None else min(n, players)
    students = [Student(url, f"student-{i + 1}", play=i < players, slider=i < players or waiting_sliders)
                for i in range(n)]  # fmt: skip
    start_at = time.monotonic() + 3.0 + 0.6 * n  # every page loaded before anyone presses Play
    tasks = [asyncio.ensure_future(s.run(warmup_s=warmup_s, window_s=window_s, start_at=start_at)) for s in students]
    await asyncio.sleep(max(0.0, start_at + warmup_s - time.monotonic()))
    cpu0, t0, switches0 = cpu_seconds(pids or []), time.monotonic(), context_switches(pids or [])
    spy = None
    if profile and pids:
        from benchmarks.classroom_why import gil_profile

        spy = asyncio.get_running_loop().run_in_executor(None, gil_profile, pids[0], max(1.0, window_s - 2))
    await asyncio.sleep(window_s)
    cpu1, t1, switches1 = cpu_seconds(pids or []), time.monotonic(), context_switches(pids or [])
    results = await asyncio.gather(*tasks)
    result = ClassResult(n, players, list(results), (cpu1 - cpu0) / (t1 - t0), t1 - t0,
                         switches_per_s=switches_between(switches0, switches1) / (t1 - t0))  # fmt: skip
    if spy is not None:
        result.profile = await spy
    return result


def run_class(url: str, n: int, **kwargs) -> ClassResult:
    return asyncio.run(_run_class(url, n, **kwargs))


def print_row(label: str, result: ClassResult) -> None:
    each = [s.epochs_per_s for s in result.playing if s.epochs_per_s is not None]
    spread = f"{min(each):5.1f}-{max(each):5.1f}" if each else "    -    "
    ack = result.ack()
    errors = [s.error for s in result.students if s.error]
    timeouts = sum(s.slider_timeouts for s in result.students)
    print(f"{label:<22} N={result.n:>2}  epochs/s each: median {result.per_student():5.1f} (range {spread})  "
          f"total {result.total():6.1f}  slider->ack median {ack if ack is None else round(ack, 2)} s"
          f"{f' ({timeouts} timed out)' if timeouts else ''}  queued {result.queued()}  "
          f"server CPU {result.cores_used:.2f} cores, {result.per_cpu_s():.0f} epochs/CPU-s, "
          f"{result.switches_per_s:,.0f} context switches/s"
          f"{'  ERRORS: ' + '; '.join(errors[:2]) if errors else ''}", flush=True)  # fmt: skip
    if result.profile:
        shares = ", ".join(f"{name} {share:.0%}" for name, share in result.profile.items())
        print(f"{'':<22}   GIL held by (py-spy --gil): {shares}", flush=True)


def students_per_process(result: ClassResult, processes: int) -> dict[str, int]:
    """How many of the class's students each process got (by the proxy's affinity cookie), every process named,
    the ones that got nobody included."""
    counts = {f"app{i}": 0 for i in range(1, processes + 1)}
    for student in result.students:
        counts[student.server_cookie or "(no cookie)"] = counts.get(student.server_cookie or "(no cookie)", 0) + 1
    return counts


def evenly_spread(counts: dict[str, int]) -> bool:
    """Whether the proxy spread the class: every student has a process, and no two processes differ by more than
    one student."""
    if counts.get("(no cookie)"):
        return False
    return max(counts.values()) - min(counts.values()) <= 1


def largest_half_speed_n(rows: list[ClassResult]) -> int | None:
    """The largest N whose median playing student keeps at least half the N = 1 speed."""
    base = next((r.per_student() for r in rows if r.n == 1), None)
    if not base:
        return None
    kept = [r.n for r in rows if r.per_student() >= 0.5 * base]
    return max(kept) if kept else None


def load_table(topologies: list[int], ns: list[int], *, warmup_s: float, window_s: float, server_args: list[str],
               env: dict[str, str], switch_s: float | None = None, profile: bool = False,
               players: int | None = None, waiting_sliders: bool = False,
               unspread: list[str] | None = None) -> dict[int, list[ClassResult]]:  # fmt: skip
    """Each topology's rows; a class the proxy did not spread evenly is appended to `unspread`."""
    unspread = [] if unspread is None else unspread
    tables: dict[int, list[ClassResult]] = {}
    for processes in topologies:
        label = "1 process" if processes == 1 else f"{processes} processes+HAProxy"
        if switch_s is not None:
            label += f", switch {switch_s}"
        with Stack(processes=processes, server_args=server_args, env=env, switch_interval_s=switch_s) as stack:
            rows = []
            for n in ns:
                result = run_class(stack.url, n, warmup_s=warmup_s, window_s=window_s, pids=stack.app_pids,
                                   profile=profile and processes == 1, players=players,
                                   waiting_sliders=waiting_sliders)  # fmt: skip
                print_row(label, result)
                rows.append(result)
            if processes > 1:
                for row in rows:
                    counts = students_per_process(row, processes)
                    verdict = "evenly spread" if evenly_spread(counts) else "NOT SPREAD EVENLY"
                    print(f"{label:<22} students per process at N={row.n}: {counts} ({verdict})")
                    if not evenly_spread(counts):
                        unspread.append(f"{processes} processes, N={row.n}: {counts}")
            tables[processes] = rows
        half = largest_half_speed_n(rows)
        print(f"{label:<22} largest N at which a playing student keeps >= half the N=1 speed: {half}", flush=True)
    return tables


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: N = 1, 2, 4 and short windows")
    parser.add_argument("--ns", help="comma-separated class sizes (default 1,2,4,8,16; --quick: 1,2,4)")
    parser.add_argument("--topologies", default="1,2", help="processes per run, comma-separated (default 1,2)")
    parser.add_argument("--window", type=float, help="seconds measured per N (default 20; --quick 8)")
    parser.add_argument("--warmup", type=float, help="seconds after Play before measuring (default 5; --quick 3)")
    parser.add_argument("--server-flag", action="append", default=[], help="a streamlit flag, e.g. runner.x=y")
    parser.add_argument("--capped", type=int, help="hosted mode with this play cap per process")
    parser.add_argument("--workers", type=int, help="training worker processes per server process "
                        "(MARGIN_LAB_WORKERS; 0: train in the page's process; default: the app's own choice)")
    parser.add_argument("--pace", default="max", help="the pace the students play at (default max)")
    parser.add_argument("--investigate", action="store_true", help="measure why the total falls with N")
    parser.add_argument("--profile", action="store_true", help="py-spy --gil samples of the one-process server")
    parser.add_argument("--switch-interval", type=float, help="sys.setswitchinterval in the servers (seconds)")
    parser.add_argument("--players", type=int, help="only this many of the N students press Play (the others "
                        "stay connected and wait: a play cap, emulated)")
    parser.add_argument("--waiting-sliders", action="store_true",
                        help="with --players: the waiting students move the margin slider every 3 s too")
    args = parser.parse_args(argv)
    ns = [int(x) for x in (args.ns or ("1,2,4" if args.quick else "1,2,4,8,16")).split(",")]
    window = args.window or (8.0 if args.quick else 20.0)
    warmup = args.warmup or (3.0 if args.quick else 5.0)
    server_args = [f"--{flag}" for flag in args.server_flag]
    env = {"MARGIN_LAB_HOSTED": "1", "MARGIN_LAB_PLAY_CAP": str(args.capped)} if args.capped else {}
    if args.workers is not None:
        env["MARGIN_LAB_WORKERS"] = str(args.workers)
    global QUERY
    QUERY = f"pace={args.pace}"
    print(f"classroom_load: {os.cpu_count()} cores, window {window:.0f} s after {warmup:.0f} s warm-up, "
          f"N = {ns}{', play cap ' + str(args.capped) if args.capped else ''}, workers "
          f"{args.workers if args.workers is not None else 'default'}, pace {args.pace}", flush=True)
    if args.investigate:
        from benchmarks import classroom_why

        classroom_why.main(quick=args.quick)
        return 0
    unspread: list[str] = []
    tables = load_table([int(x) for x in args.topologies.split(",")], ns, warmup_s=warmup, window_s=window,
                        server_args=server_args, env=env, switch_s=args.switch_interval, profile=args.profile,
                        players=args.players, waiting_sliders=args.waiting_sliders, unspread=unspread)  # fmt: skip
    extrapolate(tables)
    if unspread:  # the numbers of an unspread class measure the proxy, not the servers: fail, loudly
        print("FAILED: the proxy did not spread the students evenly over the processes: " + "; ".join(unspread),
              file=sys.stderr, flush=True)
        return 1
    return 0


def extrapolate(tables: dict[int, list[ClassResult]], target_cores: int = 16) -> None:
    """A 16-core server, from what one process did here (labelled: it is not a measurement)."""
    one = tables.get(1)
    if not one or one[0].n != 1:
        return  # no N = 1 baseline in this run
    half = largest_half_speed_n(one) or 1
    at_half = next(r for r in one if r.n == half)
    solo = one[0]
    # A process's Python runs on one core at a time (the GIL): never more processes than cores.
    processes = min(target_cores, int(target_cores / max(at_half.cores_used, 0.01)))
    solo_processes = min(target_cores, int(target_cores / max(solo.cores_used, 0.01)))
    print(f"EXTRAPOLATION to a {target_cores}-core server (not measured; from one process here, "
          f"{os.cpu_count()} cores): one process kept >= half its solo speed ({solo.per_student():.1f} epochs/s) "
          f"for up to {half} players, using {at_half.cores_used:.2f} cores. So about {processes} processes "
          f"behind HAProxy with a play cap of {half} each: {processes * half} students playing at once at about "
          f"{at_half.per_student():.1f} epochs/s each, or {solo_processes} "
          f"at full speed with a cap of 1. Students beyond that queue.", flush=True)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
