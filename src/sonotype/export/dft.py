"""Weights of the front end's DFT (:class:`~sonotype.export.frontend.FrontEnd`), three ways (training extra).

- ``"folded"`` (:func:`folded_dft`, the default where it applies, :func:`default_dft`): each
  frame's samples folded about its centre (``x[c + d] ± x[c - d]``, the window being symmetric),
  then (:func:`refolded_dft`, where the frame and window allow) about a quarter frame: the first
  step of an FFT, as sums and matmuls (66k multiply-adds a frame instead of the direct DFT's 205k
  for 512 / 400), with the window in the weights;
- ``"direct"`` (:func:`dft_kernels`): one strided ``conv1d`` whose kernels are the window times
  cos and sin of each bin (only the window's non-zero samples);
- ``"factored"`` (:func:`factored_dft`, when ``L = gcd(hop, n_fft)`` is at least 8: 512 / 160
  gives L = 32): the samples as rows of ``L``, a depthwise strided ``conv1d`` over each frame's
  ``n_fft / L`` rows (window × the short DFT), then one small matmul per group of bins (twiddles
  and the long DFT): about a quarter of the multiply-adds, but float32 rounding 2-4 times the
  direct DFT's in bands far under a frame's peak (README, Speed).
"""
from __future__ import annotations

import numpy as np

from ..features.params import FeatureParams

DFTS = ("direct", "factored", "folded")

def dft_kernels(params: FeatureParams) -> tuple:
    """Window × cos / sin kernels of the non-zero part of the window.

    Returns
    -------
    weight : numpy.ndarray
        ``(2 * n_bins, 1, span)`` float32: rows ``0 .. n_bins - 1`` real part, then imaginary.
    offset : int
        First non-zero sample of the window inside the ``n_fft`` frame.
    """
    n_fft, n_bins = params.n_fft, params.n_fft // 2 + 1
    w = _hann(params)
    nz = np.flatnonzero(w)
    a, b = int(nz[0]), int(nz[-1]) + 1
    n = np.arange(a, b)[None, :]
    k = np.arange(n_bins)[:, None]
    phase = 2 * np.pi * ((k * n) % n_fft) / n_fft  # exact phase before the trigonometry
    weight = np.concatenate([np.cos(phase), -np.sin(phase)]) * w[a:b][None, :]
    return weight[:, None, :].astype(np.float32), a


def _hann(params: FeatureParams) -> np.ndarray:
    import librosa

    w = librosa.filters.get_window("hann", params.win_length, fftbins=True)
    return librosa.util.pad_center(w, size=params.n_fft)


def factored_dft(params: FeatureParams, min_row: int = 8):
    """Weights of the two-step (Cooley-Tukey) DFT of windowed frames, or None.

    A frame of ``N = n_fft`` samples is ``N1 = N / L`` rows of ``L = gcd(hop, N)`` samples, and
    frame ``t`` starts at row ``t * hop / L``. With ``n = L r + j`` and ``k = k1 + N1 k2``:
    ``Y[g, j] = sum_r w[n] x[n] e^{-2 pi i r g / N1}`` for ``g = 0 .. N1 / 2`` (``Y[N1 - g]`` is
    its conjugate: the input is real), then ``X[k] = sum_j e^{-2 pi i j k / N} Y'[j]`` with
    ``Y' = Y[k mod N1]`` or the conjugate of ``Y[N1 - k mod N1]``. Bins sharing ``g`` form a group.

    Returns
    -------
    None when ``L < min_row`` (the direct DFT is used), else a dict:
    ``row`` L; ``rows`` N1; ``groups`` G = N1 // 2 + 1;
    ``step1`` float32 ``(L * 2G, 1, N1)``: depthwise kernels, channel ``j * 2G + q`` (q < G:
    real part of ``Y[q, j]``, else imaginary part of ``Y[q - G, j]``);
    ``step2`` float32 ``(G, 2L, 2L)``: per group, inputs ``(re Y[g, 0..L-1], im ...)`` to outputs
    ``(re of slot 0..L-1, im ...)``; ``bins`` int ``(G, L)``: the bin of each slot, -1 for none.
    """
    import math

    N, L = params.n_fft, math.gcd(params.hop_length, params.n_fft)
    if L < min_row or N // L < 2:
        return None
    N1 = N // L
    G = N1 // 2 + 1
    w, r, g = _hann(params), np.arange(N1), np.arange(G)[:, None]
    phase = 2 * np.pi * ((r * g) % N1) / N1
    step1 = np.zeros((L, 2 * G, N1))
    for j in range(L):
        step1[j, :G], step1[j, G:] = w[L * r + j] * np.cos(phase), -w[L * r + j] * np.sin(phase)
    step2, bins = np.zeros((G, 2 * L, 2 * L)), np.full((G, L), -1)
    j = np.arange(L)
    for q in range(G):
        for slot, k in enumerate(b for b in range(N // 2 + 1) if b % N1 in (q, (N1 - q) % N1)):
            bins[q, slot] = k
            phase = 2 * np.pi * ((j * k) % N) / N
            c, s = np.cos(phase), -np.sin(phase)  # e^{-i phase} = c + i s
            sign = 1.0 if k % N1 == q else -1.0  # -1: the conjugate of Y
            step2[q, slot, :L], step2[q, slot, L:] = c, -sign * s
            step2[q, L + slot, :L], step2[q, L + slot, L:] = s, sign * c
    return {"row": L, "rows": N1, "groups": G, "bins": bins,
            "step1": step1.reshape(L * 2 * G, 1, N1).astype(np.float32), "step2": step2.astype(np.float32)}


def folded_dft(params: FeatureParams):
    """Weights of the DFT of windowed frames folded about the frame's centre, or None.

    With the window symmetric about ``c = n_fft / 2`` (``w[c + d] = w[c - d]``, as librosa's
    centred Hann), ``n = c + d`` gives ``X[k] = (-1)^k sum_d w[c+d] x[c+d] e^{-2 pi i k d / N}``:
    the real part needs only ``u[d] = x[c+d] + x[c-d]`` and the imaginary part only
    ``v[d] = x[c+d] - x[c-d]``, ``d = 0 .. D`` (``D`` the last non-zero weight past ``c``), so
    each bin is two dot products of ``D + 1`` terms instead of one of ``2 D + 1``: half the
    multiply-adds of :func:`dft_kernels` with the same kind of float32 sums (the sign ``(-1)^k``
    is dropped: only the power is used). Bins 0 and ``N / 2`` have no imaginary part.

    Returns
    -------
    None when ``n_fft`` is odd or the window is not symmetric about ``n_fft / 2``, else a dict:
    ``centre`` c; ``half`` D; ``cos`` float32 ``(n_bins, D + 1)``: ``w[c+d] cos(2 pi k d / N)``,
    column 0 halved (it meets ``u[0] = 2 x[c]``); ``sin`` float32 ``(n_bins - 2, D + 1)``:
    ``w[c+d] sin(2 pi k d / N)`` for bins ``k = 1 .. N/2 - 1`` (column 0 is zero).
    """
    N = params.n_fft
    if N % 2:
        return None
    w, c = _hann(params), N // 2
    nz = np.flatnonzero(w)
    D = int(max(nz[-1] - c, c - nz[0]))
    d = np.arange(D + 1)
    if c - D < 0 or c + D >= N or not np.allclose(w[c + d], w[c - d], rtol=0, atol=1e-12):
        return None
    k = np.arange(N // 2 + 1)[:, None]
    phase = 2 * np.pi * ((k * d[None, :]) % N) / N
    cos = np.cos(phase) * w[c + d][None, :]
    cos[:, 0] *= 0.5
    sin = (np.sin(phase) * w[c + d][None, :])[1:-1]
    return {"centre": c, "half": D, "cos": cos.astype(np.float32), "sin": sin.astype(np.float32)}


def _trig(fn, bins: np.ndarray, d: np.ndarray, weight: np.ndarray, N: int) -> np.ndarray:
    """``weight[d] * fn(2 pi k d / N)`` for bins ``k`` (rows) and ``d`` (columns), the phase reduced
    exactly before the trigonometry and values under 1e-12 (zeros up to rounding) set to 0."""
    out = fn(2 * np.pi * ((bins[:, None] * d[None, :]) % N) / N) * weight[None, :]
    out[np.abs(out) < 1e-12] = 0.0
    return out


def refolded_dft(params: FeatureParams):
    """Weights of :func:`folded_dft` folded once more, about a quarter frame, or None.

    With ``Q = N / 4`` and ``D`` (the folded DFT's half) in ``[Q, N / 2)``, ``d`` and ``N / 2 - d``
    meet the same cosine and sine up to the sign ``(-1)^k`` (``cos(2 pi k (N/2 - d) / N) = (-1)^k
    cos(2 pi k d / N)``, ``sin(...) = -(-1)^k sin(...)``): with ``a = w u`` and ``b = w v``, even
    bins need ``a[d] + a[N/2 - d]`` and ``b[d] - b[N/2 - d]``, odd bins ``a[d] - a[N/2 - d]`` and
    ``b[d] + b[N/2 - d]``, ``d = 0 .. Q`` (``a``, ``b`` zero past ``D``): the first step of an
    FFT, four products of ``Q + 1`` terms per pair of bins instead of two of ``D + 1`` (66k
    multiply-adds a frame instead of 102k for 512 / 400). The window stays in the weights: the
    partner is scaled by ``ratio[d] = w[c + N/2 - d] / w[c + d]`` (0 where ``d`` has no partner,
    ``d < N/2 - D``, and for ``d = Q``, its own), so that ``a[d] ± a[N/2 - d] = w[c + d] (u[d] ±
    ratio[d] u[N/2 - d])``. The features stay as close to the float64 front end as the folded
    DFT's (README, Speed); folding the even bins once more was faster but not (not kept).

    Returns
    -------
    None where :func:`folded_dft` is None, ``N % 4`` or ``D`` is outside ``[Q, N / 2)``, else a
    dict: ``quarter`` Q; ``first`` ``N/2 - D`` (the first ``d`` with a partner); ``ratio`` float32
    ``(Q + 1, 1)``; window times cosine or sine of bin ``k`` at ``d`` (the cosines' column 0
    halved, as ``u[0] = 2 x[c]``): ``cos_even``, ``sin_even`` ``(Q + 1, Q + 1)`` (bins ``0, 2, ..
    N/2``), ``cos_odd``, ``sin_odd`` ``(Q, Q + 1)`` (bins ``1, 3, .. N/2 - 1``).
    """
    fold = folded_dft(params)
    N = params.n_fft
    if fold is None or N % 4:
        return None
    c, D, Q = fold["centre"], fold["half"], N // 4
    if not Q <= D < N // 2:
        return None
    window = _hann(params).astype(np.float64)
    first, d = N // 2 - D, np.arange(Q + 1)
    w = window[c:c + Q + 1].copy()
    ratio = np.zeros(Q + 1)
    ratio[first:Q] = window[c + N // 2 - d[first:Q]] / w[first:Q]
    out = {"quarter": Q, "first": first, "ratio": ratio[:, None]}
    for name, bins in (("even", np.arange(0, N // 2 + 1, 2)), ("odd", np.arange(1, N // 2, 2))):
        cos = _trig(np.cos, bins, d, w, N)
        cos[:, 0] *= 0.5  # u[0] = 2 x[c]; the sines are 0 there
        out[f"cos_{name}"], out[f"sin_{name}"] = cos, _trig(np.sin, bins, d, w, N)
    return {k: v.astype(np.float32) if isinstance(v, np.ndarray) else v for k, v in out.items()}


def default_dft(params: FeatureParams) -> str:
    """The front end's DFT unless one is asked for: "folded" where :func:`folded_dft` applies, else "direct"."""
    return "folded" if folded_dft(params) is not None else "direct"
