"""Margin Lab's Streamlit app: pages, state, figure builders and components."""
