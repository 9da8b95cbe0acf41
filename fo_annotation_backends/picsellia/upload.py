"""The upload of a Picsellia run, under the package's failure policy.

1. Everything that can be checked is checked before the first request that
   creates something: the schema (:class:`~.interface.PicselliaInterface`),
   the media (local images), every label's conversion and attribute values,
   the host and token, the organization, the campaign's assignees, and a
   reused version (its type, its attribute definitions, its campaign).
2. The version: ``dataset_version_id`` reuses that one; a resumed run (the
   same ``annotate()`` call after a failure or a killed process) reuses the
   version it recorded, or finds the one it created by its description,
   which holds the run id; otherwise the dataset is found or created, a new
   version created and recorded with the run at once (``record_partial``).
3. The labels and attribute definitions the run needs; then each sample's
   image goes to the datalake as a data named ``<stem>-<sample id>-<run
   mark><ext>`` (found again by that name, never uploaded twice); the data
   become the version's assets (a job, followed to its end).
4. The existing labels, imported in bulk (``REPLACE``: sending again changes
   nothing) before any campaign exists, lines added per annotation (bulk
   imports carry no lines); then the campaign, its steps, and the sync that
   assigns the assets (pre-annotated ones at the first step).

A failure after the first object exists goes to
:func:`~..core.runs.handle_failed_upload`: with no asset of the run in the
version and nothing owned before, exactly what this call created is deleted
(its version and dataset, its data, the attribute definitions it changed)
and the run is unregistered; otherwise the run stays registered as
unfinished and the error says to run the same call again.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..core import compat
from ..core.errors import AnnotationBackendError, ParameterError, ProjectDeletedError, ServiceError
from ..core.idmap import field_values, record_ids
from ..core.media import check_image_media, sample_image_sizes
from ..core.progress import progress_bar
from ..core.runs import handle_failed_upload
from ..core.schema import IMAGE_TYPES, normalize_label_schema
from ..core.secrets import get_logger
from .convert import Shapes, annotation_attributes, labels_to_shapes
from .interface import PicselliaInterface

if TYPE_CHECKING:
    from fiftyone.core.collections import SampleCollection

    from ..core.backend import IdMap
    from .backend import PicselliaAnnotationResults, PicselliaBackend
    from .client import JsonDict, PicselliaClient

logger = get_logger(__name__)

SUPPORTED_TYPES = IMAGE_TYPES
#: how many hex digits of the run id mark the run's data and version
RUN_MARK_LENGTH = 12
#: the kinds a bulk import carries (lines are added per annotation)
IMPORTED_KINDS = ("rectangles", "polygons", "classifications", "keypoints", "masks")
#: how often, and how many times, a data still processing is read again
DATA_POLL_SECONDS = 1.0
DATA_POLLS = 300
_STEM_RE = re.compile(r"[^A-Za-z0-9_.-]+")


def run_mark(run_id: str | None) -> str:
    """The part of a run id that marks the run's data and version."""
    return str(run_id)[:RUN_MARK_LENGTH]


def data_filename(sample_id: str, path: str, run_id: str | None) -> str:
    """The datalake filename of a sample's image in a run: readable, unique
    to the sample and the run, ending in the image's extension."""
    stem, ext = os.path.splitext(os.path.basename(path))
    stem = _STEM_RE.sub("-", stem).strip("-.")[:60] or "image"
    return "%s-%s-%s%s" % (stem, sample_id, run_mark(run_id), ext.lower())


def is_run_filename(filename: object, run_id: str | None) -> bool:
    """Whether a datalake filename was made by :func:`data_filename` for this run."""
    if not run_id:
        return False
    stem = os.path.splitext(str(filename or ""))[0]
    return bool(re.search(r"-[0-9a-f]{24}-%s$" % re.escape(run_mark(run_id)), stem))


def version_description(anno_key: str, run_id: str | None) -> str:
    """The description of a version a run creates (it holds the run id)."""
    return "FiftyOne annotation run '%s' (run id %s)" % (anno_key, run_id)


class Uploader:
    """One ``annotate()`` call of the Picsellia backend.

    Args:
        backend: the :class:`~.backend.PicselliaBackend`
        samples: the samples to send
        anno_key: the run key
        results_cls: the results class to return
    """

    interface: PicselliaInterface

    def __init__(
        self,
        backend: PicselliaBackend,
        samples: SampleCollection,
        anno_key: str,
        results_cls: type[PicselliaAnnotationResults],
    ) -> None:
        self.backend = backend
        self.config = backend.config
        self.samples = samples
        self.anno_key = anno_key
        self.results_cls = results_cls
        self.resume = backend.resume_state
        earlier = self.resume.results if self.resume is not None else None
        self.earlier: Any = earlier
        self.id_map: IdMap = {}
        self.dataset_id: str | None = getattr(earlier, "dataset_id", None)
        self.version_id: str | None = None
        self.datalake_id: str | None = getattr(earlier, "datalake_id", None)
        self.dataset_created = bool(getattr(earlier, "dataset_created", False))
        self.version_created = False
        self.campaign_id: str | None = getattr(earlier, "campaign_id", None)
        self.campaign_created = bool(getattr(earlier, "campaign_created", False))
        self.data_ids: dict[str, str] = dict(getattr(earlier, "data_ids", None) or {})
        self.asset_ids: dict[str, str] = {}
        # what this call creates (rolled back when the run ends up owning nothing)
        self.created_dataset = False
        self.created_version = False
        self.owned_before = False
        self.previous_attributes: dict[str, Any] | None = None
        self.filenames: dict[str, str] = {}

    # ------------------------------------------------------------------
    # the whole call

    def run(self) -> PicselliaAnnotationResults:
        """Uploads the run; returns its results."""
        config, samples = self.config, self.samples
        fields = normalize_label_schema(config.label_schema, samples, SUPPORTED_TYPES)
        if not len(samples):
            raise AnnotationBackendError("The view is empty: there is nothing to annotate")
        ids, paths = samples.values(["id", config.media_field])
        check_image_media(list(zip(ids, paths)), allow_remote=False)
        new_fields = [f for f in fields if compat.base_dataset(samples).get_field(f) is None]
        self.interface = interface = PicselliaInterface(fields, new_fields=new_fields)
        sizes = sample_image_sizes(samples, ids, paths)
        sent = self._convert(interface, ids, sizes)
        self.filenames = filenames = {s: data_filename(s, p, config.run_id) for s, p in zip(ids, paths)}

        client = self.backend.connect_to_api()
        client.ping()
        client.organization()
        assignees = self._check_assignees(client)
        version = self._find_version(client, interface)

        try:
            if version is None:
                self._create_version(client, interface)
            self._record()
            label_ids = client.labels(self.known_version, interface.all_label_names())
            self._set_attributes(client, interface)
            self._send_data(client, filenames, dict(zip(ids, paths)), sizes)
            self._record()
            client.add_data(self.known_version, [self.data_ids[s] for s in ids])
            assets = client.assets_by_data_id(self.known_version, [self.data_ids[s] for s in ids])
            self.asset_ids = {s: assets[self.data_ids[s]]["id"] for s in ids if self.data_ids[s] in assets}
            self._check_assets(ids)
            self._record()
            self._import(client, sent, label_ids)
            if config.campaign:
                self._start_campaign(client, assignees)
        except BaseException as e:
            self._on_failure(client, e, ids)
            raise
        logger.info("Picsellia version %s has the %d assets of run '%s'", self.version_id, len(ids), self.anno_key)
        return self._results()

    def _results(self, upload_complete: bool = True) -> PicselliaAnnotationResults:
        results = self.results_cls(
            self.samples,
            self.config,
            self.anno_key,
            self.id_map,
            dataset_id=self.dataset_id,
            version_id=self.version_id,
            datalake_id=self.datalake_id,
            data_ids=dict(self.data_ids),
            asset_ids=dict(self.asset_ids),
            interface=self.interface.to_dict(),
            campaign_id=self.campaign_id,
            dataset_created=self.dataset_created,
            version_created=self.version_created,
            campaign_created=self.campaign_created,
            data_created=sorted(self.data_ids.values()),
            backend=self.backend,
        )
        results.upload_complete = upload_complete
        return results

    @property
    def known_version(self) -> str:
        """The run's version id (known once it is found or created)."""
        if self.version_id is None:
            raise AnnotationBackendError("The Picsellia version of run '%s' is not known yet" % self.anno_key)
        return self.version_id

    # ------------------------------------------------------------------
    # checks and conversions, before anything is created

    def _convert(
        self, interface: PicselliaInterface, ids: Sequence[str], sizes: Mapping[str, tuple[int, int]]
    ) -> dict[str, tuple[Shapes, dict[str, Any]]]:
        """Fills the run's ``id_map``; returns ``{sample_id: (shapes,
        image-level attributes)}`` with labels named (not yet by id)."""
        fields = interface.fields
        values = field_values(self.samples, list(fields))
        self.id_map = {field: {} for field in fields}
        names = {name: name for name in interface.all_label_names()}
        sent: dict[str, tuple[Shapes, dict[str, Any]]] = {}
        for sample_id in ids:
            width, height = sizes[sample_id]
            sample_values = {field: values[field].get(sample_id) for field in fields}
            shapes: Shapes = {}
            for field, spec in fields.items():
                record_ids(self.id_map[field], spec, sample_id, sample_values[field])
                if spec.type == "scalar":
                    continue
                for kind, items in labels_to_shapes(
                    spec, interface, sample_values[field], names, width, height
                ).items():
                    shapes.setdefault(kind, []).extend(items)
            sent[sample_id] = (shapes, annotation_attributes(interface, sample_values))
        return sent

    def _check_assignees(self, client: PicselliaClient) -> dict[str, str]:
        """``{username: user id}`` of the campaign's assignees (all must exist)."""
        wanted = sorted({a for step in self.config.campaign_steps for a in step["assignees"]})
        if not wanted:
            return {}
        users = client.users()
        unknown = [u for u in wanted if u not in users]
        if unknown:
            raise ParameterError(
                "Campaign assignee(s) %s are not users of this Picsellia organization; nothing was uploaded"
                % ", ".join(unknown)
            )
        return {u: users[u] for u in wanted}

    def _find_version(self, client: PicselliaClient, interface: PicselliaInterface) -> JsonDict | None:
        """The existing version this call uses (``None``: create one). Only
        reads; refuses what cannot be used."""
        config, resume = self.config, self.resume
        recorded = resume.project_id if resume is not None else None
        created_before = resume is not None and resume.project_created
        version: JsonDict | None = None
        if config.dataset_version_id:
            if recorded and recorded != config.dataset_version_id:
                raise ParameterError(
                    "Run '%s' is an unfinished upload into Picsellia version %s, not %s: run the same annotate() call "
                    "to resume it, or discard it first with `dataset.load_annotation_results('%s').cleanup()` and "
                    "`dataset.delete_annotation_run('%s')`"
                    % (self.anno_key, recorded, config.dataset_version_id, self.anno_key, self.anno_key)
                )
            version = client.get_version(config.dataset_version_id)
            if version is None:
                raise ParameterError(
                    "Picsellia dataset version %s does not exist (or this token cannot see it); nothing was uploaded"
                    % config.dataset_version_id
                )
            self.version_created = bool(recorded and created_before)
        elif recorded:
            version = client.get_version(str(recorded))
            if version is None and not created_before:
                raise ProjectDeletedError(
                    "Picsellia version %s, which the unfinished run '%s' was uploading into, no longer exists; "
                    "remove the run with `dataset.delete_annotation_run('%s')`"
                    % (recorded, self.anno_key, self.anno_key)
                )
            self.version_created = created_before and version is not None
        elif resume is not None:
            # killed before it recorded a version: the description says which is ours
            version = self._own_version(client)
            self.version_created = version is not None
        if version is None:
            return None
        self.owned_before = self.version_created
        self.version_id = version["id"]
        self.dataset_id = version.get("origin_id") or self.dataset_id
        self._check_version(client, version, interface)
        if self.version_created:
            logger.info("Resuming run '%s' in Picsellia version %s", self.anno_key, self.version_id)
        return version

    def _names(self) -> tuple[str, str]:
        dataset = compat.root_dataset(self.samples).name
        dataset_name = self.config.dataset_name or "FiftyOne %s" % dataset
        version_name = self.config.version_name or "%s-%s" % (self.anno_key, run_mark(self.config.run_id))
        return dataset_name, version_name

    def _own_version(self, client: PicselliaClient) -> JsonDict | None:
        dataset_name, version_name = self._names()
        dataset = client.find_dataset(dataset_name)
        if dataset is None:
            return None
        version = client.find_version(dataset["id"], version_name)
        if version is None or str(self.config.run_id) not in str(version.get("description") or ""):
            return None
        self.dataset_id = dataset["id"]
        return version

    def _check_version(self, client: PicselliaClient, version: JsonDict, interface: PicselliaInterface) -> None:
        version_type = version.get("type")
        if version_type not in (interface.version_type, "MULTI") and not (
            interface.version_type == "CLASSIFICATION" and not interface.label_names
        ):
            raise ParameterError(
                "Picsellia version %s is of type %s; this label schema needs a %s (or MULTI) version; nothing was "
                "uploaded" % (version["id"], version_type, interface.version_type)
            )
        if self.config.campaign and version.get("annotation_campaign_id") and not self.campaign_created:
            raise ParameterError(
                "Picsellia version %s already has an annotation campaign (a version has one); pass campaign=False "
                "to add the samples without one, or use a new version; nothing was uploaded" % version["id"]
            )
        if not interface.attributes:
            return  # nothing to compare: no request
        existing = client.attributes(version["id"])
        for name, definition in interface.attributes.items():
            if name in existing and not _same_definition(existing[name], definition):
                raise ParameterError(
                    "Picsellia version %s already defines attribute %r as %s; this run needs %s; nothing was uploaded"
                    % (version["id"], name, existing[name], definition)
                )

    # ------------------------------------------------------------------
    # creating

    def _create_version(self, client: PicselliaClient, interface: PicselliaInterface) -> None:
        dataset_name, version_name = self._names()
        dataset = client.find_dataset(dataset_name)
        if dataset is None:
            dataset = client.create_dataset(dataset_name, "Samples sent from FiftyOne")
            self.created_dataset = self.dataset_created = True
            logger.info("Created Picsellia dataset %r", dataset_name)
        self.dataset_id = dataset["id"]
        taken = client.find_version(dataset["id"], version_name)
        if taken is not None:
            raise ParameterError(
                "Picsellia dataset %r already has a version named %r; pass another `version_name`, or "
                "`dataset_version_id=%r` to add the samples to it" % (dataset_name, version_name, taken["id"])
            )
        self.created_version = self.version_created = True
        version = client.create_version(
            dataset["id"],
            version_name,
            interface.version_type,
            version_description(self.anno_key, self.config.run_id),
        )
        self.version_id = version["id"]
        logger.info("Created Picsellia version %r (%s, %s)", version_name, interface.version_type, self.version_id)

    def _record(self) -> None:
        """Records what the run owns so far, so that a killed process leaves a
        run that knows it."""
        self.backend.record_partial(self.samples, self.anno_key, self._results(upload_complete=False))

    def _set_attributes(self, client: PicselliaClient, interface: PicselliaInterface) -> None:
        if not interface.attributes:
            return
        existing = client.attributes(self.known_version)
        missing = {n: d for n, d in interface.attributes.items() if n not in existing}
        if missing:
            if not self.created_version:
                self.previous_attributes = existing
            client.set_attributes(self.known_version, dict(existing, **missing))

    def _send_data(
        self,
        client: PicselliaClient,
        filenames: Mapping[str, str],
        path_of: Mapping[str, str],
        sizes: Mapping[str, tuple[int, int]],
    ) -> None:
        """Uploads each image the datalake does not have yet (by filename);
        waits until every data is processed."""
        datalake = client.datalake()
        self.datalake_id = datalake["id"]
        found = client.find_data(datalake["id"], list(filenames.values()))
        for sample_id, filename in filenames.items():
            if filename in found:
                self.data_ids[sample_id] = found[filename]["id"]
        todo = [s for s in filenames if s not in self.data_ids]
        if len(todo) < len(filenames):
            logger.info(
                "%d of the run's %d images are already in the datalake", len(filenames) - len(todo), len(filenames)
            )

        def send(sample_id: str) -> tuple[str, JsonDict]:
            width, height = sizes[sample_id]
            meta = {"width": width, "height": height}
            data = client.upload_file(datalake, path_of[sample_id], filenames[sample_id], meta=meta)
            return sample_id, data

        workers = self.config.upload_workers
        logger.info("Uploading %d images to the datalake (%d in flight)...", len(todo), workers)
        pending_data: list[JsonDict] = [d for d in found.values() if d.get("upload_status") != "DONE"]
        with (
            progress_bar(len(filenames)) as advance,
            concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="picsellia-upload") as pool,
        ):
            advance(len(filenames) - len(todo))
            pending: set[concurrent.futures.Future[tuple[str, JsonDict]]] = set()

            def collect(done: set[concurrent.futures.Future[tuple[str, JsonDict]]]) -> None:
                for future in done:
                    sample_id, data = future.result()
                    self.data_ids[sample_id] = data["id"]
                    if data.get("upload_status") != "DONE":
                        pending_data.append(data)
                    advance()

            try:
                for sample_id in todo:
                    pending.add(pool.submit(send, sample_id))
                    if len(pending) >= 2 * workers:
                        done, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
                        collect(done)
                done, pending = concurrent.futures.wait(pending)
                collect(done)
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
        self._wait_processed(client, pending_data)

    def _wait_processed(self, client: PicselliaClient, datas: list[JsonDict]) -> None:
        """Reads the data not yet processed again, in rounds (a pause only
        between rounds), until each is (as the SDK does, one read a data)."""
        pending = [d for d in datas if d.get("upload_status") != "DONE"]
        for round_number in range(DATA_POLLS):
            if not pending:
                return
            if round_number:
                time.sleep(DATA_POLL_SECONDS)
            still = []
            for data in pending:
                status = (client.call("GET", "/api/data/%s" % data["id"]) or {}).get("upload_status")
                if status == "ERROR":
                    raise ServiceError("Picsellia could not process data %s (%s)" % (data["id"], data.get("filename")))
                if status != "DONE":
                    still.append(data)
            pending = still
        raise ServiceError(
            "%d Picsellia data are still processing after %d s (e.g. %s)"
            % (len(pending), DATA_POLLS * DATA_POLL_SECONDS, pending[0]["id"])
        )

    def _check_assets(self, ids: Sequence[str]) -> None:
        missing = [s for s in ids if s not in self.asset_ids]
        if missing:
            raise AnnotationBackendError(
                "%d samples have no asset in Picsellia version %s after adding their data (e.g. sample %s)"
                % (len(missing), self.version_id, missing[0])
            )

    def _import(
        self, client: PicselliaClient, sent: Mapping[str, tuple[Shapes, dict[str, Any]]], label_ids: Mapping[str, str]
    ) -> None:
        """Imports the existing labels (REPLACE), then adds the lines."""
        items: list[JsonDict] = []
        lines: dict[str, list[JsonDict]] = {}
        for sample_id, (shapes, attributes) in sent.items():
            if not shapes and not attributes:
                continue
            asset_id = self.asset_ids[sample_id]
            item: JsonDict = {"asset_id": asset_id}
            for kind, kind_shapes in shapes.items():
                named = [dict(s, label_id=label_ids[s["label_id"]]) for s in kind_shapes]
                if kind in IMPORTED_KINDS:
                    item[kind] = named
                else:
                    lines[asset_id] = named
            if attributes:
                item["attributes"] = attributes
            items.append(item)
        if not items:
            return
        logger.info("Importing the existing labels of %d samples...", len(items))
        client.import_annotations(self.known_version, items)
        if lines:
            annotations = client.load_annotations(
                self.known_version, client.annotation_ids(self.known_version, list(lines)), per_request=10
            )
            newest: dict[str, str] = {}
            for annotation in annotations:  # newest first per asset
                newest.setdefault(annotation["asset_id"], annotation["id"])
            for asset_id, line_shapes in lines.items():
                client.call("POST", "/api/annotation/%s/bulk-lines" % newest[asset_id], body={"lines": line_shapes})

    def _start_campaign(self, client: PicselliaClient, assignees: Mapping[str, str]) -> None:
        config = self.config
        if self.campaign_id is None or client.campaign(self.campaign_id) is None:
            description = "FiftyOne annotation run '%s'" % self.anno_key
            campaign = client.create_campaign(self.known_version, description, config.campaign_instructions)
            self.campaign_id, self.campaign_created = campaign["id"], True
            self._record()
        campaign_id = self.campaign_id
        steps = config.campaign_steps or [{"name": "Annotation", "type": "ANNOTATION", "assignees": []}]
        existing = {s.get("name"): s for s in client.steps(campaign_id)}
        for order, step in enumerate(steps):
            if step["name"] not in existing:
                body = {
                    "name": step["name"],
                    "type": step["type"],
                    "order": order,
                    "assignees": [{"user_id": assignees[u], "weight": 1} for u in step["assignees"]],
                }
                existing[step["name"]] = client.create_step(campaign_id, body)
        first = existing[steps[0]["name"]]["id"]
        client.sync_campaign(campaign_id, first)
        logger.info("Started Picsellia campaign %s (%d step(s))", campaign_id, len(steps))

    # ------------------------------------------------------------------
    # failure

    def _on_failure(self, client: PicselliaClient, error: BaseException, ids: Sequence[str]) -> None:
        on_service: dict[str, str] = {}
        if self.version_id is not None and self.data_ids:
            try:
                assets = client.assets_by_data_id(self.version_id, list(self.data_ids.values()))
                sample_of = {d: s for s, d in self.data_ids.items()}
                on_service = {sample_of[d]: a["id"] for d, a in assets.items() if d in sample_of}
            except Exception as e:
                logger.warning("Could not count the run's assets in version %s: %s", self.version_id, e)
        self.asset_ids = on_service
        handle_failed_upload(
            self.backend,
            self.samples,
            self.anno_key,
            error,
            len(on_service),
            len(ids),
            "assets",
            self.version_id,
            self._results(upload_complete=False),
            roll_back=lambda: self._roll_back(client),
            owned_before=self.owned_before,
        )

    def _roll_back(self, client: PicselliaClient) -> None:
        """Deletes what this call created: its data, its version and dataset,
        or in a reused version the attribute definitions it added."""
        run_id = self.config.run_id
        if self.datalake_id is not None:
            data_ids = set(self.data_ids.values())
            # an upload whose answer was lost may have made a data: its name says it is ours
            found = client.find_data(self.datalake_id, list(self.filenames.values()))
            data_ids |= {d["id"] for name, d in found.items() if is_run_filename(name, run_id)}
            if data_ids:
                client.delete_data(self.datalake_id, sorted(data_ids))
        if self.created_version and self.version_id is not None:
            client.delete_version(self.version_id)
            logger.info("Deleted Picsellia version %s, created by the failed upload", self.version_id)
        elif self.previous_attributes is not None and self.version_id is not None:
            client.set_attributes(self.version_id, self.previous_attributes)
        if self.created_dataset and self.dataset_id is not None:
            client.delete_dataset(self.dataset_id)
            logger.info("Deleted Picsellia dataset %s, created by the failed upload", self.dataset_id)


def _same_definition(found: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    keys = ("input_type", "choices", "allow_multiple")
    return all(found.get(k) == wanted.get(k) for k in keys if k in wanted or k in found)
