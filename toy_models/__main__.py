"""`python -m toy_models ...`: see toy_models/cli.py."""

from .cli import main

raise SystemExit(main())
