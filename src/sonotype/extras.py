"""Which optional extra a missing module belongs to, as one line for the user."""
from __future__ import annotations

# top-level modules of the ``sonotype[train]`` extra (training, export, evaluation, explain, genre)
TRAIN_MODULES = frozenset({"torch", "librosa", "scipy", "sklearn", "matplotlib", "onnx", "logmmse", "pyannote",
                           "numba", "torchvision", "threadpoolctl"})
INSTALL_TRAIN = "pip install 'sonotype[train]'"


def missing_extra(err: BaseException) -> str | None:
    """One line naming the extra to install when ``err`` is a missing module of ``sonotype[train]``.

    Returns None for any other error (including a missing module of no known extra).
    """
    if not isinstance(err, ModuleNotFoundError) or not err.name:
        return None
    top = err.name.split(".")[0]
    if top not in TRAIN_MODULES:
        return None
    return f"this needs the training extra (no module named {top!r}); install it with: {INSTALL_TRAIN}"
