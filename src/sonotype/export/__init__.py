"""Model export (training extra): raw-audio ONNX models (the feature front end inside the graph,
what the inference core runs) and feature-input ONNX graphs (standardisation inside)."""
from .onnx import (
    OnnxModel,
    cached_export,
    checkpoint_digest,
    export_model,
    export_onnx,
    onnx_model_for,
    read_metadata,
)
from .raw import RawModel, cached_raw, export_raw

__all__ = ["OnnxModel", "RawModel", "cached_raw", "export_raw", "cached_export", "checkpoint_digest", "export_model", "export_onnx", "onnx_model_for",
           "read_metadata"]
