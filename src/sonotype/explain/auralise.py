"""Auralisation: listen to what one feature map of one layer picks out of a clip.

For each (layer, feature) the feature map is deconvolved back to the input
(:func:`sonotype.explain.deconv.deconvolve`), turned into a magnitude over the STFT bins of
the clip, applied to the clip's **complex** STFT so the original phase is kept, and
resynthesised with the inverse STFT (non-centred frames, hop 256 for the genre CNN, the
model's own STFT parameters otherwise), then peak-normalised to 0.9 and written as WAV,
with a spectrogram PNG of the deconvolution and one ``index.html`` listing everything.

How the deconvolved map becomes a mask (``D`` = complex STFT of the clip):

* **GenreCNN** (input ``log(1 + |D|)``). The map ``R`` is in that log1p domain; its
  positive part is rescaled so its peak equals the clip's peak ``log(1 + |D|)``, then
  de-compressed: ``M = expm1(s * max(R, 0))``.
  ``mode="mask"`` (default): ``out = D * clip(M / max(|D|, eps), 0, 1)`` — a soft mask,
  never louder than the clip in any bin.
  ``mode="magnitude"`` (Choi's original): ``out = M * D / max(|D|, eps)`` — the deconvolved
  magnitude with the clip's phase.
  If the deconvolution were the identity both give ``out = D`` and the clip comes back.
* **MobileNetV1** (log-mel input): the positive map over mel bands, scaled to [0, 1], is
  spread onto the STFT bins with the mel filterbank and used as a mask.
* **SwishNet** (MFCC input): there is no exact deconvolution (see
  :func:`~sonotype.explain.deconv.swishnet_saliency`); the frame relevance of a gated channel
  (gradient x input summed over coefficients, scaled to [0, 1]) weights the STFT magnitude
  rebuilt from the clip's MFCCs (:func:`mfcc_to_magnitude`), which gets the clip's phase.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import torch

from ..atomic import write_text
from ..audio import resample, write_wav
from ..features import LOGMEL, MFCC, STFT, FeatureParams, extract
from ..models.genre_cnn import GenreCNN
from ..models.mobilenet import MobileNetV1
from ..models.swishnet import SwishNet
from .deconv import DeconvError, deconvolve, n_features, n_layers, top_features
from .html import write_index

EPS = 1e-8
PEAK = 0.9


# ----------------------------------------------------------------------------- parsing
def parse_layers(spec, n: int) -> list:
    """``"1-5"``, ``"1,3"``, ``"2"``, ``"all"`` or a list -> sorted 1-based layer numbers."""
    if isinstance(spec, (list, tuple)):
        out = [int(v) for v in spec]
    elif str(spec).strip().lower() in ("all", "*", ""):
        out = list(range(1, n + 1))
    else:
        out = []
        for part in str(spec).split(","):
            part = part.strip()
            m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
            if m:
                out += list(range(int(m.group(1)), int(m.group(2)) + 1))
            elif part.isdigit():
                out.append(int(part))
            else:
                raise ValueError(f"bad layer spec {spec!r}: use e.g. '1-5', '1,3' or 'all'")
    bad = [v for v in out if not 1 <= v <= n]
    if bad:
        raise ValueError(f"layers {bad} out of range 1..{n}")
    return sorted(set(out))


def parse_features(spec) -> tuple:
    """``"top:8"`` -> ``("top", 8)``; ``"0,5,9"`` or a list -> ``("list", [0, 5, 9])``."""
    if isinstance(spec, (list, tuple)):
        return "list", [int(v) for v in spec]
    s = str(spec).strip().lower()
    m = re.fullmatch(r"top\s*:\s*(\d+)", s)
    if m:
        if int(m.group(1)) < 1:
            raise ValueError("top:N needs N >= 1")
        return "top", int(m.group(1))
    try:
        return "list", [int(v) for v in s.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"bad feature spec {spec!r}: use 'top:8' or '0,5,9'") from None


# ----------------------------------------------------------------------------- STFT helpers
def complex_stft(y: np.ndarray, params: FeatureParams) -> np.ndarray:
    """Complex STFT with the same non-centred frames as :func:`sonotype.features.extract`."""
    p = params
    n = p.n_frames(len(y))
    if n == 0:
        raise ValueError(f"clip too short: {len(y)} samples < n_fft {p.n_fft}")
    return librosa.stft(np.asarray(y[: p.n_fft + (n - 1) * p.hop_length], np.float32), n_fft=p.n_fft,
                        hop_length=p.hop_length, win_length=p.win_length, center=False)


def inverse_stft(D: np.ndarray, params: FeatureParams, n_samples: int) -> np.ndarray:
    """Inverse of :func:`complex_stft` (overlap-add, window-normalised), zero-padded to ``n_samples``.

    The non-centred frames cover ``n_fft + (T - 1) * hop`` samples; the few samples after
    the last frame (less than one hop) come back as zeros, so the output is exactly as long
    as the input.
    """
    p = params
    y = librosa.istft(D, hop_length=p.hop_length, win_length=p.win_length, n_fft=p.n_fft, center=False)
    out = np.zeros(int(n_samples), np.float32)
    m = min(len(y), len(out))
    out[:m] = y[:m]
    return out


def peak_normalise(y: np.ndarray, peak: float = PEAK) -> np.ndarray:
    m = float(np.max(np.abs(y))) if y.size else 0.0
    return (y * (peak / m)).astype(np.float32) if m > 0 else y.astype(np.float32)


def mfcc_to_magnitude(C: np.ndarray, params: FeatureParams = MFCC) -> np.ndarray:
    """STFT magnitude ``(1 + n_fft // 2, T)`` rebuilt from static MFCCs ``(n_mfcc, T)``.

    MFCC -> dB mel power (inverse orthonormal DCT-II, missing coefficients taken as 0:
    ``librosa.feature.inverse.mfcc_to_mel``) -> mel power -> STFT power by non-negative
    least squares on the mel filterbank (``mel_to_stft``) -> magnitude. Lost on the way:
    the phase (never in MFCCs), all spectral detail finer than the first ``n_mfcc``
    cepstral coefficients of ``n_mels`` bands (harmonics and pitch are smeared into an
    envelope), and the split of energy between STFT bins inside one mel band.
    """
    p = params
    C = np.asarray(C, np.float32)[: p.n_mfcc]
    mel_power = librosa.feature.inverse.mfcc_to_mel(C, n_mels=p.n_mels, dct_type=2, norm="ortho", ref=1.0)
    S = librosa.feature.inverse.mel_to_stft(mel_power, sr=p.sr, n_fft=p.n_fft, power=2.0)
    return S.astype(np.float32)


def mfcc_to_audio(C: np.ndarray, params: FeatureParams = MFCC, n_samples: int | None = None,
                  phase_from: np.ndarray | None = None, n_iter: int = 32) -> np.ndarray:
    """Audio from static MFCCs ``(n_mfcc, T)`` (see :func:`mfcc_to_magnitude` for what is lost).

    Parameters
    ----------
    C : ndarray
        MFCCs as :func:`sonotype.features.mfcc` computes them (frames not centred).
    params : FeatureParams
        Their parameters.
    n_samples : int, optional
        Output length (default ``n_fft + (T - 1) * hop``).
    phase_from : ndarray, optional
        Samples whose STFT phase is used (the clip the MFCCs came from); without it the
        phase is estimated with Griffin-Lim (``n_iter`` iterations).
    """
    p = params
    S = mfcc_to_magnitude(C, p)
    T = S.shape[1]
    n = int(n_samples) if n_samples is not None else p.n_fft + (T - 1) * p.hop_length
    if phase_from is not None:
        D = complex_stft(np.asarray(phase_from, np.float32), p)[:, :T]
        S = S[:, : D.shape[1]]
        return inverse_stft(S * D / np.maximum(np.abs(D), EPS), p, n)
    y = librosa.griffinlim(S, n_iter=n_iter, hop_length=p.hop_length, win_length=p.win_length,
                           n_fft=p.n_fft, center=False, random_state=0)
    out = np.zeros(n, np.float32)
    out[: min(n, len(y))] = y[:n]
    return out


# ----------------------------------------------------------------------------- model adapters
def default_params(model) -> FeatureParams:
    """Feature parameters a model of this type is trained on by default."""
    if isinstance(model, GenreCNN):
        return STFT
    if isinstance(model, MobileNetV1):
        return LOGMEL
    if isinstance(model, SwishNet):
        return MFCC
    raise DeconvError(f"auralisation supports GenreCNN, MobileNetV1 and SwishNet, not {type(model).__name__}")


def _model_input(model, y: np.ndarray, params: FeatureParams, mean=None, std=None) -> np.ndarray:
    X = extract(y, params)
    if mean is not None and std is not None and not isinstance(model, GenreCNN):
        X = (X - np.asarray(mean, np.float32).reshape(-1, 1)) / np.asarray(std, np.float32).reshape(-1, 1)
    return X


def _out_stft(model, R: np.ndarray, X: np.ndarray, D: np.ndarray, params: FeatureParams, mode: str,
              y: np.ndarray):
    """(STFT to invert, image to plot, plot kind) for one deconvolved map ``R``."""
    if isinstance(model, GenreCNN):
        Rp = np.maximum(R, 0)
        logx = np.log1p(np.abs(D)) if model.compress == "log1p" else np.abs(D)
        s = float(logx.max()) / float(Rp.max()) if Rp.max() > 0 else 0.0
        M = np.expm1(s * Rp) if model.compress == "log1p" else s * Rp
        if mode == "magnitude":
            out = M * D / np.maximum(np.abs(D), EPS)
        else:
            out = D * np.clip(M / np.maximum(np.abs(D), EPS), 0.0, 1.0)
        return out, Rp, "linear"
    if isinstance(model, MobileNetV1):
        Rp = np.maximum(R, 0)
        m = Rp / Rp.max() if Rp.max() > 0 else Rp
        fb = librosa.filters.mel(sr=params.sr, n_fft=params.n_fft, n_mels=params.n_mels)
        mask = np.clip((fb.T @ m) / np.maximum(fb.T.sum(1, keepdims=True), EPS), 0.0, 1.0)
        return D * mask, Rp, "mel"
    # SwishNet: frame relevance x magnitude rebuilt from the clip's MFCCs
    rel = np.abs(R).sum(0)
    rel = rel / rel.max() if rel.max() > 0 else rel
    S = mfcc_to_magnitude(X[: params.n_mfcc], params)[:, : D.shape[1]]
    M = S * rel[None, : D.shape[1]]
    return M * D / np.maximum(np.abs(D), EPS), M, "linear"


def save_spectrogram_png(path, img: np.ndarray, params: FeatureParams, title: str, kind: str = "linear",
                         db: bool = True) -> Path:
    """Spectrogram PNG with a log-frequency axis (mel axis for mel maps), matplotlib Agg."""
    import matplotlib
    matplotlib.use("Agg")
    import librosa.display
    import matplotlib.pyplot as plt

    img = np.asarray(img, np.float32)
    shown = librosa.amplitude_to_db(np.maximum(img, 0), ref=max(float(img.max()), EPS), top_db=80) if db else img
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=90)
    y_axis = "mel" if kind == "mel" else "log"
    kw = {"fmax": params.sr / 2} if kind == "mel" else {}
    im = librosa.display.specshow(shown, sr=params.sr, hop_length=params.hop_length, n_fft=params.n_fft,
                                  x_axis="time", y_axis=y_axis, ax=ax, cmap="magma", **kw)
    fig.colorbar(im, ax=ax, format="%+.0f dB" if db else "%.2g")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- main entry
def auralise(model, audio: np.ndarray, sr: int, layers="1-5", features="top:8", out_dir="auralise",
             params: FeatureParams | None = None, mode: str = "mask", title: str = "clip",
             mean=None, std=None, png: bool = True) -> dict:
    """Auralise feature maps of ``model`` on one clip.

    Parameters
    ----------
    model : GenreCNN, MobileNetV1 or SwishNet
        Trained torch model (eval mode is set here).
    audio : ndarray
        Mono samples of the clip (any length of at least one frame; a GenreCNN's conv
        layers take any length).
    sr : int
        Their rate; resampled to ``params.sr`` when different.
    layers : str or list
        ``"1-5"``, ``"1,3"``, ``"all"`` or a list of 1-based layers.
    features : str or list
        ``"top:8"`` (the 8 maps most active on this clip, per layer) or ``"0,5,9"``.
    out_dir : path
        Output folder: ``original.wav``, ``original.png``, ``layer<d>_feature<k>.wav`` and
        ``.png``, ``auralise.json`` and ``index.html``.
    params : FeatureParams, optional
        The model's features (default by model type: STFT, log-mel or MFCC presets).
    mode : {"mask", "magnitude"}
        GenreCNN only, see the module docstring.
    mean, std : array, optional
        Feature standardisation of the checkpoint (MobileNet / SwishNet).
    png : bool
        Write spectrogram PNGs.

    Returns
    -------
    dict
        ``{"original": {...}, "items": [{"layer", "feature", "wav", "png", "activation"}...],
        "index": path}``.
    """
    if mode not in ("mask", "magnitude"):
        raise ValueError("mode must be 'mask' or 'magnitude'")
    clip = prepare_clip(model, audio, sr, params or default_params(model), mean, std)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval()
    orig = write_original(out_dir, clip, title, png)
    how, fspec = parse_features(features)
    items = []
    for d in parse_layers(layers, n_layers(model)):
        nf = n_features(model, d)
        feats = top_features(model, clip.x, d, fspec) if how == "top" else fspec
        bad = [k for k in feats if not 0 <= k < nf]
        if bad:
            raise ValueError(f"features {bad} out of range 0..{nf - 1} at layer {d}")
        for rank, k in enumerate(feats):
            items.append(auralise_feature(model, clip, d, k, mode, out_dir, png, rank + 1 if how == "top" else None))
    result = {"model": type(model).__name__, "features": clip.params.to_dict(), "mode": mode,
              "layers": sorted({i["layer"] for i in items}), "selection": str(features),
              "n_samples": len(clip.y), "original": orig, "items": items}
    write_text(out_dir / "auralise.json", json.dumps(result, indent=2))
    result["index"] = str(write_index(out_dir, result, title=f"Auralisation of {title}"))
    return result


@dataclass
class Clip:
    """One clip as the steps of :func:`auralise` see it."""

    y: np.ndarray  # samples at params.sr, (n,)
    D: np.ndarray  # complex STFT, (bins, frames)
    X: np.ndarray  # the model's input features, (channels, frames)
    x: torch.Tensor  # X as a batch of one, (1, channels, frames)
    params: FeatureParams


def prepare_clip(model, audio: np.ndarray, sr: int, params: FeatureParams, mean=None, std=None) -> Clip:
    """Mono ``audio`` at ``sr`` Hz resampled to ``params.sr``, with its STFT and model input."""
    y = np.asarray(audio, np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected mono 1-D audio, got shape {y.shape}")
    if sr != params.sr:
        y = resample(y, sr, params.sr)
    X = _model_input(model, y, params, mean, std)
    return Clip(y, complex_stft(y, params), X, torch.from_numpy(X[None]), params)


def write_original(out_dir: Path, clip: Clip, title: str, png: bool) -> dict:
    """``original.wav`` (peak-normalised) and, with ``png``, ``original.png``; returns their index entry."""
    write_wav(out_dir / "original.wav", peak_normalise(clip.y), clip.params.sr)
    orig = {"wav": "original.wav", "png": None, "title": title}
    if png:
        save_spectrogram_png(out_dir / "original.png", np.abs(clip.D), clip.params, f"{title}: |STFT|")
        orig["png"] = "original.png"
    return orig


def auralise_feature(model, clip: Clip, d: int, k: int, mode: str, out_dir: Path, png: bool, rank=None) -> dict:
    """Deconvolve feature ``k`` of layer ``d``, write ``layer<d>_feature<k>.wav`` (and ``.png``);
    returns its index entry (``rank``: its place among the most active maps, or None)."""
    params = clip.params
    R = deconvolve(model, clip.x, d, k)[0].numpy()
    S, img, kind = _out_stft(model, R, clip.X, clip.D, params, mode, clip.y)
    name = f"layer{d}_feature{k:02d}"
    write_wav(out_dir / f"{name}.wav", peak_normalise(inverse_stft(S, params, len(clip.y))), params.sr)
    item = {"layer": d, "feature": int(k), "rank": rank, "wav": f"{name}.wav", "png": None}
    if png:
        label = "deconvolved log(1+|X|)" if isinstance(model, GenreCNN) else (
            "deconvolved log-mel" if kind == "mel" else "MFCC-rebuilt |X| x relevance")
        save_spectrogram_png(out_dir / f"{name}.png", img, params, f"layer {d}, feature {k}: {label}", kind,
                             db=not isinstance(model, GenreCNN))
        item["png"] = f"{name}.png"
    return item


def auralise_file(checkpoint, audio_path, out_dir, layers="1-5", features="top:8", offset: float = 0.0,
                  duration: float | None = None, mode: str = "mask") -> dict:
    """``sonotype auralise``: load a checkpoint and an audio file, auralise ``[offset, offset + duration)``.

    ``duration`` defaults to the checkpoint's clip length (4.04 s for the genre CNN).
    """
    from ..audio import load
    from ..checkpoint import build_from_checkpoint, features_of, load_checkpoint

    ck = load_checkpoint(checkpoint)
    model = build_from_checkpoint(ck)
    params = features_of(ck)
    dur = float(ck["clip"]) if duration is None else duration
    y = load(audio_path, sr=params.sr, offset=offset, duration=dur)
    mean = None if ck.get("mean") is None else np.asarray(ck["mean"])
    std = None if ck.get("std") is None else np.asarray(ck["std"])
    return auralise(model, y, params.sr, layers, features, out_dir, params=params, mode=mode,
                    title=Path(audio_path).name, mean=mean, std=std)
