"""The Label Studio backend: config, backend and results.

A drop-in replacement for FiftyOne's built-in ``labelstudio`` backend (same
``url``/``api_key``/``project_name`` parameters and env vars), with legacy and
personal access tokens, attributes, every image label type, bounded streamed
uploads, local-files mode decided by the server, existing-project reuse,
rollback of failed runs and O(1) cleanup.
"""

import collections
import concurrent.futures
import datetime
import itertools
import os
import uuid
import webbrowser

import fiftyone.utils.annotations as foua

from ..core.params import reject_unknown_parameters
from ..core.backend import ApiKeyConfigMixin, ImageBackendMixin
from ..core.errors import AnnotationBackendError, MediaError
from ..core.download import build_annotations
from ..core.idmap import field_values, label_ids
from ..core.media import check_image_media, chunk_by_count_and_bytes, is_remote, sample_image_sizes
from ..core.progress import progress_bar
from ..core.schema import normalize_label_schema
from ..core.secrets import get_logger
from .client import LabelStudioClient
from .convert import LabelInterface, labels_to_results, results_to_labels

logger = get_logger(__name__)

TITLE_MIN_LENGTH, TITLE_MAX_LENGTH = 3, 50  # Label Studio's project title limits
SAMPLE_KEY = "fo_sample_id"
UPLOAD_KEY = "fo_upload_id"  # one value per annotate() call: finds its tasks
_NEEDS_IMAGE_SIZE = ("instances", "segmentation")
SUPPORTED_TYPES = (
    "classification",
    "classifications",
    "detections",
    "instances",
    "polylines",
    "polygons",
    "keypoints",
    "segmentation",
    "scalar",
)


class LabelStudioBackendConfig(ApiKeyConfigMixin, foua.AnnotationBackendConfig):
    """Configuration of the Label Studio backend.

    Args:
        name: the backend name (``"labelstudio"``)
        label_schema: the label schema resolved by FiftyOne
        media_field ("filepath"): the field holding the media paths
        url (None): the Label Studio server URL (``FIFTYONE_LABELSTUDIO_URL``)
        api_key (None): a legacy token or personal access token
            (``FIFTYONE_LABELSTUDIO_API_KEY``); never stored in the run
        project_name (None): the project title; an existing title gets a
            timestamp suffix unless ``reuse_project=True``
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
        max_retries (5): retries of failed requests
        max_calls (None): an optional calls-per-window budget
        window_seconds (60): the budget window, in seconds
    """

    def __init__(
        self,
        name,
        label_schema,
        media_field="filepath",
        url=None,
        api_key=None,
        project_name=None,
        project_id=None,
        reuse_project=False,
        local_files="auto",
        local_files_document_root=None,
        upload_max_files=100,
        upload_max_bytes=100 * 1024 * 1024,
        upload_workers=2,
        import_batch_size=500,
        export_max_tasks=5000,
        download_page_size=1000,
        timeout=300,
        max_retries=5,
        max_calls=None,
        window_seconds=60,
        run_id=None,
        **kwargs,
    ):
        reject_unknown_parameters(type(self), name, kwargs)
        super().__init__(name, label_schema, media_field=media_field)
        self.run_id = run_id
        self.url = url
        self.project_name = project_name
        self.project_id = project_id
        self.reuse_project = reuse_project
        self.local_files = local_files
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

    def load_credentials(self, url=None, api_key=None):
        """Fills ``url``/``api_key`` from the annotation config and env vars."""
        self._load_parameters(url=url, api_key=api_key)

    def __repr__(self):
        return "%s(url=%r, project_name=%r)" % (type(self).__name__, self.url, self.project_name)


class LabelStudioBackend(ImageBackendMixin, foua.AnnotationBackend):
    """Sends samples to Label Studio and merges the annotations back."""

    def _connect_to_api(self):
        return LabelStudioClient(
            self.config.url,
            self.config.api_key,
            timeout=self.config.timeout,
            max_retries=self.config.max_retries,
            max_calls=self.config.max_calls,
            window_seconds=self.config.window_seconds,
        )

    def _upload(self, samples, anno_key):
        # on failure the project is deleted (if this call created it)
        return _Uploader(self, samples, anno_key).run()

    def _download(self, results):
        """Downloads the latest submitted annotation of every task."""
        return _Downloader(self, results).run()


class _Uploader:
    def __init__(self, backend, samples, anno_key):
        self.backend = backend
        self.config = backend.config
        self.samples = samples
        self.anno_key = anno_key
        self.created_project_id = None
        self.upload_id = uuid.uuid4().hex
        self.replaced_label_config = None

    def run(self):
        config = self.config
        fields = normalize_label_schema(config.label_schema, self.samples, SUPPORTED_TYPES)
        if not len(self.samples):
            raise AnnotationBackendError("The view is empty: there is nothing to annotate")
        interface = LabelInterface(fields)
        ids, paths = self.samples.values(["id", config.media_field])
        sizes = check_image_media(list(zip(ids, paths)))
        image_sizes = self._image_sizes(fields, ids, paths)
        title = self._title() if config.project_id is None else None

        # everything local is checked: now the server
        client = self.backend.connect_to_api()
        client.check_credentials()
        project = None
        try:
            project = self._project(client, interface, title)
            media_urls = self._media_urls(client, project["id"], ids, paths, sizes)
            id_map, task_ids = self._import_tasks(client, project["id"], fields, interface, ids, media_urls, image_sizes)
        except BaseException:
            self._roll_back(client, project)
            raise

        logger.info("Created %d tasks in Label Studio project %s", len(task_ids), project["id"])
        return LabelStudioAnnotationResults(
            self.samples,
            config,
            self.anno_key,
            id_map,
            project_id=project["id"],
            uploaded_tasks=task_ids,
            tags=interface.tags,
            attribute_tags=interface.attribute_tags,
            project_created=self.created_project_id is not None,
            backend=self.backend,
        )

    def _roll_back(self, client, project):
        """Deletes what this upload created: its project, or its tasks in a
        reused project (found by upload id, so that tasks whose import
        answer was lost go too) and the labeling config it replaced."""
        try:
            if self.created_project_id is not None:
                logger.info("Upload failed; deleting project %s", self.created_project_id)
                client.delete_project(self.created_project_id)
            elif project is not None:
                ours = client.task_ids_by_sample(project["id"], SAMPLE_KEY, {UPLOAD_KEY: self.upload_id})
                if ours:
                    logger.info("Upload failed; deleting its %d tasks from project %s", len(ours), project["id"])
                    client.delete_tasks(project["id"], list(ours.values()))
                if self.replaced_label_config:
                    client.update_label_config(project["id"], self.replaced_label_config)
        except Exception as e:
            logger.warning("Could not roll back the failed upload: %s", e)

    def _image_sizes(self, fields, ids, paths):
        if not any(spec.type in _NEEDS_IMAGE_SIZE for spec in fields.values()):
            return {}
        return sample_image_sizes(self.samples, ids, paths)

    def _project(self, client, interface, title):
        config = self.config
        label_config = interface.to_xml()
        if config.project_id is not None:
            project = client.get_project(int(config.project_id))
            if project is None:
                raise AnnotationBackendError("Label Studio project %s does not exist" % config.project_id)
            return self._reuse(client, project, label_config)

        existing = client.find_projects(title)
        if existing and config.reuse_project:
            return self._reuse(client, existing[0], label_config)
        if existing:
            title = _unused_title(client, title)
        project = client.create_project(
            title, label_config, description="FiftyOne annotation run '%s'" % self.anno_key
        )
        self.created_project_id = project["id"]
        return project

    def _title(self):
        """The project title: ``project_name`` (checked against the server's
        limits) or one made from the dataset name."""
        name = self.config.project_name
        if name is None:
            return ("FiftyOne_%s" % self.samples._root_dataset.name.replace(" ", "_"))[:TITLE_MAX_LENGTH]
        if not TITLE_MIN_LENGTH <= len(name) <= TITLE_MAX_LENGTH:
            raise AnnotationBackendError(
                "project_name %r has %d characters; Label Studio needs %d to %d"
                % (name, len(name), TITLE_MIN_LENGTH, TITLE_MAX_LENGTH)
            )
        return name

    def _reuse(self, client, project, label_config):
        if project.get("label_config", "").strip() != label_config.strip():
            logger.info("Updating the labeling config of project %s", project["id"])
            self.replaced_label_config = project.get("label_config")
            project = client.update_label_config(project["id"], label_config)
        return project

    def _media_urls(self, client, project_id, ids, paths, sizes):
        local = [(i, p) for i, p in zip(ids, paths) if not is_remote(p)]
        urls = {i: p for i, p in zip(ids, paths) if is_remote(p)}
        if not local:
            return urls
        mode = self.config.local_files
        if mode not in (True, False, "auto"):
            raise AnnotationBackendError("`local_files` must be True, False or 'auto', not %r" % (mode,))
        if mode is not False:
            served = _LocalFiles(client, project_id, self.config).resolve(local)
            if served is not None:
                urls.update(served)
                return urls
            if mode is True:
                raise MediaError(
                    "local_files=True, but the Label Studio server does not serve local files that "
                    "hold this media (start it with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true and "
                    "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT set to a folder above the media)"
                )
        paths_by_id = dict(local)
        chunks = list(
            chunk_by_count_and_bytes(
                [i for i, _ in local], sizes, self.config.upload_max_files, self.config.upload_max_bytes
            )
        )
        workers = max(1, min(int(self.config.upload_workers), len(chunks)))
        logger.info("Uploading %d media files in %d requests (%d in flight)...", len(local), len(chunks), workers)

        def upload(chunk):
            return client.upload_files(project_id, [(i, paths_by_id[i]) for i in chunk])

        # the server parses one request per worker thread, so a second request
        # in flight keeps it busy while the first one's files are stored
        with progress_bar(len(local), unit="files") as advance:
            with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="ls-upload") as pool:
                pending = {pool.submit(upload, chunk): len(chunk) for chunk in chunks}
                try:
                    for future in concurrent.futures.as_completed(pending):
                        urls.update(future.result())
                        advance(pending[future])
                except BaseException:
                    for future in pending:
                        future.cancel()
                    raise
        return urls

    def _import_tasks(self, client, project_id, fields, interface, ids, media_urls, image_sizes):
        config = self.config
        id_map = {field: {} for field in fields}
        task_ids = {}
        batch_size = max(1, int(config.import_batch_size))
        field_names = list(fields)
        logger.info("Creating %d tasks...", len(ids))
        with progress_bar(len(ids)) as advance:
            for start in range(0, len(ids), batch_size):
                batch_ids = ids[start : start + batch_size]
                values = field_values(self.samples, field_names, batch_ids)
                tasks = []
                for sample_id in batch_ids:
                    width, height = image_sizes.get(sample_id, (None, None))
                    result = []
                    for field, spec in fields.items():
                        value = values[field].get(sample_id)
                        if spec.type == "scalar":
                            if value is not None:
                                id_map[field][sample_id] = True
                        else:
                            id_map[field][sample_id] = label_ids(value, spec.multiple)
                        result.extend(labels_to_results(spec, interface, value, width, height))
                    task = {
                        "data": {"image": media_urls[sample_id], SAMPLE_KEY: sample_id, UPLOAD_KEY: self.upload_id}
                    }
                    if result:
                        task["predictions"] = [{"result": result, "model_version": "fiftyone", "score": 1.0}]
                    tasks.append(task)
                created = client.import_tasks(project_id, tasks, SAMPLE_KEY, UPLOAD_KEY)
                task_ids.update(zip(created, batch_ids))
                advance(len(batch_ids))
        return id_map, task_ids


def _unused_title(client, title):
    """``title`` with a timestamp suffix (and a counter if needed) that no
    project has, within the title length limit."""
    stamp = datetime.datetime.now().strftime("_%Y%m%d_%H%M%S")
    for n in itertools.count(1):
        suffix = stamp if n == 1 else "%s_%d" % (stamp, n)
        candidate = title[: TITLE_MAX_LENGTH - len(suffix)] + suffix
        if not client.find_projects(candidate):
            return candidate


class _LocalFiles:
    """Decides, by asking the server, whether it serves the media itself."""

    def __init__(self, client, project_id, config):
        self.client = client
        self.project_id = project_id
        self.config = config

    def resolve(self, items):
        paths = [os.path.abspath(p) for _, p in items]
        common = os.path.commonpath(paths)
        if os.path.isfile(common):
            common = os.path.dirname(common)
        ok, reason = self.client.validate_local_storage(self.project_id, common)
        if not ok:
            logger.info("Label Studio will not serve %s as local files (%s); uploading media", common, reason)
            return None
        self.client.create_local_storage(self.project_id, common)
        root = self._document_root(paths[0])
        if root is None:
            logger.info("Could not find the server's local-files document root; uploading media")
            return None
        logger.info("Serving media from Label Studio's local-files root %s (no upload)", root)
        return {sample_id: self.client.local_files_url(os.path.relpath(path, root)) for (sample_id, _), path in zip(items, paths)}

    def _document_root(self, probe_path):
        candidates = []
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
        seen = set()
        for root in candidates:
            if root in seen or os.path.commonpath([root, probe_path]) != root:
                continue
            seen.add(root)
            if self.client.serves_local_file(os.path.relpath(probe_path, root)):
                return root
        return None


class _Downloader:
    def __init__(self, backend, results):
        self.backend = backend
        self.results = results
        self.config = results.config

    def run(self):
        results = self.results
        fields = normalize_label_schema(self.config.label_schema, results.samples, SUPPORTED_TYPES)
        interface = results.interface(fields)
        client = self.backend.connect_to_api()
        logger.info("Downloading annotations from Label Studio project %s...", results.project_id)
        found = 0
        annotated = {}
        for task in results.iter_tasks(client):
            found += 1
            annotation = latest_annotation(task)
            if annotation is not None:
                annotated[results.uploaded_tasks[task["id"]]] = annotation.get("result") or []
        missing = len(results.uploaded_tasks) - found
        if missing:
            logger.warning("%d tasks of this run no longer exist in Label Studio; their samples keep their labels", missing)
        logger.info("%d of %d tasks have a submitted annotation", len(annotated), len(results.uploaded_tasks))

        sample_ids = list(results.uploaded_tasks.values())

        def convert(spec, result, uploaded, sample_id):
            return results_to_labels(spec, interface, result, uploaded)

        return build_annotations(results.samples, fields, results.id_map, sample_ids, annotated, convert)


def latest_annotation(task):
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
        project_created: whether this run created the project (cleanup
            deletes it) or reused one (cleanup deletes only its tasks)
    """

    def __init__(
        self,
        samples,
        config,
        anno_key,
        id_map,
        project_id=None,
        uploaded_tasks=None,
        tags=None,
        attribute_tags=None,
        project_created=True,
        backend=None,
    ):
        super().__init__(samples, config, anno_key, id_map, backend=backend)
        self.project_id = project_id
        self.uploaded_tasks = uploaded_tasks or {}
        self.tags = tags
        self.attribute_tags = attribute_tags
        self.project_created = project_created

    @property
    def task_ids(self):
        """The task ids of this run."""
        return list(self.uploaded_tasks)

    @property
    def sample_to_task(self):
        """``{sample_id: task_id}``."""
        return {s: t for t, s in self.uploaded_tasks.items()}

    @property
    def project_url(self):
        """The URL of the project's task list."""
        return "%s/projects/%s/data" % ((self.config.url or "").rstrip("/"), self.project_id)

    def interface(self, fields):
        """The :class:`LabelInterface` this run was uploaded with."""
        return LabelInterface(fields, self.tags, self.attribute_tags)

    def launch_editor(self):
        """Opens the project in a web browser."""
        logger.info("Launching editor at '%s'...", self.project_url)
        webbrowser.open_new_tab(self.project_url)

    def iter_tasks(self, client):
        """This run's tasks that still exist, with their annotations: one
        export request, or pages for runs above ``export_max_tasks``."""
        single = len(self.uploaded_tasks) <= self.config.export_max_tasks
        page_size = self.config.download_page_size
        for task in client.tasks_with_annotations(self.project_id, single_request=single, page_size=page_size):
            if task["id"] in self.uploaded_tasks:
                yield task

    def get_status(self):
        """The run's progress, from the server.

        Returns:
            a dict with ``total``, ``labeled``, ``skipped``, ``unlabeled``
            task counts and ``annotators`` (``{email: annotations}``)
        """
        client = self._backend.connect_to_api()
        users = client.users()
        found = labeled = skipped = 0
        per_annotator = collections.Counter()
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
        return {
            "project_id": self.project_id,
            "total": len(self.uploaded_tasks),
            "labeled": labeled,
            "skipped": skipped,
            "unlabeled": len(self.uploaded_tasks) - labeled - skipped,
            "missing": len(self.uploaded_tasks) - found,
            "annotators": dict(per_annotator),
        }

    def print_status(self):
        """Prints :meth:`get_status` in a readable form."""
        status = self.get_status()
        print("Label Studio project %s (%s)" % (status["project_id"], self.project_url))
        print("    tasks:     %d" % status["total"])
        print("    labeled:   %d" % status["labeled"])
        print("    skipped:   %d" % status["skipped"])
        print("    unlabeled: %d" % status["unlabeled"])
        if status["missing"]:
            print("    deleted on the server: %d" % status["missing"])
        for author, count in sorted(status["annotators"].items()):
            print("    %s: %d annotation(s)" % (author, count))

    def cleanup(self):
        """Deletes the run from Label Studio in O(1) requests: the project if
        this run created it, else only this run's tasks."""
        if self.project_id is None:
            return
        client = self._backend.connect_to_api()
        if self.project_created:
            client.delete_project(self.project_id)
        else:
            client.delete_tasks(self.project_id, self.task_ids)
        logger.info("Deleted Label Studio %s of project %s", "project" if self.project_created else "tasks", self.project_id)

    @classmethod
    def _from_dict(cls, d, samples, config, anno_key):
        uploaded_tasks = {int(task_id): sample_id for task_id, sample_id in (d.get("uploaded_tasks") or {}).items()}
        results = cls(
            samples,
            config,
            anno_key,
            d["id_map"],
            project_id=d.get("project_id"),
            uploaded_tasks=uploaded_tasks,
            tags=d.get("tags"),
            attribute_tags=d.get("attribute_tags"),
            project_created=d.get("project_created", True),
        )
        results.upload_complete = d.get("upload_complete", True)
        return results
