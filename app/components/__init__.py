"""Streamlit components of Margin Lab (no build step: inline JS, assets served from installed packages).

live_plotly: `from app.components.live_plotly import live_plotly`.
"""
