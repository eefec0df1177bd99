"""The network through one shared harness: every cell x LayerNorm x Conv1d front end, both recurrent paths."""
from __future__ import annotations

import itertools

import pytest
import torch
from _harness import tiny_cfg

from common.errors import InputError
from model.cells import CELLS
from model.config import TrainConfig
from model.network import StockRNN, build_network
from model.recurrent import gru_layer, lstm_layer

VARIANTS = [dict(cell=c, layer_norm=n, conv_channels=k)
            for c, n, k in itertools.product(CELLS, (True, False), (0, 6))]


def _ids(v: dict) -> str:
    return f"{v['cell']}-{'ln' if v['layer_norm'] else 'noln'}-conv{v['conv_channels']}"


@pytest.fixture(params=VARIANTS, ids=_ids)
def variant(request) -> dict:
    return request.param


@pytest.mark.parametrize("impl", ["fused", "module"])
def test_output_shape_range_and_gradients(variant, impl):
    torch.manual_seed(0)
    net = build_network(tiny_cfg(hidden_dim=8, num_layers=2, dropout=0.1, **variant), n_features=5)
    net.rnn_impl = impl
    x = torch.randn(7, 11, 5)  # [B, L, F]
    y = net(x)
    assert y.shape == (7,)
    assert torch.all((y >= 0) & (y <= 1))
    y.sum().backward()
    grads = {n: p.grad for n, p in net.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values()), grads.keys()
    assert grads["head.weight"].abs().sum() > 0
    with torch.inference_mode():
        net.eval()
        assert net(x[:3]).shape == (3,)


def test_an_unknown_cell_is_an_error_listing_the_known_cells_not_another_cell():
    """Before the cell registry, StockRNN ran an LSTM for any name but "gru" on the CPU path."""
    for make in (lambda: StockRNN(5, "rnn"), lambda: TrainConfig(cell="rnn")):
        with pytest.raises(InputError, match=r"cell must be one of \['gru', 'lstm'\], but got cell='rnn'"):
            make()


@pytest.mark.parametrize("cell", list(CELLS))
def test_every_cell_module_has_its_declared_gates(cell):
    net = StockRNN(5, cell, hidden_dim=4, num_layers=1)
    assert net.rnn.weight_ih_l0.shape == (CELLS[cell].gates * 4, 5)  # [G*H, I]


def test_weights_are_xavier_initialized_and_biases_zero():
    torch.manual_seed(0)
    net = StockRNN(24, "gru", hidden_dim=64, num_layers=2)
    w = net.rnn.weight_hh_l0  # [3H, H]: xavier bound sqrt(6 / (fan_in + fan_out))
    bound = (6.0 / (64 + 192)) ** 0.5
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound
    assert torch.count_nonzero(net.rnn.bias_ih_l0) == 0 and torch.count_nonzero(net.head.bias) == 0


@pytest.mark.parametrize("cell", list(CELLS))
def test_fused_layers_match_torch_modules_in_value_and_gradient(cell):
    """Same weights -> the fused CPU path equals nn.GRU / nn.LSTM (float64: to rounding)."""
    torch.manual_seed(1)
    net = StockRNN(5, cell, hidden_dim=9, num_layers=3, layer_norm=True).double()
    x = torch.randn(6, 13, 5, dtype=torch.float64, requires_grad=True)
    outs = {}
    for impl in ("module", "fused"):
        net.rnn_impl = impl
        y = net(x)
        outs[impl] = (y, torch.autograd.grad((y * torch.linspace(-1, 2, 6, dtype=torch.float64)).sum(),
                                             [x, *net.parameters()]))
    (y_m, g_m), (y_f, g_f) = outs["module"], outs["fused"]
    torch.testing.assert_close(y_f, y_m, rtol=0, atol=1e-12)
    for a, b in zip(g_f, g_m):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


@pytest.mark.parametrize("cell", list(CELLS))
def test_fused_layers_match_in_float32_on_a_long_window(cell):
    torch.manual_seed(2)
    net = StockRNN(24, cell, hidden_dim=32, num_layers=2)
    x = torch.randn(64, 60, 24)
    net.rnn_impl = "module"
    ref = net(x)
    net.rnn_impl = "fused"
    torch.testing.assert_close(net(x), ref, rtol=1e-5, atol=1e-5)
    with torch.inference_mode():  # the lean evaluation path
        torch.testing.assert_close(net(x), ref.detach(), rtol=1e-5, atol=1e-5)


def test_fused_layers_pass_gradcheck_including_initial_states():
    torch.manual_seed(3)
    kw = dict(dtype=torch.float64, requires_grad=True)
    x, h0, c0 = torch.randn(4, 3, 2, **kw), torch.randn(3, 5, **kw), torch.randn(3, 5, **kw)
    g = [torch.randn(15, 2, **kw), torch.randn(15, 5, **kw), torch.randn(15, **kw), torch.randn(15, **kw)]
    lw = [torch.randn(20, 2, **kw), torch.randn(20, 5, **kw), torch.randn(20, **kw), torch.randn(20, **kw)]
    assert torch.autograd.gradcheck(gru_layer, (x, h0, *g))
    assert torch.autograd.gradcheck(lstm_layer, (x, h0, c0, *lw))
