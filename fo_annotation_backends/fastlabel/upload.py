"""The upload of a FastLabel run, under the package's failure policy.

1. Everything that can be checked is checked before the first request that
   creates something: the schema, the media (decodable PNG/JPEG up to 20 MiB,
   no sample twice), the conversion of every label, the endpoint and token,
   the assignee, and a reused project (its type, its classes).
2. The project: ``project=<slug>`` reuses that one; a resumed run (the same
   ``annotate()`` call after a failure or a killed process) reuses the
   project it recorded, or finds the one it created by its slug, which is
   derived from the run id; otherwise a new project is created and recorded
   with the run at once (``record_partial``).
3. The missing classes, then one task per sample that the project does not
   have yet: tasks are named after the run key, the sample id and the run id,
   so a resumed upload creates nothing twice.
4. The tasks are read back once, for their ids and for FastLabel's ids of
   the uploaded annotations (matched by content, see :mod:`.idmatch`).

A failure after the first object exists goes to
:func:`~..core.runs.handle_failed_upload`: with no task of the run on the
service and nothing owned before, exactly what this call created is deleted
(its project; in a reused project the classes it added) and the run is
unregistered; otherwise the run stays registered as unfinished and the error
says to run the same call again.
"""

from __future__ import annotations

import base64
import concurrent.futures
import io
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from PIL import Image

from ..core import compat
from ..core.backend import keypoint_skeletons
from ..core.errors import AnnotationBackendError, MediaError, ParameterError, ProjectDeletedError
from ..core.idmap import field_values, record_ids
from ..core.media import check_image_media, sample_image_sizes
from ..core.progress import progress_bar
from ..core.runs import handle_failed_upload
from ..core.schema import IMAGE_TYPES, normalize_label_schema
from ..core.secrets import get_logger
from .client import CLASSIFICATION_TASKS, IMAGE_TASKS
from .convert import IMAGE_CLASSIFICATION, FastLabelInterface, labels_to_task
from .idmatch import match_annotation_ids

if TYPE_CHECKING:
    from fiftyone.core.collections import SampleCollection

    from ..core.backend import IdMap
    from ..core.schema import Fields
    from .backend import FastLabelAnnotationResults, FastLabelBackend
    from .client import FastLabelClient, JsonDict
    from .interface import Json

    #: what :func:`~.to_fastlabel.labels_to_task` makes of a sample: ``(annotations,
    #: task attributes, part ids)``
    SentTask = tuple[list[Json], list[Json], list[str | None]]

logger = get_logger(__name__)

MAX_FILE_BYTES = 20 * 1024 * 1024  # FastLabel's limit for image tasks
ACCEPTED_EXTENSIONS = (".png", ".jpg", ".jpeg")
SUPPORTED_TYPES = IMAGE_TYPES
#: how many hex digits of the run id mark the run's project slug and task names
RUN_MARK_LENGTH = 12
_SLUG_RE = re.compile(r"[^a-z0-9_-]+")


def run_mark(run_id: str | None) -> str:
    """The part of a run id that marks the run's project and tasks."""
    return str(run_id)[:RUN_MARK_LENGTH]


def task_name_for(anno_key: str, run_id: str | None, sample_id: str, path: str, convert: bool) -> str:
    """The task name of a sample in a run: unique in the project, readable,
    ending in the image's extension as FastLabel requires, and carrying the
    run's mark (see :func:`is_run_task_name`)."""
    stem, ext = os.path.splitext(os.path.basename(path))
    ext = ".png" if convert else ext.lower()
    return "%s-%s-%s-%s%s" % (_slug(stem)[:60] or "image", anno_key, sample_id, run_mark(run_id), ext)


def is_run_task_name(name: object, run_id: str | None) -> bool:
    """Whether a task name was made by :func:`task_name_for` for this run."""
    if not run_id:
        return False
    stem = os.path.splitext(str(name or ""))[0]
    return bool(re.search(r"-[0-9a-f]{24}-%s$" % re.escape(run_mark(run_id)), stem))


def project_slug_for(dataset_name: str, anno_key: str, run_id: str | None) -> str:
    """The slug of the project a run creates: readable, and ending in the
    run's mark, so that the project of a killed attempt is found again."""
    readable = _slug("fiftyone-%s-%s" % (dataset_name, anno_key))[:60].strip("-_")
    return "%s-%s" % (readable, run_mark(run_id))


def _slug(text: object) -> str:
    return _SLUG_RE.sub("-", str(text).lower()).strip("-_")


class Uploader:
    """One ``annotate()`` call of the FastLabel backend.

    Args:
        backend: the :class:`~.backend.FastLabelBackend`
        samples: the samples to send
        anno_key: the run key
        results_cls: the results class to return
    """

    #: set by run(), before anything uses it
    interface: FastLabelInterface

    def __init__(
        self,
        backend: FastLabelBackend,
        samples: SampleCollection,
        anno_key: str,
        results_cls: type[FastLabelAnnotationResults],
    ) -> None:
        self.backend = backend
        self.config = backend.config
        self.samples = samples
        self.anno_key = anno_key
        self.results_cls = results_cls
        self.resume = backend.resume_state
        self.id_map: IdMap = {}
        self.endpoint = IMAGE_TASKS
        # the project, as it becomes known
        self.slug: str | None = None
        self.project_id: str | None = None
        self.project_created = False  # the run created it (an earlier attempt or this call)
        self.created_project = False  # this call creates it
        self.owned_before = False  # the run owned it before this call
        # classes this call adds to a reused project (rolled back on failure)
        self.new_class_values: list[str] = []
        self.new_classification_class = False

    # ------------------------------------------------------------------
    # the whole call

    def run(self) -> FastLabelAnnotationResults:
        """Uploads the run; returns its results."""
        config, samples = self.config, self.samples
        fields = normalize_label_schema(config.label_schema, samples, SUPPORTED_TYPES)
        if not len(samples):
            raise AnnotationBackendError("The view is empty: there is nothing to annotate")
        ids, paths = samples.values(["id", config.media_field])
        converted = self._check_media(ids, paths)
        new_fields = [f for f in fields if compat.base_dataset(samples).get_field(f) is None]
        interface = FastLabelInterface(fields, skeletons=keypoint_skeletons(samples, fields), new_fields=new_fields)
        self.interface = interface
        if interface.project_type == IMAGE_CLASSIFICATION:
            self.endpoint = CLASSIFICATION_TASKS
        sizes = sample_image_sizes(samples, ids, paths) if interface.needs_image_size() else {}
        names = {s: task_name_for(self.anno_key, config.run_id, s, p, s in converted) for s, p in zip(ids, paths)}
        sent = self._convert(fields, interface, ids, sizes)

        client = self.backend.connect_to_api()
        client.check_credentials()
        if config.assignee and client.find_user(config.assignee) is None:
            raise ParameterError(
                "assignee %r is not a user of this FastLabel workspace; nothing was uploaded" % config.assignee
            )
        project, missing_classes = self._find_project(client, interface)

        try:
            if project is None:
                self._create_project(client, interface)
            self._record()
            self._create_classes(client, interface, missing_classes)
            existing = {} if self.created_project else self._run_tasks(client, names)
            self._send_tasks(client, names, sent, existing, dict(zip(ids, paths)), converted)
            task_ids, annotation_ids = self._read_back(client, names, sent)
        except BaseException as e:
            self._on_failure(client, e, names)
            raise
        logger.info("FastLabel project %s has the %d tasks of run '%s'", self.slug, len(ids), self.anno_key)
        return self._results(task_ids, annotation_ids)

    def _results(self, task_ids: dict[str, str], annotation_ids: dict[str, str]) -> FastLabelAnnotationResults:
        return self.results_cls(
            self.samples,
            self.config,
            self.anno_key,
            self.id_map,
            project_slug=self.slug,
            project_id=self.project_id,
            task_ids=task_ids,
            annotation_ids=annotation_ids,
            interface=self.interface.to_dict(),
            project_type=self.interface.project_type,
            project_created=self.project_created,
            backend=self.backend,
        )

    @property
    def known_slug(self) -> str:
        """The slug of the run's project (known once it is found or created)."""
        if self.slug is None:
            raise AnnotationBackendError("The FastLabel project of run '%s' is not known yet" % self.anno_key)
        return self.slug

    # ------------------------------------------------------------------
    # checks and conversions, before anything is created

    def _check_media(self, ids: Sequence[str], paths: Sequence[str]) -> set[str]:
        """Checks every file; returns the ids of those to send as PNG."""
        items = list(zip(ids, paths))
        check_image_media(items, allow_remote=False)
        refused: list[str] = []
        converted: set[str] = set()
        for sample_id, path in items:
            ext = os.path.splitext(path)[1].lower()
            if ext in ACCEPTED_EXTENSIONS:
                if os.path.getsize(path) > MAX_FILE_BYTES:
                    refused.append("%s: %d bytes is over FastLabel's limit of 20 MiB" % (path, os.path.getsize(path)))
            elif self.config.convert_to_png:
                converted.add(sample_id)
                if len(_png_bytes(path)) > MAX_FILE_BYTES:
                    refused.append("%s: over FastLabel's limit of 20 MiB once converted to PNG" % path)
            else:
                refused.append(
                    "%s: FastLabel accepts PNG and JPEG only (pass convert_to_png=True to send it as lossless PNG)"
                    % path
                )
        if refused:
            listed = "\n  ".join(refused[:10])
            more = "\n  ... and %d more" % (len(refused) - 10) if len(refused) > 10 else ""
            raise MediaError(
                "%d media file(s) cannot be sent to FastLabel; nothing was uploaded:\n  %s%s"
                % (len(refused), listed, more)
            )
        return converted

    def _convert(
        self,
        fields: Fields,
        interface: FastLabelInterface,
        ids: Iterable[str],
        sizes: Mapping[str, tuple[int, int]],
    ) -> dict[str, SentTask]:
        """Fills the run's ``id_map``; returns ``{sample_id: (annotations,
        task attributes, part ids)}`` as they will be sent."""
        values = field_values(self.samples, list(fields))
        self.id_map = {field: {} for field in fields}
        sent: dict[str, SentTask] = {}
        for sample_id in ids:
            sample_values = {field: values[field].get(sample_id) for field in fields}
            for field, spec in fields.items():
                record_ids(self.id_map[field], spec, sample_id, sample_values[field])
            sent[sample_id] = labels_to_task(interface, sample_values, sizes.get(sample_id))
        return sent

    def _find_project(
        self, client: FastLabelClient, interface: FastLabelInterface
    ) -> tuple[JsonDict | None, list[Json | None]]:
        """The existing project this call uses (``None``: create one), and
        the classes it misses. Only reads; refuses what cannot be used."""
        config, resume = self.config, self.resume
        recorded = resume.project_id if resume is not None else None
        # what an unfinished earlier attempt recorded (its project, whether it created it)
        recorded_slug = getattr(resume.results, "project_slug", None) if resume is not None else None
        created_before = resume is not None and resume.project_created
        own_slug = project_slug_for(compat.root_dataset(self.samples).name, self.anno_key, config.run_id)
        project = None
        if config.project:
            project = client.find_project(config.project)
            if project is None:
                raise ParameterError(
                    "FastLabel project %r does not exist (or this token cannot see it); nothing was uploaded"
                    % config.project
                )
            if recorded and recorded != project["id"]:
                raise ParameterError(
                    "Run '%s' is an unfinished upload into FastLabel project %s, not %r: run the same annotate() "
                    "call with project=%r (or without `project`) to resume it, or discard it first with "
                    "`dataset.load_annotation_results('%s').cleanup()` and `dataset.delete_annotation_run('%s')`"
                    % (
                        self.anno_key,
                        recorded_slug,
                        config.project,
                        recorded_slug,
                        self.anno_key,
                        self.anno_key,
                    )
                )
            # created by this run: recorded so, or carrying its slug (killed before it recorded it)
            self.project_created = bool(
                (recorded == project["id"] and created_before)
                or (resume is not None and recorded is None and project["slug"] == own_slug)
            )
        elif recorded:
            project = client.project(str(recorded))  # FastLabel's project ids are strings
            if project is None and not created_before:
                raise ProjectDeletedError(
                    "FastLabel project %s, which the unfinished run '%s' was uploading into, no longer exists; "
                    "remove the run with `dataset.delete_annotation_run('%s')`"
                    % (recorded_slug, self.anno_key, self.anno_key)
                )
            if project is None:
                logger.info("The project of the unfinished run '%s' was deleted; creating a new one", self.anno_key)
            self.project_created = created_before
        elif resume is not None:
            # killed before it recorded a project: its slug says which is ours
            project = client.find_project(own_slug)
            self.project_created = project is not None
        if project is None:
            return None, self._missing_classes(interface, [])
        self.owned_before = self.project_created
        self.slug, self.project_id = project["slug"], project["id"]
        if project.get("type") != interface.project_type:
            raise ParameterError(
                "FastLabel project %r is of type %s; this label schema needs a %s project; nothing was uploaded"
                % (self.slug, project.get("type"), interface.project_type)
            )
        if self.project_created:
            logger.info("Resuming run '%s' in FastLabel project %s", self.anno_key, self.slug)
        return project, self._missing_classes(interface, client.classes(self.slug))

    def _missing_classes(self, interface: FastLabelInterface, existing: Iterable[JsonDict]) -> list[Json | None]:
        """The class bodies to create; refuses a class of another type."""
        by_value = {c.get("value"): c for c in existing}
        if interface.project_type == IMAGE_CLASSIFICATION:
            return [] if existing else [None]
        missing: list[Json | None] = []
        for body in interface.annotation_classes():
            found = by_value.get(body["value"])
            if found is None:
                missing.append(body)
            elif found.get("type") != body["type"]:
                raise ParameterError(
                    "FastLabel project %s already has a class %r of type %s (this run needs %s); nothing was uploaded"
                    % (self.slug, body["value"], found.get("type"), body["type"])
                )
        return missing

    # ------------------------------------------------------------------
    # creating

    def _create_project(self, client: FastLabelClient, interface: FastLabelInterface) -> None:
        dataset = compat.root_dataset(self.samples).name
        name = "%s [%s]" % (self.config.project_name or "FiftyOne %s" % dataset, self.anno_key)
        self.slug = project_slug_for(dataset, self.anno_key, self.config.run_id)
        self.created_project = self.project_created = True
        self.project_id = client.create_project(interface.project_type, name, self.slug)
        logger.info("Created FastLabel project %s (%s)", self.slug, name)

    def _record(self) -> None:
        """Records the project with the run as soon as it is known, so that
        a killed process leaves a run that knows what it owns."""
        if self.resume is not None and self.resume.project_id == self.project_id:
            return
        self.backend.record_partial(self.samples, self.anno_key, self._results({}, {}))

    def _create_classes(
        self, client: FastLabelClient, interface: FastLabelInterface, missing: Sequence[Json | None]
    ) -> None:
        if not missing:
            return
        if interface.project_type == IMAGE_CLASSIFICATION:
            self.new_classification_class = not self.created_project
            client.create_classification_class(self.known_slug, interface.classification_attributes())
            return
        bodies = [body for body in missing if body is not None]  # None: a classification project's class
        if not self.created_project:
            self.new_class_values = [body["value"] for body in bodies]
            logger.info("Adding %d classes to FastLabel project %s", len(missing), self.slug)
        for body in bodies:
            client.create_class(self.known_slug, body)

    def _run_tasks(self, client: FastLabelClient, names: Mapping[str, str]) -> dict[str, str]:
        """``{sample_id: task_id}`` of the run's tasks in the project."""
        sample_of: dict[str | None, str] = {n: s for s, n in names.items()}
        found: dict[str, str] = {}
        for task in client.iter_tasks(self.endpoint, self.known_slug, tag=self.anno_key):
            sample_id = sample_of.get(task.get("name"))
            if sample_id is not None:
                found[sample_id] = task["id"]
        if found:
            logger.info("%d of the run's %d tasks are already in project %s", len(found), len(names), self.slug)
        return found

    def _send_tasks(
        self,
        client: FastLabelClient,
        names: Mapping[str, str],
        sent: Mapping[str, SentTask],
        existing: Mapping[str, str],
        path_of: Mapping[str, str],
        converted: set[str],
    ) -> None:
        config = self.config
        tags = [self.anno_key] + [t for t in config.tags if t != self.anno_key]
        todo = [s for s in names if s not in existing]

        def send(sample_id: str) -> str:
            annotations, attributes, _ = sent[sample_id]
            body: JsonDict = {"project": self.slug, "name": names[sample_id], "tags": tags}
            if self.endpoint == CLASSIFICATION_TASKS:
                if attributes:
                    body["attributes"] = attributes
            elif annotations:
                body["annotations"] = annotations
            if config.priority is not None:
                body["priority"] = config.priority
            if config.assignee:
                body["assignee"] = config.assignee
            body["file"] = _base64_image(path_of[sample_id], sample_id in converted)
            return client.create_task(self.endpoint, body)

        workers = config.upload_workers
        logger.info("Creating %d tasks (%d in flight)...", len(todo), workers)
        with (
            progress_bar(len(names)) as advance,
            concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="fastlabel-upload") as pool,
        ):
            advance(len(names) - len(todo))
            # a bounded queue: files are read and encoded just before sending
            pending: set[concurrent.futures.Future[str]] = set()
            try:
                for sample_id in todo:
                    pending.add(pool.submit(send, sample_id))
                    if len(pending) >= 2 * workers:
                        done, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
                        for future in done:
                            future.result()
                            advance()
                for future in concurrent.futures.as_completed(pending):
                    future.result()
                    advance()
            except BaseException:
                for future in pending:
                    future.cancel()
                raise

    def _read_back(
        self, client: FastLabelClient, names: Mapping[str, str], sent: Mapping[str, SentTask]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Reads the run's tasks once: ``({sample_id: task_id},
        {FastLabel annotation id: FiftyOne part id})``."""
        sample_of: dict[str | None, str] = {n: s for s, n in names.items()}
        task_ids: dict[str, str] = {}
        annotation_ids: dict[str, str] = {}
        for task in client.iter_tasks(self.endpoint, self.known_slug, tag=self.anno_key):
            sample_id = sample_of.get(task.get("name"))
            if sample_id is None:
                continue
            task_ids[sample_id] = task["id"]
            annotations, _, parts = sent[sample_id]
            annotation_ids.update(match_annotation_ids(task, annotations, parts, sample_id))
        missing = set(names) - set(task_ids)
        if missing:
            raise AnnotationBackendError(
                "%d tasks of the run are missing from project %s after the upload (e.g. %s)"
                % (len(missing), self.slug, names[sorted(missing)[0]])
            )
        return task_ids, annotation_ids

    # ------------------------------------------------------------------
    # failure

    def _on_failure(self, client: FastLabelClient, error: BaseException, names: Mapping[str, str]) -> None:
        on_service: dict[str, str] = {}
        if self.project_id is not None:
            try:
                on_service = self._run_tasks(client, names)
            except Exception as e:
                logger.warning("Could not count the run's tasks in project %s: %s", self.slug, e)
        handle_failed_upload(
            self.backend,
            self.samples,
            self.anno_key,
            error,
            len(on_service),
            len(names),
            "tasks",
            self.slug,
            self._results(on_service, {}),
            roll_back=lambda: self._roll_back(client, names),
            owned_before=self.owned_before,
        )

    def _roll_back(self, client: FastLabelClient, names: Mapping[str, str]) -> None:
        """Deletes what this call created: its project, or in a reused
        project the run's tasks (an unanswered create may have made one) and
        the classes it added."""
        if self.created_project:
            project_id = self.project_id or (client.find_project(self.known_slug) or {}).get("id")
            if project_id is not None:
                client.delete_project(project_id)
                logger.info("Deleted FastLabel project %s, created by the failed upload", self.slug)
            return
        if self.slug is None:
            return
        for task_id in self._run_tasks(client, names).values():
            client.delete_task(task_id)
        if self.new_class_values or self.new_classification_class:
            added = set(self.new_class_values)
            for cls in client.classes(self.slug):
                if self.new_classification_class or cls.get("value") in added:
                    client.delete_class(cls["id"])
            logger.info("Deleted the classes the failed upload added to FastLabel project %s", self.slug)


def _png_bytes(path: str) -> bytes:
    with Image.open(path) as image:
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()


def _base64_image(path: str, convert: bool) -> str:
    if convert:
        data = _png_bytes(path)
    else:
        with open(path, "rb") as f:
            data = f.read()
    return base64.b64encode(data).decode("ascii")
