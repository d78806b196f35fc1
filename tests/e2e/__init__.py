"""Browser tests (Playwright + Debian Chromium). A package, so that its module names do not clash with tests/unit."""
