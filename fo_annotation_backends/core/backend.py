"""What every backend of this package shares with FiftyOne's backend API.

FiftyOne finds a backend's classes by name in the module of its config
class, so each service keeps its own ``XBackendConfig``/``XBackend``/
``XAnnotationResults``; these mixins hold what they have in common:

- :class:`ApiKeyConfigMixin`: an ``api_key`` that lives in memory only (a
  ``_``-prefixed attribute, which FiftyOne does not store) and is redacted;
  :class:`ServiceCredentialsMixin` adds the ``endpoint`` and the credentials
  lookup that the service's registry entry describes;
- :class:`ImageBackendMixin`: the image label types, attribute types and
  capabilities, a cached API client, run ownership and resuming
  (:class:`~.runs.RunOwnershipMixin`), an ``upload_annotations`` that applies
  the failure policy, and a ``download_annotations`` that refuses runs whose
  upload did not finish.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Optional, TypeVar

import fiftyone.core.fields as fof
import fiftyone.core.media as fom

from .. import registry
from .errors import AnnotationBackendError
from .runs import RunOwnershipMixin
from .secrets import get_logger, register_secret

if TYPE_CHECKING:
    from fiftyone.core.collections import SampleCollection
    from fiftyone.core.odm.dataset import KeypointSkeleton
    from fiftyone.utils.annotations import AnnotationBackendConfig as _ConfigBase, AnnotationResults

    from .schema import Fields
else:
    # mixed into an AnnotationBackendConfig; to type checkers it is one
    _ConfigBase = object

logger = get_logger(__name__)

#: what ``download_annotations()`` returns: ``{field: {return type: {sample_id: labels}}}``
Annotations = dict[str, dict[str, dict[str, Any]]]

#: a run's ``id_map``: ``{field: {sample_id: label id(s), or True for a scalar}}``
IdMap = dict[str, dict[str, Any]]

#: the API client of a backend
ClientT = TypeVar("ClientT")

IMAGE_LABEL_TYPES = (
    "classification",
    "classifications",
    "detection",
    "detections",
    "instance",
    "instances",
    "polyline",
    "polylines",
    "polygon",
    "polygons",
    "keypoint",
    "keypoints",
    "segmentation",
    "scalar",
)


class ApiKeyConfigMixin:
    """An ``api_key`` property kept out of the run record and out of text."""

    _api_key: str | None = None

    @property
    def api_key(self) -> str | None:
        """The API key (held in memory only, never serialized)."""
        return self._api_key

    @api_key.setter
    def api_key(self, value: str | None) -> None:
        register_secret(value)
        self._api_key = value


class ServiceCredentialsMixin(ApiKeyConfigMixin, _ConfigBase):
    """The ``endpoint`` and ``load_credentials`` of a config whose service is
    in the registry (:attr:`service_name`): the ``url`` given, else the
    entry's url variables, else its default url; the ``api_key`` from the
    annotation config, else the entry's key variables."""

    #: the service's registry name
    service_name: ClassVar[str]
    url: str | None

    @property
    def endpoint(self) -> str:
        """The URL in use."""
        service = registry.get(self.service_name)
        return self.url or first_env(service.extra_url_envs) or str(service.default_url or "")

    def load_credentials(self, url: str | None = None, api_key: str | None = None) -> None:
        """Fills ``url``/``api_key`` from the annotation config, then from
        the environment."""
        self._load_parameters(url=url, api_key=api_key)
        if self.api_key is None:
            self.api_key = first_env(registry.get(self.service_name).extra_key_envs)


class ImageBackendMixin(RunOwnershipMixin, Generic[ClientT]):
    """The image-backend half of ``foua.AnnotationBackend``.

    Subclasses implement ``_connect_to_api()`` (returning their client),
    ``_upload(samples, anno_key)`` (returning the results) and
    ``_download(results)``; ``ClientT`` is the client's type.
    """

    @property
    def supported_media_types(self) -> list[str]:
        return [fom.IMAGE]

    @property
    def supported_label_types(self) -> list[str]:
        return list(IMAGE_LABEL_TYPES)

    @property
    def supported_scalar_types(self) -> list[type]:
        return [fof.IntField, fof.FloatField, fof.StringField, fof.BooleanField]

    @property
    def supported_attr_types(self) -> list[str]:
        return ["select", "radio", "checkbox", "text"]

    @property
    def supports_keyframes(self) -> bool:
        return False

    @property
    def supports_video_sample_fields(self) -> bool:
        return False

    @property
    def requires_label_schema(self) -> bool:
        return True

    def recommend_attr_tool(self, name: str, value: object) -> dict[str, str]:
        if isinstance(value, bool):
            return {"type": "checkbox"}
        return {"type": "text"}

    def requires_attr_values(self, attr_type: str) -> bool:
        return attr_type in ("select", "radio")

    #: the client class of a service spoken through ``core.http`` (its
    #: constructor takes the endpoint, the key and the budget options)
    client_cls: Optional[Callable[..., ClientT]] = None

    def _connect_to_api(self) -> ClientT:
        config = self.config
        if self.client_cls is None:
            raise NotImplementedError(
                "%s sets no client_cls and does not override _connect_to_api()" % type(self).__name__
            )
        if config.api_key is None:
            config.load_credentials()
        return self.client_cls(
            config.endpoint,
            config.api_key,
            timeout=config.timeout,
            max_retries=config.max_retries,
            max_calls=config.max_calls,
            window_seconds=config.window_seconds,
        )

    def connect_to_api(self) -> ClientT:
        """The service client of this backend (created once, reused)."""
        if self._api is None:
            self._api = self._connect_to_api()
        return self._api

    def upload_annotations(
        self, samples: SampleCollection, anno_key: str, launch_editor: bool = False
    ) -> AnnotationResults:
        """Uploads the samples. On failure the run is either unregistered
        (it owns nothing on the service, so the same key can be used again)
        or left registered as unfinished, resumable by the same call (see
        :func:`~.runs.handle_failed_upload`), and the error is raised."""
        try:
            results = self._upload(samples, anno_key)
        except BaseException:
            self._after_failed_upload(samples, anno_key)
            raise
        results.upload_complete = True
        if launch_editor:
            results.launch_editor()
        return results

    def download_annotations(self, results: AnnotationResults) -> Annotations:
        """Downloads the run's annotations (see ``_download``); a run whose
        upload did not finish is refused with the call that resumes it."""
        ensure_upload_complete(results)
        return self._download(results)

    def _upload(self, samples: SampleCollection, anno_key: str) -> AnnotationResults:
        """Uploads the samples and returns the run's results."""
        raise NotImplementedError("subclasses implement _upload()")

    def _download(self, results: AnnotationResults) -> Annotations:
        """The run's annotations, in FiftyOne's ``download_annotations`` shape."""
        raise NotImplementedError("subclasses implement _download()")


def first_env(names: tuple[str, ...] | list[str]) -> str | None:
    """The value of the first of ``names`` set (non-empty) in the environment."""
    return next((os.environ[name] for name in names if os.environ.get(name)), None)


def keypoint_skeletons(samples: SampleCollection, fields: Fields) -> dict[str, KeypointSkeleton]:
    """``{field: KeypointSkeleton}`` of the keypoints fields that have one."""
    out: dict[str, KeypointSkeleton] = {}
    for field, spec in fields.items():
        if spec.type == "keypoints":
            skeleton = samples.get_skeleton(field)
            if skeleton is not None:
                out[field] = skeleton
    return out


def ensure_upload_complete(results: AnnotationResults) -> None:
    """Raises :class:`AnnotationBackendError` if the run's upload did not
    finish (a failed or killed ``annotate()``)."""
    if getattr(results, "upload_complete", True):
        return
    key = results.key
    raise AnnotationBackendError(
        "The upload of run '%s' did not finish, so there is nothing to load yet: run the same annotate() call "
        "again (run key '%s') to resume it, or discard it with `dataset.load_annotation_results('%s').cleanup()` "
        "and `dataset.delete_annotation_run('%s')`" % (key, key, key, key)
    )
