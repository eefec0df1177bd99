"""The test-period evaluation as people read it: the table `evaluate` prints."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .evaluate_saved import EvaluationReport

__all__ = ["format_evaluation"]

# (label, Metrics field, format) of the table's rows
ROWS = (("MAE", "mae", ".4f"), ("RMSE", "rmse", ".4f"), ("baseline MAE, always 0.5", "baseline_mae_half", ".4f"),
        ("baseline MAE, train mean", "baseline_mae_mean", ".4f"), ("skill vs 0.5", "skill_half", "+.4f"),
        ("  standard error", "skill_half_se", ".4f"), ("skill vs train mean", "skill_mean", "+.4f"),
        ("  standard error ", "skill_mean_se", ".4f"), ("rank IC (mean per date)", "ic", "+.4f"),
        ("  standard error", "ic_se", ".4f"), ("  t-stat", "ic_t", "+.2f"), ("ICIR", "icir", "+.3f"),
        ("dates with IC > 0", "ic_positive_frac", ".1%"), ("directional accuracy", "dir_acc", ".2%"),
        ("  vs sign of return", "dir_acc_ret", ".2%"), ("prediction std", "pred_std", ".4f"))


def _fmt(v: Any, spec: str) -> str:
    if v is None:
        return "-"
    try:
        return format(v, spec)
    except (TypeError, ValueError):
        return str(v)


def format_evaluation(report: EvaluationReport) -> str:
    """The human-readable table `stocktune evaluate` prints."""
    periods, ev = report.periods, report.evaluation
    t = periods.test
    lines = [f"Test period {t and t.start} .. {t and t.end} (tuning never read it): {t and t.n_windows} windows "
             f"ending {t and t.first_window_end} .. {t and t.last_window_end} on {t and t.n_dates} dates",
             f"Model trained on {'+'.join(ev.train_splits)} up to {periods.trained_up_to}; "
             f"{periods.val_test_gap} trading days between the last validation target and the "
             f"first test input (required: {periods.required_gap_days})", ""]
    if not periods.test_after_val_gap:
        lines.insert(0, "WARNING: the test period is not separated from the training data by the purge gap.")
    if report.members:
        names = ", ".join(m.name for m in report.members)
        lines[-1:-1] = [f"Ensemble of {len(report.members)} members (the mean of their probabilities): {names}"]
    for verdict in report.verdicts:
        lines[-1:-1] = [f"Study verdict: {verdict}"]
    scored = [("model", ev.model)] + ([(f"control x{ev.control.n_controls}", ev.control.metrics)] if ev.control else [])
    w = max(len(r[0]) for r in ROWS) + 2
    lines.append("".ljust(w) + "".join(f"{head:>12}" for head, _ in scored))
    for label, field, spec in ROWS:
        lines.append(label.ljust(w) + "".join(f"{_fmt(getattr(m, field), spec):>12}" for _, m in scored))
    lines += ["", "Calibration (model): prediction decile vs realized",
              f"{'bin':>4} {'n':>7} {'pred mean':>10} {'rise rate':>10} {'mean target':>12}"]
    for row in ev.model.calibration:
        lines.append(f"{row.bin:>4} {row.n:>7} {row.pred_mean:>10.4f} {_fmt(row.rise_rate, '.4f'):>10} "
                     f"{row.target_mean:>12.4f}")
    if ev.control is not None:
        c = ev.control
        runs = ", ".join(f"{r.ic:+.4f}" for r in c.runs)
        lines += ["", f"Controls (shuffled training labels): IC of each: {runs}; of their mean: {c.metrics.ic:+.4f} "
                      f"(leak SE {c.leak.leak_se:.4f})",
                  ("LEAK WARNING: " if c.leak.leak_flag else "") + c.leak.leak_note]
    return "\n".join(lines)
