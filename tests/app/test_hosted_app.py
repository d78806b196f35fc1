"""Hosted mode through AppTest: no data-folder box, a folder in a link refused in one sentence, and the play cap
queueing the player past it and admitting them when a slot frees (several real sessions in one process)."""

from __future__ import annotations

import pytest
from apphelpers import k, run_state, start, texts

from app import hosted


@pytest.fixture
def hosted_mode(monkeypatch):
    """A hosted server with one training slot (the process-wide settings and slots rebuilt for the test)."""
    monkeypatch.setenv(hosted.HOSTED_ENV, "1")
    monkeypatch.setenv(hosted.PLAY_CAP_ENV, "1")
    monkeypatch.delenv(hosted.CONFIG_ENV, raising=False)
    hosted.settings.cache_clear()
    hosted.play_slots.cache_clear()
    yield
    hosted.settings.cache_clear()
    hosted.play_slots.cache_clear()


def test_a_local_run_shows_the_data_folder_box():
    at = start({"dataset": "mnist"})
    assert [t for t in at.text_input if t.label == "Data folder"]


def test_hosted_has_no_data_folder_box_and_refuses_a_folder_link(hosted_mode):
    at = start({"dataset": "mnist", "data": "/etc"})
    assert not [t for t in at.text_input if t.label == "Data folder"]
    warnings = texts(at.warning)
    assert any("only the data folders its instructor set up" in w and "'data'" in w for w in warnings)
    assert any("instructor has not named one" in w for w in warnings)  # MNIST without a folder: digits meanwhile


@pytest.mark.slow
def test_the_player_past_the_cap_queues_and_is_admitted_when_a_slot_frees(hosted_mode):
    first, second = start(), start()
    # AppTest sends no cookies: each session is its own identity (app.live.slots.session_id)
    first.button(key=k("play")).click().run()
    assert run_state(first).playing
    second.button(key=k("play")).click().run()
    assert not run_state(second).playing
    assert any("you are number 1 in the queue" in i for i in texts(second.info))
    second.run()  # a queue poll: still full
    assert not run_state(second).playing
    first.button(key=k("play")).click().run()  # Pause frees the slot at once
    assert not run_state(first).playing
    second.run()  # the next poll is admitted and plays
    assert run_state(second).playing and not run_state(second).queued
    assert hosted.play_slots().status().playing == 1


def test_a_bad_hosted_config_is_one_sentence_not_a_traceback(monkeypatch, tmp_path):
    bad = tmp_path / "margin_lab.toml"
    bad.write_text("[margin_lab]\nplay_cap = 'many'\n")
    monkeypatch.setenv(hosted.CONFIG_ENV, str(bad))
    hosted.settings.cache_clear()
    try:
        at = start()
        assert not at.exception
        [error] = texts(at.error)
        assert "play_cap" in error and str(bad) in error
    finally:
        hosted.settings.cache_clear()


@pytest.mark.slow
def test_compare_queues_too(hosted_mode):
    from apphelpers import ENTRY
    from streamlit.testing.v1 import AppTest

    def compare() -> AppTest:
        at = AppTest.from_file(ENTRY, default_timeout=60)
        at.switch_page("app/pages/compare.py")
        return at.run()

    first, second = compare(), compare()
    first.button(key="cmp-play").click().run()
    second.button(key="cmp-play").click().run()
    assert first.session_state["cmp-run"].playing and not second.session_state["cmp-run"].playing
    assert "number 1 in the queue" in second.session_state["cmp-run"].queued
    first.button(key="cmp-play").click().run()  # Pause
    second.run()
    assert second.session_state["cmp-run"].playing


def test_a_page_moved_from_a_dead_server_process_says_so_once(hosted_mode):
    at = start({hosted.SERVER_PARAM: "0123456789"})  # a link written by another (now dead) process
    assert hosted.MOVED_SENTENCE in texts(at.warning)
    assert at.query_params[hosted.SERVER_PARAM] in (hosted.server_id(), [hosted.server_id()])
    at.run()
    assert hosted.MOVED_SENTENCE not in texts(at.warning)  # said once
    same = start({hosted.SERVER_PARAM: hosted.server_id()})  # a reload on the same process: nothing to say
    assert hosted.MOVED_SENTENCE not in texts(same.warning)


def test_typing_a_classmates_id_does_not_take_their_training_slot(hosted_mode):
    from app.course.serving import STUDENT_KEY

    ada, impostor = start(), start()
    for at in (ada, impostor):  # both sessions claim to be "ada": the slot is keyed by the session, not the claim
        at.session_state[STUDENT_KEY] = {"id": "ada", "name": "ada", "identity": "typed"}
    ada.button(key=k("play")).click().run()
    impostor.button(key=k("play")).click().run()
    assert not run_state(impostor).playing
    assert any("you are number 1 in the queue" in i for i in texts(impostor.info))
    ada.run()
    assert run_state(ada).playing  # still training: nobody took the slot over
