"""The training loop: learning, resume equivalence, non-finite handling, memory, callbacks, artifacts."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _harness import make_dataset, tiny_cfg

import model
from common.errors import InputError
from data_prep.dataset import PreparedDataset, SplitArrays
from model import TIMING_KEYS, NonFiniteLoss, fit, load_model, predict, save_model
from model.batches import epoch_order


# threads=2 makes a GRU train through the fused layers, threads=1 through nn.GRU (see network.py)
@pytest.mark.parametrize("cell, threads", [("gru", 2), ("gru", 1), ("lstm", 1)])
def test_learns_a_planted_signal_well_below_the_half_baseline(dataset, cell, threads):
    res = fit(dataset, tiny_cfg(cell=cell, epochs=8, samples_per_epoch=None, hidden_dim=24, threads=threads))
    best = res.best_metrics
    assert best["baseline_mae_half"] == pytest.approx(0.25, abs=0.03)
    assert best["val_mae"] < 0.15, best  # always-0.5 scores ~0.25
    assert best["val_skill_half"] > 0.4 and best["val_ic"] > 0.5 and best["val_dir_acc"] > 0.75
    assert [h["epoch"] for h in res.history] == list(range(1, 9))
    assert res.best_epoch == min(res.history, key=lambda h: h["val_mae"])["epoch"]
    assert res.device == "cpu"


def test_metric_keys_with_and_without_evaluation(dataset):
    res = fit(dataset, tiny_cfg(epochs=1))
    assert set(res.history[0]) == {"epoch", "train_loss", "lr", "val_mae", "val_rmse", "val_dir_acc", "val_ic",
                                   "val_icir", "val_skill_half", "val_skill_mean", "baseline_mae_half",
                                   "baseline_mae_mean", *TIMING_KEYS}
    final = fit(dataset, tiny_cfg(epochs=1, train_splits=("train", "val"), eval_split=None))
    assert set(final.history[0]) == {"epoch", "train_loss", "lr", *TIMING_KEYS}
    assert final.history[0]["rss_mb"] > 0 and final.history[0]["samples_per_s"] > 0


def _comparable(history):
    return [{k: v for k, v in h.items() if k not in TIMING_KEYS} for h in history]


@pytest.mark.parametrize("cell, threads", [("gru", 2), ("lstm", 1)])
def test_resume_equals_an_uninterrupted_run(dataset, tmp_path, cell, threads):
    # dropout: the torch RNG state matters; gru with 2 threads: the fused layers
    cfg = tiny_cfg(cell=cell, threads=threads, epochs=4, dropout=0.3, num_layers=2, warmup_ratio=0.2)
    straight = fit(dataset, cfg)
    ckpt = tmp_path / "ckpt.pt"
    first = fit(dataset, cfg, checkpoint_path=ckpt, on_epoch=lambda e, m: e < 2)
    assert len(first.history) == 2
    # architecture comes from the checkpoint even when the caller's config says otherwise
    resumed = fit(dataset, cfg.__class__(**{**cfg.to_mapping(), "hidden_dim": 99, "train_splits": ("train",)}),
                  checkpoint_path=ckpt, resume_from=ckpt)
    assert _comparable(resumed.history) == _comparable(straight.history)
    assert resumed.best_epoch == straight.best_epoch
    for (n, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), n
    saved = torch.load(ckpt, weights_only=True)
    assert saved["epoch"] == 4 and saved["config"]["hidden_dim"] == 16 and len(saved["history"]) == 4


def test_on_epoch_false_stops_and_the_callback_sees_every_epoch(dataset):
    seen = []
    res = fit(dataset, tiny_cfg(epochs=5), on_epoch=lambda e, m: seen.append((e, m["val_mae"])) or e < 3)
    assert [e for e, _ in seen] == [1, 2, 3] and len(res.history) == 3


def test_keep_last_reports_the_last_epoch_not_the_best(dataset):
    """A confirmation run trains a fixed epoch count: its model, metrics and predictions are the last epoch's."""
    res = fit(dataset, tiny_cfg(epochs=4, learning_rate=0.05), keep_last=True)
    assert res.best_epoch == 4 and res.best_metrics == res.history[-1]
    ev = res.evaluation
    assert float(np.mean(np.abs(ev.pred - ev.target))) == pytest.approx(res.history[-1]["val_mae"], rel=1e-4)
    chosen = fit(dataset, tiny_cfg(epochs=4, learning_rate=0.05))
    assert chosen.best_metrics["val_mae"] == min(h["val_mae"] for h in chosen.history)


def test_nan_in_the_features_raises_nonfinite_loss_with_epoch_and_step(dataset):
    feats = np.array(dataset.features)
    feats[:] = np.nan
    bad = PreparedDataset.from_arrays(feats, dataset.ticker, dataset.date, dataset.splits, dataset.meta)
    with pytest.raises(NonFiniteLoss) as err:
        fit(bad, tiny_cfg(epochs=2))
    assert err.value.epoch == 1 and err.value.step == 1
    assert "epoch 1, step 1" in str(err.value) and "learning_rate" in str(err.value)


def test_an_exploding_learning_rate_raises_nonfinite_loss(dataset, tmp_path):
    ckpt = tmp_path / "c.pt"
    with pytest.raises(NonFiniteLoss) as err:
        fit(dataset, tiny_cfg(epochs=50, learning_rate=1e6, weight_decay=0.5, loss="mse", grad_clip=0.0),
            checkpoint_path=ckpt)
    assert err.value.epoch >= 1 and err.value.step >= 1
    if err.value.epoch > 1:  # the last good epoch's checkpoint is intact
        assert torch.load(ckpt, weights_only=True)["epoch"] == err.value.epoch - 1


def test_memory_is_stable_across_epochs():
    ds = make_dataset(n_tickers=2, n_days=200, seed=3)
    rss = {}
    fit(ds, tiny_cfg(epochs=20, hidden_dim=8, samples_per_epoch=128, batch_size=64),
        on_epoch=lambda e, m: rss.__setitem__(e, m["rss_mb"]))
    assert rss[20] <= rss[3] * 1.02, rss


def test_val_samples_picks_a_fixed_subset(dataset):
    a = fit(dataset, tiny_cfg(epochs=1, val_samples=50))
    b = fit(dataset, tiny_cfg(epochs=1, val_samples=50, seed=1))
    full = fit(dataset, tiny_cfg(epochs=1))
    assert a.history[0]["baseline_mae_half"] == b.history[0]["baseline_mae_half"]
    assert a.history[0]["baseline_mae_half"] != full.history[0]["baseline_mae_half"]


def test_missing_or_empty_splits_are_input_errors(dataset):
    no_val = PreparedDataset.from_arrays(dataset.features, dataset.ticker, dataset.date,
                                         {"train": dataset.splits["train"]}, dataset.meta)
    with pytest.raises(InputError, match="val"):
        fit(no_val, tiny_cfg())
    empty = SplitArrays(np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.float32))
    with pytest.raises(InputError, match="no windows"):
        fit(PreparedDataset.from_arrays(dataset.features, dataset.ticker, dataset.date,
                                        {**dataset.splits, "train": empty}, dataset.meta), tiny_cfg())
    short = SplitArrays(np.array([2], np.int64), np.array([0.5], np.float32), np.array([0.0], np.float32))
    with pytest.raises(InputError, match="look_back"):
        fit(PreparedDataset.from_arrays(dataset.features, dataset.ticker, dataset.date,
                                        {**dataset.splits, "train": short}, dataset.meta), tiny_cfg())


def test_save_load_predict_roundtrip(dataset, tmp_path):
    res = fit(dataset, tiny_cfg(epochs=1, cell="lstm", conv_channels=3, layer_norm=False))
    end = dataset.splits["test"].end_idx
    p = predict(res.model, dataset, end, batch_size=37)
    assert p.shape == end.shape and p.dtype == np.float32 and np.all((p >= 0) & (p <= 1))
    save_model(tmp_path / "m", res.model, res.config, dataset.meta, {"best_epoch": res.best_epoch})
    assert {f.name for f in (tmp_path / "m").iterdir()} == {"model.pt", "config.json", "dataset_meta.json",
                                                          "extra.json"}
    loaded = load_model(tmp_path / "m")
    assert loaded.cfg == res.config and loaded.meta["cache_key"] == dataset.cache_key
    assert loaded.extra == {"best_epoch": res.best_epoch}
    np.testing.assert_array_equal(predict(loaded.net, dataset, end), p)
    assert json.loads((tmp_path / "m" / "config.json").read_text())["cell"] == "lstm"
    with pytest.raises(InputError, match="not a saved model"):
        load_model(tmp_path)


def test_public_api_is_reexported():
    for name in ("fit", "FitResult", "NonFiniteLoss", "predict", "save_model", "load_model", "LoadedModel",
                 "TrainConfig"):
        assert name in model.__all__ and hasattr(model, name)


def test_device_auto_resolves_and_a_missing_cuda_is_an_input_error():
    assert model.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="device"):
            model.resolve_device("cuda:0")


def test_the_epoch_order_draws_k_distinct_windows_reproducibly():
    for n, k in ((1, 1), (1000, 300), (100_000, 100), (12_345, 12_345)):
        order = epoch_order(7, 3, n, k)
        assert order.shape == (k,) and np.unique(order).size == k and 0 <= order.min() and order.max() < n
        np.testing.assert_array_equal(order, epoch_order(7, 3, n, k))  # a resumed run draws the same
        assert not np.array_equal(order, epoch_order(7, 4, n, k)) or k == 1
    np.testing.assert_array_equal(epoch_order(7, 3, 500, 500), np.random.default_rng([7, 3]).permutation(500))


def test_a_fold_read_through_its_ranges_trains_like_its_copied_windows(tmp_path):
    """The trainer reads a fold's windows per batch through the split arrays (no copy); the result is the
    fit of the same windows copied into arrays: same order, same batches, same metrics."""
    from data_prep.config import PrepConfig
    from data_prep.folds import FoldConfig, plan_folds
    from data_prep.pipeline import prepare

    ds = prepare("synthetic:tickers=8,days=900,seed=2", PrepConfig(look_back=20, look_ahead=5), tmp_path).dataset()
    lazy = plan_folds(ds, FoldConfig(folds=2)).dataset(ds, 1)
    copied = PreparedDataset.from_arrays(ds.features, ds.ticker, ds.date, {
        s: SplitArrays(*(np.asarray(getattr(lazy.split(s), k)) for k in ("end_idx", "target", "ret")))
        for s in ("train", "val")}, ds.meta)
    cfg = tiny_cfg(epochs=2, val_samples=200)
    a, b = fit(lazy, cfg), fit(copied, cfg)
    for ha, hb in zip(a.history, b.history):
        assert ha["train_loss"] == hb["train_loss"] and ha["val_mae"] == hb["val_mae"]
        assert ha["val_skill_mean"] == pytest.approx(hb["val_skill_mean"], rel=1e-5)  # train mean: float64 vs float32 sum
    np.testing.assert_array_equal(a.evaluation.end_idx, b.evaluation.end_idx)


def test_a_cpu_evaluation_batch_stays_small_whatever_eval_batch_size_says():
    from model.inference import CPU_EVAL_BYTES, cpu_batch_size

    for hidden in (8, 64, 1024):
        b = cpu_batch_size(16384, 60, 24, hidden)
        assert 64 <= b < 16384 and (b == 64 or b * 8 * 60 * (24 + hidden) <= CPU_EVAL_BYTES)
    assert cpu_batch_size(100, 60, 24, 8) == 100  # a small batch is kept


def test_the_device_resident_training_windows_path_runs_without_a_gpu(dataset):
    """On CUDA the training windows are copied to the device once; the meta device runs that branch here."""
    from data_prep.ranges import RangeColumn, Ranges
    from model.batches import TrainWindows

    sp = dataset.split("train")
    r = Ranges(np.array([0, 50]), np.array([10, 20]))
    tw = TrainWindows(RangeColumn([sp.end_idx], r), RangeColumn([sp.target], r), torch.device("meta"))
    end, y = tw.batch(torch.arange(5, device="meta"))
    assert tw.size == 30 and end.shape == (5,) and end.dtype == torch.int64 and y.dtype == torch.float32
    cpu = TrainWindows(RangeColumn([sp.end_idx], r), RangeColumn([sp.target], r), torch.device("cpu"))
    end, y = cpu.batch(torch.tensor([0, 10, 29], dtype=torch.int32))
    assert end.tolist() == [int(sp.end_idx[0]), int(sp.end_idx[50]), int(sp.end_idx[69])]
