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
  ``{FastLabel annotation id: FiftyOne label id}`` so that edits and
  deletions come back by id;
- which tasks count is chosen by status; the others keep their labels.
"""

import base64
import collections
import concurrent.futures
import io
import os
import re
import uuid
import webbrowser

import fiftyone.utils.annotations as foua
from PIL import Image

from ..core.params import reject_unknown_parameters
from ..core.backend import ApiKeyConfigMixin, ImageBackendMixin, handle_failed_upload, keypoint_skeletons
from ..core.download import build_annotations
from ..core.errors import AnnotationBackendError, MediaError
from ..core.idmap import field_values, label_ids
from ..core.media import check_image_media, sample_image_sizes
from ..core.progress import progress_bar
from ..core.schema import normalize_label_schema
from ..core.secrets import get_logger
from .client import CLASSIFICATION_TASKS, DEFAULT_URL, IMAGE_TASKS, FastLabelClient
from .convert import FastLabelInterface, labels_to_task, task_to_labels

logger = get_logger(__name__)

API_KEY_ENVS = ("FIFTYONE_FASTLABEL_API_KEY", "FASTLABEL_ACCESS_TOKEN")
URL_ENVS = ("FIFTYONE_FASTLABEL_URL", "FASTLABEL_API_URL")
APP_URL = "https://app.fastlabel.ai"
MAX_FILE_BYTES = 20 * 1024 * 1024  # FastLabel's limit for image tasks
ACCEPTED_EXTENSIONS = (".png", ".jpg", ".jpeg")
PRIORITIES = {"none": 0, "low": 10, "medium": 20, "high": 30}
DEFAULT_LOAD_STATUSES = ("completed", "reviewed", "approved")
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
_SLUG_RE = re.compile(r"[^a-z0-9_-]+")


class FastLabelBackendConfig(ApiKeyConfigMixin, foua.AnnotationBackendConfig):
    """Configuration of the FastLabel backend.

    Args:
        name: the backend name (``"fastlabel"``)
        label_schema: the label schema resolved by FiftyOne
        media_field ("filepath"): the field holding the media paths
        url (None): the API base URL (``FIFTYONE_FASTLABEL_URL`` or
            ``FASTLABEL_API_URL``; default ``https://api.fastlabel.ai/v1/``)
        api_key (None): the access token (``FIFTYONE_FASTLABEL_API_KEY`` or
            ``FASTLABEL_ACCESS_TOKEN``); never stored in the run
        project (None): the slug of an existing project to add the tasks to
            (also how an interrupted upload is resumed)
        project_name (None): the name of a new project (default
            ``FiftyOne <dataset>``); its slug is made from it and the run key
        priority (None): the tasks' priority: 0/10/20/30 or
            ``"none"``/``"low"``/``"medium"``/``"high"``
        tags (None): tags of every task (the run key is always one of them)
        assignee (None): the slug of the workspace user to assign the tasks to
        load_statuses (("completed", "reviewed", "approved")): the statuses
            of the tasks whose annotations are loaded; other tasks keep their
            labels
        convert_to_png (False): send images in formats FastLabel refuses
            (e.g. BMP, TIFF, WebP) as lossless PNG instead of refusing them
        upload_workers (4): task uploads in flight at once
        max_calls (10000): the most API calls per ``window_seconds``
        window_seconds (600): the budget window, in seconds
        timeout (300): the read timeout of each request, in seconds
        max_retries (5): retries of failed requests
    """

    def __init__(
        self,
        name,
        label_schema,
        media_field="filepath",
        url=None,
        api_key=None,
        project=None,
        project_name=None,
        priority=None,
        tags=None,
        assignee=None,
        load_statuses=DEFAULT_LOAD_STATUSES,
        convert_to_png=False,
        upload_workers=4,
        max_calls=10000,
        window_seconds=600,
        timeout=300,
        max_retries=5,
        run_id=None,
        **kwargs,
    ):
        reject_unknown_parameters(type(self), name, kwargs)
        super().__init__(name, label_schema, media_field=media_field)
        self.run_id = run_id
        self.url = url
        self.project = project
        self.project_name = project_name
        self.priority = _priority(priority)
        self.tags = [tags] if isinstance(tags, str) else list(tags or [])
        self.assignee = assignee
        self.load_statuses = [load_statuses] if isinstance(load_statuses, str) else list(load_statuses or [])
        self.convert_to_png = convert_to_png
        self.upload_workers = upload_workers
        self.max_calls = max_calls
        self.window_seconds = window_seconds
        self.timeout = timeout
        self.max_retries = max_retries
        self.api_key = api_key

    @property
    def endpoint(self):
        """The API base URL in use."""
        return self.url or _first_env(URL_ENVS) or DEFAULT_URL

    def load_credentials(self, url=None, api_key=None):
        """Fills ``url``/``api_key`` from the annotation config, then from
        the environment."""
        self._load_parameters(url=url, api_key=api_key)
        if self.api_key is None:
            self.api_key = _first_env(API_KEY_ENVS)

    def __repr__(self):
        return "%s(url=%r, project=%r)" % (type(self).__name__, self.endpoint, self.project)


def _first_env(names):
    return next((os.environ[n] for n in names if os.environ.get(n)), None)


def _priority(value):
    if value is None:
        return None
    if isinstance(value, str) and value.lower() in PRIORITIES:
        return PRIORITIES[value.lower()]
    if value in PRIORITIES.values() and not isinstance(value, bool):
        return value
    raise AnnotationBackendError("priority must be one of 0, 10, 20, 30 or none/low/medium/high, not %r" % (value,))


class FastLabelBackend(ImageBackendMixin, foua.AnnotationBackend):
    """Sends samples to a FastLabel project and merges the annotations back."""

    client_cls = FastLabelClient

    def _upload(self, samples, anno_key):
        return _Uploader(self, samples, anno_key).run()

    def _download(self, results):
        """Downloads the annotations of the run's tasks whose status counts."""
        return _Downloader(self, results).run()


def task_name_for(anno_key, sample_id, path, convert):
    """The task name of a sample in a run: unique in the project, readable,
    and ending in the image's extension as FastLabel requires."""
    stem, ext = os.path.splitext(os.path.basename(path))
    ext = ".png" if convert else ext.lower()
    return "%s-%s-%s%s" % (_slug(stem)[:60] or "image", anno_key, sample_id, ext)


def _slug(text):
    return _SLUG_RE.sub("-", str(text).lower()).strip("-_")


class _Uploader:
    def __init__(self, backend, samples, anno_key):
        self.backend = backend
        self.config = backend.config
        self.samples = samples
        self.anno_key = anno_key
        self.created_project_id = None
        self.created = 0

    def run(self):
        config = self.config
        fields = normalize_label_schema(config.label_schema, self.samples, SUPPORTED_TYPES)
        if not len(self.samples):
            raise AnnotationBackendError("The view is empty: there is nothing to annotate")
        interface = FastLabelInterface(fields, skeletons=keypoint_skeletons(self.samples, fields))
        ids, paths = self.samples.values(["id", config.media_field])
        converted = self._check_media(ids, paths)
        sizes = sample_image_sizes(self.samples, ids, paths)
        names = {s: task_name_for(self.anno_key, s, p, s in converted) for s, p in zip(ids, paths)}

        client = self.backend.connect_to_api()
        client.check_credentials()
        if config.assignee and client.find_user(config.assignee) is None:
            raise AnnotationBackendError(
                "assignee %r is not a user of this FastLabel workspace; nothing was uploaded" % config.assignee
            )
        slug, project_id, project_created = self._project(client, interface)
        endpoint = CLASSIFICATION_TASKS if interface.project_type == "image_classification" else IMAGE_TASKS
        try:
            existing = self._existing_tasks(client, endpoint, slug, set(names.values()))
            id_map, part_ids = self._upload(client, endpoint, slug, fields, interface, ids, paths, sizes, names, converted, existing)
            task_ids, annotation_ids = self._read_back(client, endpoint, slug, names, part_ids)
        except BaseException as e:
            self._on_failure(client, project_id, slug, len(ids), e)
            raise

        logger.info("FastLabel project %s has the %d tasks of run '%s'", slug, len(ids), self.anno_key)
        return FastLabelAnnotationResults(
            self.samples,
            config,
            self.anno_key,
            id_map,
            project_slug=slug,
            project_id=project_id,
            task_ids=task_ids,
            annotation_ids=annotation_ids,
            interface=interface.to_dict(),
            project_type=interface.project_type,
            project_created=project_created,
            backend=self.backend,
        )

    def _check_media(self, ids, paths):
        """Checks every file; returns the ids of those to send as PNG."""
        items = list(zip(ids, paths))
        check_image_media(items, allow_remote=False)
        refused, converted = [], set()
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
                    "%s: FastLabel accepts PNG and JPEG only (pass convert_to_png=True to send it as lossless PNG)" % path
                )
        if refused:
            listed = "\n  ".join(refused[:10])
            more = "\n  ... and %d more" % (len(refused) - 10) if len(refused) > 10 else ""
            raise MediaError("%d media file(s) cannot be sent to FastLabel; nothing was uploaded:\n  %s%s" % (len(refused), listed, more))
        return converted

    def _project(self, client, interface):
        """``(slug, id, created by this run)``, with the run's classes."""
        config = self.config
        if config.project:
            project = client.find_project(config.project)
            if project is None:
                raise AnnotationBackendError("FastLabel project %r does not exist (or this token cannot see it)" % config.project)
            if project.get("type") != interface.project_type:
                raise AnnotationBackendError(
                    "FastLabel project %r is of type %s; this label schema needs a %s project"
                    % (config.project, project.get("type"), interface.project_type)
                )
            self._ensure_classes(client, config.project, interface)
            created = (project.get("name") or "").endswith("[%s]" % self.anno_key)
            return config.project, project["id"], created

        dataset = self.samples._root_dataset.name
        name = "%s [%s]" % (config.project_name or "FiftyOne %s" % dataset, self.anno_key)
        slug = "%s-%s-%s" % (_slug(config.project_name or "fiftyone-%s" % dataset)[:60], _slug(self.anno_key)[:30], uuid.uuid4().hex[:6])
        project_id = client.create_project(interface.project_type, name, slug.strip("-"))
        self.created_project_id = project_id
        slug = slug.strip("-")
        logger.info("Created FastLabel project %s (%s)", slug, name)
        self._ensure_classes(client, slug, interface)
        return slug, project_id, True

    @staticmethod
    def _ensure_classes(client, slug, interface):
        existing = {c.get("value"): c for c in client.classes(slug)}
        if interface.project_type == "image_classification":
            if not existing:
                client.create_classification_class(slug, interface.classification_attributes())
            return
        for body in interface.annotation_classes():
            found = existing.get(body["value"])
            if found is None:
                client.create_class(slug, body)
            elif found.get("type") != body["type"]:
                raise AnnotationBackendError(
                    "FastLabel project %s already has a class %r of type %s (this run needs %s); nothing was uploaded"
                    % (slug, body["value"], found.get("type"), body["type"])
                )

    def _existing_tasks(self, client, endpoint, slug, names):
        """The run's tasks already in the project (a resumed upload)."""
        if self.created_project_id is not None:
            return set()
        found = {t["name"] for t in client.iter_tasks(endpoint, slug, tag=self.anno_key) if t.get("name") in names}
        if found:
            logger.info("Resuming: %d of the run's %d tasks are already in project %s", len(found), len(names), slug)
        self.created = len(found)
        return found

    def _upload(self, client, endpoint, slug, fields, interface, ids, paths, sizes, names, converted, existing):
        config = self.config
        id_map = {field: {} for field in fields}
        part_ids = {}
        values = field_values(self.samples, list(fields))
        path_of = dict(zip(ids, paths))
        tags = [self.anno_key] + [t for t in config.tags if t != self.anno_key]
        bodies = {}
        for sample_id in ids:
            sample_values = {field: values[field].get(sample_id) for field in fields}
            for field, spec in fields.items():
                value = sample_values[field]
                if spec.type == "scalar":
                    if value is not None:
                        id_map[field][sample_id] = True
                else:
                    id_map[field][sample_id] = label_ids(value, spec.multiple)
            annotations, attributes, parts = labels_to_task(interface, sample_values, sizes[sample_id])
            part_ids[sample_id] = parts
            if names[sample_id] in existing:
                continue
            body = {"project": slug, "name": names[sample_id], "tags": tags}
            if endpoint == CLASSIFICATION_TASKS:
                if attributes:
                    body["attributes"] = attributes
            elif annotations:
                body["annotations"] = annotations
            if config.priority is not None:
                body["priority"] = config.priority
            if config.assignee:
                body["assignee"] = config.assignee
            bodies[sample_id] = body

        def send(sample_id):
            body = dict(bodies[sample_id], file=_base64_image(path_of[sample_id], sample_id in converted))
            return client.create_task(endpoint, body)

        workers = max(1, int(config.upload_workers))
        logger.info("Creating %d tasks (%d in flight)...", len(bodies), workers)
        with progress_bar(len(ids)) as advance, concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="fastlabel-upload") as pool:
            advance(len(ids) - len(bodies))
            # a bounded queue: files are read and encoded just before sending
            pending = set()
            queue = iter(bodies)
            try:
                for sample_id in queue:
                    pending.add(pool.submit(send, sample_id))
                    if len(pending) >= 2 * workers:
                        done, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
                        for future in done:
                            future.result()
                            self.created += 1
                            advance()
                for future in concurrent.futures.as_completed(pending):
                    future.result()
                    self.created += 1
                    advance()
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
        return id_map, part_ids

    def _read_back(self, client, endpoint, slug, names, part_ids):
        """Reads the run's tasks once: task ids, and FastLabel's ids of the
        uploaded annotations (in the order they were sent)."""
        sample_of = {n: s for s, n in names.items()}
        task_ids, annotation_ids = {}, {}
        for task in client.iter_tasks(endpoint, slug, tag=self.anno_key):
            sample_id = sample_of.get(task.get("name"))
            if sample_id is None:
                continue
            task_ids[sample_id] = task["id"]
            returned = task.get("annotations") or []
            parts = part_ids.get(sample_id) or []
            if len(returned) != len(parts):
                logger.warning(
                    "Task %s has %d annotations, %d were uploaded; its labels are matched by order as far as possible",
                    task["id"], len(returned), len(parts),
                )
            for annotation, part in zip(returned, parts):
                annotation_ids[annotation["id"]] = part
        missing = set(names) - set(task_ids)
        if missing:
            raise AnnotationBackendError("%d tasks of the run are missing from project %s after the upload" % (len(missing), slug))
        return task_ids, annotation_ids

    def _on_failure(self, client, project_id, slug, total, error):
        delete = (lambda: client.delete_project(project_id)) if self.created_project_id is not None else None
        handle_failed_upload(error, self.anno_key, self.created, total, "tasks", slug, "project=%r" % slug, delete)


def _png_bytes(path):
    with Image.open(path) as image:
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()


def _base64_image(path, convert):
    if convert:
        data = _png_bytes(path)
    else:
        with open(path, "rb") as f:
            data = f.read()
    return base64.b64encode(data).decode("ascii")


class _Downloader:
    def __init__(self, backend, results):
        self.backend = backend
        self.results = results
        self.config = results.config

    def run(self):
        results, config = self.results, self.config
        fields = normalize_label_schema(config.label_schema, results.samples, SUPPORTED_TYPES)
        interface = results.interface(fields)
        client = self.backend.connect_to_api()
        sample_of = {t: s for s, t in results.task_ids.items()}
        statuses = set(config.load_statuses)
        annotated = {}
        found = 0
        for task in results.iter_tasks(client):
            sample_id = sample_of.get(task["id"])
            if sample_id is None:
                continue
            found += 1
            if task.get("status") in statuses:
                annotated[sample_id] = task
        logger.info(
            "%d of %d tasks have a status whose annotations are loaded (%s)",
            len(annotated),
            len(results.task_ids),
            ", ".join(sorted(statuses)),
        )
        if found < len(results.task_ids):
            logger.warning("%d tasks of this run no longer exist in FastLabel; their samples keep their labels", len(results.task_ids) - found)
        annotation_ids = results.annotation_ids

        def convert(spec, task, uploaded, sample_id):
            return task_to_labels(interface, spec, task, annotation_ids, uploaded)

        return build_annotations(results.samples, fields, results.id_map, list(results.task_ids), annotated, convert)


class FastLabelAnnotationResults(foua.AnnotationResults):
    """The results of a FastLabel annotation run.

    Attributes:
        project_slug: the project's slug
        project_id: the project's id
        task_ids: ``{sample_id: task_id}``
        annotation_ids: ``{FastLabel annotation id: FiftyOne label id}`` of
            the uploaded annotations (part ids for multi-part labels)
        interface: the class values of the run (see ``FastLabelInterface``)
        project_type: ``image_all`` or ``image_classification``
        project_created: whether this run created the project (cleanup
            deletes it) or reused one (cleanup deletes only its tasks)
    """

    def __init__(
        self,
        samples,
        config,
        anno_key,
        id_map,
        project_slug=None,
        project_id=None,
        task_ids=None,
        annotation_ids=None,
        interface=None,
        project_type="image_all",
        project_created=True,
        backend=None,
    ):
        super().__init__(samples, config, anno_key, id_map, backend=backend)
        self.project_type = project_type
        self.project_slug = project_slug
        self.project_id = project_id
        self.task_ids = task_ids or {}
        self.annotation_ids = annotation_ids or {}
        self.interface_mapping = interface
        self.project_created = project_created

    @property
    def sample_to_task(self):
        """``{sample_id: task_id}``."""
        return dict(self.task_ids)

    @property
    def project_url(self):
        """The project's page in FastLabel's web app."""
        return "%s/projects/%s" % (APP_URL, self.project_slug)

    def interface(self, fields):
        """The :class:`FastLabelInterface` this run was uploaded with."""
        return FastLabelInterface(fields, mapping=self.interface_mapping)

    @property
    def task_endpoint(self):
        """The REST path of the run's tasks."""
        return CLASSIFICATION_TASKS if self.project_type == "image_classification" else IMAGE_TASKS

    def iter_tasks(self, client):
        """The run's tasks (those tagged with the run key), 1000 a page."""
        return client.iter_tasks(self.task_endpoint, self.project_slug, tag=self.key)

    def launch_editor(self):
        """Opens the project in a web browser."""
        logger.info("Launching editor at '%s'...", self.project_url)
        webbrowser.open_new_tab(self.project_url)

    def get_status(self):
        """The run's progress, from the server.

        Returns:
            a dict with ``project``, ``total`` tasks, ``statuses``
            (``{status: tasks}``), ``assignees`` (``{assignee: tasks}``),
            ``loadable`` (tasks whose status is loaded) and ``missing``
        """
        client = self._backend.connect_to_api()
        ours = set(self.task_ids.values())
        statuses, assignees = collections.Counter(), collections.Counter()
        found = 0
        for task in self.iter_tasks(client):
            if task["id"] not in ours:
                continue
            found += 1
            statuses[task.get("status") or "unknown"] += 1
            assignees[task.get("assignee") or "unassigned"] += 1
        loadable = sum(n for s, n in statuses.items() if s in set(self.config.load_statuses))
        return {
            "project": self.project_slug,
            "total": len(self.task_ids),
            "statuses": dict(statuses),
            "assignees": dict(assignees),
            "loadable": loadable,
            "missing": len(self.task_ids) - found,
        }

    def print_status(self):
        """Prints :meth:`get_status` in a readable form."""
        status = self.get_status()
        print("FastLabel project %s (%s)" % (status["project"], self.project_url))
        print("    tasks:     %d (%d with a status that is loaded)" % (status["total"], status["loadable"]))
        for name, count in sorted(status["statuses"].items()):
            print("    %-10s %d" % (name + ":", count))
        if status["missing"]:
            print("    deleted on the server: %d" % status["missing"])
        for assignee, count in sorted(status["assignees"].items()):
            print("    %s: %d task(s)" % (assignee, count))

    def cleanup(self):
        """Deletes the run from FastLabel: the project if this run created
        it (its tasks go with it), else only the run's tasks."""
        if self.project_slug is None:
            return
        client = self._backend.connect_to_api()
        if self.project_created:
            client.delete_project(self.project_id)
            logger.info("Deleted FastLabel project %s", self.project_slug)
        else:
            for task_id in self.task_ids.values():
                client.delete_task(task_id)
            logger.info("Deleted the %d tasks of run '%s' from FastLabel project %s", len(self.task_ids), self.key, self.project_slug)

    @classmethod
    def _from_dict(cls, d, samples, config, anno_key):
        results = cls(
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
            project_created=d.get("project_created", True),
        )
        results.upload_complete = d.get("upload_complete", True)
        return results
