"""model/model_dir.py, the one owner of the model directory: save, check and load a single model and an
ensemble, without training (random weights are enough to test the files)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from common.errors import InputError
from model import model_dir as md
from model.config import TrainConfig
from model.ensemble import MeanOfMembers
from model.network import build_network

META = {"source": "synthetic:tickers=3,days=200,seed=1", "prep": {"look_back": 5}, "cache_key": "k" * 16,
        "feature_names": ["a", "b", "c"], "look_back": 5}


def _member(name: str, seed: int, hidden: int = 4) -> md.MemberModel:
    cfg = TrainConfig(hidden_dim=hidden, num_layers=1, seed=seed, epochs=2, train_splits=("train", "val"),
                      eval_split=None, device="cpu")
    torch.manual_seed(seed)
    return md.MemberModel(name, build_network(cfg, 3), cfg, trial=1, seed=seed, extra={"seed": seed})


def test_an_ensemble_saves_checks_and_loads_as_the_mean_of_its_members(tmp_path):
    members = [_member("a", 1), _member("b", 2, hidden=6)]
    md.save_ensemble(tmp_path / "m", members, META, {"final": True, "verdict_defaults": "worse than the defaults"})
    info = md.check_model_dir(tmp_path / "m")
    assert info.ensemble and [m.name for m in info.members] == ["a", "b"] and info.members[1].cfg.hidden_dim == 6
    assert info.verdicts == ("worse than the defaults",)
    saved = md.load_model_dir(info)
    x = torch.randn(7, 5, 3)  # [B, L, F]
    expected = (members[0].net.eval()(x) + members[1].net.eval()(x)) / 2
    with torch.no_grad():
        assert isinstance(saved.net, MeanOfMembers) and saved.net.hidden_dim == 6
        np.testing.assert_allclose(saved.net(x).numpy(), expected.detach().numpy(), rtol=1e-6)
    # each member directory is a single model of its own
    assert md.load_model(tmp_path / "m" / "members" / "b").cfg.seed == 2
    with pytest.raises(InputError, match="is an ensemble"):
        md.load_model(tmp_path / "m")


def test_saving_one_format_over_the_other_leaves_no_trace_of_it(tmp_path):
    md.save_ensemble(tmp_path / "m", [_member("a", 1), _member("b", 2)], META)
    md.save_model(tmp_path / "m", _member("s", 3).net, _member("s", 3).cfg, META)
    info = md.check_model_dir(tmp_path / "m")
    assert not info.ensemble and not (tmp_path / "m" / md.MANIFEST).exists() and not (tmp_path / "m" / "members").exists()
    md.save_ensemble(tmp_path / "m", [_member("a", 1)], META)
    assert md.check_model_dir(tmp_path / "m").ensemble and not (tmp_path / "m" / "model.pt").exists()


@pytest.mark.parametrize("damage, words", [
    (lambda d: (d / "members" / "b" / "model.pt").unlink(), ["member b", "model.pt"]),
    (lambda d: (d / "members" / "b" / "dataset_meta.json").write_text(json.dumps({**META, "look_back": 9})),
     ["member b", "look_back", "dataset_meta.json"]),
    (lambda d: (d / md.MANIFEST).write_text(json.dumps({"format": 1, "members": []})), ["lists no members"]),
    (lambda d: (d / md.MANIFEST).write_text("{"), ["ensemble.json", "not readable JSON"]),
])
def test_a_damaged_ensemble_is_an_input_error_naming_what_is_wrong(tmp_path, damage, words):
    md.save_ensemble(tmp_path / "m", [_member("a", 1), _member("b", 2)], META)
    damage(tmp_path / "m")
    with pytest.raises(InputError) as e:
        md.check_model_dir(tmp_path / "m")
    assert all(w in str(e.value) for w in words), str(e.value)


def test_a_truncated_member_weights_file_names_the_file(tmp_path):
    md.save_ensemble(tmp_path / "m", [_member("a", 1), _member("b", 2)], META)
    (tmp_path / "m" / "members" / "a" / "model.pt").write_bytes(b"not torch")
    with pytest.raises(InputError, match=r"members/a/model\.pt holds a model that cannot be loaded"):
        md.load_model_dir(tmp_path / "m")
