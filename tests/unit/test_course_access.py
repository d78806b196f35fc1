"""Instructor access helpers: salted scrypt hashes, constant-time checks, slowed retries, the email allowlist."""

from __future__ import annotations

import io
import sys

import pytest

from app.course import cli
from app.course.access import Throttle, email_allowed, hash_password, verify_password


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
