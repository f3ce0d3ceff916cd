"""ONNX export of sonotype checkpoints and an onnxruntime model with the torch model's surface.

Graph layout (``export_onnx``)
------------------------------
input ``features``   float32 ``(batch, channels, time)``, both ``batch`` and ``time`` dynamic.
first op             ``(features - mean) / std`` with the checkpoint's standardisation baked in
                     (``standardise=True``, the default), so the input is the *raw* feature
                     matrix of :func:`sonotype.features.extract`.
output ``frame_logits``  ``(batch, classes, time)`` (optional).
output ``clip_logits``   ``(batch, classes)`` (optional): what ``model(x)`` returns.

For MFCC models trained with deltas (SNN), the input is MFCC **with Δ / ΔΔ already stacked**
(``channels = n_mfcc * (1 + deltas)``): deltas are computed outside the graph
(:func:`sonotype.features.add_deltas`, librosa's 9-frame Savitzky-Golay filter). SwishNet uses
static MFCCs and the MobileNets log-mel, so for them the input is simply the extracted feature.

The ONNX file carries everything needed to use it in ``metadata_props`` (each value JSON):
``sonotype_format``, ``arch``, ``kwargs``, ``classes``, ``features`` (``FeatureParams`` dict),
``prep``, ``clip``, ``clip_rule``, ``receptive_field``, ``input`` (``"raw"`` or
``"standardised"``), ``deltas_outside``, ``outputs``, ``mean``, ``std``.

GMM checkpoints have no ONNX export (:class:`ValueError`).
"""
from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..atomic import atomic_path
from ..checkpoint import build_from_checkpoint, load_checkpoint, onnx_session, resolve_model

ONNX_FORMAT = "sonotype-onnx/1"
DEFAULT_OPSET = 17
INPUT_NAME = "features"


# --------------------------------------------------------------------------- export
class _ExportWrapper(nn.Module):
    """Standardisation + model, returning the requested outputs (a plain tensor graph)."""

    def __init__(self, model: nn.Module, mean, std, frame_logits: bool, clip_logits: bool):
        super().__init__()
        self.model = model
        self.frame = bool(frame_logits)
        self.clip = bool(clip_logits)
        # clip-only models (MobileNet) compute clip logits directly and repeat them over time
        self.clip_model = getattr(model, "receptive_field", 0) is None
        if mean is None:
            self.register_buffer("mean", None)
            self.register_buffer("std", None)
        else:
            m = torch.as_tensor(np.asarray(mean, np.float32)).reshape(1, -1, 1)
            s = torch.as_tensor(np.asarray(std, np.float32)).reshape(1, -1, 1)
            self.register_buffer("mean", m)
            self.register_buffer("std", s)

    def forward(self, x):
        if self.mean is not None:
            x = (x - self.mean) / self.std
        outs = []
        if self.clip_model:
            clip = self.model(x)
            if self.frame:
                outs.append(clip.unsqueeze(2).expand(-1, -1, x.shape[2]))
            if self.clip:
                outs.append(clip)
        else:
            fl = self.model.frame_logits(x)
            if self.frame:
                outs.append(fl)
            if self.clip:
                outs.append(fl.mean(dim=2))  # SwishNet / SNN: forward == time-mean of frame logits
        return tuple(outs) if len(outs) > 1 else outs[0]


def _jsonable(v):
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().tolist()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def _is_gmm(arch, model=None) -> bool:
    from ..models import GMMClassifier
    return arch == "gmm" or isinstance(model, GMMClassifier)


def export_model(model: nn.Module, out_path, *, features, classes, mean=None, std=None,
                 frame_logits: bool = True, clip_logits: bool = True, standardise: bool = True,
                 arch: str | None = None, kwargs: dict | None = None, prep: dict | None = None,
                 clip: float | None = None, opset: int = DEFAULT_OPSET, example_frames: int = 100) -> Path:
    """Export a torch model (not a checkpoint) to ONNX; see :func:`export_onnx`.

    ``features`` is a :class:`~sonotype.features.FeatureParams` or its dict.
    """
    import onnx

    from ..features import FeatureParams

    if _is_gmm(arch, model) or not isinstance(model, nn.Module):
        raise ValueError("GMM has no ONNX export (only torch models: slim, wide, snn, mobilenet, mobilenetv2)")
    if not (frame_logits or clip_logits):
        raise ValueError("ask for at least one of frame_logits, clip_logits")
    params = features if isinstance(features, FeatureParams) else FeatureParams.from_dict(dict(features))
    n_in = int(model.config.get("n_in", model.config.get("n_mels", params.n_channels))) \
        if hasattr(model, "config") else params.n_channels
    use_std = bool(standardise) and mean is not None and std is not None
    wrapper = _ExportWrapper(model.cpu().eval(), mean if use_std else None, std if use_std else None,
                             frame_logits, clip_logits).eval()
    names = [n for n, on in (("frame_logits", frame_logits), ("clip_logits", clip_logits)) if on]
    out_path = Path(out_path)
    with atomic_path(out_path, ".onnx") as tmp:
        _trace(wrapper, tmp, names, n_in, int(opset), int(example_frames))
        proto = onnx.load(tmp)
        meta = {
            "sonotype_format": ONNX_FORMAT,
            "arch": arch or type(model).__name__,
            "kwargs": kwargs if kwargs is not None else getattr(model, "config", {}),
            "classes": list(classes),
            "features": params.to_dict(),
            "prep": prep or {},
            "clip": clip,
            "clip_rule": getattr(model, "clip_rule", "mean"),
            "receptive_field": getattr(model, "receptive_field", 0),
            "input": "raw" if use_std else "standardised",
            "deltas_outside": bool(params.kind == "mfcc" and params.deltas),
            "outputs": names,
            "mean": mean if use_std else None,
            "std": std if use_std else None,
        }
        _stamp(proto, meta)
        onnx.checker.check_model(proto)
        onnx.save(proto, tmp)
    return out_path


def _trace(wrapper: nn.Module, path, names: list, n_in: int, opset: int, example_frames: int) -> None:
    """TorchScript-trace ``wrapper`` to ONNX at ``path`` with dynamic batch and time axes."""
    dyn = {INPUT_NAME: {0: "batch", 2: "time"}}
    for n in names:
        dyn[n] = {0: "batch", 2: "time"} if n == "frame_logits" else {0: "batch"}
    example = torch.randn(1, n_in, example_frames)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        # the dynamo exporter needs onnxscript, which is not a dependency: use TorchScript tracing
        torch.onnx.export(wrapper, (example,), path, dynamo=False, input_names=[INPUT_NAME],
                          output_names=names, dynamic_axes=dyn, opset_version=opset,
                          do_constant_folding=True)


def _stamp(proto, meta: dict) -> None:
    """Replace ``proto``'s metadata by ``meta`` (values JSON-encoded) and name the producer."""
    del proto.metadata_props[:]
    for k, v in meta.items():
        p = proto.metadata_props.add()
        p.key, p.value = k, json.dumps(_jsonable(v))
    proto.producer_name = "sonotype"


def export_onnx(checkpoint_path_or_dict, out_path, frame_logits: bool = True, clip_logits: bool = True,
                standardise: bool = True, opset: int = DEFAULT_OPSET) -> Path:
    """Export the torch model of a checkpoint to ONNX (atomic write: temp file + rename).

    Parameters
    ----------
    checkpoint_path_or_dict : str or Path or dict
        Checkpoint file, bundled name (``"slim"``, ``"wide"``) or a loaded checkpoint dict.
    out_path : str or Path
        Where to write the ``.onnx`` file.
    frame_logits, clip_logits : bool
        Which outputs the graph has (``(B, K, T)`` and ``(B, K)``); at least one.
    standardise : bool
        Bake ``(x - mean) / std`` into the graph (input = raw features). ``False`` gives a graph
        that takes standardised features, as the torch model does (used by the classifier backend).
    opset : int
        ONNX opset.

    Returns
    -------
    Path
        ``out_path``.

    Raises
    ------
    ValueError
        For GMM checkpoints ("GMM has no ONNX export").
    sonotype.checkpoint.CheckpointError
        Unreadable checkpoint.
    """
    ck = _load(checkpoint_path_or_dict)
    if _is_gmm(ck["arch"]):
        raise ValueError("GMM has no ONNX export (only torch models: slim, wide, snn, mobilenet, mobilenetv2)")
    model = build_from_checkpoint(ck)
    return export_model(model, out_path, features=ck["features"], classes=ck["classes"],
                        mean=ck.get("mean"), std=ck.get("std"), frame_logits=frame_logits,
                        clip_logits=clip_logits, standardise=standardise, arch=ck["arch"],
                        kwargs=ck["kwargs"], prep=ck.get("prep"), clip=ck.get("clip"), opset=opset)


def _load(checkpoint_path_or_dict) -> dict:
    if isinstance(checkpoint_path_or_dict, dict):
        return checkpoint_path_or_dict
    return load_checkpoint(resolve_model(checkpoint_path_or_dict))


def read_metadata(path) -> dict:
    """The sonotype metadata of an exported ONNX file, JSON values decoded."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    out = {}
    for p in proto.metadata_props:
        try:
            out[p.key] = json.loads(p.value)
        except ValueError:
            out[p.key] = p.value
    return out


# --------------------------------------------------------------------------- cache
def checkpoint_digest(ck: dict, **flags) -> str:
    """Stable hash of what an export depends on (architecture, weights, statistics, flags)."""
    h = hashlib.sha1()
    head = {"format": ONNX_FORMAT, "arch": ck["arch"], "kwargs": ck["kwargs"], "classes": list(ck["classes"]),
            "features": ck["features"], "flags": flags, "torch": torch.__version__}
    h.update(json.dumps(_jsonable(head), sort_keys=True, default=str).encode())
    for name in ("mean", "std"):
        v = ck.get(name)
        h.update(name.encode())
        if v is not None:
            h.update(np.ascontiguousarray(np.asarray(v, np.float32)).tobytes())
    state = ck["state"]
    for k in sorted(state):
        v = state[k]
        h.update(k.encode())
        if isinstance(v, torch.Tensor):
            h.update(str(v.dtype).encode() + str(tuple(v.shape)).encode())
            h.update(v.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        else:
            h.update(repr(v).encode())
    return h.hexdigest()[:20]


def cached_export(ck: dict, standardise: bool = False, cache_dir=None) -> Path:
    """Export ``ck`` to ``$SONOTYPE_CACHE/onnx/<hash>.onnx`` unless that file exists already."""
    from ..data.cache import default_cache_dir

    root = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "onnx"
    path = root / f"{checkpoint_digest(ck, standardise=bool(standardise), opset=DEFAULT_OPSET)}.onnx"
    if not path.is_file():
        _export_into_cache(ck, path, root, standardise)
    return path


def _export_into_cache(ck: dict, path: Path, root: Path, standardise: bool) -> None:
    from ..data.cache import cache_error
    try:
        export_onnx(ck, path, frame_logits=True, clip_logits=True, standardise=standardise)
    except OSError as err:
        raise cache_error(root, err) from None


# --------------------------------------------------------------------------- runtime
class OnnxModel(nn.Module):
    """An exported model run by onnxruntime, usable wherever a sonotype torch model is.

    It is an ``nn.Module`` only so that code written for torch models takes it unchanged
    (:func:`sonotype.models.predict.clip_proba`, the classifier, the streaming segmenter):
    it holds one empty placeholder parameter and no weights. :meth:`frame_logits` and
    :meth:`forward` take a tensor or array ``(B, C, T)`` (any float dtype; cast to float32) and
    return float32 torch tensors ``(B, K, T)`` / ``(B, K)`` on the CPU.

    What the input must be is in :attr:`input`: ``"raw"`` (standardisation inside the graph,
    the default of :func:`export_onnx`) or ``"standardised"``.

    Parameters
    ----------
    path : str or Path
        An ``.onnx`` file written by :func:`export_onnx`.
    threads : int or None
        ``intra_op_num_threads`` of the session (None: onnxruntime's default).
    """

    def __init__(self, path, threads: int | None = None):
        super().__init__()
        self.path = str(path)
        self.threads = threads
        self.session = onnx_session(self.path, threads)
        self.metadata = read_metadata(self.path)
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.input_name = self.session.get_inputs()[0].name
        self.classes = list(self.metadata.get("classes", []))
        self.clip_rule = self.metadata.get("clip_rule", "mean")
        self.receptive_field = self.metadata.get("receptive_field", 0)
        self.config = dict(self.metadata.get("kwargs") or {})
        self.input = self.metadata.get("input", "raw")
        # placeholder so that ``next(model.parameters())`` gives a device (always CPU)
        self._anchor = nn.Parameter(torch.zeros(0), requires_grad=False)

    def __deepcopy__(self, memo):
        return self  # stateless apart from the session; the streaming segmenter deep-copies models

    def __getstate__(self):
        raise TypeError("OnnxModel cannot be pickled; reopen it with OnnxModel(path)")

    def _apply(self, fn, recurse=True):
        return self  # .to() / .double() / .cuda(): the session stays as it is (float32, CPU)

    def run(self, x) -> dict:
        """All outputs for ``x`` (B, C, T) as numpy arrays, by output name."""
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 3:
            raise ValueError(f"expected (batch, channels, frames), got shape {x.shape}")
        return dict(zip(self.outputs, self.session.run(None, {self.input_name: x})))

    def frame_logits(self, x) -> torch.Tensor:
        out = self.run(x)
        if "frame_logits" in out:
            return torch.from_numpy(out["frame_logits"])
        clip = torch.from_numpy(out["clip_logits"])
        return clip.unsqueeze(2).expand(-1, -1, np.shape(x)[2])

    def forward(self, x) -> torch.Tensor:
        out = self.run(x)
        if "clip_logits" in out:
            return torch.from_numpy(out["clip_logits"])
        return torch.from_numpy(out["frame_logits"]).mean(dim=2)

    def clip_proba(self, X) -> np.ndarray:
        """Class probabilities of clips, as :func:`sonotype.models.predict.clip_proba`."""
        from ..models.predict import clip_proba
        return clip_proba(self, X)

    def extra_repr(self) -> str:
        return f"path={self.path!r}, input={self.input!r}, outputs={self.outputs}"


def onnx_model_for(ck: dict, threads: int | None = None, standardise: bool = False, cache_dir=None) -> OnnxModel:
    """An :class:`OnnxModel` for a loaded checkpoint, exported once into the cache.

    ``standardise=False`` (default) gives a drop-in replacement for the checkpoint's torch model
    (input: standardised features, as :meth:`Classifier.clips` produces).
    """
    from ..data.cache import damaged
    if _is_gmm(ck["arch"]):
        raise ValueError("GMM has no ONNX export; use backend='torch'")
    path = cached_export(ck, standardise=standardise, cache_dir=cache_dir)
    try:
        return OnnxModel(path, threads=threads)
    except Exception as err:  # noqa: BLE001 - empty, truncated or unreadable cached file: export it again
        damaged(path, err)
    _export_into_cache(ck, path, path.parent, standardise)
    return OnnxModel(path, threads=threads)
