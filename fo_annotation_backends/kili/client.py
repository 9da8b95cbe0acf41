"""A small client of Kili's GraphQL API, spoken with ``requests``.

Only what the backend needs: projects, assets (with uploads through signed
URLs), labels, and the checks that make every mutation safe to retry. All
GraphQL calls go through one :class:`~..core.http.HttpSession` paced to a
calls-per-minute budget; uploads to signed storage URLs go through a second,
unpaced session (they are not API calls).

Every mutation whose outcome is unknown (no answer, a 5xx) is resolved by
asking the server what it has before anything is sent again, and only what
it does not have is sent (:mod:`..core.resend`).
"""

import gzip
import json
import mimetypes
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import fiftyone.utils.annotations as foua
import requests

from .. import registry
from ..core.errors import AuthenticationError, ParameterError, ServiceError
from ..core.http import HttpSession, RetryPolicy
from ..core.media import chunk_by_count_and_bytes
from ..core.pacing import Pacer
from ..core.resend import send_or_find, send_until_applied
from ..core.secrets import get_logger, register_secret

logger = get_logger(__name__)

GRAPHQL_PATH = "/api/label/v2/graphql"
DEFAULT_URL: str = registry.get("kili").default_url or ""
MAX_ASSETS_PER_CALL = 100  # appendManyAssets, deleteAssets
MAX_LABELS_PER_CALL = 100  # appendManyLabels
MAX_SIGNED_URLS_PER_CALL = 30  # createUploadBucketSignedUrls
MAX_LABEL_BYTES_PER_CALL = 8 * 1024 * 1024
GZIP_MIN_BYTES = 1024 * 1024  # Kili's SDK gzips bodies from 1 MB
HUMAN_LABEL_TYPES = ("DEFAULT", "REVIEW")
# GraphQL answers errors with 200 or 400 and an ``errors`` list; a 404/405
# without one comes from something that is not the GraphQL endpoint
_NOT_FOUND_STATUSES = frozenset({404, 405})
_ANSWERED_STATUSES = frozenset({400}) | _NOT_FOUND_STATUSES

LABEL_FIELDS = "id labelType createdAt modelName jsonResponse author { id email }"
ASSET_FIELDS = "id externalId status consensusMark honeypotMark isHoneypot resolution { width height }"

#: a decoded JSON object of the API (a project, an asset, a label, ...)
JsonDict = dict[str, Any]


class KiliGraphQLError(ServiceError):
    """The Kili API answered a request with GraphQL errors."""


class KiliClient(foua.AnnotationAPI):
    """The Kili GraphQL API of one endpoint, authenticated with an API key.

    A FiftyOne ``AnnotationAPI``: ``results.connect_to_api()`` and
    ``foua.connect_to_api(backend="kili")`` return one, and ``close()``
    releases its connections.

    Args:
        url: the GraphQL endpoint (``.../api/label/v2/graphql``)
        api_key: the API key (held in memory only)
        timeout (300): the read timeout of each request, in seconds
        max_retries (5): retries of failed requests
        max_calls (500): the most API calls per window (Kili's SDK keeps
            under 500 per minute); ``None`` for no budget
        window_seconds (60): the budget window, in seconds
        max_checks (3): unknown mutation outcomes resolved per call
        sleep (time.sleep): the sleep function (for tests)
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        api_key: str | None = None,
        timeout: float = 300,
        max_retries: int = 5,
        max_calls: int | None = 500,
        window_seconds: float = 60,
        max_checks: int = 3,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if not url:
            raise ValueError("The Kili GraphQL endpoint `url` is required")
        check_endpoint(url)
        if not api_key:
            raise AuthenticationError("No Kili API key: set FIFTYONE_KILI_API_KEY or pass `api_key=`")
        register_secret(api_key)
        self.url = url
        self.max_checks = max_checks
        extra: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
        retry = RetryPolicy(max_retries=max_retries)
        self.http = HttpSession(
            url,
            headers={"Authorization": "X-API-Key: %s" % api_key, "Content-Type": "application/json"},
            timeout=(10, timeout),
            retry=retry,
            pacer=Pacer(max_calls, window_seconds, **extra),
            **extra,
        )
        self.storage = HttpSession(url, timeout=(10, timeout), retry=retry, **extra)

    def __repr__(self) -> str:
        return "KiliClient(%r)" % self.url

    @property
    def request_count(self) -> int:
        """HTTP requests sent: API calls and storage uploads, retries included."""
        return self.http.request_count + self.storage.request_count

    def project_url(self, project_id: str) -> str:
        """The URL of a project in Kili's web app."""
        return project_url(self.url, project_id)

    def close(self) -> None:
        """Closes the pooled connections."""
        self.http.close()
        self.storage.close()

    # ------------------------------------------------------------------
    # transport

    def query(self, document: str, variables: JsonDict | None = None) -> JsonDict:
        """Runs a query (safe to re-send) and returns its aliased ``data``."""
        return self._execute(document, variables, idempotent=True)

    def mutate(self, document: str, variables: JsonDict | None = None) -> JsonDict:
        """Runs a mutation once; raises :class:`OutcomeUnknownError` when the
        server may or may not have applied it."""
        return self._execute(document, variables, idempotent=False)

    def _execute(self, document: str, variables: JsonDict | None, idempotent: bool) -> JsonDict:
        body = json.dumps({"query": document, "variables": variables or {}}).encode()
        headers: dict[str, str] = {}
        if len(body) >= GZIP_MIN_BYTES:
            body = gzip.compress(body, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        try:
            response = self.http.request(
                "POST", self.url, idempotent=idempotent, data=body, headers=headers, ok_statuses=_ANSWERED_STATUSES
            )
        except AuthenticationError:
            raise AuthenticationError(
                "Kili refused the API key (401/403) at %s: check FIFTYONE_KILI_API_KEY and the endpoint" % self.url
            ) from None
        try:
            payload = response.json()
        except ValueError:
            raise self._not_graphql(response, "with a body that is not JSON") from None
        errors = payload.get("errors") if isinstance(payload, dict) else None
        if not errors and response.status_code in _NOT_FOUND_STATUSES:
            raise self._not_graphql(response, "(not found)")
        if errors:
            if not isinstance(errors, list):
                errors = [errors]
            first: JsonDict = errors[0] if isinstance(errors[0], dict) else {"message": str(errors[0])}
            reason = ((first.get("extensions") or {}).get("context") or {}).get("reason")
            message = first.get("message") or "unknown error"
            if reason and reason not in message:
                message = "%s (%s)" % (message, reason)
            raise KiliGraphQLError("Kili API error: %s" % message, status_code=response.status_code)
        if not isinstance(payload, dict) or "data" not in payload:
            raise ServiceError("Kili answered without data or errors", status_code=response.status_code)
        return payload["data"] or {}

    def _not_graphql(self, response: requests.Response, what: str) -> ServiceError:
        """The error for an answer that no GraphQL API gives: the endpoint is
        wrong; the message names the one expected."""
        return ServiceError(
            "%s is not Kili's GraphQL endpoint: POST answered %d %s. Kili's API is the URL ending in %s, e.g. %s; "
            "check `url` (or FIFTYONE_KILI_URL)"
            % (self.url, response.status_code, what, GRAPHQL_PATH, expected_endpoint(self.url)),
            status_code=response.status_code,
            method="POST",
            path=urllib.parse.urlsplit(self.url).path,
        )

    # ------------------------------------------------------------------
    # users and projects

    def viewer(self) -> JsonDict:
        """``{id, email}`` of the API key's user (checks the credentials)."""
        return self.query("query { data: viewer { id email } }")["data"]

    def get_project(self, project_id: str) -> JsonDict | None:
        """The project ``{id, title, description, inputType, jsonInterface}``
        (``jsonInterface`` decoded), or ``None``."""
        projects = self.query(
            "query($where: ProjectWhere!, $first: PageSize!, $skip: Int!) "
            "{ data: projects(where: $where, first: $first, skip: $skip) "
            "{ id title description inputType jsonInterface } }",
            {"where": {"id": project_id}, "first": 1, "skip": 0},
        )["data"]
        if not projects:
            return None
        project = dict(projects[0])
        project["jsonInterface"] = _loads(project.get("jsonInterface")) or {}
        return project

    def find_projects(self, title: str) -> list[JsonDict]:
        """Projects whose title is exactly ``title``."""
        found: list[JsonDict] = []
        skip = 0
        while True:
            page = self.query(
                "query($where: ProjectWhere!, $first: PageSize!, $skip: Int!) "
                "{ data: projects(where: $where, first: $first, skip: $skip) { id title description } }",
                {"where": {"searchQuery": title}, "first": 100, "skip": skip},
            )["data"]
            found.extend(p for p in page if p.get("title") == title)
            if len(page) < 100:
                return found
            skip += len(page)

    def create_project(self, title: str, description: str, json_interface: JsonDict, input_type: str = "IMAGE") -> str:
        """Creates a project; ``description`` must be unique to this call (it
        finds the project if the answer is lost). Returns its id."""

        def existing() -> str | None:
            matches = [p for p in self.find_projects(title) if p.get("description") == description]
            return matches[0]["id"] if matches else None

        variables = {
            "data": {
                "title": title,
                "description": description,
                "inputType": input_type,
                "jsonInterface": json.dumps(json_interface),
            }
        }
        return send_or_find(
            lambda: self.mutate(
                "mutation($data: CreateProjectData!) { data: createProject(data: $data) { id } }", variables
            )["data"]["id"],
            existing,
            checks=self.max_checks,
            wait=self.http.wait_before_check,
            log=logger,
            what="createProject %r" % title,
        )

    def update_json_interface(self, project_id: str, json_interface: JsonDict) -> None:
        """Replaces a project's jsonInterface (idempotent)."""
        self._execute(
            "mutation($data: ProjectData!, $where: ProjectWhere!) "
            "{ data: updatePropertiesInProject(data: $data, where: $where) { id } }",
            {"data": {"jsonInterface": json.dumps(json_interface)}, "where": {"id": project_id}},
            idempotent=True,
        )

    def delete_project(self, project_id: str) -> None:
        """Deletes a project (a project already gone counts as deleted)."""
        try:
            send_or_find(
                lambda: self.mutate(
                    "mutation($where: ProjectWhere!) { data: deleteProjectAsynchronously(where: $where) }",
                    {"where": {"id": project_id}},
                ),
                lambda: project_id if self.get_project(project_id) is None else None,  # gone: applied
                checks=self.max_checks,
                wait=self.http.wait_before_check,
                log=logger,
                what="deleteProjectAsynchronously %s" % project_id,
            )
        except KiliGraphQLError:
            if self.get_project(project_id) is None:
                return
            raise

    # ------------------------------------------------------------------
    # assets

    def count_assets(self, where: JsonDict) -> int:
        """The number of assets matching an ``AssetWhere``."""
        return self.query("query($where: AssetWhere!) { data: countAssets(where: $where) }", {"where": where})["data"]

    def existing_external_ids(self, project_id: str, external_ids: Sequence[str]) -> set[str]:
        """The subset of ``external_ids`` that are assets of the project."""
        found: set[str] = set()
        for start in range(0, len(external_ids), MAX_ASSETS_PER_CALL):
            chunk = external_ids[start : start + MAX_ASSETS_PER_CALL]
            found.update(
                self.query(
                    "query($projectID: ID!, $externalIDs: [String!]!) "
                    "{ external_ids: filterExistingAssets(projectID: $projectID, externalIDs: $externalIDs) }",
                    {"projectID": project_id, "externalIDs": chunk},
                )["external_ids"]
                or []
            )
        return found

    def iter_assets(
        self, where: JsonDict, fields: str = ASSET_FIELDS, page_size: int = 100, limit: int | None = None
    ) -> Iterator[JsonDict]:
        """Every asset matching ``where``, in creation order, page by page.

        ``limit``: the most assets ``where`` can match (e.g. the length of
        its ``idIn``), which saves asking for a page past the last one.
        """
        skip = 0
        document = (
            "query($where: AssetWhere!, $first: PageSize!, $skip: Int!) "
            "{ data: assets(where: $where, first: $first, skip: $skip) { %s } }" % fields
        )
        while True:
            page = self.query(document, {"where": where, "first": page_size, "skip": skip})["data"] or []
            for asset in page:
                yield asset
            skip += len(page)
            if len(page) < page_size or (limit is not None and skip >= limit):
                return

    def assets_by_id(
        self, project_id: str, asset_ids: Sequence[str], fields: str = ASSET_FIELDS, page_size: int = 100
    ) -> dict[str, JsonDict]:
        """``{asset_id: asset}`` of the given assets that exist."""
        out: dict[str, JsonDict] = {}
        for start in range(0, len(asset_ids), page_size):
            chunk = list(asset_ids[start : start + page_size])
            where = {"project": {"id": project_id}, "idIn": chunk}
            for asset in self.iter_assets(where, fields, page_size, limit=len(chunk)):
                out[asset["id"]] = asset
        return out

    def signed_upload_urls(self, paths: Sequence[str]) -> list[str]:
        """One signed storage URL per bucket path (30 paths a call)."""
        urls: list[str] = []
        for start in range(0, len(paths), MAX_SIGNED_URLS_PER_CALL):
            chunk = paths[start : start + MAX_SIGNED_URLS_PER_CALL]
            got = self.query(
                "query($filePaths: [String!]) { urls: createUploadBucketSignedUrls(filePaths: $filePaths) }",
                {"filePaths": chunk},
            )["urls"]
            if not got or len(got) != len(chunk):
                raise ServiceError("Kili returned %d signed URLs for %d files" % (len(got or []), len(chunk)))
            urls.extend(got)
        return urls

    def upload_file(self, signed_url: str, path: str) -> str:
        """PUTs a local file to a signed URL; returns the asset content URL.

        The bytes go to the URL cut before ``&id=``; the full URL is what the
        asset's ``content`` must be.
        """
        put_url = signed_url.split("&id=", 1)[0]
        mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
        with open(path, "rb") as f:
            self.storage.request("PUT", put_url, data=f, headers={"Content-Type": mime})
        return signed_url

    def append_assets(self, project_id: str, assets: Sequence[JsonDict]) -> None:
        """Creates assets with ids chosen by the caller (at most 100 a call).

        Args:
            project_id: the project
            assets: dicts with ``id``, ``external_id``, ``content`` and
                ``json_metadata`` (a dict)

        An unknown outcome is resolved by looking the ids up: only the assets
        the server does not have are sent again.
        """
        send_until_applied(
            lambda pending: self._append_assets_once(project_id, pending),
            assets,
            lambda pending: self.assets_by_id(project_id, [a["id"] for a in pending], fields="id"),
            lambda asset: asset["id"],
            checks=self.max_checks,
            wait=self.http.wait_before_check,
            log=logger,
            what="appendManyAssets",
        )

    def _append_assets_once(self, project_id: str, assets: Sequence[JsonDict]) -> None:
        if len(assets) > MAX_ASSETS_PER_CALL:
            raise ValueError("At most %d assets per call" % MAX_ASSETS_PER_CALL)
        self.mutate(
            "mutation($data: AppendManyAssetsData!, $where: ProjectWhere!) "
            "{ data: appendManyAssets(data: $data, where: $where) { id } }",
            {
                "data": {
                    "contentArray": [a["content"] for a in assets],
                    "externalIDArray": [a["external_id"] for a in assets],
                    "idArray": [a["id"] for a in assets],
                    "isHoneypotArray": [False] * len(assets),
                    "jsonContentArray": [""] * len(assets),
                    "jsonMetadataArray": [json.dumps(a.get("json_metadata") or {}) for a in assets],
                },
                "where": {"id": project_id},
            },
        )

    def delete_assets(self, project_id: str, asset_ids: Sequence[str]) -> None:
        """Deletes assets (100 a call); ids already gone are fine. An unknown
        outcome is resolved by looking the ids up: only the assets the server
        still has are sent again."""

        def delete(chunk: list[str]) -> None:
            self.mutate(
                "mutation($where: AssetWhere!) { data: deleteAssets(where: $where) "
                "{ succeeded { assetId } declined { assetId } failed { assetId details } } }",
                {"where": {"project": {"id": project_id}, "idIn": chunk}},
            )

        def deleted(chunk: list[str]) -> set[str]:
            return set(chunk) - set(self.assets_by_id(project_id, chunk, fields="id"))

        for start in range(0, len(asset_ids), MAX_ASSETS_PER_CALL):
            send_until_applied(
                delete,
                list(asset_ids[start : start + MAX_ASSETS_PER_CALL]),
                deleted,
                lambda asset_id: asset_id,
                checks=self.max_checks,
                wait=self.http.wait_before_check,
                log=logger,
                what="deleteAssets",
            )

    # ------------------------------------------------------------------
    # labels

    def append_predictions(self, project_id: str, model_name: str, labels: Sequence[tuple[str, JsonDict]]) -> None:
        """Adds PREDICTION labels (100 a call).

        Args:
            project_id: the project
            model_name: the model name the labels carry (also how a lost
                answer is checked: an asset with a prediction of this model
                already has its label)
            labels: ``[(asset_id, json_response dict)]``; sent 100 a call,
                and calls are kept under ``MAX_LABEL_BYTES_PER_CALL`` (masks
                make large labels)
        """
        encoded = [(asset_id, json.dumps(response)) for asset_id, response in labels]
        sizes = {i: len(text) for i, (_, text) in enumerate(encoded)}
        for indices in chunk_by_count_and_bytes(
            list(range(len(encoded))), sizes, MAX_LABELS_PER_CALL, MAX_LABEL_BYTES_PER_CALL
        ):
            send_until_applied(
                lambda chunk: self._append_labels_once(project_id, "PREDICTION", chunk, model_name=model_name),
                [encoded[i] for i in indices],
                lambda chunk: self.assets_with_prediction(project_id, [a for a, _ in chunk], model_name),
                lambda label: label[0],
                checks=self.max_checks,
                wait=self.http.wait_before_check,
                log=logger,
                what="appendManyLabels",
            )

    def assets_with_prediction(self, project_id: str, asset_ids: Sequence[str], model_name: str) -> set[str]:
        """The subset of ``asset_ids`` that have a PREDICTION of ``model_name``."""
        assets = self.assets_by_id(project_id, asset_ids, fields="id labels { labelType modelName }")
        return {
            asset_id
            for asset_id, asset in assets.items()
            if any(
                label.get("labelType") == "PREDICTION" and label.get("modelName") == model_name
                for label in asset.get("labels") or []
            )
        }

    def _append_labels_once(
        self,
        project_id: str,
        label_type: str,
        labels: Sequence[tuple[str, str | JsonDict]],
        model_name: str | None = None,
        author_id: str | None = None,
    ) -> None:
        labels_data = []
        for asset_id, response in labels:
            text = response if isinstance(response, str) else json.dumps(response)
            entry = {"assetID": asset_id, "jsonResponse": text}
            if model_name:
                entry["modelName"] = model_name
            if author_id:
                entry["authorID"] = author_id
            labels_data.append(entry)
        self.mutate(
            "mutation($data: AppendManyLabelsData!, $where: AssetWhere!) "
            "{ data: appendManyLabels(data: $data, where: $where) { id } }",
            {
                "data": {"labelType": label_type, "overwrite": False, "labelsData": labels_data},
                "where": {"project": {"id": project_id}, "idIn": [a for a, _ in labels]},
            },
        )


def check_endpoint(url: object) -> None:
    """Raises :class:`ParameterError` unless ``url`` is an http(s) URL (the
    message names the endpoint expected)."""
    parts = urllib.parse.urlsplit(url if isinstance(url, str) else "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ParameterError(
            "%r is not a URL: Kili's API is the http(s) URL ending in %s, e.g. %s" % (url, GRAPHQL_PATH, DEFAULT_URL)
        )


def expected_endpoint(url: str | None) -> str:
    """Kili's GraphQL endpoint on the server of ``url`` (its origin followed
    by ``/api/label/v2/graphql``), or Kili's cloud endpoint."""
    parts = urllib.parse.urlsplit(url or "")
    if not parts.scheme or not parts.netloc:
        return DEFAULT_URL
    return "%s://%s%s" % (parts.scheme, parts.netloc, GRAPHQL_PATH)


def project_url(endpoint: str, project_id: str) -> str:
    """The URL of a project in Kili's web app, from the API endpoint."""
    return "%s/label/projects/%s/" % (endpoint.split("/api/label/", 1)[0].rstrip("/"), project_id)


def _loads(value: Any) -> Any:
    if value is None or isinstance(value, (dict, list)):
        return value
    if value == "":
        return None
    return json.loads(value)


def loads_json_field(value: Any) -> Any:
    """Decodes one of Kili's JSON-string fields (``jsonResponse``, ...)."""
    return _loads(value)
