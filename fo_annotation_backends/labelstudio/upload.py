"""The Label Studio upload: project, media and tasks, resumable.

What a run creates carries its run id: the project's description (when the
run creates the project) and every task's data (``fo_run_id``, next to
``fo_sample_id``), and uploaded files are named after the run and the sample.
So an upload that stopped (an error, a killed process) is resumed by the same
``annotate()`` call: the run's tasks already in the project are found and
only the missing ones are created, and files already uploaded are not sent
again. Failures follow :func:`~fo_annotation_backends.core.runs.handle_failed_upload`.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from ..core import compat
from ..core.errors import AnnotationBackendError, MediaError, ParameterError
from ..core.idmap import field_values, record_ids
from ..core.media import check_image_media, chunk_by_count_and_bytes, is_remote, sample_image_sizes
from ..core.progress import progress_bar
from ..core.runs import ProjectId, handle_failed_upload
from ..core.schema import IMAGE_TYPES, normalize_label_schema
from ..core.secrets import get_logger
from .client import RUN_KEY, SAMPLE_KEY, media_name
from .convert import LabelInterface
from .to_labelstudio import labels_to_results

if TYPE_CHECKING:
    from fiftyone.core.collections import SampleCollection

    from ..core.backend import IdMap
    from ..core.schema import Fields
    from .backend import LabelStudioAnnotationResults, LabelStudioBackend
    from .client import JsonDict, LabelStudioClient

logger = get_logger(__name__)

TITLE_MIN_LENGTH, TITLE_MAX_LENGTH = 3, 50  # Label Studio's project title limits
_NEEDS_IMAGE_SIZE = ("instances", "segmentation")
SUPPORTED_TYPES = IMAGE_TYPES


def project_description(anno_key: str, run_id: str) -> str:
    """The description of a project a run creates; it carries the run id."""
    return "FiftyOne annotation run '%s' (run id %s)" % (anno_key, run_id)


class Uploader:
    """One ``annotate()`` call's upload (see the module docstring).

    Args:
        backend: the :class:`~.backend.LabelStudioBackend`
        samples: the samples to annotate
        anno_key: the run key
        results_cls: the results class
    """

    # set by run(), before anything uses them
    client: LabelStudioClient
    fields: Fields
    interface: LabelInterface

    def __init__(
        self,
        backend: LabelStudioBackend,
        samples: SampleCollection,
        anno_key: str,
        results_cls: type[LabelStudioAnnotationResults],
    ) -> None:
        self.backend = backend
        self.config = backend.config
        self.samples = samples
        self.anno_key = anno_key
        self.results_cls = results_cls
        if self.config.run_id is None:  # register_run() sets it, before any upload
            raise AnnotationBackendError("Run '%s' has no run id: it was not registered" % anno_key)
        self.run_id: str = self.config.run_id
        self.resume = backend.resume_state
        self.project: JsonDict | None = None
        self.project_created = False  # the run created the project (recorded)
        self.created_here = False  # this call created it
        self.owned_before = False  # an earlier attempt of the run created it
        self.create_sent = False
        self.imports_sent = False
        self.replaced_label_config: str | None = None
        self.created_storage_id: int | None = None
        self.uploaded_file_ids: list[int] = []
        self.tasks_before: dict[str, int] = {}  # {sample id: task id} of the run, found at the start
        self.task_ids: dict[int, str] = {}  # {task id: sample id}
        self.id_map: IdMap = {}

    def run(self) -> LabelStudioAnnotationResults:
        """Uploads; returns the results."""
        config = self.config
        self.fields = normalize_label_schema(config.label_schema, self.samples, SUPPORTED_TYPES)
        if not len(self.samples):
            raise ParameterError("The view is empty: there is nothing to annotate. Nothing was created.")
        self.interface = LabelInterface(self.fields)
        self.id_map = {field: {} for field in self.fields}
        ids, paths = self.samples.values(["id", config.media_field])
        sizes = check_image_media(list(zip(ids, paths)))
        image_sizes = self._image_sizes(ids, paths)

        # everything local is checked: now the server
        self.client = self.backend.connect_to_api()
        self.client.check_credentials()
        try:
            self._resolve_project()
            self._send_tasks(ids, paths, sizes, image_sizes)
        except BaseException as error:
            self._fail(error, len(ids))
            raise
        logger.info("Label Studio project %s has the run's %d tasks", self.project_id, len(self.task_ids))
        return self.results()

    @property
    def project_id(self) -> int:
        """The id of the run's project (known once ``_resolve_project()`` ran)."""
        if self.project is None:
            raise AnnotationBackendError("The Label Studio project of run '%s' is not known yet" % self.anno_key)
        return self.project["id"]

    def results(self) -> LabelStudioAnnotationResults:
        """The run's results as far as they are known."""
        return self.results_cls(
            self.samples,
            self.config,
            self.anno_key,
            {field: dict(entries) for field, entries in self.id_map.items()},
            project_id=self.project["id"] if self.project else None,
            uploaded_tasks=dict(self.task_ids),
            tags=self.interface.tags if self.interface else None,
            attribute_tags=self.interface.attribute_tags if self.interface else None,
            project_created=self.project_created,
            backend=self.backend,
        )

    def _image_sizes(self, ids: Sequence[str], paths: Sequence[str]) -> dict[str, tuple[int, int]]:
        if not any(spec.type in _NEEDS_IMAGE_SIZE for spec in self.fields.values()):
            return {}
        return sample_image_sizes(self.samples, ids, paths)

    # -- the project -------------------------------------------------------

    def _resolve_project(self) -> None:
        config, client, resume = self.config, self.client, self.resume
        if config.project_id is not None:
            project = client.get_project(config.project_id)
            if project is None:
                raise ParameterError(
                    "Label Studio project %s (`project_id`) does not exist. Nothing was created." % config.project_id
                )
            earlier = resume is not None and _same_id(resume.project_id, project["id"]) and resume.project_created
            return self._adopt(project, created=earlier)
        if resume is not None and resume.project_id is not None:
            project = client.get_project(resume.project_id)
            if project is not None:
                return self._adopt(project, created=resume.project_created)
            logger.warning(
                "Project %s of the unfinished run '%s' no longer exists; starting afresh",
                resume.project_id,
                self.anno_key,
            )
        title = self._title()
        if config.reuse_project:
            existing = client.find_projects(title)
            if existing:
                return self._adopt(existing[0], created=False)
        if resume is not None:
            # a process killed before it could record its project: find it
            project = client.find_project_by_marker(self.run_id, title[:20])
            if project is not None:
                logger.info("Found project %s of the unfinished run '%s' by its run id", project["id"], self.anno_key)
                return self._adopt(project, created=True, record=True)
        if client.find_projects(title):
            title = _unused_title(client, title)
        self.create_sent = True
        self.project = client.create_project(
            title, self.interface.to_xml(), project_description(self.anno_key, self.run_id), marker=self.run_id
        )
        self.project_created = self.created_here = True
        self.backend.record_partial(self.samples, self.anno_key, self.results())

    def _adopt(self, project: JsonDict, created: bool, record: bool = False) -> None:
        self.project = project
        self.project_created = self.owned_before = created
        if record:
            self.backend.record_partial(self.samples, self.anno_key, self.results())
        label_config = self.interface.to_xml()
        if (project.get("label_config") or "").strip() != label_config.strip():
            logger.info("Updating the labeling config of project %s", project["id"])
            if not created:
                self.replaced_label_config = project.get("label_config")
            self.project = self.client.update_label_config(project["id"], label_config)

    def _title(self) -> str:
        """``project_name`` (checked by the config) or one made from the
        dataset's name."""
        name = self.config.project_name
        if name is None:
            name = ("FiftyOne_%s" % compat.root_dataset(self.samples).name.replace(" ", "_"))[:TITLE_MAX_LENGTH]
            name = name.ljust(TITLE_MIN_LENGTH, "_")
        return name

    # -- tasks -------------------------------------------------------------

    def _send_tasks(
        self,
        ids: Sequence[str],
        paths: Sequence[str],
        sizes: Mapping[str, int],
        image_sizes: Mapping[str, tuple[int, int]],
    ) -> None:
        client, project_id = self.client, self.project_id
        in_view = set(ids)
        existing = client.run_task_ids(project_id, self.run_id)
        stray = len(set(existing) - in_view)
        if stray:
            logger.warning(
                "%d tasks of run '%s' are for samples outside this view; left as they are", stray, self.anno_key
            )
        self.tasks_before = {s: t for s, t in existing.items() if s in in_view}
        self.task_ids = {t: s for s, t in self.tasks_before.items()}
        if self.tasks_before:
            logger.info(
                "Resuming run '%s': %d of %d tasks are already in project %s",
                self.anno_key,
                len(self.tasks_before),
                len(ids),
                project_id,
            )
            self._restore_id_map(list(self.tasks_before))
        missing = [i for i in ids if i not in self.tasks_before]
        if not missing:
            return
        media = _Media(self, project_id, missing, dict(zip(ids, paths)), sizes)
        batch_size = self.config.import_batch_size
        logger.info("Creating %d tasks...", len(missing))
        with progress_bar(len(missing)) as advance:
            for start in range(0, len(missing), batch_size):
                batch = missing[start : start + batch_size]
                urls = media.urls_for(batch)
                tasks, entries = self._tasks(batch, urls, image_sizes)
                self.imports_sent = True
                created = client.import_tasks(project_id, tasks, self.run_id)
                self.task_ids.update(zip(created, batch))
                for field, values in entries.items():
                    self.id_map[field].update(values)
                advance(len(batch))

    def _tasks(
        self, batch: Sequence[str], urls: Mapping[str, str], image_sizes: Mapping[str, tuple[int, int]]
    ) -> tuple[list[JsonDict], IdMap]:
        values = field_values(self.samples, list(self.fields), batch)
        entries: IdMap = {field: {} for field in self.fields}
        tasks: list[JsonDict] = []
        for sample_id in batch:
            width, height = image_sizes.get(sample_id, (None, None))
            result: list[JsonDict] = []
            for field, spec in self.fields.items():
                value = values[field].get(sample_id)
                record_ids(entries[field], spec, sample_id, value)
                result.extend(labels_to_results(spec, self.interface, value, width, height))
            task: JsonDict = {"data": {"image": urls[sample_id], SAMPLE_KEY: sample_id, RUN_KEY: self.run_id}}
            if result:
                # no model version: Label Studio files them as "undefined",
                # as for FiftyOne's built-in backend
                task["predictions"] = [{"result": result, "score": 1.0}]
            tasks.append(task)
        return tasks, entries

    def _restore_id_map(self, sample_ids: Sequence[str]) -> None:
        """The id_map entries of tasks an earlier attempt created: recorded
        ones, else the labels as they are now."""
        earlier = getattr(self.resume, "results", None)
        known = (getattr(earlier, "id_map", None) or {}) if earlier is not None else {}
        values = field_values(self.samples, list(self.fields), sample_ids)
        for field, spec in self.fields.items():
            recorded = known.get(field) or {}
            for sample_id in sample_ids:
                if sample_id in recorded:
                    self.id_map[field][sample_id] = recorded[sample_id]
                else:
                    record_ids(self.id_map[field], spec, sample_id, values[field].get(sample_id))

    # -- failures ------------------------------------------------------------

    def _fail(self, error: BaseException, total: int) -> None:
        client = self.client
        if self.project is None:
            if self.create_sent:
                self._delete_unrecorded_project()
            return
        project_id = self.project["id"]
        uncertain = False
        try:
            found = client.run_task_ids(project_id, self.run_id)
            # tasks whose import answer was lost are the run's too
            self.task_ids.update({t: s for s, t in found.items() if t not in self.task_ids})
            done = len(found)
        except Exception as e:
            logger.warning("Could not count the run's tasks in project %s: %s", project_id, e)
            done = len(self.task_ids)
            uncertain = self.imports_sent
        handle_failed_upload(
            self.backend,
            self.samples,
            self.anno_key,
            error,
            done,
            total,
            "tasks",
            project_id,
            self.results(),
            roll_back=self._roll_back,
            owned_before=self.owned_before or uncertain,
        )

    def _delete_unrecorded_project(self) -> None:
        """A project creation whose outcome stayed unknown: delete the
        project if the server made it."""
        try:
            project = self.client.find_project_by_marker(self.run_id, self._title()[:20])
            if project is not None:
                logger.info("Deleting project %s, created by the failed upload", project["id"])
                self.client.delete_project(project["id"])
        except Exception as e:
            logger.warning("Could not check for a project created by the failed upload: %s", e)

    def _roll_back(self) -> None:
        """Deletes what this call created: its project, or, in a reused
        project, its tasks, files and storage, and puts back the labeling
        config it replaced."""
        client, project_id = self.client, self.project_id
        if self.created_here:
            logger.info("Deleting project %s, created by the failed upload", project_id)
            client.delete_project(project_id)
            return
        ours = client.run_task_ids(project_id, self.run_id)
        client.delete_tasks(project_id, [t for s, t in ours.items() if s not in self.tasks_before])
        client.delete_file_uploads(project_id, self.uploaded_file_ids)
        if self.created_storage_id is not None:
            client.delete_local_storage(self.created_storage_id)
        if self.replaced_label_config is not None:
            logger.info("Putting back the labeling config of project %s", project_id)
            client.update_label_config(project_id, self.replaced_label_config)


def _same_id(a: ProjectId | None, b: ProjectId) -> bool:
    try:
        return a is not None and int(a) == int(b)
    except (TypeError, ValueError):
        return False


def _unused_title(client: LabelStudioClient, title: str) -> str:
    """``title`` with a timestamp suffix (and a counter if needed) that no
    project has, within the title length limit."""
    stamp = datetime.datetime.now().strftime("_%Y%m%d_%H%M%S")
    n = 1
    while True:
        suffix = stamp if n == 1 else "%s_%d" % (stamp, n)
        candidate = title[: TITLE_MAX_LENGTH - len(suffix)] + suffix
        if not client.find_projects(candidate):
            return candidate
        n += 1


class _Media:
    """Where the tasks' media come from: http(s) URLs as they are, the
    server's local-files root, or uploads (sent batch by batch, skipping
    files an earlier attempt of the run uploaded)."""

    def __init__(
        self,
        uploader: Uploader,
        project_id: int,
        sample_ids: Sequence[str],
        paths_by_id: Mapping[str, str],
        sizes: Mapping[str, int],
    ) -> None:
        self.uploader = uploader
        self.client = uploader.client
        self.config = uploader.config
        self.project_id = project_id
        self.paths = paths_by_id
        self.sizes = sizes
        self.urls = {s: paths_by_id[s] for s in sample_ids if is_remote(paths_by_id[s])}
        local = [(s, paths_by_id[s]) for s in sample_ids if not is_remote(paths_by_id[s])]
        self.pending: set[str] = set()
        if not local:
            return
        mode = self.config.local_files
        if mode is not False:
            served = _LocalFiles(uploader, project_id).resolve(local)
            if served is not None:
                self.urls.update(served)
                return
            if mode is True:
                raise MediaError(
                    "local_files=True, but the Label Studio server does not serve local files that "
                    "hold this media (start it with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true and "
                    "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT set to a folder above the media)"
                )
        self.names = {s: media_name(uploader.run_id, s, p) for s, p in local}
        already = self.client.uploaded_files(project_id) if uploader.resume is not None else {}
        for sample_id, _ in local:
            if self.names[sample_id] in already:
                self.urls[sample_id] = already[self.names[sample_id]]
            else:
                self.pending.add(sample_id)
        if len(self.pending) < len(local):
            logger.info(
                "%d media files of this run are already uploaded; not sending them again",
                len(local) - len(self.pending),
            )

    def urls_for(self, batch: Iterable[str]) -> dict[str, str]:
        """``{sample id: media URL}`` of a batch, uploading what is needed."""
        todo = [s for s in batch if s in self.pending]
        if todo:
            self._upload(todo)
        return {s: self.urls[s] for s in batch}

    def _upload(self, sample_ids: Sequence[str]) -> None:
        config = self.config
        chunks = list(
            chunk_by_count_and_bytes(sample_ids, self.sizes, config.upload_max_files, config.upload_max_bytes)
        )
        workers = max(1, min(int(config.upload_workers), len(chunks)))
        logger.info("Uploading %d media files in %d requests (%d in flight)...", len(sample_ids), len(chunks), workers)

        def upload(chunk: Sequence[str]) -> dict[str, tuple[str, int | None]]:
            files = [(s, self.names[s], self.paths[s]) for s in chunk]
            return self.client.upload_files(self.project_id, files)

        # the server parses one request per worker thread, so a second request
        # in flight keeps it busy while the first one's files are stored
        with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="ls-upload") as pool:
            pending = [pool.submit(upload, chunk) for chunk in chunks]
            try:
                for future in concurrent.futures.as_completed(pending):
                    for sample_id, (url, upload_id) in future.result().items():
                        self.urls[sample_id] = url
                        if upload_id is not None:  # nothing to delete on a rollback without its id
                            self.uploader.uploaded_file_ids.append(upload_id)
                        self.pending.discard(sample_id)
            except BaseException:
                for future in pending:
                    future.cancel()
                raise


class _LocalFiles:
    """Decides, by asking the server, whether it serves the media itself."""

    def __init__(self, uploader: Uploader, project_id: int) -> None:
        self.uploader = uploader
        self.client = uploader.client
        self.project_id = project_id
        self.config = uploader.config

    def resolve(self, items: Sequence[tuple[str, str]]) -> dict[str, str] | None:
        paths = [os.path.abspath(p) for _, p in items]
        common = os.path.commonpath(paths)
        if os.path.isfile(common):
            common = os.path.dirname(common)
        ok, reason = self.client.validate_local_storage(self.project_id, common)
        if not ok:
            logger.info("Label Studio will not serve %s as local files (%s); uploading media", common, reason)
            return None
        # the server serves a local file only under a connected storage
        storage, created = self.client.create_local_storage(self.project_id, common)
        if created and not self.uploader.created_here:
            self.uploader.created_storage_id = storage.get("id")
        root = self._document_root(paths[0])
        if root is None:
            logger.info("Could not find the server's local-files document root; uploading media")
            return None
        logger.info("Serving media from Label Studio's local-files root %s (no upload)", root)
        return {
            sample_id: self.client.local_files_url(os.path.relpath(path, root))
            for (sample_id, _), path in zip(items, paths)
        }

    def _document_root(self, probe_path: str) -> str | None:
        candidates: list[str] = []
        for hint in (self.config.local_files_document_root, os.environ.get("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT")):
            if hint:
                candidates.append(os.path.abspath(hint))
        parent = os.path.dirname(probe_path)
        ancestors = []
        while True:
            ancestors.append(parent)
            up = os.path.dirname(parent)
            if up == parent:
                break
            parent = up
        candidates.extend(reversed(ancestors))
        seen: set[str] = set()
        for root in candidates:
            if root in seen or os.path.commonpath([root, probe_path]) != root:
                continue
            seen.add(root)
            if self.client.serves_local_file(os.path.relpath(probe_path, root)):
                return root
        return None
