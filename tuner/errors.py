"""Re-export of the project's single input-error type, so tuner code need not reach into data_prep."""
from data_prep.errors import InputError

__all__ = ["InputError"]
