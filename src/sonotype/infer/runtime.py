"""Raw-audio ONNX models run by onnxruntime: the torch-free inference core.

A raw-audio model (written by :func:`sonotype.export.raw.export_raw`; the bundled ones are
``assets/models/{wide,slim}.onnx``) takes samples and a frame index and gives frame and clip
probabilities, the feature front end inside. :class:`RawModel` opens one and reads its
metadata with onnxruntime alone (no torch, no onnx package).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..checkpoint import RAW_FORMAT, onnx_session


class RawModelError(ValueError):
    """A file that is not a usable raw-audio sonotype model; the message names it."""


def read_raw_metadata(session) -> dict:
    """The JSON-decoded ``metadata_props`` of an onnxruntime session's model."""
    out = {}
    for k, v in session.get_modelmeta().custom_metadata_map.items():
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


class RawModel:
    """A raw-audio sonotype ONNX model (see :mod:`sonotype.export.raw` for the graph).

    Parameters
    ----------
    path : str or Path
        The ``.onnx`` file.
    threads : int or None
        onnxruntime intra-op threads (None: onnxruntime's default).

    Attributes
    ----------
    metadata : dict
        What the file says of itself: ``classes``, ``features``, ``prep``, ``clip``,
        ``clip_rule``, ``receptive_field``, ``delta_context``, ``sample_rate``, ...

    Raises
    ------
    RawModelError
        Unreadable file, or an ONNX file that is not a raw-audio sonotype model.
    """

    def __init__(self, path, threads: int | None = None):
        self.path = str(path)
        if not Path(self.path).is_file():
            raise RawModelError(f"{self.path}: model not found")
        try:
            self.session = onnx_session(self.path, threads)
        except Exception as err:  # noqa: BLE001 - onnxruntime raises its own error types
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
            raise RawModelError(f"{self.path}: not a readable ONNX model ({first})") from None
        self.metadata = read_raw_metadata(self.session)
        if self.metadata.get("sonotype_format") != RAW_FORMAT:
            raise RawModelError(f"{self.path}: not a raw-audio sonotype model (expected format {RAW_FORMAT}; "
                                "write one with 'sonotype export')")
        self.classes = list(self.metadata["classes"])
        rf = self.metadata.get("receptive_field")
        self.receptive_field = None if rf is None else int(rf)  # None: a clip-only model
        self.delta_context = int(self.metadata.get("delta_context", 0))
        self.clip_rule = self.metadata.get("clip_rule", "mean")
        self.threads = threads

    def run(self, samples: np.ndarray, frame_index: np.ndarray) -> tuple:
        """All outputs for ``samples`` ``(batch, n)`` and ``frame_index`` ``(frames,)``.

        Returns
        -------
        frame_probs : numpy.ndarray
            ``(batch, classes, frames)`` float32.
        clip_probs : numpy.ndarray
            ``(batch, classes)`` float32.
        features : numpy.ndarray
            ``(batch, channels, frames)`` float32, before standardisation.
        """
        feed = {"samples": np.ascontiguousarray(samples, np.float32),
                "frame_index": np.ascontiguousarray(frame_index, np.int64)}
        return tuple(self.session.run(None, feed))

    def clip_probs(self, clips: np.ndarray, frame_index: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, classes)`` of clips ``(n, samples)`` (one frame index for all)."""
        return self.session.run(["clip_probs"], {"samples": np.ascontiguousarray(clips, np.float32),
                                                 "frame_index": np.ascontiguousarray(frame_index, np.int64)})[0]

    def frame_probs(self, samples: np.ndarray, frame_index: np.ndarray) -> np.ndarray:
        """Frame probabilities ``(frames, classes)`` of one signal ``(n,)``."""
        out = self.session.run(["frame_probs"], {"samples": np.ascontiguousarray(samples, np.float32)[None],
                                                 "frame_index": np.ascontiguousarray(frame_index, np.int64)})[0]
        return out[0].T

    def __repr__(self) -> str:
        return f"RawModel({self.path!r}, arch={self.metadata.get('arch')!r})"
