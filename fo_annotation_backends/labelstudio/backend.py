"""The Label Studio backend: config, backend and results.

A drop-in replacement for FiftyOne's built-in ``labelstudio`` backend (same
``url``/``api_key``/``project_name`` parameters and env vars), with legacy and
personal access tokens, attributes, every image label type, bounded streamed
uploads, local-files mode decided by the server, existing-project reuse,
resumable uploads and a cleanup that deletes only what the run created.
"""

from __future__ import annotations

import collections
import urllib.parse
import webbrowser
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import fiftyone.utils.annotations as foua

from ..core import compat
from ..core.backend import Annotations, ApiKeyConfigMixin, IdMap, ImageBackendMixin
from ..core.download import build_annotations
from ..core.errors import ParameterError
from ..core.idmap import recorded_ids
from ..core.params import check_choice, check_positive, reject_unknown_parameters
from ..core.runs import RunStatus, remove_run_items, status_dict
from ..core.schema import Fields, FieldSpec, LabelSchema, normalize_label_schema
from ..core.secrets import get_logger
from .client import LabelStudioClient
from .convert import LabelInterface
from .from_labelstudio import foreign_labels, results_to_labels
from .upload import SUPPORTED_TYPES, TITLE_MAX_LENGTH, TITLE_MIN_LENGTH, Uploader

if TYPE_CHECKING:
    from fiftyone.core.collections import SampleCollection
    from fiftyone.core.labels import Label

logger = get_logger(__name__)

_TRUE_WORDS, _FALSE_WORDS = ("true", "yes", "1"), ("false", "no", "0")


class LabelStudioBackendConfig(ApiKeyConfigMixin, foua.AnnotationBackendConfig):
    """Configuration of the Label Studio backend.

    Every option is checked here, so that a bad value is refused before
    anything is created.

    Args:
        name: the backend name (``"labelstudio"``)
        label_schema: the label schema resolved by FiftyOne
        media_field ("filepath"): the field holding the media paths
        url (None): the Label Studio server URL (``FIFTYONE_LABELSTUDIO_URL``)
        api_key (None): a legacy token or personal access token
            (``FIFTYONE_LABELSTUDIO_API_KEY``); never stored in the run
        project_name (None): the project title (3 to 50 characters); an
            existing title gets a timestamp suffix unless
            ``reuse_project=True``
        project_id (None): the id of an existing project to add tasks to
        reuse_project (False): add tasks to the project named
            ``project_name`` if it exists
        local_files ("auto"): ``"auto"`` serves media from the server's
            local-files root when the server serves one that holds the media,
            ``True`` requires it, ``False`` always uploads
        local_files_document_root (None): the server's
            ``LOCAL_FILES_DOCUMENT_ROOT`` when known (it is otherwise found
            by asking the server; ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``
            is read as a hint)
        upload_max_files (100): the most files per upload request (Label
            Studio refuses more than 100 by default)
        upload_max_bytes (100 MiB): the most bytes per upload request
        upload_workers (2): upload requests in flight at once
        import_batch_size (500): the most tasks per JSON import request
        export_max_tasks (5000): runs with up to this many tasks download
            their annotations in one export request; larger runs read pages
            of ``download_page_size`` tasks
        download_page_size (1000): tasks per page of a paged download
        timeout (300): the read timeout of each request, in seconds
        max_retries (5): retries of failed requests (0 for none)
        max_calls (None): an optional calls-per-window budget
        window_seconds (60): the budget window, in seconds
        run_id (None): the run's id (set when the run is registered)
    """

    def __init__(
        self,
        name: str,
        label_schema: LabelSchema | None,
        media_field: str = "filepath",
        url: str | None = None,
        api_key: str | None = None,
        project_name: str | None = None,
        project_id: int | str | None = None,
        reuse_project: bool | str = False,
        local_files: bool | str | None = "auto",
        local_files_document_root: str | None = None,
        upload_max_files: int = 100,
        upload_max_bytes: int = 100 * 1024 * 1024,
        upload_workers: int = 2,
        import_batch_size: int = 500,
        export_max_tasks: int = 5000,
        download_page_size: int = 1000,
        timeout: float = 300,
        max_retries: int = 5,
        max_calls: int | None = None,
        window_seconds: float = 60,
        run_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        reject_unknown_parameters(type(self), name, kwargs)
        super().__init__(name, label_schema, media_field=media_field)
        self.run_id = run_id
        self.url = url
        self.project_name = project_name
        self.project_id = _integer_or_none(project_id)
        self.reuse_project = _boolean(reuse_project, "reuse_project")
        self.local_files = _local_files_mode(local_files)
        self.local_files_document_root = local_files_document_root
        self.upload_max_files = upload_max_files
        self.upload_max_bytes = upload_max_bytes
        self.upload_workers = upload_workers
        self.import_batch_size = import_batch_size
        self.export_max_tasks = export_max_tasks
        self.download_page_size = download_page_size
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_calls = max_calls
        self.window_seconds = window_seconds
        self.api_key = api_key
        self._check()

    def _check(self) -> None:
        check_positive(
            self,
            [
                "project_id",
                "upload_max_files",
                "upload_max_bytes",
                "upload_workers",
                "import_batch_size",
                "export_max_tasks",
                "download_page_size",
                "max_calls",
            ],
        )
        check_positive(self, ["timeout", "window_seconds"], integer=False)
        check_positive(self, ["max_retries"], allow_zero=True, allow_none=False)
        check_choice(self, "local_files", (True, False, "auto"))
        if self.url is not None:
            parts = urllib.parse.urlsplit(str(self.url))
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ParameterError(
                    "`url` must be the http(s) address of the Label Studio server (e.g. http://localhost:8080), "
                    "not %r" % (self.url,)
                )
        name = self.project_name
        if name is not None and (not isinstance(name, str) or not TITLE_MIN_LENGTH <= len(name) <= TITLE_MAX_LENGTH):
            length = len(name) if isinstance(name, str) else 0
            raise ParameterError(
                "project_name %r has %d characters; Label Studio needs %d to %d"
                % (name, length, TITLE_MIN_LENGTH, TITLE_MAX_LENGTH)
            )
        if not isinstance(self.media_field, str) or not self.media_field:
            raise ParameterError("`media_field` must be a field name, not %r" % (self.media_field,))

    def load_credentials(self, url: str | None = None, api_key: str | None = None) -> None:
        """Fills ``url``/``api_key`` from the annotation config and env vars."""
        self._load_parameters(url=url, api_key=api_key)

    def __repr__(self) -> str:
        return "%s(url=%r, project_name=%r)" % (type(self).__name__, self.url, self.project_name)


def _integer_or_none(value: int | str | None) -> int | str | None:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


def _boolean(value: bool | str, name: str) -> bool:
    if isinstance(value, str) and value.strip().lower() in _TRUE_WORDS + _FALSE_WORDS:
        return value.strip().lower() in _TRUE_WORDS
    if not isinstance(value, bool):
        raise ParameterError("`%s` must be True or False, not %r" % (name, value))
    return value


def _local_files_mode(value: bool | str | None) -> bool | str:
    """``local_files`` as True, False or "auto" (env var strings accepted)."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word == "auto":
            return "auto"
        if word in _TRUE_WORDS + _FALSE_WORDS:
            return word in _TRUE_WORDS
    if isinstance(value, bool):
        return value
    # not a valid choice: check_choice says so
    return value if value is not None else "auto"


class LabelStudioBackend(ImageBackendMixin[LabelStudioClient], foua.AnnotationBackend):
    """Sends samples to Label Studio and merges the annotations back."""

    config: LabelStudioBackendConfig

    def _connect_to_api(self) -> LabelStudioClient:
        config = self.config
        if config.api_key is None or config.url is None:
            config.load_credentials()
        return LabelStudioClient(
            config.url,
            config.api_key,
            timeout=config.timeout,
            max_retries=config.max_retries,
            max_calls=config.max_calls,
            window_seconds=config.window_seconds,
        )

    def _upload(self, samples: SampleCollection, anno_key: str) -> LabelStudioAnnotationResults:
        return Uploader(self, samples, anno_key, LabelStudioAnnotationResults).run()

    def _download(self, results: LabelStudioAnnotationResults) -> Annotations:
        """Downloads the latest submitted annotation of every task.

        Raises:
            ProjectDeletedError: the run's project no longer exists
        """
        fields = normalize_label_schema(self.config.label_schema, results.samples, SUPPORTED_TYPES)
        interface = results.interface(fields)
        client = self.connect_to_api()
        logger.info("Downloading annotations from Label Studio project %s...", results.project_id)
        found = 0
        annotated: dict[str, list[dict[str, Any]]] = {}
        for task in results.iter_tasks(client):
            found += 1
            annotation = latest_annotation(task)
            if annotation is not None:
                annotated[results.uploaded_tasks[task["id"]]] = annotation.get("result") or []
        missing = len(results.uploaded_tasks) - found
        if missing:
            logger.warning(
                "%d tasks of this run no longer exist in Label Studio; their samples keep their labels", missing
            )
        logger.info("%d of %d tasks have a submitted annotation", len(annotated), len(results.uploaded_tasks))

        added_labels = results.added_labels
        dataset = compat.base_dataset(results.samples)
        deleted_fields = {field for field in fields if not dataset.has_field(field)}
        # {field: {return type: {sample_id: labels}}}
        unexpected: collections.defaultdict[str, collections.defaultdict[str, dict[str, Any]]]
        unexpected = collections.defaultdict(lambda: collections.defaultdict(dict))

        def convert(spec: FieldSpec, result: list[dict[str, Any]], uploaded: dict[str, Label], sample_id: str) -> Any:
            for return_type, labels in foreign_labels(spec, interface, result).items():
                unexpected[spec.name][return_type][sample_id] = labels
            known_ids: Sequence[str] = ()
            if spec.name in deleted_fields:
                # the labels come back under the ids they were uploaded with
                known_ids = recorded_ids(results.id_map.get(spec.name, {}).get(sample_id))
            aliases = added_labels.get(spec.name, {}).get(sample_id) or {}
            added: dict[str, str] = {}
            labels = results_to_labels(
                spec, interface, result, uploaded, aliases=aliases, added=added, known_ids=known_ids
            )
            if added:
                # FiftyOne saves the results after merging: the next load
                # gives these regions the same label ids
                added_labels.setdefault(spec.name, {}).setdefault(sample_id, {}).update(added)
            return labels

        sample_ids = list(results.uploaded_tasks.values())
        annotations = build_annotations(results.samples, fields, results.id_map, sample_ids, annotated, convert)
        # labels of another type drawn in a field: FiftyOne's `unexpected`
        for field, by_type in unexpected.items():
            annotations[field].update({return_type: dict(values) for return_type, values in by_type.items()})
        return annotations


def latest_annotation(task: dict[str, Any] | None) -> dict[str, Any] | None:
    """The annotation that counts for a task: the latest one submitted and
    not skipped. ``None`` when the task is untouched or only skipped."""
    if not task:
        return None
    submitted = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    if not submitted:
        return None
    return max(submitted, key=lambda a: (a.get("updated_at") or "", a.get("id") or 0))


class LabelStudioAnnotationResults(foua.AnnotationResults):
    """The results of a Label Studio annotation run.

    Attributes:
        project_id: the Label Studio project id
        uploaded_tasks: ``{task_id: sample_id}``
        tags: ``{field: control tag name}`` of the labeling config
        attribute_tags: ``{field: {attribute: control tag name}}``
        project_created: whether this run created the project (recorded when
            it was created or adopted, never guessed)
        upload_complete: whether the upload finished (an unfinished run is
            resumed by the same ``annotate()`` call)
        added_labels: ``{field: {sample_id: {region id: label id}}}`` of the
            regions a load turned into new labels, so that loading again
            keeps their ids
    """

    config: LabelStudioBackendConfig
    _backend: LabelStudioBackend

    def __init__(
        self,
        samples: SampleCollection,
        config: LabelStudioBackendConfig,
        anno_key: str,
        id_map: IdMap,
        project_id: int | None = None,
        uploaded_tasks: dict[int, str] | None = None,
        tags: dict[str, str] | None = None,
        attribute_tags: dict[str, dict[str, str]] | None = None,
        project_created: bool = False,
        upload_complete: bool = True,
        added_labels: dict[str, dict[str, dict[str, str]]] | None = None,
        backend: LabelStudioBackend | None = None,
    ) -> None:
        super().__init__(samples, config, anno_key, id_map, backend=backend)
        self.project_id = project_id
        self.uploaded_tasks = uploaded_tasks or {}
        self.tags = tags
        self.attribute_tags = attribute_tags
        self.project_created = project_created
        self.upload_complete = upload_complete
        self.added_labels = added_labels or {}

    @property
    def task_ids(self) -> list[int]:
        """The task ids of this run."""
        return list(self.uploaded_tasks)

    @property
    def sample_to_task(self) -> dict[str, int]:
        """``{sample_id: task_id}``."""
        return {s: t for t, s in self.uploaded_tasks.items()}

    @property
    def project_url(self) -> str:
        """The URL of the project's task list."""
        return "%s/projects/%s/data" % ((self.config.url or "").rstrip("/"), self.project_id)

    def interface(self, fields: Fields) -> LabelInterface:
        """The :class:`LabelInterface` this run was uploaded with."""
        return LabelInterface(fields, self.tags, self.attribute_tags)

    def launch_editor(self) -> None:
        """Opens the project in a web browser."""
        logger.info("Launching editor at '%s'...", self.project_url)
        webbrowser.open_new_tab(self.project_url)

    def iter_tasks(self, client: LabelStudioClient) -> Iterator[dict[str, Any]]:
        """This run's tasks that still exist, with their annotations: one
        export request, or pages for runs above ``export_max_tasks``.

        Raises:
            ProjectDeletedError: the run's project no longer exists
        """
        if self.project_id is None:  # the upload never created a project
            return
        single = len(self.uploaded_tasks) <= self.config.export_max_tasks
        page_size = self.config.download_page_size
        for task in client.tasks_with_annotations(self.project_id, single_request=single, page_size=page_size):
            if task["id"] in self.uploaded_tasks:
                yield task

    def get_status(self) -> RunStatus:
        """The run's progress, from the server.

        Returns:
            the common status dict (:func:`~fo_annotation_backends.core.runs.status_dict`):
            ``project_id``, ``total``, ``labeled``, ``reviewed`` (always 0:
            Label Studio Community has no review step), ``unlabeled``,
            ``missing`` (tasks deleted on the server), ``annotators``
            (``{email: annotations}``) and ``service`` with ``skipped``
            (tasks only skipped) and ``url``

        Raises:
            ProjectDeletedError: the run's project no longer exists
        """
        client = self._backend.connect_to_api()
        users = client.users()
        found = labeled = skipped = 0
        per_annotator: collections.Counter[str] = collections.Counter()
        for task in self.iter_tasks(client):
            found += 1
            annotations = task.get("annotations") or []
            if any(not a.get("was_cancelled") for a in annotations):
                labeled += 1
            elif annotations:
                skipped += 1
            for annotation in annotations:
                author = annotation.get("completed_by")
                if isinstance(author, dict):
                    author = author.get("email") or author.get("id")
                else:
                    author = users.get(author, author)
                per_annotator[str(author)] += 1
        missing = len(self.uploaded_tasks) - found
        return status_dict(
            self.project_id,
            len(self.uploaded_tasks),
            labeled,
            0,
            missing,
            per_annotator,
            skipped=skipped,
            url=self.project_url,
        )

    def print_status(self) -> None:
        """Prints :meth:`get_status` in a readable form."""
        status = self.get_status()
        print("Label Studio project %s (%s)" % (status["project_id"], self.project_url))
        print("    tasks:     %d" % status["total"])
        print("    labeled:   %d" % status["labeled"])
        print("    skipped:   %d" % status["service"]["skipped"])
        print("    unlabeled: %d (skipped included)" % status["unlabeled"])
        if status["missing"]:
            print("    deleted on the server: %d" % status["missing"])
        for author, count in sorted(status["annotators"].items()):
            print("    %s: %d annotation(s)" % (author, count))

    def cleanup(self) -> None:
        """Deletes the run's tasks from Label Studio: the whole project (one
        request) when this run created it and no other task is in it, else
        the run's tasks by id (one request). An unfinished run's tasks are
        also found by the run id they carry. A project that no longer exists
        is a no-op."""
        if self.project_id is None:
            return
        client = self._backend.connect_to_api()
        project_id = int(self.project_id)
        project = client.get_project(project_id)
        if project is None:
            logger.info("Label Studio project %s no longer exists; nothing to clean up", project_id)
            return
        ours = set(self.uploaded_tasks)
        run_id = getattr(self.config, "run_id", None)
        if not self.upload_complete and run_id:
            ours.update(client.run_task_ids(project_id, run_id).values())

        def other_tasks_exist() -> bool:
            count = project.get("task_number")
            if count == 0:
                return False
            if count is not None and count > len(ours):
                return True
            return bool(client.task_ids(project_id) - ours)

        deleted = remove_run_items(
            self.project_created,
            other_tasks_exist,
            lambda: client.delete_project(project_id),
            lambda: client.delete_tasks(project_id, ours),
        )
        if deleted:
            logger.info("Deleted Label Studio project %s", project_id)
        else:
            logger.info("Deleted the run's %d tasks from Label Studio project %s", len(ours), project_id)

    @classmethod
    def _from_dict(
        cls, d: dict[str, Any], samples: SampleCollection, config: LabelStudioBackendConfig, anno_key: str
    ) -> LabelStudioAnnotationResults:
        uploaded_tasks = {int(task_id): sample_id for task_id, sample_id in (d.get("uploaded_tasks") or {}).items()}
        return cls(
            samples,
            config,
            anno_key,
            d["id_map"],
            project_id=d.get("project_id"),
            uploaded_tasks=uploaded_tasks,
            tags=d.get("tags"),
            attribute_tags=d.get("attribute_tags"),
            # a record without the flag (older versions) never deletes the project
            project_created=d.get("project_created", False),
            upload_complete=d.get("upload_complete", True),
            added_labels=d.get("added_labels"),
        )


def check_server(url: str, api_key: str, timeout: float) -> str | None:
    """Checks that ``url`` is a Label Studio server that accepts
    ``api_key``; returns who the key belongs to (the registry's
    ``check_server``). Raises this package's errors."""
    client = LabelStudioClient(url, api_key, timeout=timeout, max_retries=1)
    try:
        user = client.check_credentials()
    finally:
        client.close()
    return user.get("email") or user.get("username") or user.get("id")
