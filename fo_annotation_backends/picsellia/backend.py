"""The Picsellia backend: config, backend and results.

Speaks Picsellia's REST API directly (``requests``), for Picsellia itself and
for servers that speak its protocol:

- the label schema becomes a dataset version's type, labels and attribute
  definitions (:mod:`.interface`);
- each sample's image goes into the organization's datalake (presigned
  upload, several in flight, multipart above 25 MiB) as a data named after
  the sample id and the run, so that a retried or resumed upload finds it
  instead of sending it again; the data are added to the version in bulk
  (a job, followed to its end);
- existing labels are imported in bulk as annotations **before** any
  campaign exists (Picsellia ignores imports on assets already in one);
  every shape carries its FiftyOne label id in its ``text``;
- an optional annotation campaign (steps, assignees by username);
- what a run owns is recorded, never guessed: the dataset and version it
  created, its data and assets by id, its campaign; ``cleanup()`` deletes
  only those;
- which annotation of an asset counts is chosen by ``label_selection``; the
  other assets keep their labels.
"""

from __future__ import annotations

import webbrowser
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import fiftyone.utils.annotations as foua

from ..core.backend import Annotations, IdMap, ImageBackendMixin, ServiceCredentialsMixin
from ..core.errors import ParameterError
from ..core.params import check_choice, check_positive, optional_string, reject_unknown_parameters
from ..core.runs import RunStatus
from ..core.schema import Fields
from ..core.secrets import get_logger
from . import runassets
from .client import DEFAULT_URL, PicselliaClient
from .interface import PicselliaInterface
from .upload import Uploader

if TYPE_CHECKING:
    from fiftyone.core.collections import SampleCollection

logger = get_logger(__name__)

#: which annotation of an asset counts
LABEL_SELECTIONS = ("accepted", "latest")
STEP_TYPES = ("ANNOTATION", "REVIEW")


class PicselliaBackendConfig(ServiceCredentialsMixin, foua.AnnotationBackendConfig):
    """Configuration of the Picsellia backend. Every option is checked when
    the config is built, before anything is created.

    Args:
        name: the backend name (``"picsellia"``)
        label_schema: the label schema resolved by FiftyOne
        media_field ("filepath"): the field holding the media paths
        url (None): Picsellia's host (``FIFTYONE_PICSELLIA_URL``;
            default ``https://app.picsellia.com``)
        api_key (None): the API token (``FIFTYONE_PICSELLIA_API_KEY`` or
            ``PICSELLIA_TOKEN``, as the SDK reads it); never stored in the run
        organization (None): the organization's name or id (default: the
            token's default organization)
        dataset_name (None): the dataset to add a version to, found or
            created (default ``FiftyOne <dataset>``)
        version_name (None): the name of the new version (default
            ``<run key>-<run mark>``)
        dataset_version_id (None): an existing version to add the samples
            to, instead of a new one (its type must hold the schema)
        label_selection ("accepted"): which annotation of an asset is loaded:
            ``"accepted"`` (the newest ACCEPTED one) or ``"latest"`` (the
            newest that is not SKIPPED, whatever its status); assets without
            one keep their labels
        campaign (False): start an annotation campaign on the version once
            the data and pre-annotations are in (implied by ``campaign_steps``)
        campaign_steps (None): the campaign's steps, in order: dicts
            ``{"name", "type": "ANNOTATION"|"REVIEW", "assignees": [username,
            ...]}`` (default: one annotation step, nobody assigned)
        campaign_instructions (None): the campaign's instructions text
        upload_workers (4): image uploads in flight at once
        timeout (300): the read timeout of each request, in seconds
        max_retries (5): retries of failed requests (0: none)
        run_id (None): the run's id, set when the run is registered (it marks
            the run's data and version)
    """

    service_name = "picsellia"

    def __init__(
        self,
        name: str,
        label_schema: Mapping[str, Any] | None,
        media_field: str = "filepath",
        url: str | None = None,
        api_key: str | None = None,
        organization: str | None = None,
        dataset_name: str | None = None,
        version_name: str | None = None,
        dataset_version_id: str | None = None,
        label_selection: str = "accepted",
        campaign: bool = False,
        campaign_steps: Sequence[Mapping[str, Any]] | None = None,
        campaign_instructions: str | None = None,
        upload_workers: int = 4,
        timeout: float = 300,
        max_retries: int = 5,
        run_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        reject_unknown_parameters(type(self), name, kwargs)
        super().__init__(name, label_schema, media_field=media_field)
        self.run_id = run_id
        self.url = optional_string("url", url)
        self.organization = optional_string("organization", organization)
        self.dataset_name = optional_string("dataset_name", dataset_name)
        self.version_name = optional_string("version_name", version_name)
        self.dataset_version_id = optional_string("dataset_version_id", dataset_version_id)
        if self.dataset_version_id and (self.dataset_name or self.version_name):
            raise ParameterError(
                "Pass either `dataset_version_id` (an existing version) or `dataset_name`/`version_name` "
                "(a new version), not both"
            )
        self.label_selection = label_selection
        check_choice(self, "label_selection", LABEL_SELECTIONS)
        if not isinstance(campaign, bool):
            raise ParameterError("`campaign` must be True or False, not %r" % (campaign,))
        self.campaign_steps = _campaign_steps(campaign_steps)
        self.campaign = campaign or bool(self.campaign_steps)
        self.campaign_instructions = optional_string("campaign_instructions", campaign_instructions)
        self.upload_workers = upload_workers
        self.timeout = timeout
        self.max_retries = max_retries
        check_positive(self, ["upload_workers"])
        check_positive(self, ["timeout"], integer=False)
        if self.timeout is None:
            raise ParameterError("`timeout` must be a positive number, not None")
        check_positive(self, ["max_retries"], allow_zero=True, allow_none=False)
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ParameterError("`url` must be Picsellia's host, an http(s) URL like %s, not %r" % (DEFAULT_URL, url))
        self.api_key = api_key

    def __repr__(self) -> str:
        return "%s(url=%r, organization=%r)" % (type(self).__name__, self.endpoint, self.organization)


def _campaign_steps(value: object) -> list[dict[str, Any]]:
    if value is None or (isinstance(value, (list, tuple)) and not value):
        return []  # none (a stored config has [])
    if not isinstance(value, (list, tuple)):
        raise ParameterError("`campaign_steps` must be a list of step dicts, not %r" % (value,))
    steps: list[dict[str, Any]] = []
    for step in value:
        if not isinstance(step, Mapping) or set(step) - {"name", "type", "assignees"}:
            raise ParameterError(
                'Each campaign step is a dict {"name", "type": "ANNOTATION"|"REVIEW", "assignees": [username, ...]}, '
                "not %r" % (step,)
            )
        step_type = step.get("type", "ANNOTATION")
        if step_type not in STEP_TYPES:
            raise ParameterError("Campaign step type must be ANNOTATION or REVIEW, not %r" % (step_type,))
        name = step.get("name") or "%s %d" % (step_type.capitalize(), len(steps) + 1)
        assignees = step.get("assignees") or []
        if not isinstance(name, str) or not isinstance(assignees, (list, tuple)):
            raise ParameterError("Campaign step %r: `name` is a string and `assignees` a list of usernames" % (step,))
        if not all(isinstance(a, str) and a for a in assignees):
            raise ParameterError("Campaign step %r: assignees are usernames (strings)" % name)
        steps.append({"name": name, "type": step_type, "assignees": list(assignees)})
    if steps[0]["type"] != "ANNOTATION":
        raise ParameterError("A campaign's first step must be an ANNOTATION step")
    if len({s["name"] for s in steps}) != len(steps):
        raise ParameterError("Campaign step names must be unique")
    return steps


class PicselliaBackend(ImageBackendMixin[PicselliaClient], foua.AnnotationBackend):
    """Sends samples to a Picsellia dataset version and merges the
    annotations back."""

    config: PicselliaBackendConfig

    def _connect_to_api(self) -> PicselliaClient:
        config = self.config
        if config.api_key is None:
            config.load_credentials()
        return PicselliaClient(
            config.endpoint,
            config.api_key,
            organization=config.organization,
            timeout=config.timeout,
            max_retries=config.max_retries,
        )

    def _upload(self, samples: SampleCollection, anno_key: str) -> PicselliaAnnotationResults:
        return Uploader(self, samples, anno_key, PicselliaAnnotationResults).run()

    def _download(self, results: PicselliaAnnotationResults) -> Annotations:
        """Downloads the annotation that counts of each of the run's assets."""
        return runassets.download(self, results)


class PicselliaAnnotationResults(foua.AnnotationResults):
    """The results of a Picsellia annotation run.

    Attributes:
        dataset_id: the Picsellia dataset's id
        version_id: the dataset version's id (the run's "project")
        datalake_id: the datalake holding the run's data
        data_ids: ``{sample_id: data id}`` of the run's data
        asset_ids: ``{sample_id: asset id}``
        interface_mapping: the run's label and attribute names (see
            :class:`~.interface.PicselliaInterface`)
        campaign_id: the run's campaign, or ``None``
        dataset_created, version_created, campaign_created: what this run
            created (cleanup deletes only those)
        data_created: the data ids this run uploaded (deleted by cleanup)
        new_label_ids: ``{Picsellia shape id: FiftyOne label id}`` of the
            labels a person added, so that a second load keeps their ids
        upload_complete: whether the upload finished (``False``: a failed or
            killed upload, resumed by the same ``annotate()`` call)
    """

    config: PicselliaBackendConfig
    _backend: PicselliaBackend

    def __init__(
        self,
        samples: SampleCollection,
        config: PicselliaBackendConfig,
        anno_key: str,
        id_map: IdMap,
        dataset_id: str | None = None,
        version_id: str | None = None,
        datalake_id: str | None = None,
        data_ids: dict[str, str] | None = None,
        asset_ids: dict[str, str] | None = None,
        interface: Mapping[str, Any] | None = None,
        campaign_id: str | None = None,
        dataset_created: bool = False,
        version_created: bool = False,
        campaign_created: bool = False,
        data_created: list[str] | None = None,
        new_label_ids: dict[str, str] | None = None,
        upload_complete: bool = True,
        backend: PicselliaBackend | None = None,
    ) -> None:
        super().__init__(samples, config, anno_key, id_map, backend=backend)
        self.dataset_id = dataset_id
        self.version_id = version_id
        self.datalake_id = datalake_id
        self.data_ids = data_ids or {}
        self.asset_ids = asset_ids or {}
        self.interface_mapping = interface
        self.campaign_id = campaign_id
        self.dataset_created = dataset_created
        self.version_created = version_created
        self.campaign_created = campaign_created
        self.data_created = data_created or []
        self.new_label_ids = new_label_ids or {}
        self.upload_complete = upload_complete

    @property
    def project_id(self) -> str | None:
        """The run's dataset version (Picsellia's unit of work)."""
        return self.version_id

    @property
    def project_created(self) -> bool:
        """Whether this run created its version."""
        return self.version_created

    @property
    def project_url(self) -> str:
        """The version's page in Picsellia's web app."""
        host = self.config.endpoint.rstrip("/")
        return "%s/dataset/%s/version/%s" % (host, self.dataset_id, self.version_id)

    def interface(self, fields: Fields) -> PicselliaInterface:
        """The :class:`PicselliaInterface` this run was uploaded with."""
        return PicselliaInterface(fields, mapping=self.interface_mapping)

    def launch_editor(self) -> None:
        """Opens the version in a web browser."""
        logger.info("Launching editor at '%s'...", self.project_url)
        webbrowser.open_new_tab(self.project_url)

    def get_status(self) -> RunStatus:
        """The run's progress, from the server.

        Returns:
            the common status dict (``project_id``: the version, ``total``,
            ``labeled``: assets whose annotation counts under
            ``label_selection`` and is a person's work (not PENDING),
            ``reviewed``: assets done in a campaign's review step,
            ``unlabeled``, ``missing``: assets removed in Picsellia,
            ``annotators``: ``{}``, as Picsellia does not say who annotated),
            with ``service``: ``version_id``, ``statuses`` (``{annotation
            status: assets}`` of each asset's newest annotation),
            ``loadable``, ``label_selection``, and with a campaign
            ``campaign_id``, ``steps`` (``[{"name", "type", "statuses":
            {assignment status: assets}}]``) and ``assignees`` (``{user id:
            assignments}``)

        Raises:
            ProjectDeletedError: the version no longer exists
        """
        return runassets.status(self._backend, self)

    def print_status(self) -> None:
        """Prints :meth:`get_status` in a readable form."""
        status = self.get_status()
        service = status["service"]
        print("Picsellia dataset version %s (%s)" % (service["version_id"], self.project_url))
        print("    assets:    %d" % status["total"])
        print("    labeled:   %d (%s annotations)" % (status["labeled"], service["label_selection"]))
        print("    reviewed:  %d" % status["reviewed"])
        print("    unlabeled: %d" % status["unlabeled"])
        if status["missing"]:
            print("    removed in Picsellia: %d" % status["missing"])
        for name, count in sorted(service["statuses"].items()):
            print("    %-10s %d" % (name + ":", count))
        for step in service.get("steps", []):
            counts = ", ".join("%s %d" % item for item in sorted(step["statuses"].items())) or "no assignment"
            print("    step %s (%s): %s" % (step["name"], step["type"], counts))

    def cleanup(self) -> None:
        """Deletes from Picsellia what this run created, by id: its campaign,
        its version (or, in a version it did not create, its assets), its
        data in the datalake, and its dataset when it created it and no other
        version is left. A version already deleted is a no-op."""
        runassets.cleanup(self._backend, self)

    @classmethod
    def _from_dict(
        cls, d: dict[str, Any], samples: SampleCollection, config: PicselliaBackendConfig, anno_key: str
    ) -> PicselliaAnnotationResults:
        return cls(
            samples,
            config,
            anno_key,
            d["id_map"],
            dataset_id=d.get("dataset_id"),
            version_id=d.get("version_id"),
            datalake_id=d.get("datalake_id"),
            data_ids=d.get("data_ids") or {},
            asset_ids=d.get("asset_ids") or {},
            interface=d.get("interface_mapping"),
            campaign_id=d.get("campaign_id"),
            dataset_created=d.get("dataset_created", False),
            version_created=d.get("version_created", False),
            campaign_created=d.get("campaign_created", False),
            data_created=d.get("data_created") or [],
            new_label_ids=d.get("new_label_ids") or {},
            upload_complete=d.get("upload_complete", True),
        )


def check_server(url: str, api_key: str, timeout: float) -> str | None:
    """Checks that ``url`` is a Picsellia host that accepts ``api_key`` (the
    registry's ``check_server``); returns the token's username. Raises this
    package's errors."""
    client = PicselliaClient(url, api_key, timeout=timeout, max_retries=1)
    try:
        username = client.ping().get("username")
    finally:
        client.close()
    return str(username) if username else None
