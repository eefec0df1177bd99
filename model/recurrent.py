"""Fused GRU/LSTM layers for the CPU: few, large operations per time step, with a hand-written backward.

Why: on a 2-core CPU, ``nn.GRU``'s autograd graph at hidden 64 is ~12,000 small ops per training
step, and op dispatch, not arithmetic, sets the pace (about a third of the matmul rate). Here

* the input projection is one matmul per chunk of ``CHUNK`` time steps (``[C*B, I] @ [I, G*H]``): as fast
  per FLOP as one matmul over all steps, and its output is still in cache when the steps read it,
* each step is one ``[B, H] @ [H, G*H]`` matmul plus a handful of in-place elementwise ops,
* ``tanh`` is computed as ``2 * sigmoid(2x) - 1``: PyTorch's CPU ``tanh`` kernel costs ~6x its
  ``sigmoid`` (85 vs 14 us for a [512, 64] block, measured), and the factor 2 is folded into the weights
  of the tanh gates (an exact power-of-two scaling, so no rounding is added),
* the GRU step's matmul takes the r, z pre-activations and ``b_hn`` as its ``addmm`` input, so it yields
  ``[r_pre | z_pre | gh_n]`` in one op, and the sigmoid runs in place there (nothing else stored for r, z),
* the backward forms each step's gate derivatives (~13 small ops for GRU, ~17 for LSTM) in one
  cache-resident ``[B, 4H]`` block and accumulates the input gradient and every weight gradient from it
  by per-step matmuls (``[G*H, B] @ [B, H]`` runs at ~90 GF/s here, one ``[G*H, L*B] @ [L*B, H]`` after the
  loop at 64-79 GF/s, and it also had to stream an ``[L, B, G*H]`` gradient through memory),
* ``last_only=True`` returns only the final hidden state, so the top layer's backward skips adding a
  gradient that is zero at every other step.

The weights are exactly ``nn.GRU``/``nn.LSTM``'s (same names, same gate order), so a state dict moves
between this path and cuDNN unchanged, and outputs match ``nn.GRU``/``nn.LSTM`` to float precision
(tested). Inputs and outputs are time-major: ``[L, B, *]``.
"""
from __future__ import annotations

import torch

__all__ = ["gru_layer", "lstm_layer", "CHUNK"]

CHUNK = 4  # time steps per input-projection matmul (measured: 1-4 equal, 8 and all-60 ~5-10 % slower)


def _tanh_scale(G: int, H: int, tanh_gate: int, like: torch.Tensor) -> torch.Tensor:
    """[G*H] ones with 2 on the rows of the tanh gate: x -> 2x there, so sigmoid gives (tanh + 1) / 2."""
    s = like.new_ones(G * H)
    s[tanh_gate * H: (tanh_gate + 1) * H] = 2.0
    return s


def _input_chunks(x: torch.Tensor, w_t: torch.Tensor, bias: torch.Tensor):
    """Yields (t, gx_t [B, G*H]) with gx = x @ w_t + bias computed CHUNK steps at a time into one buffer."""
    L, B, I = x.shape
    xf = x.reshape(L * B, I)
    buf = x.new_empty(min(CHUNK, L) * B, w_t.shape[1])
    for t0 in range(0, L, CHUNK):
        c = min(CHUNK, L - t0)
        gx = torch.addmm(bias, xf[t0 * B: (t0 + c) * B], w_t, out=buf[: c * B]).view(c, B, -1)
        for k in range(c):
            yield t0 + k, gx[k]


class _GRULayer(torch.autograd.Function):
    """One GRU layer over a whole sequence; PyTorch's gate order (r, z, n)."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, last_only):  # type: ignore[override]
        L, B, I = x.shape
        H = h0.shape[1]
        hs = x.new_empty(L + 1, B, H)  # hs[0] = h0, hs[t+1] = h_t: h_prev for backward without a cat
        hs[0] = h0
        # per-step gate values are kept only when a backward will follow (not in evaluation, where
        # a big eval batch would otherwise hold L * B * 4H floats for nothing)
        keep = any(ctx.needs_input_grad[:6])
        T = L if keep else 1
        gh_all = x.new_empty(T, B, 3 * H)  # per step [r | z | h @ W_hn^T + b_hn]: what backward needs
        n_all = x.new_empty(T, B, H)
        w_hh_t = w_hh.t()
        # the input projection, CHUNK steps at a time, into G = [x W_rz^T + b_i,rz + b_h,rz | b_hn | 2 (x W_n^T
        # + b_in)]: G[:, :3H] is then the exact bias of the step's h @ W_hh^T (r, z pre-activations and gh_n
        # in one addmm, no separate add), and the n gate's input part comes doubled (tanh via sigmoid)
        C = min(CHUNK, L)
        G = x.new_empty(C * B, 4 * H)
        G[:, 2 * H: 3 * H] = b_hh[2 * H:]
        w_rz_t, b_rz = w_ih[: 2 * H].t(), b_ih[: 2 * H] + b_hh[: 2 * H]
        w_n2_t, b_n2 = (w_ih[2 * H:] * 2.0).t(), b_ih[2 * H:] * 2.0
        xf = x.reshape(L * B, I)
        for t0 in range(0, L, C):
            c = min(C, L - t0)
            xc = xf[t0 * B: (t0 + c) * B]
            torch.addmm(b_rz, xc, w_rz_t, out=G[: c * B, : 2 * H])
            torch.addmm(b_n2, xc, w_n2_t, out=G[: c * B, 3 * H:])
            for j in range(c):
                t = t0 + j
                k = t if keep else 0
                g = G[j * B: (j + 1) * B]
                gh = torch.addmm(g[:, : 3 * H], hs[t], w_hh_t, out=gh_all[k])  # [B, H] @ [H, 3H] -> [B, 3H]
                rz = gh[:, : 2 * H].sigmoid_()
                # 2 * (gx_n + r * gh_n); sigmoid -> (n + 1) / 2 -> n
                n = torch.addcmul(g[:, 3 * H:], rz[:, :H], gh[:, 2 * H:], value=2.0, out=n_all[k])
                n.sigmoid_().mul_(2.0).sub_(1.0)
                torch.lerp(n, hs[t], rz[:, H:], out=hs[t + 1])  # (1 - z) * n + z * h
        ctx.save_for_backward(x, w_ih, w_hh, hs, gh_all, n_all)
        ctx.last_only = last_only
        return hs[L].clone() if last_only else hs[1:]

    @staticmethod
    def backward(ctx, dout):  # type: ignore[override]
        x, w_ih, w_hh, hs, gh_all, n_all = ctx.saved_tensors
        L, B, I = x.shape
        H = hs.shape[2]
        need = ctx.needs_input_grad
        r_all, z_all = gh_all[..., :H], gh_all[..., H: 2 * H]
        last_only = ctx.last_only
        dout = dout.contiguous()
        # One cache-resident scratch row block per step, S = [d n_h | d r | d z | d n_x] ([B, 4H]):
        # S[:, :3H] is the grad of h @ W_hh^T (+ b_hh) in the row order (n, r, z), S[:, H:] the grad of
        # x @ W_ih^T (+ b_ih) in W_ih's order (r, z, n). Every weight gradient is accumulated per step from
        # S while it is hot, which bench/train.py measures faster than one [3H, L*B] @ [L*B, H] matmul
        # after the loop (that one also has to stream an [L, B, 4H] gradient through memory).
        S = x.new_empty(B, 4 * H)
        s_nh, s_r, s_z, s_nx = (S[:, k * H: (k + 1) * H] for k in range(4))
        s_h, s_x = S[:, : 3 * H], S[:, H:]
        w_hh_nrz = torch.cat([w_hh[2 * H:], w_hh[: 2 * H]])  # rows (n, r, z) to match s_h
        dw_hh_nrz = x.new_zeros(3 * H, H) if need[3] else None
        dw_ih = x.new_zeros(3 * H, I) if need[2] else None
        s_sum = x.new_zeros(B, 4 * H) if (need[4] or need[5]) else None
        dx = x.new_empty(L, B, I) if need[0] else None
        dh = dout if last_only else dout[L - 1]
        for t in range(L - 1, -1, -1):
            r, z, n, ghn, hp = r_all[t], z_all[t], n_all[t], gh_all[t, :, 2 * H:], hs[t]
            one_m_z = 1 - z
            # d z_pre = dh * (h_prev - n) * z * (1 - z) = dh * (h - n) * (1 - z), as h - n = z * (h_prev - n)
            torch.sub(hs[t + 1], n, out=s_z).mul_(dh).mul_(one_m_z)
            dnp = torch.mul(dh, one_m_z, out=s_nx)  # through (1 - z) * n
            dnp.addcmul_(dnp * n, n, value=-1)  # tanh': * (1 - n^2)
            torch.mul(dnp, r, out=s_nh)  # n_pre = gx_n + r * gh_n
            dr = torch.mul(dnp, ghn, out=s_r)
            dr.mul_(r).addcmul_(dr, r, value=-1)  # sigmoid': r * (1 - r)
            if dx is not None:
                torch.mm(s_x, w_ih, out=dx[t])  # [B, 3H] @ [3H, I] -> [B, I]
            if dw_ih is not None:
                dw_ih.addmm_(s_x.t(), x[t])  # [3H, B] @ [B, I]
            if dw_hh_nrz is not None:
                dw_hh_nrz.addmm_(s_h.t(), hp)  # [3H, B] @ [B, H]
            if s_sum is not None:
                s_sum.add_(S)
            carry = dh * z if (last_only or t == 0) else torch.addcmul(dout[t - 1], dh, z)
            dh = torch.addmm(carry, s_h, w_hh_nrz)  # [B, 3H] @ [3H, H] -> [B, H]
        dw_hh = torch.cat([dw_hh_nrz[H:], dw_hh_nrz[:H]]) if need[3] else None
        sums = s_sum.sum(0) if s_sum is not None else None
        db_ih = sums[H:] if need[4] else None
        db_hh = torch.cat([sums[H: 3 * H], sums[:H]]) if need[5] else None
        return dx, (dh if need[1] else None), dw_ih, dw_hh, db_ih, db_hh, None


def _lstm_perm(H: int, device: torch.device) -> torch.Tensor:
    """Row order (o, i, f, g) from PyTorch's (i, f, g, o): sigmoid then covers one slice, tanh the other,
    and the three gates driven by dc (i, f, g) are contiguous in backward."""
    return torch.cat([torch.arange(3 * H, 4 * H), torch.arange(0, 3 * H)]).to(device)


class _LSTMLayer(torch.autograd.Function):
    """One LSTM layer over a whole sequence, weights in PyTorch's gate order (i, f, g, o)."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, last_only):  # type: ignore[override]
        L, B, I = x.shape
        H = h0.shape[1]
        perm = _lstm_perm(H, x.device)
        w_ih_p, w_hh_p = w_ih[perm], w_hh[perm]
        scale = _tanh_scale(4, H, 3, x)  # g gate rows x 2: one sigmoid over all four gates
        out = x.new_empty(L, B, H)
        keep = any(ctx.needs_input_grad[:7])  # see _GRULayer: no per-step state kept for evaluation
        gates = x.new_empty(L if keep else 1, B, 4 * H)  # activated (o, i, f, g)
        c_all = x.new_empty(L if keep else 2, B, H)
        tc_all = x.new_empty(L if keep else 1, B, H)
        w_hh_t = (w_hh_p * scale[:, None]).t()
        h, c = h0, c0
        for t, gx in _input_chunks(x, (w_ih_p * scale[:, None]).t(), (b_ih + b_hh)[perm] * scale):
            k = t if keep else 0
            g = torch.addmm(gx, h, w_hh_t, out=gates[k]).sigmoid_()  # [B, H] @ [H, 4H] -> [B, 4H]
            g[:, 3 * H:].mul_(2.0).sub_(1.0)  # sigmoid(2 g_pre) -> tanh(g_pre)
            c = torch.mul(g[:, 2 * H: 3 * H], c, out=c_all[t if keep else t % 2]).addcmul_(g[:, H: 2 * H], g[:, 3 * H:])
            tc = torch.mul(c, 2.0, out=tc_all[k]).sigmoid_().mul_(2.0).sub_(1.0)  # tanh(c)
            h = torch.mul(g[:, :H], tc, out=out[t])
        ctx.save_for_backward(x, h0, c0, w_ih_p, w_hh_p, perm, out, gates, c_all, tc_all)
        ctx.last_only = last_only
        return out[L - 1].clone() if last_only else out

    @staticmethod
    def backward(ctx, dout):  # type: ignore[override]
        x, h0, c0, w_ih_p, w_hh_p, perm, out, gates, c_all, tc_all = ctx.saved_tensors
        L, B, I = x.shape
        H = h0.shape[1]
        need = ctx.needs_input_grad
        last_only = ctx.last_only
        dout = dout.contiguous()
        # as in _GRULayer: gate derivatives per step into one hot [B, 4H] block S (order o, i, f, g), and
        # every weight gradient accumulated from it per step
        S = x.new_empty(B, 4 * H)
        s_o, s_i, s_f, s_g = (S[:, k * H: (k + 1) * H] for k in range(4))
        dw_ih = x.new_zeros(4 * H, I) if need[3] else None
        dw_hh = x.new_zeros(4 * H, H) if need[4] else None
        s_sum = x.new_zeros(B, 4 * H) if (need[5] or need[6]) else None
        dx = x.new_empty(L, B, I) if need[0] else None
        dh = dout if last_only else dout[L - 1]
        dc_rec = None
        for t in range(L - 1, -1, -1):
            gt = gates[t]
            o, i, f, g = gt[:, :H], gt[:, H: 2 * H], gt[:, 2 * H: 3 * H], gt[:, 3 * H:]
            tc = tc_all[t]
            c_prev = c_all[t - 1] if t > 0 else c0
            h_prev = out[t - 1] if t > 0 else h0
            do = torch.mul(dh, tc, out=s_o).mul_(o)
            do.addcmul_(do, o, value=-1)  # sigmoid': o * (1 - o)
            dc = dh * o
            dc.addcmul_(dc * tc, tc, value=-1)  # tanh': * (1 - tanh(c)^2)
            if dc_rec is not None:
                dc.add_(dc_rec)
            di = torch.mul(dc, g, out=s_i).mul_(i)
            di.addcmul_(di, i, value=-1)
            df = torch.mul(dc, c_prev, out=s_f).mul_(f)
            df.addcmul_(df, f, value=-1)
            dg = torch.mul(dc, i, out=s_g)
            dg.addcmul_(dg * g, g, value=-1)  # tanh': * (1 - g^2)
            dc_rec = dc.mul_(f)
            if dx is not None:
                torch.mm(S, w_ih_p, out=dx[t])  # [B, 4H] @ [4H, I] -> [B, I]
            if dw_ih is not None:
                dw_ih.addmm_(S.t(), x[t])  # [4H, B] @ [B, I]
            if dw_hh is not None:
                dw_hh.addmm_(S.t(), h_prev)  # [4H, B] @ [B, H]
            if s_sum is not None:
                s_sum.add_(S)
            if last_only or t == 0:
                dh = S @ w_hh_p  # [B, 4H] @ [4H, H] -> [B, H]
            else:
                dh = torch.addmm(dout[t - 1], S, w_hh_p)
        inv = torch.argsort(perm)
        db = s_sum.sum(0)[inv] if s_sum is not None else None
        return (dx, (dh if need[1] else None), (dc_rec if need[2] else None),
                dw_ih[inv] if need[3] else None, dw_hh[inv] if need[4] else None,
                (db if need[5] else None), (db if need[6] else None), None)


def gru_layer(x: torch.Tensor, h0: torch.Tensor, w_ih, w_hh, b_ih, b_hh, last_only: bool = False) -> torch.Tensor:
    """[L, B, I] -> [L, B, H] (all hidden states), or [B, H] (the last one) when ``last_only``."""
    return _GRULayer.apply(x.contiguous(), h0, w_ih, w_hh, b_ih, b_hh, last_only)


def lstm_layer(x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, w_ih, w_hh, b_ih, b_hh,
               last_only: bool = False) -> torch.Tensor:
    """[L, B, I] -> [L, B, H] (all hidden states), or [B, H] (the last one) when ``last_only``."""
    return _LSTMLayer.apply(x.contiguous(), h0, c0, w_ih, w_hh, b_ih, b_hh, last_only)
