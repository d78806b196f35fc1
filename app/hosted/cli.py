"""`python -m app.hosted [check | serve]`: print the hosted settings in force, or start Streamlit with them."""

from __future__ import annotations

import os
from pathlib import Path

from .config import HOSTED_ENV, HostedConfigError, load_settings

# --------------------------------------------------------------------------------------------------
# python -m app.hosted [check | serve]
# --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """`check`: print the settings in force (or the one sentence that is wrong with them);
    `serve`: run `streamlit run streamlit_app.py` bound where the settings say (extra flags pass through)."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    command = args.pop(0) if args else "check"
    try:
        chosen = load_settings()
    except HostedConfigError as err:
        print(err, file=sys.stderr)
        return 2
    if command == "check":
        print(f"Settings from {chosen.source}: hosted={chosen.hosted}, play_cap={chosen.play_cap}, "
              f"upload_cap_mb={chosen.upload_cap_mb}, bind {chosen.bind_address}:{chosen.port}, "
              f"data folders {dict(chosen.data_folders) or 'none'}.")  # fmt: skip
        return 0
    if command == "serve":
        app = Path(__file__).resolve().parents[2] / "streamlit_app.py"
        env = {**os.environ, HOSTED_ENV: "1" if chosen.hosted else "0"}
        cmd = [sys.executable, "-m", "streamlit", "run", str(app), *chosen.streamlit_flags(), *args]
        os.execve(sys.executable, cmd, env)
    print(f"Unknown command {command!r}: use check or serve.", file=sys.stderr)
    return 2

