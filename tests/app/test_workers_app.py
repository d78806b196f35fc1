"""Pages whose models train in worker processes (MARGIN_LAB_WORKERS): a killed worker costs its page one
sentence and a rebuilt model, and the other page keeps training."""

from __future__ import annotations

import os
import signal

import pytest
from apphelpers import k, run_state, start, texts

from app import hosted
from app.training import runners
from app.training.handle import LOST_SENTENCE

pytestmark = pytest.mark.slow  # starts worker processes


@pytest.fixture
def two_workers(monkeypatch):
    monkeypatch.setenv(hosted.WORKERS_ENV, "2")
    hosted.settings.cache_clear()
    runners.reset_process_runner()
    yield
    runners.reset_process_runner()
    hosted.settings.cache_clear()


def _epoch(at) -> int:
    return run_state(at).frame.epoch


def test_a_killed_worker_gives_its_page_one_sentence_and_the_other_page_trains_on(two_workers):
    ada, bob = start(), start()
    for at in (ada, bob):
        at.button(key=k("play")).click().run()
        at.run()
        at.run()
    assert run_state(ada).frame.worker != run_state(bob).frame.worker != os.getpid()  # one worker each
    os.kill(run_state(ada).frame.worker, signal.SIGKILL)
    for _ in range(20):  # the next tick or two: the advance under way, or the next one sent, meets the dead worker
        ada.run()
        if not run_state(ada).playing:
            break
    ada.run()  # (the browser reruns at once: the tick that met the dead worker asked for it)
    assert not ada.exception, [e.value for e in ada.exception]
    assert LOST_SENTENCE in texts(ada.info) and not run_state(ada).playing
    before = _epoch(bob)
    bob.run()
    bob.run()
    assert _epoch(bob) > before and not bob.exception  # the other page never noticed
    assert run_state(ada).handle is not None and not run_state(ada).handle.lost
    assert _epoch(ada) == 0 and any("worker was lost" in c for c in texts(ada.caption))
    ada.button(key=k("play")).click().run()
    ada.run()
    ada.run()
    assert _epoch(ada) > 0 and LOST_SENTENCE not in texts(ada.info)
