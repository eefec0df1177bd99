"""Raw daily OHLCV -> a uniformized, leak-free, memory-mapped dataset (numpy/pandas only)."""
from .dataset import SPLITS, PreparedDataset, SplitArrays
from .errors import InputError

__all__ = ["SPLITS", "PreparedDataset", "SplitArrays", "InputError"]
