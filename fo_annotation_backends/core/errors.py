"""Exceptions raised by every backend of this package.

All messages pass through :func:`fo_annotation_backends.core.secrets.redact`
before they are raised, so no API key ever appears in exception text.
"""

from typing import Any

from .secrets import redact


class AnnotationBackendError(Exception):
    """Base class of this package's errors. The message is redacted."""

    def __init__(self, message: object, *args: Any) -> None:
        super().__init__(redact(str(message)), *args)


class SchemaError(AnnotationBackendError, ValueError):
    """The label schema cannot be annotated with this backend."""


class MediaError(AnnotationBackendError, ValueError):
    """One or more media files cannot be sent to the service."""


class ParameterError(AnnotationBackendError, ValueError):
    """A parameter, the view or the run key cannot be used (raised before
    anything is created on the service)."""


class AuthenticationError(AnnotationBackendError):
    """The service did not accept the credentials."""


class ServiceUnavailableError(AnnotationBackendError):
    """The service could not be reached, or kept failing after retries."""


class ServiceError(AnnotationBackendError):
    """The service answered a request with an error status.

    Attributes:
        status_code: the HTTP status code
        method: the HTTP method
        path: the request path (without query string)
    """

    def __init__(
        self, message: object, status_code: int | None = None, method: str | None = None, path: str | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.method = method
        self.path = path


class ProjectDeletedError(ServiceError):
    """The run's project no longer exists on the service (deleted by
    ``results.cleanup()``, ``load_annotations(..., cleanup=True)`` or by a
    person): there is nothing to load, and the dataset was not changed."""


class OutcomeUnknownError(AnnotationBackendError):
    """A non-idempotent request was sent, but no answer came back.

    The server may or may not have applied it; callers must check the
    server's state before sending it again.
    """


class UploadInterruptedError(AnnotationBackendError):
    """An upload stopped after the run had something on the service (a
    project, assets, tasks). They stay there and the run stays registered as
    unfinished, so that the same ``annotate()`` call (same run key) resumes
    where it stopped: nothing is sent twice. The message says how, and how to
    discard the run instead.

    Attributes:
        project: the project holding the uploaded items (an id or a slug)
        uploaded: how many of the run's items the project has
        total: how many items the run has
        anno_key: the run key
    """

    def __init__(
        self,
        message: object,
        project: str | int | None = None,
        uploaded: int = 0,
        total: int = 0,
        anno_key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.project = project
        self.uploaded = uploaded
        self.total = total
        self.anno_key = anno_key

    @property
    def project_id(self) -> str | int | None:
        """The same as :attr:`project`."""
        return self.project
