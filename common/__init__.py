"""What every layer shares: the input-error type, typed settings tables, atomic file writes and the
environment variables stocktune reads.

It sits below data_prep (common <- data_prep <- model <- tuner <- cli) and imports only the standard
library, so any layer can raise the same error and build its config the same way.
"""
from .errors import InputError

__all__ = ["InputError"]
