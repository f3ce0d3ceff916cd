"""The one checkpoint format, and the one place that reads it.

Inference and training both read and write checkpoints through this module; it knows
the models (to rebuild them) but nothing of training or inference.

torch is imported only when a ``.pt`` file is read or written (the ``sonotype[train]`` extra);
the bundled names and paths need nothing but the standard library.

A checkpoint is a single ``torch.save`` file holding everything needed to run the
model: architecture name and keyword arguments, weights (or the GMM's arrays),
feature and preprocessing parameters, feature standardisation, class names, clip
length, training configuration and metrics. It loads with ``weights_only=True``.
"""
from __future__ import annotations

import errno
import shutil
import warnings
from importlib import resources
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .audio.guard import file_kind, stat_error
from .features import FeatureParams
from .models.specs import SPECS
from .preprocess import PreprocessParams

FORMAT = "sonotype-checkpoint/1"
RAW_FORMAT = "sonotype-raw-onnx/1"  # raw-audio ONNX models (sonotype.export.raw, sonotype.infer.runtime)
BUNDLED = ("wide", "slim")
DEFAULT_MODEL = "wide"


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message names the file."""


def bundled_path(name: str, suffix: str = ".pt") -> Path:
    """Path of a model shipped inside the package (``"slim"`` or ``"wide"``).

    ``suffix``: ``".pt"`` (the checkpoint) or ``".onnx"`` (its raw-audio ONNX export).
    """
    return Path(str(resources.files("sonotype") / "assets" / "models" / f"{name}{suffix}"))


def resolve_model(name_or_path=None) -> Path:
    """A bundled model name or a checkpoint path → checkpoint path."""
    name_or_path = name_or_path or DEFAULT_MODEL
    if str(name_or_path) in BUNDLED:
        p = bundled_path(str(name_or_path))
        if not p.is_file():
            raise CheckpointError(f"{p}: bundled model {name_or_path!r} is missing; rebuild it with "
                                  "scripts/build_default_models.py")
        return p
    return Path(name_or_path)


def onnx_session(path, threads: int | None = None):
    """An onnxruntime CPU session on the ONNX file ``path`` (all graph optimisations, warnings
    silenced, no spin-waiting; ``threads``: intra-op threads, None for onnxruntime's default)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    # idle intra-op threads sleep instead of spinning: on a 2-core machine, 2 spinning threads took
    # the core the other stages and the prefetching reader need (segment: 3.9 CPU s an hour, not 5.6)
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])


def _tensors(d):
    """numpy arrays → tensors, numpy scalars → Python numbers (for weights_only loading)."""
    import torch
    if isinstance(d, dict):
        return {k: _tensors(v) for k, v in d.items()}
    if isinstance(d, (list, tuple)):
        return type(d)(_tensors(v) for v in d)
    if isinstance(d, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(d))
    if isinstance(d, np.generic):
        return d.item()
    return d


def _arrays(d):
    import torch
    if isinstance(d, dict):
        return {k: _arrays(v) for k, v in d.items()}
    if isinstance(d, (list, tuple)):
        return type(d)(_arrays(v) for v in d)
    if isinstance(d, torch.Tensor):
        return d.numpy()
    return d


def model_state(model) -> dict:
    """Weights of a torch model or the arrays of a GMM, as tensors."""
    import torch
    if isinstance(model, torch.nn.Module):
        m = model.module if hasattr(model, "module") else model
        return {k: v.detach().cpu() for k, v in m.state_dict().items()}
    return _tensors(model.get_state())


def save_checkpoint(path, *, arch: str, kwargs: dict, model, features: FeatureParams,
                    prep: PreprocessParams, classes, clip: float, mean=None, std=None,
                    config: dict | None = None, metrics: dict | None = None, extra: dict | None = None) -> Path:
    """Write a checkpoint atomically (temp file + rename)."""
    import torch
    ck = {
        "format": FORMAT, "arch": arch, "kwargs": dict(kwargs), "state": model_state(model),
        "features": features.to_dict(), "prep": prep.to_dict(), "classes": list(classes),
        "clip": float(clip),
        "mean": None if mean is None else torch.as_tensor(np.asarray(mean, np.float32)),
        "std": None if std is None else torch.as_tensor(np.asarray(std, np.float32)),
        "config": config or {}, "metrics": metrics or {}, "extra": extra or {},
    }
    return atomic_save(ck, path)


def atomic_save(obj, path) -> Path:
    """``torch.save`` to a temporary file renamed over ``path``.

    A failed write (disk full...), which torch reports as ``RuntimeError``, is an :class:`OSError`
    naming ``path``; ``path`` is left as it was.
    """
    import torch
    with atomic_path(path, ".pt") as tmp:
        try:
            torch.save(obj, tmp)
        except RuntimeError as err:
            raise OSError(errno.EIO, f"cannot write checkpoint ({_write_cause(tmp, err)})", str(path)) from None
    return Path(path)


def _write_cause(tmp, err) -> str:
    """Why writing ``tmp`` failed: a full disk, or torch's own first line."""
    try:
        if shutil.disk_usage(Path(tmp).parent).free < 1 << 20:
            return "no space left on device"
    except OSError:
        pass
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:160]


def _check_magic(path: Path) -> None:
    """Refuse a file that is not a PyTorch save at all (a zip archive, or a legacy pickle) by its first bytes,
    before torch reports a bare pickle error such as ``'101'``."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read checkpoint ({err.strerror or err})") from None
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
        raise CheckpointError(f"{path}: not a readable checkpoint (not a PyTorch file: it begins {head!r}; "
                              "a sonotype .pt is a PyTorch zip archive)")


def load_checkpoint(path) -> dict:
    """Read and check a checkpoint.

    Raises
    ------
    CheckpointError
        Missing, truncated or foreign file, or one missing required fields.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found{_why_not(path)}")
    _check_magic(path)
    import torch  # a .pt file needs the training extra
    try:
        with warnings.catch_warnings():  # a foreign pickle makes torch warn before it fails
            warnings.simplefilter("ignore")
            ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        msg = str(err).strip()
        if "WeightsUnpickler error:" in msg:  # not torch's advice to load unsafely: the actual reason
            msg = "unpickling failed: " + (msg.split("WeightsUnpickler error:", 1)[1].strip() or "?")
        msg = msg.splitlines()[0][:160] if msg else type(err).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or not a sonotype file: {msg})") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a sonotype checkpoint (expected format {FORMAT})")
    missing = [k for k in ("arch", "kwargs", "state", "features", "prep", "classes", "clip") if k not in ck]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    problem = _bad_values(ck)
    if problem:
        raise CheckpointError(f"{path}: unusable checkpoint: {problem}")
    ck["path"] = str(path)
    return ck


def _bad_values(ck: dict) -> str | None:
    """What makes a checkpoint's numbers unusable (they would give NaN probabilities), or None."""
    try:
        clip = float(ck["clip"])
    except (TypeError, ValueError):
        return f"clip is {ck['clip']!r}, not a number"
    if not (np.isfinite(clip) and clip > 0):
        return f"clip is {clip:g} s; it must be a finite number > 0"
    classes = ck["classes"]
    if not isinstance(classes, (list, tuple)) or not classes or not all(isinstance(c, str) for c in classes):
        return "classes must be a non-empty list of names"
    try:
        n = features_of(ck).n_channels
    except (TypeError, ValueError, KeyError, AttributeError) as err:
        return f"bad feature parameters ({err})"
    for name in ("mean", "std"):
        v = ck.get(name)
        if v is None:
            continue
        a = np.asarray(v.numpy() if hasattr(v, "numpy") else v, np.float64)
        if a.shape != (n,):
            return f"{name} has shape {a.shape}, expected ({n},) for its features"
        if not np.all(np.isfinite(a)) or (name == "std" and np.any(a <= 0)):
            return f"{name} holds {'NaN/Inf or ' if name == 'mean' else 'zero, negative, NaN or Inf '}values"
    return None


def _why_not(path: Path) -> str:
    """`` (the cause)`` when a checkpoint path exists but is no file, or is a link loop."""
    try:
        return f" ({path} is {file_kind(path.stat().st_mode)})"
    except OSError as err:
        return "" if err.errno == 2 and not path.is_symlink() else f" ({stat_error(err)})"


def build_from_checkpoint(ck: dict):
    """Rebuild the model (``nn.Module`` in eval mode, or a fitted GMM) of a loaded checkpoint."""
    import torch

    from .models import build_model
    try:
        model = build_model(ck["arch"], **ck["kwargs"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{ck.get('path', '?')}: cannot build model {ck['arch']!r}: {err}") from None
    if isinstance(model, torch.nn.Module):
        try:
            model.load_state_dict(ck["state"])
        except RuntimeError as err:
            lines = [x.strip() for x in str(err).strip().splitlines()[1:] if x.strip()] or [str(err).strip()]
            more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
            raise CheckpointError(f"{ck.get('path', '?')}: weights do not fit {ck['arch']!r}: "
                                  f"{lines[0].rstrip('.')}{more}") from None
        return model.eval()
    return type(model).from_state(_arrays(ck["state"]))


def features_of(ck: dict) -> FeatureParams:
    return FeatureParams.from_dict(ck["features"])


def prep_of(ck: dict) -> PreprocessParams:
    return PreprocessParams.from_dict(ck["prep"])


def load_weights(model, checkpoint, arch: str, classes) -> str:
    """Load a checkpoint's weights into ``model`` (built for ``classes``); returns a log line.

    With the same classes, or a subset of them, in any order, every weight is loaded, the
    output rows picked and ordered as ``classes``; otherwise all but the output layer
    (the architecture's ``ModelSpec.head``), which keeps its fresh init.

    Raises
    ------
    ValueError
        A checkpoint of another architecture, one without a known output layer, or
        weights that do not fit.
    """
    import torch

    ck = load_checkpoint(checkpoint)
    if ck["arch"] != arch:
        raise ValueError(f"{checkpoint}: a {ck['arch']} checkpoint cannot start a {arch} model")
    prefix = SPECS[arch].head if arch in SPECS else None
    if prefix is None:
        raise ValueError(f"fine-tuning is not supported for {arch}")
    state, old = dict(ck["state"]), list(ck["classes"])
    if set(classes) <= set(old):
        order = torch.tensor([old.index(c) for c in classes])
        for k in [k for k in state if k.startswith(prefix)]:
            state[k] = state[k][order]
        model.load_state_dict(state)
        if len(classes) == len(old):
            return f"started from {checkpoint} (all weights, classes {list(classes)})"
        return (f"started from {checkpoint} (all weights; classes {old} -> {list(classes)}: kept the output "
                f"rows of those classes)")
    keep = {k: v for k, v in state.items() if not k.startswith(prefix)}
    missing, unexpected = model.load_state_dict(keep, strict=False)
    if unexpected or any(not k.startswith(prefix) for k in missing):
        raise ValueError(f"{checkpoint}: weights do not fit {arch}: missing {missing}, unexpected {unexpected}")
    return (f"started from {checkpoint}; classes {old} -> {list(classes)}: replaced the output layer "
            f"'{prefix.rstrip('.')}' with a new one")
