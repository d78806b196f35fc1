"""What differs between the Python versions the project supports (requires-python >= 3.10).

tomllib joined the standard library in 3.11; on 3.10 the same parser is the `tomli` package, which
requirements.txt installs there only.
"""

import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["tomllib"]
