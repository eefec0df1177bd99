"""GRU/LSTM trainer on a prepared dataset (torch + data_prep only; never optuna)."""
from .config import TrainConfig

__all__ = ["TrainConfig"]
