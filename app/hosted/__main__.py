"""python -m app.hosted [check | serve] (see app.hosted.cli)."""

from .cli import main

raise SystemExit(main())
