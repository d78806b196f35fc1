"""Margin Lab's model library: margin heads, analytic geometry, datasets, backbones, training.

Pure PyTorch + numpy. Nothing here imports streamlit or plotly, so everything can be
used from a notebook, a test or the command line (`python -m toy_models --help`).
"""
