"""The FastLabel backend (FastLabel's REST API, and servers that speak it).

Register it as ``fastlabel`` in the annotation config::

    {"backends": {"fastlabel": {"config_cls": "fo_annotation_backends.fastlabel.FastLabelBackendConfig"}}}

with the token in ``FIFTYONE_FASTLABEL_API_KEY`` (or ``FASTLABEL_ACCESS_TOKEN``)
and ``url`` for a server other than FastLabel's.
"""

from ..core.errors import ProjectDeletedError, UploadInterruptedError
from .backend import (
    FastLabelAnnotationResults,
    FastLabelBackend,
    FastLabelBackendConfig,
)
from .client import FastLabelClient
from .convert import FastLabelInterface, labels_to_task, task_to_labels
from .idmatch import AnnotationIdMismatchError

__all__ = [
    "AnnotationIdMismatchError",
    "FastLabelAnnotationResults",
    "FastLabelBackend",
    "FastLabelBackendConfig",
    "FastLabelClient",
    "FastLabelInterface",
    "ProjectDeletedError",
    "UploadInterruptedError",
    "labels_to_task",
    "task_to_labels",
]
