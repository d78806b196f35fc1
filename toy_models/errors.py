"""The error a user's data can cause, shared by the dataset loaders (data.py, glyphs.py)."""


class DatasetError(ValueError):
    """Bad dataset input. ``str(err)`` is one sentence naming the file or folder and what was expected."""
