"""The one exception type for bad input, shared by every layer.

It lives at the bottom of the dependency chain (data_prep) so that model and tuner can raise it
too, and the CLI maps it to a clear message and exit code 2.
"""
from __future__ import annotations


class InputError(ValueError):
    """Bad user input (a config key, a data file, a CLI flag).

    The message must say what must hold and what was given, and where: the file, row and field
    for data; the key and file for configs.
    """
