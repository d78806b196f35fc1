"""Hosted mode's settings: the instructor's config file and environment, the server's identity, and the
browser identity that keeps one slot per browser (see the package docstring for the settings)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.compat import tomllib

HOSTED_ENV = "MARGIN_LAB_HOSTED"
CONFIG_ENV = "MARGIN_LAB_CONFIG"
PLAY_CAP_ENV = "MARGIN_LAB_PLAY_CAP"
BIND_ENV = "MARGIN_LAB_BIND"
WORKERS_ENV = "MARGIN_LAB_WORKERS"
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
    """Players at full speed on this machine: one a core, as the training workers are (the page process only
    draws: two players on 2 cores kept 0.92x of one alone's speed, benchmarks/classroom_load.py)."""
    cores = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, cores)


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
    workers: int | None = None  # training processes (None: one per core when hosted, none on a laptop)
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
    "port": int, "slot_expiry_s": (int, float), "workers": int,
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
    if env.get(WORKERS_ENV, "").strip():
        values["workers"] = _env_int(WORKERS_ENV, env[WORKERS_ENV])
    _check(values, source)
    if "play_cap" not in values and values.get("workers"):
        values["play_cap"] = values["workers"]  # the cap's default is what the workers can hold: one player each
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
    if "workers" in values and values["workers"] < 0:
        raise HostedConfigError(f"{source}: workers = {values['workers']!r} must be 0 (train in the page's "
                                "process) or more.")
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
