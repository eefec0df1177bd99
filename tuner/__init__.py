"""Optuna workers, study files, export and the `stocktune` CLI."""
