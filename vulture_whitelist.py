"""Names vulture reports as unused that a framework or protocol uses (`vulture` reads this file too)."""
# ruff: noqa
from data_prep.dataset import PreparedDataset
from tuner.dashboard import _ThreadingServer
from tuner.pruning import FoldPercentilePruner
from data_prep.synthetic import planted_drift

__getattr__  # PEP 562 lazy exports of model/ and tuner/
__dir__
PreparedDataset.feature_names  # part of the dataset contract (meta.json's feature names, in order)
_ThreadingServer.daemon_threads  # socketserver.ThreadingMixIn reads it
_connect  # SQLAlchemy event listeners (tuner/storage.py), called by the engine
_begin
isolation_level  # sqlite3 connection attribute set for SQLAlchemy's own BEGIN
benchmark  # torch.backends.cudnn.benchmark
FoldPercentilePruner.prune  # optuna calls it
planted_drift  # bench/payoff.py's oracle
from data_prep.dataset_report import DatasetReport, SplitReport
# report.json fields: DatasetReport.to_json writes every field through dataclasses.fields()
SplitReport.first_window_end, SplitReport.last_window_end, SplitReport.n_dates, SplitReport.target_mean
SplitReport.target_ks_n, SplitReport.ret_mean, SplitReport.ret_std
DatasetReport.date_range, DatasetReport.timings_s, DatasetReport.report_version
