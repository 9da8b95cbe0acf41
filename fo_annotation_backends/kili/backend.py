"""The Kili backend: config, backend and results.

Speaks Kili's GraphQL API directly (``requests``), for Kili itself and for
services that speak its protocol:

- the label schema becomes a jsonInterface (one job per field, attributes as
  shared child jobs, safe category keys that map back to the exact class
  names);
- local images go up through signed storage URLs, http(s) media by URL, 100
  assets per call, under ids derived from the project, the run id and the
  sample, so that a retried or resumed upload never creates a duplicate
  asset (``upload.py``);
- existing labels go up as PREDICTION labels whose ``mid`` is the FiftyOne
  label id, so edits and deletions come back by id;
- the label that counts is chosen like Kili's own export (latest human label,
  latest review, or one annotator's), with optional asset filters; assets
  nobody labelled keep their labels (``download.py``);
- what a run owns is recorded (the project it created, its assets by id):
  ``cleanup()`` deletes the run's assets, and the project only when this run
  created it and nothing else is in it.
"""

from __future__ import annotations

import collections
import hashlib
import numbers
import webbrowser
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

import fiftyone.utils.annotations as foua

from ..core.backend import Annotations, IdMap, ImageBackendMixin, ServiceCredentialsMixin
from ..core.errors import ParameterError, ProjectDeletedError
from ..core.params import check_choice, check_positive, reject_unknown_parameters
from ..core.runs import RunStatus, remove_run_items, status_dict
from ..core.schema import IMAGE_TYPES, Fields, LabelSchema
from ..core.secrets import get_logger
from .client import HUMAN_LABEL_TYPES, KiliClient, check_endpoint, project_url
from .convert import KiliInterface

if TYPE_CHECKING:
    from fiftyone.core.collections import SampleCollection

logger = get_logger(__name__)

KILI_MAX_ASSETS_PER_PROJECT = 25000  # stated by Kili's documentation
LABEL_SELECTIONS = ("latest", "latest_review", "annotator")
#: asset statuses of Kili's (V1) workflow, for ``status_in``
ASSET_STATUSES = ("TODO", "ONGOING", "LABELED", "REVIEWED", "TO_REVIEW")
MARK_FILTERS = ("consensus_mark_gte", "consensus_mark_lte", "honeypot_mark_gte", "honeypot_mark_lte")
SUPPORTED_TYPES = IMAGE_TYPES


class KiliBackendConfig(ServiceCredentialsMixin, foua.AnnotationBackendConfig):
    """Configuration of the Kili backend.

    Every option is checked when the config is built, before anything is
    created on the server.

    Args:
        name: the backend name (``"kili"``)
        label_schema: the label schema resolved by FiftyOne
        media_field ("filepath"): the field holding the media paths
        url (None): the GraphQL endpoint (``FIFTYONE_KILI_URL``; default
            Kili's cloud, ``https://cloud.kili-technology.com/api/label/v2/graphql``)
        api_key (None): the API key (``FIFTYONE_KILI_API_KEY``); never
            stored in the run
        project_id (None): an existing project to add the assets to
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
            consensus mark in this range (0 to 1) are loaded
        honeypot_mark_gte, honeypot_mark_lte (None): only assets with a
            honeypot mark in this range (0 to 1) are loaded
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
        max_retries (5): retries of failed requests (0 for none)
        run_id (None): the run's id, set when the run is registered (it
            marks what the run creates on the server)
    """

    service_name = "kili"

    def __init__(
        self,
        name: str,
        label_schema: LabelSchema | None,
        media_field: str = "filepath",
        url: str | None = None,
        api_key: str | None = None,
        project_id: str | None = None,
        project_name: str | None = None,
        label_selection: str = "latest",
        annotator: str | None = None,
        status_in: Iterable[str] | None = None,
        consensus_mark_gte: float | None = None,
        consensus_mark_lte: float | None = None,
        honeypot_mark_gte: float | None = None,
        honeypot_mark_lte: float | None = None,
        max_assets_per_project: int = KILI_MAX_ASSETS_PER_PROJECT,
        model_name: str = "fiftyone",
        upload_workers: int = 4,
        download_page_size: int = 50,
        max_calls: int | None = 500,
        window_seconds: float = 60,
        timeout: float = 300,
        max_retries: int = 5,
        run_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        reject_unknown_parameters(type(self), name, kwargs)
        super().__init__(name, label_schema, media_field=media_field)
        self.run_id = run_id
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
        self._check_options()

    def _check_options(self) -> None:
        if self.url is not None:
            check_endpoint(self.url)
        check_choice(self, "label_selection", LABEL_SELECTIONS)
        if self.label_selection == "annotator" and not self.annotator:
            raise ParameterError("label_selection='annotator' needs `annotator=<email>`")
        check_positive(self, ["max_assets_per_project", "upload_workers", "download_page_size", "max_calls"])
        check_positive(self, ["window_seconds", "timeout"], integer=False)
        check_positive(self, ["max_retries"], allow_zero=True, allow_none=False)
        if not isinstance(self.model_name, str) or not self.model_name:
            raise ParameterError("`model_name` must be a non-empty string, not %r" % (self.model_name,))
        if self.project_id is not None and (not isinstance(self.project_id, str) or not self.project_id):
            raise ParameterError("`project_id` must be a Kili project id (a string), not %r" % (self.project_id,))
        unknown = [s for s in self.status_in or [] if s not in ASSET_STATUSES]
        if unknown:
            raise ParameterError(
                "`status_in` has unknown asset status(es) %s; Kili's are %s" % (unknown, ", ".join(ASSET_STATUSES))
            )
        for name in MARK_FILTERS:
            value = getattr(self, name)
            # cast: typeshed's numbers.Real declares no comparison with int
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= cast(float, value) <= 1
            ):
                raise ParameterError("`%s` must be a number from 0 to 1 (Kili's marks), not %r" % (name, value))
        for low, high in (MARK_FILTERS[:2], MARK_FILTERS[2:]):
            if (
                getattr(self, low) is not None
                and getattr(self, high) is not None
                and getattr(self, low) > getattr(self, high)
            ):
                raise ParameterError(
                    "`%s` (%r) is above `%s` (%r): no asset would be loaded"
                    % (low, getattr(self, low), high, getattr(self, high))
                )

    def asset_filters(self) -> dict[str, Any]:
        """The ``AssetWhere`` keys of the configured asset filters."""
        where: dict[str, Any] = {}
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

    def __repr__(self) -> str:
        return "%s(url=%r, project_id=%r)" % (type(self).__name__, self.endpoint, self.project_id)


class KiliBackend(ImageBackendMixin[KiliClient], foua.AnnotationBackend):
    """Sends samples to a Kili project and merges the labels back.

    An upload that fails leaves nothing behind when the run had nothing on
    the server yet; otherwise the run stays registered as unfinished and the
    same ``annotate()`` call resumes it (see ``upload.py``).
    """

    client_cls = KiliClient
    config: KiliBackendConfig

    def _upload(self, samples: SampleCollection, anno_key: str) -> KiliAnnotationResults:
        from .upload import Uploader  # upload.py and download.py import this module

        return Uploader(self, samples, anno_key).run()

    def _download(self, results: KiliAnnotationResults) -> Annotations:
        """Downloads the label that counts of every asset of the run."""
        from .download import Downloader

        return Downloader(self, results).run()


def asset_id_for(project_id: str, run_id: str | None, sample_id: str) -> str:
    """The asset id of a sample in a run: a cuid-like string derived from
    the project, the run id and the sample, so that every attempt of the
    same run names its assets the same, and no other run (another dataset,
    a clone with the same sample ids, an earlier run under the same key)
    names them so."""
    digest = hashlib.sha1(("%s/%s/%s" % (project_id, run_id, sample_id)).encode()).hexdigest()
    return "c" + digest[:24]


def external_id_for(anno_key: str, sample_id: str, run_id: str | None) -> str:
    """The external id (the asset name in Kili's app) of a sample in a run:
    ``<run key>_<sample id>_<8 digits of the run id>``."""
    return "%s_%s_%s" % (anno_key, sample_id, (run_id or "")[:8])


def select_label(
    labels: Iterable[dict[str, Any]] | None, selection: str = "latest", annotator: str | None = None
) -> dict[str, Any] | None:
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
    candidates = [label for label in labels or [] if label.get("labelType") in types]
    if selection == "annotator":
        wanted = (annotator or "").lower()
        candidates = [
            label for label in candidates if ((label.get("author") or {}).get("email") or "").lower() == wanted
        ]
    if not candidates:
        return None
    return max(candidates, key=lambda label: label.get("createdAt") or "")


class KiliAnnotationResults(foua.AnnotationResults):
    """The results of a Kili annotation run.

    Attributes:
        project_id: the Kili project id
        asset_ids: ``{sample_id: asset_id}``
        interface_mapping: the jsonInterface names of the run (job of every
            field, category key of every class and attribute value)
        project_created: whether this run created the project (recorded
            when it was created): only then may ``cleanup()`` delete it
        upload_complete: whether the upload finished (an unfinished run is
            resumed by the same ``annotate()`` call)
        added_label_ids: ``{field: {sample_id: {origin: label_id}}}``, the
            ids given to labels people added, kept for the next load
    """

    config: KiliBackendConfig
    _backend: KiliBackend

    def __init__(
        self,
        samples: SampleCollection,
        config: KiliBackendConfig,
        anno_key: str,
        id_map: IdMap,
        project_id: str | None = None,
        asset_ids: dict[str, str] | None = None,
        interface: Mapping[str, Any] | None = None,
        project_created: bool = False,
        upload_complete: bool = True,
        added_label_ids: dict[str, dict[str, dict[str, str]]] | None = None,
        backend: KiliBackend | None = None,
    ) -> None:
        super().__init__(samples, config, anno_key, id_map, backend=backend)
        self.project_id = project_id
        self.asset_ids = asset_ids or {}
        self.interface_mapping = interface
        self.project_created = bool(project_created)
        self.upload_complete = bool(upload_complete)
        self.added_label_ids = added_label_ids or {}

    @property
    def sample_to_asset(self) -> dict[str, str]:
        """``{sample_id: asset_id}``."""
        return dict(self.asset_ids)

    @property
    def project_url(self) -> str:
        """The project's URL in Kili's web app."""
        return project_url(self.config.endpoint, self.project_id or "")

    def interface(self, fields: Fields) -> KiliInterface:
        """The :class:`KiliInterface` this run was uploaded with."""
        return KiliInterface(fields, mapping=self.interface_mapping)

    def require_project(self, client: KiliClient) -> None:
        """Raises :class:`ProjectDeletedError` if the run's project is gone."""
        if self.project_id is None or client.get_project(self.project_id) is None:
            key = self.key
            raise ProjectDeletedError(
                "Kili project %s of run '%s' no longer exists (deleted by cleanup(), "
                "load_annotations(..., cleanup=True) or in Kili): there is nothing to load and the dataset was not "
                "changed. Remove the run with `dataset.delete_annotation_run('%s')`" % (self.project_id, key, key),
                status_code=404,
            )

    def iter_assets(self, client: KiliClient, fields: str, filtered: bool = False) -> Iterator[dict[str, Any]]:
        """This run's assets that still exist (``filtered``: only those that
        pass the configured asset filters), page by page."""
        ids = list(self.asset_ids.values())
        page_size = int(self.config.download_page_size)
        extra = self.config.asset_filters() if filtered else {}
        for start in range(0, len(ids), page_size):
            chunk = ids[start : start + page_size]
            where = dict(extra, project={"id": self.project_id}, idIn=chunk)
            for asset in client.iter_assets(where, fields, page_size, limit=len(chunk)):
                yield asset

    def launch_editor(self) -> None:
        """Opens the project in a web browser."""
        logger.info("Launching editor at '%s'...", self.project_url)
        webbrowser.open_new_tab(self.project_url)

    def get_status(self) -> RunStatus:
        """The run's progress, from the server, in the shape every backend of
        this package gives (``core.runs.status_dict``).

        Returns:
            a dict with ``project_id``, ``total`` (the run's assets),
            ``labeled`` (assets with a label that counts under the run's
            ``label_selection``), ``reviewed`` (of those, assets with a
            REVIEW label), ``unlabeled``, ``missing`` (assets deleted on the
            server), ``annotators`` (``{email: DEFAULT/REVIEW labels}``) and
            ``service``: ``statuses`` (``{asset status: assets}``) and
            ``upload_complete``

        Raises:
            ProjectDeletedError: the project is gone
        """
        client = self._backend.connect_to_api()
        self.require_project(client)
        config = self.config
        statuses: collections.Counter[str] = collections.Counter()
        annotators: collections.Counter[str] = collections.Counter()
        found = labeled = reviewed = 0
        fields = "id status labels { labelType createdAt author { email } }"
        for asset in self.iter_assets(client, fields):
            found += 1
            statuses[asset.get("status") or "UNKNOWN"] += 1
            human = [label for label in asset.get("labels") or [] if label.get("labelType") in HUMAN_LABEL_TYPES]
            if select_label(human, config.label_selection, config.annotator) is not None:
                labeled += 1
                reviewed += any(label.get("labelType") == "REVIEW" for label in human)
            for label in human:
                annotators[(label.get("author") or {}).get("email") or "unknown"] += 1
        total = len(self.asset_ids)
        return status_dict(
            self.project_id,
            total,
            labeled,
            reviewed,
            total - found,
            annotators,
            statuses=dict(statuses),
            upload_complete=self.upload_complete,
        )

    def print_status(self) -> None:
        """Prints :meth:`get_status` in a readable form."""
        status = self.get_status()
        print("Kili project %s (%s)" % (status["project_id"], self.project_url))
        if not status["service"]["upload_complete"]:
            print("    the upload did not finish: run the same annotate() call again to resume it")
        print("    assets:    %d" % status["total"])
        for name, count in sorted(status["service"]["statuses"].items()):
            print("    %-10s %d" % (name + ":", count))
        print("    labeled:   %d (reviewed: %d)" % (status["labeled"], status["reviewed"]))
        print("    unlabeled: %d" % status["unlabeled"])
        if status["missing"]:
            print("    deleted on the server: %d" % status["missing"])
        for author, count in sorted(status["annotators"].items()):
            print("    %s: %d label(s)" % (author, count))

    def cleanup(self) -> None:
        """Deletes what the run owns on Kili: its assets (by recorded id),
        and the project when this run created it and nothing else is in it.
        A project already gone is a no-op."""
        if self.project_id is None:
            logger.info("Run '%s' has no Kili project: nothing to clean up", self.key)
            return
        client = self._backend.connect_to_api()
        if client.get_project(self.project_id) is None:
            logger.info(
                "Kili project %s of run '%s' is already deleted: nothing to clean up", self.project_id, self.key
            )
            return
        project_id = self.project_id
        present = list(client.assets_by_id(project_id, list(self.asset_ids.values()), fields="id"))

        def other_assets_exist() -> bool:
            return client.count_assets({"project": {"id": project_id}}) > len(present)

        def delete_assets() -> None:
            if present:
                client.delete_assets(project_id, present)
            logger.info("Deleted the %d assets of run '%s' from Kili project %s", len(present), self.key, project_id)

        def delete_project() -> None:
            client.delete_project(project_id)
            logger.info("Deleted Kili project %s (created by run '%s')", project_id, self.key)

        remove_run_items(self.project_created, other_assets_exist, delete_project, delete_assets)

    @classmethod
    def _from_dict(
        cls, d: dict[str, Any], samples: SampleCollection, config: KiliBackendConfig, anno_key: str
    ) -> KiliAnnotationResults:
        return cls(
            samples,
            config,
            anno_key,
            d["id_map"],
            project_id=d.get("project_id"),
            asset_ids=d.get("asset_ids") or {},
            interface=d.get("interface_mapping"),
            # a record without it never claims the project: cleanup then
            # deletes the run's assets only
            project_created=d.get("project_created", False),
            upload_complete=d.get("upload_complete", True),
            added_label_ids=d.get("added_label_ids"),
        )


def check_server(url: str, api_key: str, timeout: float) -> str | None:
    """Checks that ``url`` is a Kili GraphQL endpoint that accepts
    ``api_key``; returns who the key belongs to (the registry's
    ``check_server``). Raises this package's errors."""
    client = KiliClient(url, api_key, timeout=timeout, max_retries=1, max_calls=None)
    try:
        viewer = client.viewer() or {}
    finally:
        client.close()
    return viewer.get("email") or viewer.get("id")
