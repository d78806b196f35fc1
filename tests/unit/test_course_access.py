"""Instructor access helpers: salted scrypt hashes, constant-time checks, slowed retries (keyed per client, never one
key for all), the email allowlist; and, through deploy/stack.py's real HAProxy, the client each guess is keyed by."""

from __future__ import annotations

import io
import shutil
import sys
import urllib.request
from pathlib import Path

import pytest

from app.course import cli
from app.course.access import Throttle, email_allowed, hash_password, throttle_key, verify_password


def test_a_password_hash_is_salted_and_verifies():
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second  # a fresh salt each time
    assert first.startswith("scrypt$16384$8$1$")
    assert verify_password("correct horse", first) and verify_password("correct horse", second)
    assert not verify_password("correct hors", first)
    assert not verify_password("", first)
    assert hash_password("x", salt=b"0" * 16) == hash_password("x", salt=b"0" * 16)


@pytest.mark.parametrize("stored", ["", "hunter2", "scrypt$1$2$3", "scrypt$abc$8$1$AAAA$AAAA",
                                    "scrypt$16384$8$1$!!!$AAAA", "scrypt$3$8$1$AAAA$AAAA", "bcrypt$1$2$3$4$5"])
def test_a_bad_stored_hash_is_one_sentence_not_a_silent_refusal(stored):
    with pytest.raises(ValueError, match=r"instructor_password_hash in secrets\.toml is") as caught:
        verify_password("anything", stored)
    assert "\n" not in str(caught.value)


def test_wrong_passwords_are_slowed_down_and_a_right_one_clears():
    now = [100.0]
    throttle = Throttle(max_delay_s=8, clock=lambda: now[0])
    assert throttle.wait_s("s1") == 0
    assert [throttle.failed("s1") for _ in range(5)] == [1, 2, 4, 8, 8]
    assert throttle.wait_s("s1") == 8 and throttle.wait_s("s2") == 0  # per key
    now[0] += 5
    assert throttle.wait_s("s1") == 3
    throttle.succeeded("s1")
    assert throttle.wait_s("s1") == 0


def test_the_email_allowlist_ignores_case_and_spaces():
    allow = ["Prof@Uni.edu ", "ta@uni.edu"]
    assert email_allowed("prof@uni.edu", allow) and email_allowed(" TA@UNI.EDU", allow)
    assert not email_allowed("student@uni.edu", allow) and not email_allowed(None, allow)
    assert not email_allowed("", [""])


def test_the_cli_prints_the_secrets_line(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("s3cret\n"))
    assert cli.main(["hash-password", "--stdin"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith('instructor_password_hash = "scrypt$') and line.endswith('"')
    assert verify_password("s3cret", line.split('"')[1])
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    assert cli.main(["hash-password", "--stdin"]) == 2
    assert capsys.readouterr().err.strip() == "error: The password is empty."


# -- whose wrong guesses: one client never locks another out -------------------------------------------------


@pytest.mark.parametrize(("ip", "forwarded", "key"), [
    ("203.0.113.7", ["203.0.113.7"], "ip:203.0.113.7"),          # a trusted proxy (HAProxy) named the client
    ("203.0.113.7", ["198.51.100.1, 203.0.113.7"], "ip:203.0.113.7"),  # ... among others (a list in one header)
    ("203.0.113.7", [], "ip:203.0.113.7"),                       # a direct connection
    ("10.2.0.9", ["203.0.113.7"], "session:tab-1"),               # an untrusted proxy: every client shares its address
    (None, ["203.0.113.7"], "session:tab-1"),                     # a local peer that named nobody trusted
    (None, [], "session:tab-1"),                                  # a laptop: 127.0.0.1
])
def test_the_throttle_key_is_the_client_where_known_else_the_session(ip, forwarded, key):
    assert throttle_key(ip, forwarded, "tab-1") == key


def test_before_the_fix_every_local_client_shared_one_key():
    """Behind the HAProxy stack Streamlit gives no address (the peer is 127.0.0.1): two students' sessions must
    still have two keys (before: "instructor-page" for all)."""
    assert throttle_key(None, [], "tab-1") != throttle_key(None, [], "tab-2")


def test_the_class_code_and_the_instructor_password_have_a_throttle_each():
    from app.course import access

    assert access.CLASS_CODE_THROTTLE is not access.THROTTLE


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed (apt-get install haproxy)")
def test_behind_the_stacks_haproxy_each_client_has_its_own_key_and_cannot_forge_one():
    """The real path: deploy/stack.py's HAProxy sets X-Forwarded-For to the address it saw, Streamlit's server
    trusts it from 127.0.0.1, and the app keys the throttle by it. Two clients on two loopback addresses get two
    keys; a client that sends its own X-Forwarded-For still gets its own address; the same client straight to a
    Streamlit process with a forged header is keyed by its session."""
    from deploy.stack import Stack

    with Stack(processes=1, proxy=True, app=Path(__file__).parent / "_show_client_app.py") as stack:
        direct = f"http://127.0.0.1:{stack.app_ports[0]}"
        two = run_apart(client_key_of(stack.url, "127.0.0.2"))
        three = run_apart(client_key_of(stack.url, "127.0.0.3", forged="198.51.100.66"))
        bypass = run_apart(client_key_of(direct, "127.0.0.4", forged="198.51.100.66"))
    assert (two, three) == ("client=ip:127.0.0.2", "client=ip:127.0.0.3")
    assert bypass.startswith("client=session:")


def run_apart(coroutine):
    """asyncio.run on a thread of its own (the browser tests keep an event loop running in the main thread)."""
    import asyncio
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def client_key_of(base_url: str, source_address: str, forged: str | None = None) -> str:
    """Load the page from `source_address` (a loopback address of its own) over Streamlit's websocket, as a
    browser does, and return the markdown it shows."""
    import asyncio
    import urllib.request

    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.asyncio.client import connect

    headers = {"X-Forwarded-For": forged} if forged else {}
    opener = urllib.request.build_opener(SourceAddressHandler(source_address))
    with opener.open(urllib.request.Request(base_url + "/", headers=headers), timeout=30) as response:
        cookies = "; ".join(c.split(";")[0] for c in response.headers.get_all("Set-Cookie") or [])
    if cookies:
        headers["Cookie"] = cookies
    ws_url = base_url.replace("http://", "ws://") + "/_stcore/stream"
    async with connect(ws_url, subprotocols=["streamlit"], additional_headers=headers, open_timeout=60,
                       local_addr=(source_address, 0)) as ws:
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

        return await asyncio.wait_for(first_markdown(), 90)


class SourceAddressHandler(urllib.request.HTTPHandler):
    """HTTP from a chosen local address (127.0.0.2 is this machine too, but a client of its own)."""

    def __init__(self, source_address: str):
        super().__init__()
        self.source_address = source_address

    def http_open(self, req):
        import http.client

        return self.do_open(lambda host, **kw: http.client.HTTPConnection(host, source_address=(
            self.source_address, 0), **kw), req)
