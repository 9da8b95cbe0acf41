"""The Picsellia backend (Picsellia's REST API, and servers that speak it).

Register it as ``picsellia`` in the annotation config::

    {"backends": {"picsellia": {"config_cls": "fo_annotation_backends.picsellia.PicselliaBackendConfig"}}}

with the token in ``FIFTYONE_PICSELLIA_API_KEY`` (or ``PICSELLIA_TOKEN``, as
the official SDK reads it) and ``url`` for a host other than Picsellia's.
"""

from ..core.errors import ProjectDeletedError, UploadInterruptedError
from .backend import (
    PicselliaAnnotationResults,
    PicselliaBackend,
    PicselliaBackendConfig,
)
from .client import PicselliaClient
from .interface import PicselliaInterface

__all__ = [
    "PicselliaAnnotationResults",
    "PicselliaBackend",
    "PicselliaBackendConfig",
    "PicselliaClient",
    "PicselliaInterface",
    "ProjectDeletedError",
    "UploadInterruptedError",
]
