"""The private Streamlit internals the app reads exist: an upgrade that removes one fails here, loudly.

Why the app reads them (app/live/unit.py, app/urlbar.py): the id of the fragment now running and the fragments
queued in the same script run decide when a tick trains (after the unit's last fragment has drawn, so nothing
goes stale); a Back/Forward navigation re-reads the setup from the link.
"""

import dataclasses

from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.scriptrunner_utils.script_run_context import (
    FragmentThreadState,
    ScriptRunContext,
    ThreadState,
)


def test_thread_state_names_the_running_fragment():
    assert callable(ThreadState.get)
    assert "fragment_id" in {f.name for f in dataclasses.fields(FragmentThreadState)}


def test_the_script_run_context_lists_this_runs_fragments_and_history_navigation():
    fields = {f.name for f in dataclasses.fields(ScriptRunContext)}
    assert "fragment_ids_this_run" in fields
    assert "is_history_navigation" in fields
    assert callable(get_script_run_ctx)
