"""The Kili backend (Kili's GraphQL API, and servers that speak it).

Register it as ``kili`` in the annotation config::

    {"backends": {"kili": {"config_cls": "fo_annotation_backends.kili.KiliBackendConfig"}}}

with the key in ``FIFTYONE_KILI_API_KEY`` (and ``url`` for a server other
than Kili's cloud).
"""

from ..core.errors import ProjectDeletedError, UploadInterruptedError
from .backend import (
    KiliAnnotationResults,
    KiliBackend,
    KiliBackendConfig,
    select_label,
)
from .client import KiliClient, KiliGraphQLError
from .convert import KiliInterface, json_response_to_labels, labels_to_json_response

__all__ = [
    "KiliAnnotationResults",
    "KiliBackend",
    "KiliBackendConfig",
    "KiliClient",
    "KiliGraphQLError",
    "KiliInterface",
    "ProjectDeletedError",
    "UploadInterruptedError",
    "json_response_to_labels",
    "labels_to_json_response",
    "select_label",
]
