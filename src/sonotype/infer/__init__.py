"""Inference: classification (and segmentation) from checkpoints; output formats."""
from .classify import BUNDLED, DEFAULT_MODEL, Classifier, Result, bundled_path, resolve_model
from .segment import SegmentationResult, Segmenter, segment_file
from .decode import DecoderConfig
from .stream import SILENCE, StreamingSegmenter

__all__ = ["BUNDLED", "DEFAULT_MODEL", "Classifier", "DecoderConfig", "Result", "SILENCE", "SegmentationResult", "Segmenter",
           "StreamingSegmenter", "bundled_path", "resolve_model", "segment_file"]
