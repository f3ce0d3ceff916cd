"""Model export: ONNX graphs with the feature standardisation inside, and an onnxruntime backend."""
from .onnx import (
    OnnxModel,
    cached_export,
    checkpoint_digest,
    export_model,
    export_onnx,
    onnx_model_for,
    read_metadata,
)

__all__ = ["OnnxModel", "cached_export", "checkpoint_digest", "export_model", "export_onnx", "onnx_model_for",
           "read_metadata"]
