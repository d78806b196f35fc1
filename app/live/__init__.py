"""The live unit: controls, Play / Step / Reset and the live views, reusable on every page.

    from app.live import LiveUnit
    result = LiveUnit("pg").render()

See `app.live.unit` for the options (preset, locked and hidden controls, URL binding) and the flow.
"""

from app.live.unit import LiveResult, LiveUnit

__all__ = ["LiveResult", "LiveUnit"]
