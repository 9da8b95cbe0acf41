"""What every backend of this package shares with FiftyOne's backend API.

FiftyOne finds a backend's classes by name in the module of its config
class, so each service keeps its own ``XBackendConfig``/``XBackend``/
``XAnnotationResults``; these mixins hold what they have in common:

- :class:`ApiKeyConfigMixin`: an ``api_key`` that lives in memory only (a
  ``_``-prefixed attribute, which FiftyOne does not store) and is redacted;
- :class:`ImageBackendMixin`: the image label types, attribute types and
  capabilities, a cached API client, run ownership and resuming
  (:class:`~.runs.RunOwnershipMixin`), an ``upload_annotations`` that applies
  the failure policy, and a ``download_annotations`` that refuses runs whose
  upload did not finish.
"""

import os
from typing import Optional

import fiftyone.core.fields as fof
import fiftyone.core.media as fom

from .errors import AnnotationBackendError
from .runs import RunOwnershipMixin
from .secrets import get_logger, register_secret

logger = get_logger(__name__)

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

    _api_key = None

    @property
    def api_key(self):
        """The API key (held in memory only, never serialized)."""
        return self._api_key

    @api_key.setter
    def api_key(self, value):
        register_secret(value)
        self._api_key = value


class ImageBackendMixin(RunOwnershipMixin):
    """The image-backend half of ``foua.AnnotationBackend``.

    Subclasses implement ``_connect_to_api()`` (returning their client),
    ``_upload(samples, anno_key)`` (returning the results) and
    ``_download(results)``.
    """

    @property
    def supported_media_types(self):
        return [fom.IMAGE]

    @property
    def supported_label_types(self):
        return list(IMAGE_LABEL_TYPES)

    @property
    def supported_scalar_types(self):
        return [fof.IntField, fof.FloatField, fof.StringField, fof.BooleanField]

    @property
    def supported_attr_types(self):
        return ["select", "radio", "checkbox", "text"]

    @property
    def supports_keyframes(self):
        return False

    @property
    def supports_video_sample_fields(self):
        return False

    @property
    def requires_label_schema(self):
        return True

    def recommend_attr_tool(self, name, value):
        if isinstance(value, bool):
            return {"type": "checkbox"}
        return {"type": "text"}

    def requires_attr_values(self, attr_type):
        return attr_type in ("select", "radio")

    #: the client class of a service spoken through ``core.http`` (its
    #: constructor takes the endpoint, the key and the budget options)
    client_cls: Optional[type] = None

    def _connect_to_api(self):
        config = self.config
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

    def connect_to_api(self):
        """The service client of this backend (created once, reused)."""
        if self._api is None:
            self._api = self._connect_to_api()
        return self._api

    def upload_annotations(self, samples, anno_key, launch_editor=False):
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

    def download_annotations(self, results):
        """Downloads the run's annotations (see ``_download``); a run whose
        upload did not finish is refused with the call that resumes it."""
        ensure_upload_complete(results)
        return self._download(results)


def first_env(names: tuple[str, ...] | list[str]) -> str | None:
    """The value of the first of ``names`` set (non-empty) in the environment."""
    return next((os.environ[name] for name in names if os.environ.get(name)), None)


def keypoint_skeletons(samples, fields):
    """``{field: KeypointSkeleton}`` of the keypoints fields that have one."""
    out = {}
    for field, spec in fields.items():
        if spec.type == "keypoints":
            skeleton = samples.get_skeleton(field)
            if skeleton is not None:
                out[field] = skeleton
    return out


def ensure_upload_complete(results):
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
