"""The Kili backend: config, backend and results.

Speaks Kili's GraphQL API directly (``requests``), for Kili itself and for
services that speak its protocol:

- the label schema becomes a jsonInterface (one job per field, attributes as
  shared child jobs, safe category keys that map back to the exact class
  names);
- local images go up through signed storage URLs, http(s) media by URL, 100
  assets per call, under ids chosen by us, so that a retried or resumed
  upload never creates a duplicate asset;
- existing labels go up as PREDICTION labels whose ``mid`` is the FiftyOne
  label id, so edits and deletions come back by id;
- the label that counts is chosen like Kili's own export (latest human label,
  latest review, or one annotator's), with optional asset filters; assets
  nobody labelled keep their labels.
"""

import collections
import concurrent.futures
import hashlib
import os
import uuid
import webbrowser

import fiftyone.utils.annotations as foua

from ..core.params import reject_unknown_parameters
from ..core.backend import ApiKeyConfigMixin, ImageBackendMixin, handle_failed_upload, keypoint_skeletons
from ..core.download import build_annotations
from ..core.errors import AnnotationBackendError
from ..core.idmap import field_values, label_ids
from ..core.media import check_image_media, is_remote, sample_image_sizes
from ..core.progress import progress_bar
from ..core.schema import normalize_label_schema
from ..core.secrets import get_logger
from .client import ASSET_FIELDS, DEFAULT_URL, HUMAN_LABEL_TYPES, LABEL_FIELDS, KiliClient, loads_json_field, project_url
from .convert import KiliInterface, json_response_to_labels, labels_to_json_response

logger = get_logger(__name__)

API_KEY_ENV = "FIFTYONE_KILI_API_KEY"
URL_ENV = "FIFTYONE_KILI_URL"
KILI_MAX_ASSETS_PER_PROJECT = 25000  # stated by Kili's documentation
LABEL_SELECTIONS = ("latest", "latest_review", "annotator")
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
_DESCRIPTION_PREFIX = "FiftyOne annotation run '%s'"


class KiliBackendConfig(ApiKeyConfigMixin, foua.AnnotationBackendConfig):
    """Configuration of the Kili backend.

    Args:
        name: the backend name (``"kili"``)
        label_schema: the label schema resolved by FiftyOne
        media_field ("filepath"): the field holding the media paths
        url (None): the GraphQL endpoint (``FIFTYONE_KILI_URL``; default
            Kili's cloud, ``https://cloud.kili-technology.com/api/label/v2/graphql``)
        api_key (None): the API key (``FIFTYONE_KILI_API_KEY``); never
            stored in the run
        project_id (None): an existing project to add the assets to (also how
            an interrupted upload is resumed)
        project_name (None): the title of a new project (default
            ``FiftyOne <dataset name>``)
        label_selection ("latest"): which label of an asset counts:
            ``"latest"`` (latest DEFAULT or REVIEW label, like Kili's export),
            ``"latest_review"`` (latest REVIEW label only) or ``"annotator"``
            (latest DEFAULT/REVIEW label of ``annotator``)
        annotator (None): the email of the annotator whose labels count, for
            ``label_selection="annotator"``
        status_in (None): only assets with one of these statuses (e.g.
            ``["LABELED", "REVIEWED"]``) are loaded; others keep their labels
        consensus_mark_gte, consensus_mark_lte (None): only assets with a
            consensus mark in this range are loaded
        honeypot_mark_gte, honeypot_mark_lte (None): only assets with a
            honeypot mark in this range are loaded
        max_assets_per_project (25000): Kili's limit of assets per project,
            checked before anything is uploaded (raise it for self-hosted
            servers configured otherwise)
        model_name ("fiftyone"): the model name of the PREDICTION labels
            that carry the existing labels
        upload_workers (4): file uploads to signed URLs in flight at once
        download_page_size (50): assets per page when loading labels
        max_calls (500): the most API calls per ``window_seconds``
        window_seconds (60): the pacing window, in seconds
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
        project_id=None,
        project_name=None,
        label_selection="latest",
        annotator=None,
        status_in=None,
        consensus_mark_gte=None,
        consensus_mark_lte=None,
        honeypot_mark_gte=None,
        honeypot_mark_lte=None,
        max_assets_per_project=KILI_MAX_ASSETS_PER_PROJECT,
        model_name="fiftyone",
        upload_workers=4,
        download_page_size=50,
        max_calls=500,
        window_seconds=60,
        timeout=300,
        max_retries=5,
        run_id=None,
        **kwargs,
    ):
        reject_unknown_parameters(type(self), name, kwargs)
        super().__init__(name, label_schema, media_field=media_field)
        self.run_id = run_id
        if label_selection not in LABEL_SELECTIONS:
            raise AnnotationBackendError(
                "label_selection must be one of %s, not %r" % (", ".join(LABEL_SELECTIONS), label_selection)
            )
        if label_selection == "annotator" and not annotator:
            raise AnnotationBackendError("label_selection='annotator' needs `annotator=<email>`")
        self.url = url
        self.project_id = project_id
        self.project_name = project_name
        self.label_selection = label_selection
        self.annotator = annotator
        self.status_in = list(status_in) if status_in else None
        self.consensus_mark_gte = consensus_mark_gte
        self.consensus_mark_lte = consensus_mark_lte
        self.honeypot_mark_gte = honeypot_mark_gte
        self.honeypot_mark_lte = honeypot_mark_lte
        self.max_assets_per_project = max_assets_per_project
        self.model_name = model_name
        self.upload_workers = upload_workers
        self.download_page_size = download_page_size
        self.max_calls = max_calls
        self.window_seconds = window_seconds
        self.timeout = timeout
        self.max_retries = max_retries
        self.api_key = api_key

    @property
    def endpoint(self):
        """The GraphQL endpoint in use."""
        return self.url or os.environ.get(URL_ENV) or DEFAULT_URL

    def load_credentials(self, url=None, api_key=None):
        """Fills ``url``/``api_key`` from the annotation config, then from
        ``FIFTYONE_KILI_URL``/``FIFTYONE_KILI_API_KEY``."""
        self._load_parameters(url=url, api_key=api_key)
        if self.api_key is None and os.environ.get(API_KEY_ENV):
            self.api_key = os.environ[API_KEY_ENV]

    def asset_filters(self):
        """The ``AssetWhere`` keys of the configured asset filters."""
        where = {}
        if self.status_in:
            where["statusIn"] = list(self.status_in)
        for key, value in (
            ("consensusMarkGte", self.consensus_mark_gte),
            ("consensusMarkLte", self.consensus_mark_lte),
            ("honeypotMarkGte", self.honeypot_mark_gte),
            ("honeypotMarkLte", self.honeypot_mark_lte),
        ):
            if value is not None:
                where[key] = value
        return where

    def __repr__(self):
        return "%s(url=%r, project_id=%r)" % (type(self).__name__, self.endpoint, self.project_id)


class KiliBackend(ImageBackendMixin, foua.AnnotationBackend):
    """Sends samples to a Kili project and merges the labels back."""

    client_cls = KiliClient

    def _upload(self, samples, anno_key):
        # a project this call created is deleted if no asset reached it;
        # otherwise its assets stay and UploadInterruptedError says how to
        # resume
        return _Uploader(self, samples, anno_key).run()

    def _download(self, results):
        """Downloads the label that counts of every asset of the run."""
        return _Downloader(self, results).run()


def asset_id_for(project_id, anno_key, sample_id):
    """The asset id of a sample in a run: a cuid-like string derived from
    the project, the run key and the sample, so that every attempt of the
    same upload names its assets the same."""
    digest = hashlib.sha1(("%s/%s/%s" % (project_id, anno_key, sample_id)).encode()).hexdigest()
    return "c" + digest[:24]


def external_id_for(anno_key, sample_id):
    """The external id (the asset name in Kili's app) of a sample in a run."""
    return "%s_%s" % (anno_key, sample_id)


class _Uploader:
    def __init__(self, backend, samples, anno_key):
        self.backend = backend
        self.config = backend.config
        self.samples = samples
        self.anno_key = anno_key
        self.created_project_id = None
        self.appended = 0

    def run(self):
        config = self.config
        fields = normalize_label_schema(config.label_schema, self.samples, SUPPORTED_TYPES)
        if not len(self.samples):
            raise AnnotationBackendError("The view is empty: there is nothing to annotate")
        skeletons = keypoint_skeletons(self.samples, fields)
        interface = KiliInterface(fields, skeletons=skeletons)
        ids, paths = self.samples.values(["id", config.media_field])
        check_image_media(list(zip(ids, paths)))
        self._check_capacity(len(ids), 0)
        image_sizes = sample_image_sizes(self.samples, ids, paths) if interface.needs_image_size() else {}

        # everything local is checked: now the server
        client = self.backend.connect_to_api()
        viewer = client.viewer()
        logger.info("Connected to Kili at %s as %s", client.url, viewer.get("email"))
        project_id, project_created = self._project(client, interface)
        asset_ids = {s: asset_id_for(project_id, self.anno_key, s) for s in ids}
        try:
            todo, needs_labels = self._pending(client, project_id, ids, asset_ids, project_created)
            id_map = self._upload(client, project_id, fields, interface, ids, paths, asset_ids, todo, needs_labels, image_sizes)
        except BaseException as e:
            self._on_failure(client, project_id, len(ids), e)
            raise

        logger.info("Kili project %s has the %d assets of run '%s'", project_id, len(ids), self.anno_key)
        return KiliAnnotationResults(
            self.samples,
            config,
            self.anno_key,
            id_map,
            project_id=project_id,
            asset_ids=asset_ids,
            interface=interface.to_dict(),
            project_created=project_created,
            backend=self.backend,
        )

    def _check_capacity(self, new_assets, existing):
        limit = self.config.max_assets_per_project
        if limit is not None and existing + new_assets > limit:
            where = "the project already has %d assets and " % existing if existing else ""
            raise AnnotationBackendError(
                "Kili accepts at most %d assets per project; %sthis run has %d samples. Nothing was uploaded. "
                "Split the view into runs of at most %d samples (e.g. `view.skip(n).limit(%d)`), each in its "
                "own project, or raise `max_assets_per_project` if your server allows more"
                % (limit, where, new_assets, max(limit - existing, 0) or limit, limit)
            )

    def _project(self, client, interface):
        """``(project_id, created by this run)``: the reused project (its
        jsonInterface extended with ours) or a new one."""
        config = self.config
        ours = interface.json_interface()
        if config.project_id is not None:
            project = client.get_project(config.project_id)
            if project is None:
                raise AnnotationBackendError("Kili project %s does not exist (or this key cannot see it)" % config.project_id)
            if project.get("inputType") not in (None, "IMAGE"):
                raise AnnotationBackendError(
                    "Kili project %s has input type %s; images need an IMAGE project" % (project["id"], project["inputType"])
                )
            merged = _merge_interfaces(project["id"], project.get("jsonInterface") or {}, ours)
            if merged != project.get("jsonInterface"):
                logger.info("Adding this run's jobs to the jsonInterface of project %s", project["id"])
                client.update_json_interface(project["id"], merged)
            description = project.get("description") or ""
            created = description.startswith(_DESCRIPTION_PREFIX % self.anno_key)
            return project["id"], created

        title = config.project_name or "FiftyOne %s" % self.samples._root_dataset.name
        description = "%s of dataset '%s' (upload %s)" % (
            _DESCRIPTION_PREFIX % self.anno_key,
            self.samples._root_dataset.name,
            uuid.uuid4().hex,
        )
        project_id = client.create_project(title, description, ours)
        self.created_project_id = project_id
        logger.info("Created Kili project %s (%s)", project_id, title)
        return project_id, True

    def _pending(self, client, project_id, ids, asset_ids, project_created):
        """The samples whose asset is still to create, and those whose
        PREDICTION label is still to add (a resumed upload)."""
        if self.created_project_id is not None:
            return list(ids), set(ids)  # a new project: nothing exists
        external_ids = {external_id_for(self.anno_key, s): s for s in ids}
        existing = client.existing_external_ids(project_id, list(external_ids))
        existing_samples = [external_ids[e] for e in existing]
        ours = client.assets_by_id(project_id, [asset_ids[s] for s in existing_samples], fields="id")
        foreign = [s for s in existing_samples if asset_ids[s] not in ours]
        if foreign:
            raise AnnotationBackendError(
                "Kili project %s already has assets named like %d samples of run '%s' (e.g. %s) that this "
                "run did not create. Nothing was uploaded. Use another run key or another project"
                % (project_id, len(foreign), self.anno_key, external_id_for(self.anno_key, foreign[0]))
            )
        todo = [s for s in ids if asset_ids[s] not in ours]
        self._check_capacity(len(todo), client.count_assets({"project": {"id": project_id}}))
        labelled = client.assets_with_prediction(project_id, [asset_ids[s] for s in existing_samples], self.config.model_name)
        needs_labels = set(todo) | {s for s in existing_samples if asset_ids[s] not in labelled}
        if existing_samples:
            logger.info(
                "Resuming: %d of %d assets are already in project %s; %d still need their labels",
                len(existing_samples),
                len(ids),
                project_id,
                len(needs_labels) - len(todo),
            )
        self.appended = len(existing_samples)
        return todo, needs_labels

    def _upload(self, client, project_id, fields, interface, ids, paths, asset_ids, todo, needs_labels, image_sizes):
        path_of = dict(zip(ids, paths))
        todo_set = set(todo)
        id_map = {field: {} for field in fields}
        batch_size = 100
        workers = max(1, int(self.config.upload_workers))
        with progress_bar(len(ids)) as advance, concurrent.futures.ThreadPoolExecutor(
            workers, thread_name_prefix="kili-upload"
        ) as pool:
            advance(len(ids) - len(todo_set | needs_labels))
            values = field_values(self.samples, list(fields))  # one query for the whole view
            for start in range(0, len(ids), batch_size):
                batch = ids[start : start + batch_size]
                predictions = []
                for sample_id in batch:
                    sample_values = {field: values[field].get(sample_id) for field in fields}
                    for field, spec in fields.items():
                        value = sample_values[field]
                        if spec.type == "scalar":
                            if value is not None:
                                id_map[field][sample_id] = True
                        else:
                            id_map[field][sample_id] = label_ids(value, spec.multiple)
                    if sample_id in needs_labels:
                        response = labels_to_json_response(interface, sample_values, image_sizes.get(sample_id))
                        if response:
                            predictions.append((asset_ids[sample_id], response))
                new = [s for s in batch if s in todo_set]
                # Kili refuses hosted URLs and uploaded files in one call
                for group in (
                    [s for s in new if is_remote(path_of[s])],
                    [s for s in new if not is_remote(path_of[s])],
                ):
                    if group:
                        self._append_assets(client, pool, project_id, group, path_of, asset_ids)
                if predictions:
                    client.append_predictions(project_id, self.config.model_name, predictions)
                advance(len([s for s in batch if s in todo_set or s in needs_labels]))
        return id_map

    def _append_assets(self, client, pool, project_id, sample_ids, path_of, asset_ids):
        contents = {s: path_of[s] for s in sample_ids if is_remote(path_of[s])}
        local = [s for s in sample_ids if s not in contents]
        if local:
            bucket_paths = ["projects/%s/assets/%s/content" % (project_id, asset_ids[s]) for s in local]
            urls = client.signed_upload_urls(bucket_paths)
            futures = {pool.submit(client.upload_file, url, path_of[s]): s for s, url in zip(local, urls)}
            try:
                for future in concurrent.futures.as_completed(futures):
                    contents[futures[future]] = future.result()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        assets = [
            {
                "id": asset_ids[s],
                "external_id": external_id_for(self.anno_key, s),
                "content": contents[s],
                "json_metadata": {
                    "fiftyone_sample_id": s,
                    "fiftyone_run": self.anno_key,
                    "filename": os.path.basename(path_of[s]),
                },
            }
            for s in sample_ids
        ]
        client.append_assets(project_id, assets)
        self.appended += len(assets)

    def _on_failure(self, client, project_id, total, error):
        delete = (lambda: client.delete_project(project_id)) if self.created_project_id is not None else None
        handle_failed_upload(error, self.anno_key, self.appended, total, "assets", project_id, "project_id=%r" % project_id, delete)


def _merge_interfaces(project_id, theirs, ours):
    """The project's jsonInterface with our jobs added; a job of the same
    name with another definition is an error (raised before any upload)."""
    jobs = dict((theirs or {}).get("jobs") or {})
    for name, job in ours["jobs"].items():
        if name in jobs and jobs[name] != job:
            raise AnnotationBackendError(
                "Kili project %s already has a job '%s' with another definition; nothing was uploaded. "
                "Use a new project, or a label field name that maps to another job" % (project_id, name)
            )
        jobs[name] = job
    return dict(theirs or {}, jobs=jobs)


def select_label(labels, selection="latest", annotator=None):
    """The label of an asset that counts, or ``None``.

    Args:
        labels: the asset's labels (``labelType``, ``createdAt``,
            ``author{email}``)
        selection ("latest"): ``"latest"`` (latest DEFAULT or REVIEW),
            ``"latest_review"`` (latest REVIEW) or ``"annotator"`` (latest
            DEFAULT or REVIEW of ``annotator``)
        annotator (None): an email, for ``"annotator"``
    """
    types = ("REVIEW",) if selection == "latest_review" else HUMAN_LABEL_TYPES
    candidates = [l for l in labels or [] if l.get("labelType") in types]
    if selection == "annotator":
        wanted = (annotator or "").lower()
        candidates = [l for l in candidates if ((l.get("author") or {}).get("email") or "").lower() == wanted]
    if not candidates:
        return None
    return max(candidates, key=lambda l: l.get("createdAt") or "")


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
        sample_of = {a: s for s, a in results.asset_ids.items()}
        logger.info("Downloading labels from Kili project %s...", results.project_id)
        annotated = {}
        resolutions = {}
        found = 0
        for asset in results.iter_assets(client, "%s labels { %s }" % (ASSET_FIELDS, LABEL_FIELDS), filtered=True):
            found += 1
            sample_id = sample_of[asset["id"]]
            label = select_label(asset.get("labels"), config.label_selection, config.annotator)
            if label is not None:
                annotated[sample_id] = loads_json_field(label.get("jsonResponse")) or {}
                resolution = asset.get("resolution") or {}
                if resolution.get("width") and resolution.get("height"):
                    resolutions[sample_id] = (int(resolution["width"]), int(resolution["height"]))
        logger.info(
            "%d of %d assets have a label that counts (%d matched the filters)",
            len(annotated),
            len(results.asset_ids),
            found,
        )
        image_sizes = self._image_sizes(interface, annotated, resolutions)

        def convert(spec, response, uploaded, sample_id):
            return json_response_to_labels(interface, spec, response, uploaded, image_sizes.get(sample_id))

        return build_annotations(results.samples, fields, results.id_map, list(results.asset_ids), annotated, convert)

    def _image_sizes(self, interface, annotated, resolutions):
        if not interface.needs_image_size() or not annotated:
            return {}
        samples = self.results.samples
        ids = list(annotated)
        paths = samples.select(ids, ordered=True).values(self.config.media_field)
        local = [(i, p) for i, p in zip(ids, paths) if not is_remote(p)]
        sizes = {i: resolutions[i] for i, p in zip(ids, paths) if is_remote(p) and i in resolutions}
        remote_unknown = [(i, p) for i, p in zip(ids, paths) if is_remote(p) and i not in resolutions]
        todo = local + remote_unknown
        if todo:
            sizes.update(sample_image_sizes(samples, [i for i, _ in todo], [p for _, p in todo]))
        return sizes


class KiliAnnotationResults(foua.AnnotationResults):
    """The results of a Kili annotation run.

    Attributes:
        project_id: the Kili project id
        asset_ids: ``{sample_id: asset_id}``
        interface: the jsonInterface names of the run (job of every field,
            category key of every class and attribute value)
        project_created: whether this run created the project (cleanup
            deletes it) or reused one (cleanup deletes only its assets)
    """

    def __init__(
        self,
        samples,
        config,
        anno_key,
        id_map,
        project_id=None,
        asset_ids=None,
        interface=None,
        project_created=True,
        backend=None,
    ):
        super().__init__(samples, config, anno_key, id_map, backend=backend)
        self.project_id = project_id
        self.asset_ids = asset_ids or {}
        self.interface_mapping = interface
        self.project_created = project_created

    @property
    def sample_to_asset(self):
        """``{sample_id: asset_id}``."""
        return dict(self.asset_ids)

    @property
    def project_url(self):
        """The project's URL in Kili's web app."""
        return project_url(self.config.endpoint, self.project_id)

    def interface(self, fields):
        """The :class:`KiliInterface` this run was uploaded with."""
        return KiliInterface(fields, mapping=self.interface_mapping)

    def iter_assets(self, client, fields, filtered=False):
        """This run's assets that still exist (``filtered``: only those that
        pass the configured asset filters), page by page."""
        ids = list(self.asset_ids.values())
        page_size = max(1, int(self.config.download_page_size))
        extra = self.config.asset_filters() if filtered else {}
        for start in range(0, len(ids), page_size):
            chunk = ids[start : start + page_size]
            where = dict(extra, project={"id": self.project_id}, idIn=chunk)
            for asset in client.iter_assets(where, fields, page_size, limit=len(chunk)):
                yield asset

    def launch_editor(self):
        """Opens the project in a web browser."""
        logger.info("Launching editor at '%s'...", self.project_url)
        webbrowser.open_new_tab(self.project_url)

    def get_status(self):
        """The run's progress, from the server.

        Returns:
            a dict with ``project_id``, ``total`` assets, ``statuses``
            (``{status: assets}``), ``labeled`` (assets with a DEFAULT or
            REVIEW label), ``reviewed`` (assets with a REVIEW label),
            ``missing`` (assets deleted on the server) and ``annotators``
            (``{email: human labels}``)
        """
        client = self._backend.connect_to_api()
        statuses = collections.Counter()
        annotators = collections.Counter()
        found = labeled = reviewed = 0
        for asset in self.iter_assets(client, "id status labels { labelType author { email } }"):
            found += 1
            statuses[asset.get("status") or "UNKNOWN"] += 1
            human = [l for l in asset.get("labels") or [] if l.get("labelType") in HUMAN_LABEL_TYPES]
            labeled += bool(human)
            reviewed += any(l.get("labelType") == "REVIEW" for l in human)
            for label in human:
                annotators[(label.get("author") or {}).get("email") or "unknown"] += 1
        return {
            "project_id": self.project_id,
            "total": len(self.asset_ids),
            "statuses": dict(statuses),
            "labeled": labeled,
            "reviewed": reviewed,
            "unlabeled": found - labeled,
            "missing": len(self.asset_ids) - found,
            "annotators": dict(annotators),
        }

    def print_status(self):
        """Prints :meth:`get_status` in a readable form."""
        status = self.get_status()
        print("Kili project %s (%s)" % (status["project_id"], self.project_url))
        print("    assets:    %d" % status["total"])
        for name, count in sorted(status["statuses"].items()):
            print("    %-10s %d" % (name + ":", count))
        print("    labeled:   %d (reviewed: %d)" % (status["labeled"], status["reviewed"]))
        if status["missing"]:
            print("    deleted on the server: %d" % status["missing"])
        for author, count in sorted(status["annotators"].items()):
            print("    %s: %d label(s)" % (author, count))

    def cleanup(self):
        """Deletes the run from Kili: the project if this run created it,
        else only this run's assets."""
        if self.project_id is None:
            return
        client = self._backend.connect_to_api()
        if self.project_created:
            client.delete_project(self.project_id)
            logger.info("Deleted Kili project %s", self.project_id)
        else:
            client.delete_assets(self.project_id, list(self.asset_ids.values()))
            logger.info("Deleted the %d assets of run '%s' from Kili project %s", len(self.asset_ids), self.key, self.project_id)

    @classmethod
    def _from_dict(cls, d, samples, config, anno_key):
        results = cls(
            samples,
            config,
            anno_key,
            d["id_map"],
            project_id=d.get("project_id"),
            asset_ids=d.get("asset_ids") or {},
            interface=d.get("interface_mapping"),
            project_created=d.get("project_created", True),
        )
        results.upload_complete = d.get("upload_complete", True)
        return results
