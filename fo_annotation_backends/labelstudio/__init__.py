"""Label Studio backend (``label-studio-sdk`` 2.x)."""

from .backend import LabelStudioAnnotationResults, LabelStudioBackend, LabelStudioBackendConfig
from .client import LabelStudioClient

__all__ = ["LabelStudioAnnotationResults", "LabelStudioBackend", "LabelStudioBackendConfig", "LabelStudioClient"]
