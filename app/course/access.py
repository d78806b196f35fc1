"""Instructor access without an identity provider: a salted scrypt hash in secrets.toml, and slowed retries.

    python -m app.course hash-password          # asks twice, prints the line for .streamlit/secrets.toml:
    instructor_password_hash = "scrypt$16384$8$1$<salt>$<hash>"

    verify_password(typed, st.secrets["instructor_password_hash"])   # constant-time
    THROTTLE.wait_s(key) -> seconds to wait before the next try; THROTTLE.failed(key); THROTTLE.succeeded(key)
    email_allowed(st.user.email, st.secrets.get("instructor_emails", []))   # for st.login

hashlib.scrypt is the standard library's memory-hard key derivation; each hash has its own random 16-byte salt,
so equal passwords give different hashes. Wrong passwords are slowed down per key (throttle_key: the client's
address where it is known, else the session): 1 s after the first miss, doubling to at most MAX_DELAY_S; a right
one clears the key. The instructor password and the class code have a throttle each, so a student guessing the
class code never slows the instructor down.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
import time
from collections.abc import Iterable

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # ~16 MB and ~50 ms per check: cheap for a login, costly for guessing
SALT_BYTES = 16
KEY_BYTES = 32
MAX_DELAY_S = 60.0
PREFIX = "scrypt"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """'scrypt$N$r$p$<salt, base64>$<key, base64>' for `password` (a fresh random salt unless given)."""
    if not password:
        raise ValueError("The password is empty.")
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=KEY_BYTES)
    return f"{PREFIX}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches `stored` (from hash_password), compared in constant time.

    ValueError (one sentence) when `stored` is not such a hash: the instructor's secrets.toml is wrong, which
    the page should say rather than refuse every password in silence."""
    parts = str(stored).strip().split("$")
    if len(parts) != 6 or parts[0] != PREFIX:
        raise ValueError("instructor_password_hash in secrets.toml is not a hash made by "
                         "`python -m app.course hash-password`.")
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt, key = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
        if not (2 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16 and salt and key):
            raise ValueError
    except (ValueError, binascii.Error):
        raise ValueError("instructor_password_hash in secrets.toml is damaged: make it again with "
                         "`python -m app.course hash-password`.") from None
    if not password:
        return False
    given = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(key),
                           maxmem=256 * 1024 * 1024)
    return hmac.compare_digest(given, key)


def email_allowed(email: str | None, allowlist: Iterable[str]) -> bool:
    """Whether a logged-in user's email is on the instructors' allowlist (case-insensitive, spaces ignored)."""
    if not email:
        return False
    wanted = email.strip().lower()
    return any(wanted == str(entry).strip().lower() for entry in allowlist)


class Throttle:
    """Slows repeated wrong passwords down, per key. Thread-safe (one per server process)."""

    def __init__(self, max_delay_s: float = MAX_DELAY_S, clock=time.monotonic):
        self.max_delay_s = max_delay_s
        self.clock = clock
        self._misses: dict[str, tuple[int, float]] = {}  # key -> (misses in a row, time of the last)
        self._lock = threading.Lock()

    def delay_after(self, misses: int) -> float:
        return 0.0 if misses <= 0 else min(self.max_delay_s, 2.0 ** (misses - 1))

    def wait_s(self, key: str) -> float:
        """Seconds before `key` may try again (0: now)."""
        with self._lock:
            misses, last = self._misses.get(key, (0, 0.0))
        return max(0.0, last + self.delay_after(misses) - self.clock())

    def failed(self, key: str) -> float:
        """Record a wrong password; returns the wait before the next try."""
        with self._lock:
            misses, _ = self._misses.get(key, (0, 0.0))
            self._misses[key] = (misses + 1, self.clock())
            return self.delay_after(misses + 1)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._misses.pop(key, None)


THROTTLE = Throttle()


CLASS_CODE_THROTTLE = Throttle()  # wrong class codes (students); apart from the instructor password's THROTTLE


def throttle_key(ip_address: str | None, forwarded_for: Iterable[str], session: str) -> str:
    """Whose wrong guesses these are: one client must never lock another out.

    `ip_address` is Streamlit's st.context.ip_address: None for a peer on this machine (a laptop, or a proxy on
    127.0.0.1 that named no client). Streamlit's server (uvicorn) replaces the peer with the client that
    X-Forwarded-For names when the peer is a trusted proxy ($FORWARDED_ALLOW_IPS, 127.0.0.1 by default:
    deploy/stack.py's HAProxy, which sets that header to the client's address). So:
    * the address is one of `forwarded_for`: a trusted proxy named the client -> per client address;
    * an address and no X-Forwarded-For: a direct connection -> per client address;
    * an address that X-Forwarded-For does not name: the peer is a proxy nobody configured as trusted, whose
      address every client shares (an ingress without FORWARDED_ALLOW_IPS) -> per session;
    * no address -> per session."""
    named = {part.strip() for value in forwarded_for for part in str(value).split(",") if part.strip()}
    if ip_address and (not named or ip_address in named):
        return f"ip:{ip_address}"
    return f"session:{session}"
