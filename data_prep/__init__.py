"""Raw daily OHLCV -> a uniformized, leak-free, memory-mapped dataset (numpy/pandas only).

The steps, one module each: sources (load_source) -> validate -> adjust -> windows -> split ->
features -> scaling -> target -> cache + report; ``pipeline.prepare`` runs them and caches the result.
"""
from .adjust import adjust
from .cache import PREP_VERSION, build_once, cache_key
from .config import TARGET_METHODS, PrepConfig
from .dataset import SPLITS, PreparedDataset, SplitArrays
from .dataset_report import DatasetReport, SplitReport
from .features import FEATURE_NAMES, WARMUP, compute_features
from .inference import featurize_for_inference, prediction_rows
from .panel import Panel
from .pipeline import PrepResult, build_dataset, load_cached, min_rows, prepare
from .report import PLOTS
from .scaling import apply as apply_scaler
from .scaling import fit_scaler
from .sources import RawInput, load_events, load_source
from .split import SplitPlan, split_windows
from .stats import kolmogorov_sf, ks_uniform
from .synthetic import generate
from .target import apply_target, choose_method, fit_target, forward_returns
from .validate import Validated, validate
from .windows import window_ends

__all__ = [
    # the API other packages use
    "prepare", "load_cached", "PrepResult", "DatasetReport", "SplitReport", "featurize_for_inference", "prediction_rows", "PreparedDataset", "SplitArrays", "SPLITS",
    "PrepConfig", "TARGET_METHODS",
    # the steps
    "load_source", "load_events", "RawInput", "validate", "Validated", "adjust", "generate", "Panel",
    "window_ends", "split_windows", "SplitPlan", "compute_features", "FEATURE_NAMES", "WARMUP",
    "fit_scaler", "apply_scaler", "forward_returns", "choose_method", "fit_target", "apply_target",
    "build_dataset", "min_rows", "cache_key", "build_once", "PREP_VERSION", "PLOTS",
    "ks_uniform", "kolmogorov_sf",
]
