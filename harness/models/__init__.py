"""Live model adapters: one protocol (``LiveModel``); torch/transformers and MLX/mlx-lm backends.

Importing this package imports neither torch nor mlx; the backend is imported when a model loads.
"""

from harness.models.base import LiveModel, ModelLoadError, Quantization
from harness.models.load import load_model, open_model

__all__ = ["LiveModel", "ModelLoadError", "Quantization", "load_model", "open_model"]
