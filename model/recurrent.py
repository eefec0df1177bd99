"""Fused GRU/LSTM layers for the CPU: few, large operations per time step, with a hand-written backward.

Why: on a 2-core CPU, ``nn.GRU``'s autograd graph at hidden 64 is ~12,000 small ops per training
step, and op dispatch, not arithmetic, sets the pace (about a third of the matmul rate). Here

* the input projection of ALL time steps is one matmul (``[L*B, I] @ [I, G*H]``),
* each step is one ``[B, H] @ [H, G*H]`` matmul plus a handful of in-place elementwise ops,
* the backward runs the recurrence with ~6 ops per step, and every weight gradient is one big matmul
  over all time steps after the loop; gate-derivative coefficients are computed in bulk, not per step.

The weights are exactly ``nn.GRU``/``nn.LSTM``'s (same names, same gate order), so a state dict moves
between this path and cuDNN unchanged, and outputs match ``nn.GRU``/``nn.LSTM`` to float precision
(tested). Inputs and outputs are time-major: ``[L, B, *]``.
"""
from __future__ import annotations

import torch

__all__ = ["gru_layer", "lstm_layer", "GATES"]

GATES = {"gru": 3, "lstm": 4}


class _GRULayer(torch.autograd.Function):
    """One GRU layer over a whole sequence; PyTorch's gate order (r, z, n)."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh):  # type: ignore[override]
        L, B, I = x.shape
        H = h0.shape[1]
        gx = torch.addmm(b_ih, x.reshape(L * B, I), w_ih.t()).view(L, B, 3 * H)  # [L*B, I] -> [L, B, 3H]
        hs = x.new_empty(L + 1, B, H)  # hs[0] = h0, hs[t+1] = h_t: h_prev for backward without a cat
        hs[0] = h0
        # per-step gate values are kept only when a backward will follow (not in evaluation, where
        # a big eval batch would otherwise hold L * B * 6H floats for nothing)
        keep = any(ctx.needs_input_grad)
        T = L if keep else 1
        gh_all = x.new_empty(T, B, 3 * H)  # h @ W_hh^T + b_hh: the n gate needs it in backward
        rz_all = x.new_empty(T, B, 2 * H)
        n_all = x.new_empty(T, B, H)
        w_hh_t = w_hh.t()
        for t in range(L):
            k = t if keep else 0
            gh = torch.addmm(b_hh, hs[t], w_hh_t, out=gh_all[k])  # [B, H] @ [H, 3H] -> [B, 3H]
            rz = torch.add(gx[t, :, : 2 * H], gh[:, : 2 * H], out=rz_all[k]).sigmoid_()
            n = torch.addcmul(gx[t, :, 2 * H:], rz[:, :H], gh[:, 2 * H:], out=n_all[k]).tanh_()
            torch.lerp(n, hs[t], rz[:, H:], out=hs[t + 1])  # (1 - z) * n + z * h
        ctx.save_for_backward(x, w_ih, w_hh, hs, gh_all, rz_all, n_all)
        return hs[1:]

    @staticmethod
    def backward(ctx, dout):  # type: ignore[override]
        x, w_ih, w_hh, hs, gh_all, rz_all, n_all = ctx.saved_tensors
        L, B, I = x.shape
        H = hs.shape[2]
        r_all, z_all = rz_all[..., :H], rz_all[..., H:]
        dgh = x.new_empty(L, B, 3 * H)  # grad of h @ W_hh^T + b_hh, (r, z, n) like W_hh's rows
        dnx_all = x.new_empty(L, B, H)  # grad of the n part of x @ W_ih^T + b_ih
        dh_rec = torch.zeros_like(hs[0])
        dout = dout.contiguous()
        # gate derivatives are formed per step from cache-resident [B, H] slices: computing them for all
        # steps up front ("bulk") streamed ~10 arrays of L*B*H floats through memory and was slower
        for t in range(L - 1, -1, -1):
            r, z, n, ghn, hp = r_all[t], z_all[t], n_all[t], gh_all[t, :, 2 * H:], hs[t]
            dh = dout[t] + dh_rec
            one_m_z = 1 - z
            dnp = torch.mul(dh, one_m_z, out=dnx_all[t])  # through (1 - z) * n
            dnp.addcmul_(dnp * n, n, value=-1)  # tanh': * (1 - n^2)
            torch.mul(dnp, r, out=dgh[t, :, 2 * H:])  # n_pre = gx_n + r * gh_n
            dr = torch.mul(dnp, ghn, out=dgh[t, :, :H])
            dr.mul_(r).addcmul_(dr, r, value=-1)  # sigmoid': r * (1 - r)
            dz = torch.sub(hp, n).mul_(dh).mul_(z)
            torch.mul(dz, one_m_z, out=dgh[t, :, H: 2 * H])  # sigmoid': z * (1 - z)
            dh_rec = torch.addmm(dh * z, dgh[t], w_hh)  # [B, 3H] @ [3H, H] -> [B, H]
        dnx = dnx_all.view(L * B, H)
        drz = dgh.view(L * B, 3 * H)[:, : 2 * H]  # r, z: the same for x @ W_ih^T and h @ W_hh^T
        dgh_flat = dgh.view(L * B, 3 * H)
        x_flat = x.reshape(L * B, I)
        need = ctx.needs_input_grad
        dx = dw_ih = db_ih = None
        if need[0]:
            dx = torch.addmm(dnx @ w_ih[2 * H:], drz, w_ih[: 2 * H]).view(L, B, I)
        if need[2]:
            dw_ih = torch.cat([drz.t() @ x_flat, dnx.t() @ x_flat])
        if need[4]:
            db_ih = torch.cat([drz.sum(0), dnx.sum(0)])
        dw_hh = dgh_flat.t() @ hs[:-1].reshape(L * B, H) if need[3] else None
        db_hh = dgh_flat.sum(0) if need[5] else None
        return dx, (dh_rec if need[1] else None), dw_ih, dw_hh, db_ih, db_hh


def _lstm_perm(H: int, device: torch.device) -> torch.Tensor:
    """Row order (o, i, f, g) from PyTorch's (i, f, g, o): sigmoid then covers one slice, tanh the other,
    and the three gates driven by dc (i, f, g) are contiguous in backward."""
    return torch.cat([torch.arange(3 * H, 4 * H), torch.arange(0, 3 * H)]).to(device)


class _LSTMLayer(torch.autograd.Function):
    """One LSTM layer over a whole sequence, weights in PyTorch's gate order (i, f, g, o)."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh):  # type: ignore[override]
        L, B, I = x.shape
        H = h0.shape[1]
        perm = _lstm_perm(H, x.device)
        w_ih_p, w_hh_p = w_ih[perm], w_hh[perm]
        gx = torch.addmm((b_ih + b_hh)[perm], x.reshape(L * B, I), w_ih_p.t()).view(L, B, 4 * H)
        out = x.new_empty(L, B, H)
        keep = any(ctx.needs_input_grad)  # see _GRULayer: no per-step state kept for evaluation
        gates = x.new_empty(L if keep else 1, B, 4 * H)  # activated (o, i, f, g)
        c_all = x.new_empty(L if keep else 2, B, H)
        tc_all = x.new_empty(L if keep else 1, B, H)
        w_hh_t = w_hh_p.t()
        h, c = h0, c0
        for t in range(L):
            k = t if keep else 0
            g = torch.addmm(gx[t], h, w_hh_t, out=gates[k])  # [B, H] @ [H, 4H] -> [B, 4H]
            g[:, : 3 * H].sigmoid_()
            g[:, 3 * H:].tanh_()
            c = torch.mul(g[:, 2 * H: 3 * H], c, out=c_all[t if keep else t % 2]).addcmul_(g[:, H: 2 * H], g[:, 3 * H:])
            h = torch.mul(g[:, :H], torch.tanh(c, out=tc_all[k]), out=out[t])
        ctx.save_for_backward(x, h0, c0, w_ih_p, w_hh_p, perm, out, gates, c_all, tc_all)
        return out

    @staticmethod
    def backward(ctx, dout):  # type: ignore[override]
        x, h0, c0, w_ih_p, w_hh_p, perm, out, gates, c_all, tc_all = ctx.saved_tensors
        L, B, I = x.shape
        H = h0.shape[1]
        o, i, f, g = (gates[..., k * H: (k + 1) * H] for k in range(4))
        c_prev = torch.cat([c0.unsqueeze(0), c_all[:-1]])
        h_prev = torch.cat([h0.unsqueeze(0), out[:-1]])
        coef_o = tc_all * o * (1 - o)  # dh -> d o_pre
        coef_c = o * (1 - tc_all * tc_all)  # dh -> dc
        coef_ifg = torch.stack([g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g)], dim=2)  # [L, B, 3, H]
        dgates = x.new_empty(L, B, 4 * H)
        dh_rec = torch.zeros_like(h0)
        dc_rec = torch.zeros_like(c0)
        dout = dout.contiguous()
        for t in range(L - 1, -1, -1):
            dh = dout[t] + dh_rec
            dc = torch.addcmul(dc_rec, dh, coef_c[t])
            torch.mul(dh, coef_o[t], out=dgates[t, :, :H])
            torch.mul(dc.unsqueeze(1), coef_ifg[t], out=dgates[t, :, H:].view(B, 3, H))
            dc_rec = dc * f[t]
            dh_rec = dgates[t] @ w_hh_p  # [B, 4H] @ [4H, H] -> [B, H]
        dflat = dgates.view(L * B, 4 * H)
        inv = torch.argsort(perm)
        need = ctx.needs_input_grad
        dx = (dflat @ w_ih_p).view(L, B, I) if need[0] else None
        dw_ih = (dflat.t() @ x.reshape(L * B, I))[inv] if need[3] else None
        dw_hh = (dflat.t() @ h_prev.view(L * B, H))[inv] if need[4] else None
        db = dflat.sum(0)[inv] if (need[5] or need[6]) else None
        return (dx, (dh_rec if need[1] else None), (dc_rec if need[2] else None), dw_ih, dw_hh,
                (db if need[5] else None), (db if need[6] else None))


def gru_layer(x: torch.Tensor, h0: torch.Tensor, w_ih, w_hh, b_ih, b_hh) -> torch.Tensor:
    """[L, B, I] -> [L, B, H] (all hidden states)."""
    return _GRULayer.apply(x.contiguous(), h0, w_ih, w_hh, b_ih, b_hh)


def lstm_layer(x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, w_ih, w_hh, b_ih, b_hh) -> torch.Tensor:
    """[L, B, I] -> [L, B, H] (all hidden states)."""
    return _LSTMLayer.apply(x.contiguous(), h0, c0, w_ih, w_hh, b_ih, b_hh)
