"""The FastLabel backend: config, backend and results.

Speaks FastLabel's REST API directly (``requests``), for FastLabel itself and
for services that speak its protocol:

- the label schema becomes the project's annotation classes (safe class
  values, exact titles that map back exactly), in an ``image_all`` project,
  or an ``image_classification`` project when every field is a
  classification or a scalar;
- one task per sample with its image as base64 (PNG/JPEG up to 20 MiB,
  checked before anything is sent; other formats converted losslessly to
  PNG when asked), tagged with the run key, several requests in flight but
  never above the calls-per-window budget;
- FastLabel gives annotations ids of its own: the run keeps
  ``{FastLabel annotation id: FiftyOne label id}`` (matched by content after
  the upload) so that edits and deletions come back by id;
- what a run owns is recorded, never guessed: the project it created
  (``project_created``) and its tasks by id; ``cleanup()`` deletes the tasks,
  and the project only when the run created it and nothing else is in it;
- a failed or killed upload is resumed by the same ``annotate()`` call
  (:mod:`.upload`);
- which tasks count is chosen by status; the others keep their labels.
"""

from __future__ import annotations

import webbrowser
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import fiftyone.utils.annotations as foua

from ..core.backend import Annotations, IdMap, ImageBackendMixin, ServiceCredentialsMixin
from ..core.errors import ParameterError
from ..core.params import check_positive, optional_string, reject_unknown_parameters
from ..core.runs import RunStatus
from ..core.schema import Fields, LabelSchema
from ..core.secrets import get_logger
from . import runtasks
from .client import CLASSIFICATION_TASKS, DEFAULT_URL, IMAGE_TASKS, FastLabelClient
from .convert import FastLabelInterface
from .upload import Uploader

if TYPE_CHECKING:
    from fiftyone.core.collections import SampleCollection

logger = get_logger(__name__)

APP_URL = "https://app.fastlabel.ai"
PRIORITIES = {"none": 0, "low": 10, "medium": 20, "high": 30}
DEFAULT_LOAD_STATUSES = ("completed", "reviewed", "approved")
#: the statuses a FastLabel task can have
TASK_STATUSES = (
    "registered",
    "pending",
    "completed",
    "skipped",
    "reviewed",
    "sent_back",
    "approved",
    "declined",
    "customer_declined",
)


class FastLabelBackendConfig(ServiceCredentialsMixin, foua.AnnotationBackendConfig):
    """Configuration of the FastLabel backend. Every option is checked when
    the config is built, before anything is created.

    Args:
        name: the backend name (``"fastlabel"``)
        label_schema: the label schema resolved by FiftyOne
        media_field ("filepath"): the field holding the media paths
        url (None): the API base URL, ending in ``/v1/``
            (``FIFTYONE_FASTLABEL_URL`` or ``FASTLABEL_API_URL``; default
            ``https://api.fastlabel.ai/v1/``)
        api_key (None): the access token (``FIFTYONE_FASTLABEL_API_KEY`` or
            ``FASTLABEL_ACCESS_TOKEN``); never stored in the run
        project (None): the slug of an existing project to add the tasks to
        project_name (None): the name of a new project (default
            ``FiftyOne <dataset>``)
        priority (None): the tasks' priority: 0/10/20/30 or
            ``"none"``/``"low"``/``"medium"``/``"high"``
        tags (None): tags of every task, strings (the run key is always one
            of them)
        assignee (None): the slug of the workspace user to assign the tasks to
        load_statuses (("completed", "reviewed", "approved")): the statuses
            of the tasks whose annotations are loaded; other tasks keep their
            labels
        convert_to_png (False): send images in formats FastLabel refuses
            (e.g. BMP, TIFF, WebP) as lossless PNG instead of refusing them
        upload_workers (4): task uploads (and cleanup deletions) in flight
            at once
        max_calls (10000): the most API calls per ``window_seconds``
            (``None``: no budget)
        window_seconds (600): the budget window, in seconds
        timeout (300): the read timeout of each request, in seconds
        max_retries (5): retries of failed requests (0: none)
        run_id (None): the run's id, set when the run is registered (it marks
            the run's project slug and task names)
    """

    service_name = "fastlabel"

    def __init__(
        self,
        name: str,
        label_schema: LabelSchema | None,
        media_field: str = "filepath",
        url: str | None = None,
        api_key: str | None = None,
        project: str | None = None,
        project_name: str | None = None,
        priority: int | str | None = None,
        tags: str | Sequence[str] | None = None,
        assignee: str | None = None,
        load_statuses: str | Sequence[str] = DEFAULT_LOAD_STATUSES,
        convert_to_png: bool = False,
        upload_workers: int = 4,
        max_calls: int | None = 10000,
        window_seconds: float = 600,
        timeout: float = 300,
        max_retries: int = 5,
        run_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        reject_unknown_parameters(type(self), name, kwargs)
        super().__init__(name, label_schema, media_field=media_field)
        self.run_id = run_id
        self.url = optional_string("url", url)
        self.project = optional_string("project", project)
        self.project_name = optional_string("project_name", project_name)
        self.priority = _priority(priority)
        self.tags = _strings("tags", tags)
        self.assignee = optional_string("assignee", assignee)
        self.load_statuses = _load_statuses(load_statuses)
        if not isinstance(convert_to_png, bool):
            raise ParameterError("`convert_to_png` must be True or False, not %r" % (convert_to_png,))
        self.convert_to_png = convert_to_png
        self.upload_workers = upload_workers
        self.max_calls = max_calls
        self.window_seconds = window_seconds
        self.timeout = timeout
        self.max_retries = max_retries
        check_positive(self, ["upload_workers", "max_calls"])
        check_positive(self, ["window_seconds", "timeout"], integer=False)
        if self.window_seconds is None or self.timeout is None:
            raise ParameterError("`window_seconds` and `timeout` must be positive numbers, not None")
        check_positive(self, ["max_retries"], allow_zero=True, allow_none=False)
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ParameterError(
                "`url` must be the FastLabel API base, an http(s) URL ending in /v1/ like %s, not %r"
                % (DEFAULT_URL, self.url)
            )
        self.api_key = api_key

    def __repr__(self) -> str:
        return "%s(url=%r, project=%r)" % (type(self).__name__, self.endpoint, self.project)


def _priority(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.lower() in PRIORITIES:
        return PRIORITIES[value.lower()]
    if not isinstance(value, bool):
        # the int itself, not a value equal to it (10.0, numpy.int64(10) would not serialise as FastLabel's int)
        for priority in PRIORITIES.values():
            if value == priority:
                return priority
    raise ParameterError("`priority` must be one of 0, 10, 20, 30 or none/low/medium/high, not %r" % (value,))


def _strings(name: str, value: object) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if values is None:
        return []
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in values):
        raise ParameterError("`%s` must be a non-empty string or a list of them, not %r" % (name, value))
    return list(values)


def _load_statuses(value: object) -> list[str]:
    statuses = _strings("load_statuses", value)
    unknown = [s for s in statuses if s not in TASK_STATUSES]
    if not statuses or unknown:
        raise ParameterError(
            "`load_statuses` must list FastLabel task statuses (%s), not %r" % (", ".join(TASK_STATUSES), value)
        )
    return statuses


class FastLabelBackend(ImageBackendMixin[FastLabelClient], foua.AnnotationBackend):
    """Sends samples to a FastLabel project and merges the annotations back."""

    client_cls = FastLabelClient
    config: FastLabelBackendConfig

    def _upload(self, samples: SampleCollection, anno_key: str) -> FastLabelAnnotationResults:
        return Uploader(self, samples, anno_key, FastLabelAnnotationResults).run()

    def _download(self, results: FastLabelAnnotationResults) -> Annotations:
        """Downloads the annotations of the run's tasks whose status counts."""
        return runtasks.download(self, results)


class FastLabelAnnotationResults(foua.AnnotationResults):
    """The results of a FastLabel annotation run.

    Attributes:
        project_slug: the project's slug
        project_id: the project's id
        task_ids: ``{sample_id: task_id}``
        annotation_ids: ``{FastLabel annotation id: FiftyOne label id}`` of
            the uploaded annotations (part ids for multi-part labels)
        interface_mapping: the class values of the run (see
            ``FastLabelInterface``)
        project_type: ``image_all`` or ``image_classification``
        project_created: whether this run created the project (recorded when
            it was created; cleanup deletes it when nothing else is in it)
        upload_complete: whether the upload finished (``False``: a failed or
            killed upload, resumed by the same ``annotate()`` call)
    """

    config: FastLabelBackendConfig
    _backend: FastLabelBackend

    def __init__(
        self,
        samples: SampleCollection,
        config: FastLabelBackendConfig,
        anno_key: str,
        id_map: IdMap,
        project_slug: str | None = None,
        project_id: str | None = None,
        task_ids: dict[str, str] | None = None,
        annotation_ids: dict[str, str] | None = None,
        interface: Mapping[str, Any] | None = None,
        project_type: str = "image_all",
        project_created: bool = False,
        upload_complete: bool = True,
        backend: FastLabelBackend | None = None,
    ) -> None:
        super().__init__(samples, config, anno_key, id_map, backend=backend)
        self.project_type = project_type
        self.project_slug = project_slug
        self.project_id = project_id
        self.task_ids = task_ids or {}
        self.annotation_ids = annotation_ids or {}
        self.interface_mapping = interface
        self.project_created = project_created
        self.upload_complete = upload_complete

    @property
    def sample_to_task(self) -> dict[str, str]:
        """``{sample_id: task_id}``."""
        return dict(self.task_ids)

    @property
    def project_url(self) -> str:
        """The project's page in FastLabel's web app."""
        return "%s/projects/%s" % (APP_URL, self.project_slug)

    def interface(self, fields: Fields) -> FastLabelInterface:
        """The :class:`FastLabelInterface` this run was uploaded with."""
        return FastLabelInterface(fields, mapping=self.interface_mapping)

    @property
    def task_endpoint(self) -> str:
        """The REST path of the run's tasks."""
        return CLASSIFICATION_TASKS if self.project_type == "image_classification" else IMAGE_TASKS

    def iter_tasks(self, client: FastLabelClient) -> Iterator[dict[str, Any]]:
        """The run's tasks that still exist, as the server has them."""
        project = runtasks.live_project(client, self)
        return iter(runtasks.run_tasks(client, self, project["slug"]).values())

    def launch_editor(self) -> None:
        """Opens the project in a web browser."""
        logger.info("Launching editor at '%s'...", self.project_url)
        webbrowser.open_new_tab(self.project_url)

    def get_status(self) -> RunStatus:
        """The run's progress, from the server.

        Returns:
            the common status dict (``project_id``, ``total``, ``labeled``:
            tasks whose status is in ``load_statuses``, ``reviewed``: tasks
            reviewed or approved, ``unlabeled``, ``missing``: tasks deleted
            in FastLabel, ``annotators``: ``{}``, as FastLabel names an
            assignee, not who did the work), with ``service``:
            ``project_slug``, ``statuses`` (``{status: tasks}``),
            ``assignees`` (``{assignee: tasks}``), ``loadable`` and
            ``load_statuses``

        Raises:
            ProjectDeletedError: the project no longer exists
        """
        return runtasks.status(self._backend, self)

    def print_status(self) -> None:
        """Prints :meth:`get_status` in a readable form."""
        status = self.get_status()
        service = status["service"]
        print("FastLabel project %s (%s)" % (service["project_slug"], self.project_url))
        print("    tasks:     %d" % status["total"])
        print("    labeled:   %d (status %s)" % (status["labeled"], "/".join(service["load_statuses"])))
        print("    reviewed:  %d" % status["reviewed"])
        print("    unlabeled: %d" % status["unlabeled"])
        if status["missing"]:
            print("    deleted on the server: %d" % status["missing"])
        for name, count in sorted(service["statuses"].items()):
            print("    %-10s %d" % (name + ":", count))
        for assignee, count in sorted(service["assignees"].items()):
            print("    %s: %d task(s)" % (assignee, count))

    def cleanup(self) -> None:
        """Deletes the run from FastLabel: its tasks by id, and the project
        only when this run created it and nothing else is in it (an
        unfinished run also deletes the tasks marked as its own). A project
        already deleted is a no-op."""
        runtasks.cleanup(self._backend, self)

    @classmethod
    def _from_dict(
        cls, d: dict[str, Any], samples: SampleCollection, config: FastLabelBackendConfig, anno_key: str
    ) -> FastLabelAnnotationResults:
        return cls(
            samples,
            config,
            anno_key,
            d["id_map"],
            project_slug=d.get("project_slug"),
            project_id=d.get("project_id"),
            task_ids=d.get("task_ids") or {},
            annotation_ids=d.get("annotation_ids") or {},
            interface=d.get("interface_mapping"),
            project_type=d.get("project_type", "image_all"),
            project_created=d.get("project_created", False),
            upload_complete=d.get("upload_complete", True),
        )


def check_server(url: str, api_key: str, timeout: float) -> str | None:
    """Checks that ``url`` is a FastLabel API base that accepts ``api_key``
    (the registry's ``check_server``; FastLabel does not say who the key
    belongs to: returns None). Raises this package's errors."""
    client = FastLabelClient(url, api_key, timeout=timeout, max_retries=1, max_calls=None)
    try:
        client.check_credentials()
    finally:
        client.close()
    return None
