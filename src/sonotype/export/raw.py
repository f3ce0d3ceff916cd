"""Raw-audio ONNX models: 16 kHz samples in, frame and clip probabilities out (training extra).

Graph layout (:func:`export_raw`)
---------------------------------
input ``samples``      float32 ``(batch, n)``: mono samples at the model's rate, loudness
                       equalised as the model's preprocessing says (see ``prep`` below).
input ``frame_index``  int64 ``(frames,)``: which feature frames go to the network, in order
                       (frame ``t`` covers samples ``[t * hop, t * hop + n_fft)``);
                       ``arange(1 + (n - n_fft) // hop)`` for all of them.
output ``frame_probs`` float32 ``(batch, classes, frames)``: softmax of the frame logits.
output ``clip_probs``  float32 ``(batch, classes)``: softmax of the time-mean of the frame
                       logits (``clip_rule`` "mean"), or the share of frames voting for each
                       class ("vote"): what ``Classifier`` gives for one clip.
output ``features``    float32 ``(batch, channels, frames)``: the features the network was
                       given, before standardisation (what :func:`sonotype.features.extract`
                       gives, with Δ / ΔΔ for MFCC models trained with them).

Inside: :class:`~sonotype.export.frontend.FrontEnd` (framing, window, DFT, mel, dB, DCT, frame
selection, Δ / ΔΔ), the checkpoint's standardisation, the network, softmax.

The file's ``metadata_props`` (JSON values) carry what a user needs without sonotype's torch
side: ``sonotype_format`` ("sonotype-raw-onnx/1"), ``arch``, ``kwargs``, ``classes``,
``sample_rate``, ``frame_hop`` (samples), ``frame_length`` (``n_fft``), ``features`` (the
``FeatureParams`` preset), ``prep`` (loudness and silence settings applied before the graph),
``clip`` (seconds), ``clip_frames``, ``clip_rule``, ``receptive_field`` (frames),
``delta_context`` (frames each side), ``latency_s`` (the front end and network: ``n_fft`` samples),
``inputs``, ``outputs``, ``source_sha1`` (of the checkpoint's weights and statistics), and
``dft``, the front end's DFT ("folded", "direct" or "factored"; graphs written before it was
recorded are "direct").
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..atomic import atomic_path
from ..checkpoint import RAW_FORMAT, build_from_checkpoint, load_checkpoint, resolve_model
from ..features.params import FeatureParams
from .dft import default_dft
from .frontend import DELTA_WIDTH, FrontEnd
from .onnx import DEFAULT_OPSET, _is_gmm, _jsonable, checkpoint_digest

INPUTS = ("samples", "frame_index")
OUTPUTS = ("frame_probs", "clip_probs", "features")


class RawModel(nn.Module):
    """Front end + standardisation + network + softmax (see the module docstring)."""

    def __init__(self, model: nn.Module, params: FeatureParams, mean=None, std=None, dft: str = "direct"):
        super().__init__()
        # clip-only models (MobileNet) give clip logits; their frame_probs repeat them over time
        self.clip_only = getattr(model, "receptive_field", 0) is None
        self.front = FrontEnd(params, dft)
        self.model = model
        self.vote = getattr(model, "clip_rule", "mean") == "vote"
        n = params.n_channels
        m = np.zeros(n, np.float32) if mean is None else np.asarray(mean, np.float32)
        s = np.ones(n, np.float32) if std is None else np.asarray(std, np.float32)
        self.register_buffer("mean", torch.from_numpy(m.reshape(1, -1, 1).copy()))
        self.register_buffer("std", torch.from_numpy(s.reshape(1, -1, 1).copy()))

    def forward(self, samples: torch.Tensor, frame_index: torch.Tensor):
        feats = self.front(samples, frame_index)
        x = (feats - self.mean) / self.std
        if self.clip_only:
            clip_probs = torch.softmax(self.model(x), dim=1)
            return clip_probs.unsqueeze(2).expand(-1, -1, x.shape[2]), clip_probs, feats
        logits = self.model.frame_logits(x)
        frame_probs = torch.softmax(logits, dim=1)
        if self.vote:
            k = logits.shape[1]
            winners = torch.argmax(logits, dim=1, keepdim=True)
            classes = torch.arange(k, dtype=winners.dtype).reshape(1, k, 1)
            clip_probs = (winners == classes).float().mean(dim=2)
        else:
            clip_probs = torch.softmax(logits.mean(dim=2), dim=1)
        return frame_probs, clip_probs, feats


def raw_metadata(ck: dict, model, dft: str = "direct") -> dict:
    """The ``metadata_props`` of a checkpoint's raw-audio graph (see the module docstring)."""
    p = FeatureParams.from_dict(ck["features"])
    clip = float(ck["clip"])
    return {
        "sonotype_format": RAW_FORMAT, "arch": ck["arch"], "kwargs": ck["kwargs"], "classes": list(ck["classes"]),
        "sample_rate": p.sr, "frame_hop": p.hop_length, "frame_length": p.n_fft, "features": p.to_dict(),
        "prep": ck.get("prep") or {}, "clip": clip, "clip_frames": max(1, int(round(clip * p.frame_rate))),
        "clip_rule": getattr(model, "clip_rule", "mean"),
        "receptive_field": None if model.receptive_field is None else int(model.receptive_field),
        "delta_context": DELTA_WIDTH // 2 if (p.kind == "mfcc" and p.deltas) else 0,
        "latency_s": p.n_fft / p.sr, "inputs": list(INPUTS), "outputs": list(OUTPUTS),
        "source_sha1": checkpoint_digest(ck, raw=True), "dft": dft,
    }


def export_raw(checkpoint_path_or_dict, out_path, opset: int = DEFAULT_OPSET, dft: str | None = None) -> Path:
    """Export a checkpoint as a raw-audio ONNX model (atomic write).

    Parameters
    ----------
    checkpoint_path_or_dict : str or Path or dict
        Checkpoint file, bundled name or loaded checkpoint; MFCC or log-mel features and a
        torch model (SwishNet, SNN; MobileNet, whose frame outputs repeat its clip output).
    out_path : str or Path
        The ``.onnx`` file to write.
    opset : int
        ONNX opset.
    dft : str, optional
        The front end's DFT (:class:`~sonotype.export.frontend.FrontEnd`): "folded" (the default
        where the window is symmetric about the frame's centre, as for every preset; else
        "direct"), "direct" (the strided convolution) or "factored" (faster, less exact in
        float32). The file's metadata names it.

    Returns
    -------
    Path
        ``out_path``.

    Raises
    ------
    ValueError
        GMM or STFT-feature checkpoints.
    """
    import onnx

    ck = checkpoint_path_or_dict if isinstance(checkpoint_path_or_dict, dict) \
        else load_checkpoint(resolve_model(checkpoint_path_or_dict))
    if _is_gmm(ck["arch"]):
        raise ValueError("GMM has no ONNX export (only torch models: slim, wide, snn)")
    model = build_from_checkpoint(ck).float().cpu().eval()
    params = FeatureParams.from_dict(ck["features"])
    dft = default_dft(params) if dft is None else dft
    raw = RawModel(model, params, ck.get("mean"), ck.get("std"), dft).eval()
    n = params.n_fft + 99 * params.hop_length
    example = (torch.randn(1, n) * 0.1, torch.arange(100, dtype=torch.int64))
    dyn = {"samples": {0: "batch", 1: "n"}, "frame_index": {0: "frames"},
           "frame_probs": {0: "batch", 2: "frames"}, "clip_probs": {0: "batch"}, "features": {0: "batch", 2: "frames"}}
    out_path = Path(out_path)
    with atomic_path(out_path, ".onnx") as tmp:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(raw, example, tmp, dynamo=False, input_names=list(INPUTS), output_names=list(OUTPUTS),
                              dynamic_axes=dyn, opset_version=int(opset), do_constant_folding=True)
        proto = onnx.load(tmp)
        del proto.metadata_props[:]
        for k, v in raw_metadata(ck, model, dft).items():
            prop = proto.metadata_props.add()
            prop.key, prop.value = k, json.dumps(_jsonable(v))
        proto.producer_name = "sonotype"
        onnx.checker.check_model(proto)
        onnx.save(proto, tmp)
    return out_path


def cached_raw(ck: dict, cache_dir=None) -> Path:
    """Export ``ck`` to ``$SONOTYPE_CACHE/onnx/<hash>-raw.onnx`` unless that file exists already
    (a damaged cached file is exported again)."""
    from ..data.cache import cache_error, damaged, default_cache_dir

    root = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "onnx"
    dft = default_dft(FeatureParams.from_dict(ck["features"]))  # in the name: a new front end, a new file
    path = root / f"{checkpoint_digest(ck, raw=True, opset=DEFAULT_OPSET)}-raw-{dft}.onnx"
    if path.is_file():
        try:
            import onnxruntime as ort
            ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            return path
        except Exception as err:  # noqa: BLE001 - empty, truncated or unreadable cached file
            damaged(path, err)
    try:
        return export_raw(ck, path)
    except OSError as err:
        raise cache_error(root, err) from None
