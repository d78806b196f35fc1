"""Hosted mode: settings from a TOML file and the environment, browser identity, and the play slots."""

from __future__ import annotations

import binascii
import os
import threading

import pytest

from app import hosted
from app.hosted import Admitted, Elsewhere, HostedConfigError, PlaySlots, Queued


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# -- play slots -------------------------------------------------------------------------------------



def run_apart(coroutine):
    """asyncio.run on a thread of its own: the browser tests' Playwright keeps an event loop running in the main
    thread for the whole session, and asyncio.run refuses to start inside a running loop."""
    import asyncio
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()

def test_cap_admits_n_and_queues_the_next_with_position_one():
    slots = PlaySlots(3, clock=FakeClock())
    assert all(isinstance(slots.acquire(f"s{i}"), Admitted) for i in range(3))
    waiting = slots.acquire("s3")
    assert isinstance(waiting, Queued) and waiting.position == 1
    assert isinstance(slots.acquire("s4"), Queued) and slots.acquire("s4").position == 2
    assert slots.status().playing == 3 and slots.status().queued == 2


def test_a_release_admits_the_first_in_line_and_not_someone_behind():
    slots = PlaySlots(2, clock=FakeClock())
    slots.acquire("a")
    slots.acquire("b")
    slots.acquire("c")  # queued first
    slots.acquire("d")  # queued second
    slots.release("a")
    assert isinstance(slots.acquire("d"), Queued), "d must not jump ahead of c"
    assert slots.acquire("d").position == 2
    assert isinstance(slots.acquire("c"), Admitted)
    assert slots.acquire("d").position == 1


def test_twenty_tabs_of_one_browser_take_one_slot_and_train_one_model():
    slots = PlaySlots(2, clock=FakeClock())
    for tab in range(20):  # Play pressed in each tab in turn: the browser's one slot moves to the newest
        assert isinstance(slots.acquire("browser-1", f"tab-{tab}", take_over=True), Admitted)
        assert slots.status().playing == 1
    # The earlier tabs' ticks now hear that the browser trains elsewhere (they pause); the last one trains.
    assert isinstance(slots.acquire("browser-1", "tab-0"), Elsewhere)
    assert isinstance(slots.acquire("browser-1", "tab-19"), Admitted)
    assert "another tab" in hosted.ELSEWHERE_SENTENCE
    assert isinstance(slots.acquire("browser-2", "tab-x", take_over=True), Admitted)
    assert isinstance(slots.acquire("browser-3", "tab-y", take_over=True), Queued)
    # Pausing a tab that does not hold the slot frees nothing; pausing the one that does frees it.
    slots.release("browser-1", "tab-0")
    assert slots.holds("browser-1")
    slots.release("browser-1", "tab-19")
    assert not slots.holds("browser-1")
    assert isinstance(slots.acquire("browser-3", "tab-y"), Admitted)


def test_tabs_of_a_queued_browser_share_one_place():
    slots = PlaySlots(1, clock=FakeClock())
    slots.acquire("player")
    first = slots.acquire("browser-1", "tab-a", take_over=True)
    second = slots.acquire("browser-1", "tab-b", take_over=True)
    assert first.position == second.position == 1
    assert slots.acquire("browser-2", "tab-c").position == 2
    assert slots.status().queued == 2
    slots.release("player")
    assert isinstance(slots.acquire("browser-1", "tab-b"), Admitted)
    assert isinstance(slots.acquire("browser-1", "tab-a"), Elsewhere)


def test_a_silent_holder_expires_and_frees_its_slot():
    clock = FakeClock()
    slots = PlaySlots(1, expiry_s=5.0, clock=clock)
    assert isinstance(slots.acquire("closed-tab"), Admitted)
    assert isinstance(slots.acquire("waiting"), Queued)
    clock.advance(3.0)
    assert isinstance(slots.acquire("waiting"), Queued), "3 s of silence is not yet a closed tab"
    clock.advance(3.0)  # closed-tab last ticked 6 s ago
    assert isinstance(slots.acquire("waiting"), Admitted)
    assert not slots.holds("closed-tab")


def test_ticks_keep_a_slot_past_the_expiry():
    clock = FakeClock()
    slots = PlaySlots(1, expiry_s=5.0, clock=clock)
    slots.acquire("player")
    for _ in range(10):
        clock.advance(1.0)
        slots.acquire("other")  # polls the queue
        assert isinstance(slots.acquire("player"), Admitted)
    assert isinstance(slots.acquire("other"), Queued)


def test_a_waiter_that_left_loses_its_place():
    clock = FakeClock()
    slots = PlaySlots(1, expiry_s=5.0, clock=clock)
    slots.acquire("player")
    slots.acquire("gone")
    clock.advance(4.0)
    slots.acquire("player")
    assert slots.acquire("stays").position == 2
    clock.advance(2.0)  # "gone" has not polled for 6 s
    assert slots.acquire("stays").position == 1


def test_silent_for_exactly_the_expiry_is_still_there_and_a_moment_more_is_gone():
    clock = FakeClock()
    slots = PlaySlots(1, expiry_s=5.0, clock=clock)
    slots.acquire("holder")
    slots.acquire("waiter")
    clock.advance(5.0)  # both silent for exactly expiry_s: the holder keeps its slot, the waiter its place
    assert isinstance(slots.acquire("third"), Queued) and slots.acquire("third").position == 2
    assert slots.holds("holder") and slots.status().queued == 2
    clock.advance(0.5)  # now past it: both are gone
    assert isinstance(slots.acquire("third"), Admitted)


def test_a_holder_at_exactly_the_typical_hold_is_expected_to_hold_half_that_again():
    clock = FakeClock()
    slots = PlaySlots(1, clock=clock, expiry_s=1e9)
    slots.acquire("a")
    clock.advance(60.0)
    slots.release("a")  # the typical hold is now 60 s
    slots.acquire("b")
    clock.advance(60.0)  # b has held exactly the typical 60 s
    assert slots.acquire("c").estimated_wait_s == pytest.approx(30.0)
    clock.advance(1.0)
    assert slots.acquire("c").estimated_wait_s == pytest.approx(30.0)  # past it: still half a typical hold
    slots.release("b")
    slots.acquire("c")
    clock.advance(59.0)  # the typical hold is now the median of 60 and 61 s; c is 1.5 s short of it
    assert slots.acquire("d").estimated_wait_s == pytest.approx(1.5)


def test_wait_estimate_comes_from_observed_holds():
    clock = FakeClock()
    slots = PlaySlots(1, clock=clock, expiry_s=1e9)
    slots.acquire("a")
    assert slots.acquire("b").estimated_wait_s is None, "no hold seen yet: no estimate"
    clock.advance(60.0)
    slots.release("a")
    assert isinstance(slots.acquire("b"), Admitted)
    clock.advance(20.0)
    waiting = slots.acquire("c")
    assert waiting.estimated_wait_s == pytest.approx(40.0)  # typical hold 60 s, b has held 20 s
    assert slots.acquire("d").estimated_wait_s == pytest.approx(100.0)  # then c holds a typical 60 s
    assert "number 2 in the queue" in hosted.queue_sentence(slots.acquire("d"))


def test_unlimited_slots_admit_everyone_and_every_tab():
    slots = PlaySlots(None)
    assert all(isinstance(slots.acquire(f"s{i}"), Admitted) for i in range(100))
    assert isinstance(slots.acquire("laptop", "tab-1", take_over=True), Admitted)
    assert isinstance(slots.acquire("laptop", "tab-2", take_over=True), Admitted)
    assert isinstance(slots.acquire("laptop", "tab-1"), Admitted), "two tabs of a laptop train two setups"


def test_a_cap_below_one_is_refused_with_one_sentence():
    with pytest.raises(ValueError, match="at least 1"):
        PlaySlots(0)


def test_concurrent_acquire_and_release_never_over_admit():
    capacity = 3
    slots = PlaySlots(capacity, expiry_s=1e9)
    inside = 0
    most_inside = 0
    guard = threading.Lock()
    errors: list[str] = []

    def student(name: str) -> None:
        nonlocal inside, most_inside
        for _ in range(300):
            if isinstance(slots.acquire(name), Admitted):
                with guard:
                    inside += 1
                    most_inside = max(most_inside, inside)
                    if slots.status().playing > capacity:
                        errors.append("more holders than slots")
                with guard:
                    inside -= 1
                slots.release(name)
            else:
                slots.release(name)  # leave the queue so others can move up

    threads = [threading.Thread(target=student, args=(f"s{i}",)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert 1 <= most_inside <= capacity
    assert slots.status().playing == 0 and slots.status().queued == 0


# -- settings ---------------------------------------------------------------------------------------


def test_defaults_are_a_laptops(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    chosen = hosted.load_settings(environ={})
    assert not chosen.hosted
    assert chosen.bind_address == "127.0.0.1"
    assert chosen.play_cap == max(1, os.cpu_count() or 1)
    assert "--server.address=127.0.0.1" in chosen.streamlit_flags()


def test_settings_from_a_toml_file_and_the_environment(tmp_path):
    config = tmp_path / "class.toml"
    config.write_text(
        '[margin_lab]\nhosted = true\nplay_cap = 4\nupload_cap_mb = 2\nbind_address = "0.0.0.0"\nport = 8600\n'
        '[margin_lab.data_folders]\nmnist = "/srv/data"\n'
    )
    chosen = hosted.load_settings(config, environ={})
    assert chosen.hosted and chosen.play_cap == 4 and chosen.port == 8600
    assert chosen.folder_for("mnist") == "/srv/data" and chosen.folder_for("fashion-mnist") is None
    assert "--server.maxUploadSize=2" in chosen.streamlit_flags()
    overridden = hosted.load_settings(environ={"MARGIN_LAB_CONFIG": str(config), "MARGIN_LAB_PLAY_CAP": "9",
                                               "MARGIN_LAB_HOSTED": "0"})  # fmt: skip
    assert overridden.play_cap == 9 and not overridden.hosted


def test_the_environment_alone_turns_hosted_mode_on(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert hosted.load_settings(environ={"MARGIN_LAB_HOSTED": "1"}).hosted


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[margin_lab]\nplay_cap = 'many'\n", "play_cap = 'many' has the wrong type"),
        ("[margin_lab]\nplay_cap = 0\n", "play_cap = 0 must be at least 1"),
        ("[margin_lab]\nhosted = 1\n", "hosted = 1 has the wrong type"),
        ("[margin_lab]\nsurprise = true\n", "'surprise' is not a Margin Lab setting"),
        ("[margin_lab]\nport = 70000\n", "not a TCP port"),
        ("[margin_lab\n", "is not valid TOML"),
        ("[margin_lab.data_folders]\nmnist = ''\n", "data_folders.mnist"),
    ],
)
def test_a_bad_config_is_named_in_one_sentence(tmp_path, text, says):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(HostedConfigError, match=says) as caught:
        hosted.load_settings(config, environ={})
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("line", "accepted"), [
    ("play_cap = 1", True), ("port = 1", True), ("port = 0", False), ("port = 65535", True), ("port = 65536", False),
    ("workers = 0", True), ("workers = -1", False), ("slot_expiry_s = 0.001", True), ("slot_expiry_s = 0.0", False),
    ("upload_cap_mb = 1", True), ("upload_cap_mb = 0", False),
])  # fmt: skip
def test_each_bound_of_the_config_is_accepted_and_one_past_it_is_one_sentence(tmp_path, line, accepted):
    config = tmp_path / "edge.toml"
    config.write_text(f"[margin_lab]\n{line}\n")
    if accepted:
        key, value = (part.strip() for part in line.split("="))
        assert getattr(hosted.load_settings(config, environ={}), key) == float(value)
    else:
        with pytest.raises(HostedConfigError) as caught:
            hosted.load_settings(config, environ={})
        assert str(caught.value).startswith(f"{config}: {line.split(' = ')[0]} = ") and "\n" not in str(caught.value)


def test_a_missing_config_file_and_a_bad_flag_are_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(HostedConfigError, match="does not exist"):
        hosted.load_settings(environ={"MARGIN_LAB_CONFIG": str(tmp_path / "nope.toml")})
    with pytest.raises(HostedConfigError, match="must be 1 or 0"):
        hosted.load_settings(environ={"MARGIN_LAB_HOSTED": "maybe"})


def test_a_folder_url_parameter_is_refused_only_when_hosted():
    assert hosted.folder_param_refusal(["loss", "data_dir"], hosted=False) is None
    sentence = hosted.folder_param_refusal(["loss", "data_dir"], hosted=True)
    assert "'data_dir'" in sentence and sentence.count(".") == 1
    assert hosted.folder_param_refusal(["loss", "m"], hosted=True) is None


# -- browser identity -------------------------------------------------------------------------------


def _xsrf_cookie(token: bytes, mask: bytes) -> str:
    masked = bytes(t ^ mask[i % 4] for i, t in enumerate(token))
    return f"2|{binascii.b2a_hex(mask).decode()}|{binascii.b2a_hex(masked).decode()}|1700000000"


def test_tabs_of_one_browser_share_an_identity_whatever_the_mask():
    token = os.urandom(16)
    first = hosted.browser_identity({"_streamlit_xsrf": _xsrf_cookie(token, b"\x01\x02\x03\x04")}, "s1")
    second = hosted.browser_identity({"_streamlit_xsrf": _xsrf_cookie(token, b"\xff\x00\xaa\x55")}, "s2")
    other = hosted.browser_identity({"_streamlit_xsrf": _xsrf_cookie(os.urandom(16), b"\x01\x02\x03\x04")}, "s3")
    assert first == second != other
    assert token.hex() not in first
    assert hosted.browser_identity({}, "s9") == "session-s9"


def test_the_check_command_prints_the_settings_or_the_one_bad_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MARGIN_LAB_HOSTED", "1")
    monkeypatch.setenv("MARGIN_LAB_PLAY_CAP", "3")
    assert hosted.main(["check"]) == 0
    assert "hosted=True, play_cap=3" in capsys.readouterr().out
    monkeypatch.setenv("MARGIN_LAB_PLAY_CAP", "lots")
    assert hosted.main(["check"]) == 2
    assert "$MARGIN_LAB_PLAY_CAP = 'lots' must be a whole number." in capsys.readouterr().err


@pytest.mark.slow
def test_a_real_server_gives_every_tab_of_a_browser_one_identity():
    """Streamlit re-masks its XSRF cookie on every response; the identity must not change with the mask."""
    import asyncio
    import signal
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(repo))
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.asyncio.client import connect

    from benchmarks.classroom_load import Student
    from deploy.stack import free_port, wait_healthy

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(Path(__file__).parent / "_show_identity_app.py"),
         f"--server.port={port}", "--server.address=127.0.0.1", "--server.headless=true"],
        env={**os.environ, "PYTHONPATH": str(repo)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip

    async def identity_of(cookies: dict[str, str]) -> tuple[str, dict[str, str]]:
        tab = Student(f"http://127.0.0.1:{port}", "tab", cookies=cookies)
        tab._get_page()  # the page and its health check, as a browser tab loads them
        async with connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"],
                           additional_headers=tab._cookie_header(), open_timeout=30) as ws:  # fmt: skip
            load = BackMsg()
            load.rerun_script.query_string = ""
            await ws.send(load.SerializeToString())

            async def first_markdown() -> str:
                async for raw in ws:
                    msg = ForwardMsg()
                    msg.ParseFromString(raw)
                    if msg.WhichOneof("type") == "delta" and msg.delta.new_element.WhichOneof("type") == "markdown":
                        return msg.delta.new_element.markdown.body
                return ""

            return await asyncio.wait_for(first_markdown(), 60), tab.cookies

    try:
        wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", proc=server)
        first, jar = run_apart(identity_of({}))
        second, jar_after = run_apart(identity_of(dict(jar)))
        other, _ = run_apart(identity_of({}))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    assert first.startswith("identity=browser-")
    assert jar["_streamlit_xsrf"] != jar_after["_streamlit_xsrf"], "the cookie was re-masked"
    assert first == second != other


def test_a_weighted_hold_takes_its_weight_and_waits_its_turn_for_it():
    slots = PlaySlots(3, clock=FakeClock())
    assert isinstance(slots.acquire("a"), Admitted)
    assert isinstance(slots.acquire("sweep", weight=2), Admitted)  # 1 + 2 = 3: exactly full (the equality case)
    assert isinstance(slots.acquire("b"), Queued)
    slots.release("a")
    assert isinstance(slots.acquire("b"), Admitted)
    big = slots.acquire("big", weight=3)
    assert isinstance(big, Queued) and big.position == 1
    assert isinstance(slots.acquire("c"), Queued)  # behind the heavy one, and the cap is full
    slots.release("b")
    assert isinstance(slots.acquire("c"), Queued)  # one slot free, but big (3) is first in line: no overtaking
    slots.release("sweep")
    assert isinstance(slots.acquire("big", weight=3), Admitted)
    assert slots.status().playing == 1


def test_a_weight_above_the_cap_takes_the_whole_cap():
    slots = PlaySlots(2, clock=FakeClock())
    assert isinstance(slots.acquire("huge", weight=9), Admitted)
    assert isinstance(slots.acquire("next"), Queued)


@pytest.mark.parametrize(("wait_s", "said"), [
    (None, "there is no estimate of the wait yet"),
    (0.0, "the wait is probably under a minute"),
    (59.9, "the wait is probably under a minute"),
    (60.0, "the wait is about 1 min"),  # the equality case: a minute is no longer "under a minute"
    (150.0, "the wait is about 2 min"),
])  # fmt: skip
def test_the_queue_sentence_says_the_wait_in_words_from_its_estimate(wait_s, said):
    sentence = hosted.queue_sentence(Queued("ada", 3, wait_s))
    assert f"you are number 3 in the queue, and {said}." in sentence
