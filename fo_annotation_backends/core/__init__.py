"""The shared core of every backend: schema, geometry, HTTP, ids, media."""

from .errors import (
    AnnotationBackendError,
    AuthenticationError,
    MediaError,
    OutcomeUnknownError,
    SchemaError,
    ServiceError,
    ServiceUnavailableError,
    UploadInterruptedError,
)
from .http import HttpSession, RetryPolicy
from .pacing import Pacer
from .schema import AttributeSpec, FieldSpec, normalize_label_schema
from .secrets import redact, register_secret

__all__ = [
    "AnnotationBackendError",
    "AttributeSpec",
    "AuthenticationError",
    "FieldSpec",
    "HttpSession",
    "MediaError",
    "OutcomeUnknownError",
    "Pacer",
    "RetryPolicy",
    "SchemaError",
    "ServiceError",
    "ServiceUnavailableError",
    "UploadInterruptedError",
    "normalize_label_schema",
    "redact",
    "register_secret",
]
