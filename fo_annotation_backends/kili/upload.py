"""Uploading a run to Kili, resumably.

1. Everything local is checked first (schema, media, asset limit), then the
   key (``viewer``).
2. The project: an explicit ``project_id`` (the run created it only if an
   unfinished earlier attempt recorded so); else the project an unfinished
   attempt recorded; else the project carrying the run id in its
   description (an attempt killed before it recorded anything); else a new
   project carrying the run id, recorded with the run right away.
3. The run's assets are named by ids derived from the project, the run id
   and the sample: the ones already there (and their PREDICTION labels) are
   not sent again.
4. A failure rolls back exactly what this call created when the run then
   owns nothing (the project it created; in a reused project its assets and
   the jsonInterface it replaced), or leaves the run registered as
   unfinished: the same ``annotate()`` call resumes it
   (``core.runs.handle_failed_upload``).
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..core import compat
from ..core.backend import keypoint_skeletons
from ..core.errors import AnnotationBackendError, ParameterError
from ..core.idmap import field_values, record_ids
from ..core.media import check_image_media, is_remote, sample_image_sizes
from ..core.progress import progress_bar
from ..core.runs import handle_failed_upload
from ..core.schema import normalize_label_schema
from ..core.secrets import get_logger
from .backend import SUPPORTED_TYPES, KiliAnnotationResults, asset_id_for, external_id_for
from .convert import ImageSize, KiliInterface, labels_to_json_response

if TYPE_CHECKING:
    from fiftyone.core.collections import SampleCollection

    from ..core.backend import IdMap
    from ..core.schema import Fields
    from .backend import KiliBackend
    from .client import JsonDict, KiliClient

logger = get_logger(__name__)

ASSETS_PER_BATCH = 100


def run_marker(run_id: str | None) -> str:
    """The text that marks what a run creates (in a project description)."""
    return "(run id %s)" % run_id


def project_description(anno_key: str, dataset_name: str, run_id: str | None) -> str:
    """The description of a project a run creates: it carries the run id,
    which finds the project again if the process is killed before the run
    recorded it."""
    return "FiftyOne annotation run '%s' of dataset '%s' %s" % (anno_key, dataset_name, run_marker(run_id))


class Uploader:
    """One ``annotate()`` call of the Kili backend (see the module doc)."""

    def __init__(self, backend: KiliBackend, samples: SampleCollection, anno_key: str) -> None:
        self.backend = backend
        self.config = backend.config
        self.samples = samples
        self.anno_key = anno_key
        self.resume = backend.resume_state
        self.project_id: str | None = None
        self.project_created = False  # by this run, as recorded
        self.created_here = False  # by this call
        self.previous_interface: JsonDict | None = None  # what this call replaced in a reused project
        self.new_project: tuple[str, str] | None = None  # (title, description) of the project this call creates
        self.asset_ids: dict[str, str] = {}
        self.id_map: IdMap = {}
        self.sent: list[str] = []  # asset ids this call sent
        self.present = 0  # the run's assets the project has

    @property
    def known_project_id(self) -> str:
        """The id of the run's project (known once ``_resolve_project()`` ran)."""
        if self.project_id is None:
            raise AnnotationBackendError("The Kili project of run '%s' is not known yet" % self.anno_key)
        return self.project_id

    @property
    def dataset_name(self) -> str:
        """The name of the dataset being annotated."""
        return compat.root_dataset(self.samples).name

    def run(self) -> KiliAnnotationResults:
        """Uploads the run; returns its :class:`KiliAnnotationResults`."""
        config = self.config
        fields = normalize_label_schema(config.label_schema, self.samples, SUPPORTED_TYPES)
        if not len(self.samples):
            raise ParameterError("The view is empty: there is nothing to annotate")
        ids, paths = self.samples.values(["id", config.media_field])
        check_image_media(list(zip(ids, paths)))
        self._check_capacity(len(ids), 0)
        skeletons = keypoint_skeletons(self.samples, fields)
        earlier = getattr(self.resume, "results", None)
        interface = KiliInterface(fields, skeletons=skeletons, mapping=getattr(earlier, "interface_mapping", None))
        image_sizes = sample_image_sizes(self.samples, ids, paths) if interface.needs_image_size() else {}

        # everything local is checked: now the server
        client = self.backend.connect_to_api()
        viewer = client.viewer()
        logger.info("Connected to Kili at %s as %s", client.url, viewer.get("email"))
        try:
            self._resolve_project(client, interface)
            self.asset_ids = {s: asset_id_for(self.known_project_id, config.run_id, s) for s in ids}
            self.backend.record_partial(self.samples, self.anno_key, self._results(interface, complete=False))
            todo, needs_labels = self._pending(client, ids)
            self._upload(client, fields, interface, ids, paths, todo, needs_labels, image_sizes)
        except BaseException as e:
            self._on_failure(client, interface, len(ids), e)
            raise

        logger.info("Kili project %s has the %d assets of run '%s'", self.project_id, len(ids), self.anno_key)
        return self._results(interface, complete=True)

    def _results(self, interface: KiliInterface, complete: bool) -> KiliAnnotationResults:
        return KiliAnnotationResults(
            self.samples,
            self.config,
            self.anno_key,
            self.id_map,
            project_id=self.project_id,
            asset_ids=dict(self.asset_ids),
            interface=interface.to_dict(),
            project_created=self.project_created,
            upload_complete=complete,
            backend=self.backend,
        )

    def _check_capacity(self, new_assets: int, existing: int) -> None:
        limit = self.config.max_assets_per_project
        if limit is not None and existing + new_assets > limit:
            where = "the project already has %d assets and " % existing if existing else ""
            raise AnnotationBackendError(
                "Kili accepts at most %d assets per project; %sthis run has %d samples. Nothing was uploaded. "
                "Split the view into runs of at most %d samples (e.g. `view.skip(n).limit(%d)`), each in its "
                "own project, or raise `max_assets_per_project` if your server allows more"
                % (limit, where, new_assets, max(limit - existing, 0) or limit, limit)
            )

    # ------------------------------------------------------------------
    # the project

    def _resolve_project(self, client: KiliClient, interface: KiliInterface) -> None:
        ours = interface.json_interface()
        resume = self.resume
        if self.config.project_id is not None:
            project = client.get_project(self.config.project_id)
            if project is None:
                raise ParameterError(
                    "Kili project %s does not exist (or this key cannot see it); nothing was uploaded"
                    % self.config.project_id
                )
            recorded = resume is not None and resume.project_id == project["id"] and resume.project_created
            self._adopt(client, project, ours, recorded or self._carries_marker(project))
        elif resume is not None and resume.project_id is not None:
            project = client.get_project(str(resume.project_id))  # Kili's project ids are strings
            if project is not None:
                self._adopt(client, project, ours, resume.project_created)
            elif not resume.project_created:
                raise AnnotationBackendError(
                    "Kili project %s, where the unfinished run '%s' was uploading, no longer exists. Remove the run "
                    "with `dataset.delete_annotation_run('%s')` and annotate again"
                    % (resume.project_id, self.anno_key, self.anno_key)
                )
            else:
                logger.info("Kili project %s of the unfinished run is gone; creating a new one", resume.project_id)
        elif resume is not None:
            project = self._marked_project(client)
            if project is not None:
                logger.info("Found project %s, created by the killed attempt of run '%s'", project["id"], self.anno_key)
                self._adopt(client, project, ours, True)
        if self.project_id is None:
            self._create(client, ours)

    def _title(self) -> str:
        return self.config.project_name or "FiftyOne %s" % self.dataset_name

    def _carries_marker(self, project: Mapping[str, Any]) -> bool:
        """Whether ``project`` was created by this run (an attempt killed
        before it recorded it): its description carries the run id."""
        return run_marker(self.config.run_id) in (project.get("description") or "")

    def _marked_project(self, client: KiliClient) -> JsonDict | None:
        """The project carrying this run's id in its description, if any."""
        for found in client.find_projects(self._title()):
            if self._carries_marker(found):
                return client.get_project(found["id"])
        return None

    def _adopt(self, client: KiliClient, project: JsonDict, ours: JsonDict, created: bool) -> None:
        """Uses an existing project: its jsonInterface gets our jobs (a job
        of the same name with another definition is refused)."""
        if project.get("inputType") not in (None, "IMAGE"):
            raise ParameterError(
                "Kili project %s has input type %s; images need an IMAGE project. Nothing was uploaded"
                % (project["id"], project["inputType"])
            )
        merged = merge_interfaces(project["id"], project.get("jsonInterface") or {}, ours)
        self.project_id = project["id"]
        self.project_created = bool(created)
        if merged != project.get("jsonInterface"):
            logger.info("Adding this run's jobs to the jsonInterface of project %s", project["id"])
            self.previous_interface = project.get("jsonInterface") or {}
            client.update_json_interface(project["id"], merged)

    def _create(self, client: KiliClient, ours: JsonDict) -> None:
        title = self._title()
        description = project_description(self.anno_key, self.dataset_name, self.config.run_id)
        self.new_project = (title, description)
        self.project_id = client.create_project(title, description, ours)
        self.project_created = self.created_here = True
        logger.info("Created Kili project %s (%s)", self.project_id, title)

    # ------------------------------------------------------------------
    # the assets

    def _pending(self, client: KiliClient, ids: Sequence[str]) -> tuple[list[str], set[str]]:
        """The samples whose asset is still to create, and those whose
        PREDICTION label is still to add (a resumed upload)."""
        if self.created_here:
            return list(ids), set(ids)  # a new project: nothing exists
        if self.resume is None:
            # a new run id names assets no earlier attempt can have created
            self._check_capacity(len(ids), client.count_assets({"project": {"id": self.project_id}}))
            return list(ids), set(ids)
        model = self.config.model_name
        found = client.assets_by_id(
            self.known_project_id, [self.asset_ids[s] for s in ids], fields="id labels { labelType modelName }"
        )
        present = [s for s in ids if self.asset_ids[s] in found]
        labelled = {
            s
            for s in present
            if any(
                label.get("labelType") == "PREDICTION" and label.get("modelName") == model
                for label in found[self.asset_ids[s]].get("labels") or []
            )
        }
        todo = [s for s in ids if self.asset_ids[s] not in found]
        self._check_capacity(len(todo), client.count_assets({"project": {"id": self.project_id}}))
        self.present = len(present)
        if present:
            logger.info(
                "Resuming: %d of %d assets are already in project %s; %d still need their labels",
                len(present),
                len(ids),
                self.project_id,
                len(present) - len(labelled),
            )
        return todo, set(todo) | (set(present) - labelled)

    def _upload(
        self,
        client: KiliClient,
        fields: Fields,
        interface: KiliInterface,
        ids: Sequence[str],
        paths: Sequence[str],
        todo: Sequence[str],
        needs_labels: set[str],
        image_sizes: Mapping[str, ImageSize],
    ) -> None:
        path_of = dict(zip(ids, paths))
        todo_set = set(todo)
        self.id_map = {field: {} for field in fields}
        workers = int(self.config.upload_workers)
        with (
            progress_bar(len(ids)) as advance,
            concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="kili-upload") as pool,
        ):
            advance(len(ids) - len(todo_set | needs_labels))
            values = field_values(self.samples, list(fields))  # one query for the whole view
            for start in range(0, len(ids), ASSETS_PER_BATCH):
                batch = ids[start : start + ASSETS_PER_BATCH]
                predictions: list[tuple[str, JsonDict]] = []
                for sample_id in batch:
                    sample_values = {field: values[field].get(sample_id) for field in fields}
                    for field, spec in fields.items():
                        record_ids(self.id_map[field], spec, sample_id, sample_values[field])
                    if sample_id in needs_labels:
                        response = labels_to_json_response(interface, sample_values, image_sizes.get(sample_id))
                        if response:
                            predictions.append((self.asset_ids[sample_id], response))
                new = [s for s in batch if s in todo_set]
                # Kili refuses hosted URLs and uploaded files in one call
                for group in (
                    [s for s in new if is_remote(path_of[s])],
                    [s for s in new if not is_remote(path_of[s])],
                ):
                    if group:
                        self._append_assets(client, pool, group, path_of)
                if predictions:
                    client.append_predictions(self.known_project_id, self.config.model_name, predictions)
                advance(len([s for s in batch if s in todo_set or s in needs_labels]))

    def _append_assets(
        self,
        client: KiliClient,
        pool: concurrent.futures.Executor,
        sample_ids: Sequence[str],
        path_of: Mapping[str, str],
    ) -> None:
        contents = {s: path_of[s] for s in sample_ids if is_remote(path_of[s])}
        local = [s for s in sample_ids if s not in contents]
        if local:
            bucket_paths = ["projects/%s/assets/%s/content" % (self.project_id, self.asset_ids[s]) for s in local]
            urls = client.signed_upload_urls(bucket_paths)
            futures = {pool.submit(client.upload_file, url, path_of[s]): s for s, url in zip(local, urls)}
            try:
                for future in concurrent.futures.as_completed(futures):
                    contents[futures[future]] = future.result()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        run_id = self.config.run_id
        assets: list[JsonDict] = [
            {
                "id": self.asset_ids[s],
                "external_id": external_id_for(self.anno_key, s, run_id),
                "content": contents[s],
                "json_metadata": {
                    "fiftyone_sample_id": s,
                    "fiftyone_run": self.anno_key,
                    "fiftyone_run_id": run_id,
                    "filename": os.path.basename(path_of[s]),
                },
            }
            for s in sample_ids
        ]
        self.sent.extend(a["id"] for a in assets)
        client.append_assets(self.known_project_id, assets)
        self.present += len(assets)

    # ------------------------------------------------------------------
    # failures

    def _on_failure(self, client: KiliClient, interface: KiliInterface, total: int, error: BaseException) -> None:
        partial = self._results(interface, complete=False) if self.project_id is not None else None
        handle_failed_upload(
            self.backend,
            self.samples,
            self.anno_key,
            error,
            self.present,
            total,
            "assets",
            self.project_id,
            partial,
            roll_back=lambda: self._roll_back(client),
            owned_before=self.project_created and not self.created_here,
        )

    def _roll_back(self, client: KiliClient) -> None:
        """Deletes what this call created: its project, or in a reused
        project the assets it sent and the jsonInterface it replaced."""
        if self.created_here:
            client.delete_project(self.known_project_id)
            logger.info("Deleted Kili project %s, created by the failed upload", self.project_id)
            return
        if self.project_id is None:
            if self.new_project is not None:
                self._delete_unrecorded_project(client, *self.new_project)
            return
        if self.sent:
            client.delete_assets(self.project_id, self.sent)
        if self.previous_interface is not None:
            client.update_json_interface(self.project_id, self.previous_interface)
            logger.info("Put back the jsonInterface of Kili project %s", self.project_id)

    def _delete_unrecorded_project(self, client: KiliClient, title: str, description: str) -> None:
        # the create's answer was lost: the server may have the project
        for found in client.find_projects(title):
            if found.get("description") == description:
                client.delete_project(found["id"])
                logger.info("Deleted Kili project %s, created by the failed upload", found["id"])


def merge_interfaces(project_id: str, theirs: Mapping[str, Any] | None, ours: Mapping[str, Any]) -> JsonDict:
    """The project's jsonInterface with our jobs added; a job of the same
    name with another definition is an error (raised before any upload)."""
    jobs = dict((theirs or {}).get("jobs") or {})
    for name, job in ours["jobs"].items():
        if name in jobs and jobs[name] != job:
            raise ParameterError(
                "Kili project %s already has a job '%s' with another definition; nothing was uploaded. "
                "Use a new project, or a label field name that maps to another job" % (project_id, name)
            )
        jobs[name] = job
    return dict(theirs or {}, jobs=jobs)
