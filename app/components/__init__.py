"""Streamlit components of Margin Lab (no build step: inline JS, assets served from installed packages)."""

from app.components.live_plotly import live_plotly

__all__ = ["live_plotly"]
