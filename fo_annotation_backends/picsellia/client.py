"""A client of Picsellia's REST API, spoken with ``requests``.

Every call goes through one :class:`~..core.http.HttpSession`: ``Bearer``
authentication, 429 and 5xx answers retried with backoff (``Retry-After``
honoured), and creates whose answer is lost resolved by asking the server
(:mod:`..core.resend`) before anything is sent again. Picsellia's error bodies
(``{"message", "detail"}``) become this package's errors with the service's
words in them (the core session reads both keys).

The protocol (paths, the ``XGET`` method, cursor pagination, the datalake's
presigned upload, jobs) is Picsellia's, as its official SDK speaks it.
"""

from __future__ import annotations

import mimetypes
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import fiftyone.utils.annotations as foua
import requests

from .. import registry
from ..core.errors import AuthenticationError, ParameterError, ServiceError
from ..core.http import RETRY_STATUSES, HttpSession, RetryPolicy
from ..core.resend import send_until_applied
from ..core.secrets import get_logger, register_secret

logger = get_logger(__name__)

DEFAULT_URL: str = registry.get("picsellia").default_url or ""
#: the most items a list page or an id lookup holds
MAX_PAGE_SIZE = 1000
#: the most data ids one "add data to a version" job takes
MAX_DATA_PER_JOB = 10000
#: the most assets one bulk annotation import takes
MAX_ANNOTATIONS_PER_IMPORT = 100
#: files above this size go through the multipart upload
MULTIPART_THRESHOLD = 25 * 1024 * 1024
#: what every list call of the SDK asks for (both kinds of media, every state)
UPLOAD_STATUSES = ("PENDING", "COMPUTING", "DONE", "ERROR")
MEDIA_TYPES = ("IMAGE", "VIDEO")
JOB_DONE = {"SUCCESS", "SUCCEEDED"}
JOB_FAILED = {"FAILED", "TERMINATED", "KILLED"}
#: the most ids one datalake data deletion takes
MAX_DELETE = 1000

#: a decoded JSON object of the API
JsonDict = dict[str, Any]


class PicselliaClient(foua.AnnotationAPI):
    """Picsellia's REST API on one host, for one organization.

    Args:
        url: the host (``https://app.picsellia.com``, or a server that speaks
            its protocol); paths are absolute ``/api/...``
        api_key: the API token (held in memory only)
        organization (None): the organization's name or id; ``None`` for the
            token's default organization
        timeout (300): the read timeout of each request, in seconds
        max_retries (5): retries of failed requests
        sleep (time.sleep): the sleep function (for tests)
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        api_key: str | None = None,
        organization: str | None = None,
        timeout: float = 300,
        max_retries: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url or not url.startswith(("http://", "https://")):
            raise ParameterError("`url` must be Picsellia's host, an http(s) URL like %s, not %r" % (DEFAULT_URL, url))
        if not api_key:
            raise AuthenticationError(
                "No Picsellia API token: set FIFTYONE_PICSELLIA_API_KEY (or PICSELLIA_TOKEN) or pass `api_key=`"
            )
        register_secret(api_key)
        self.url = url.rstrip("/")
        self.requested_organization = organization
        self._sleep = sleep
        self.http = HttpSession(
            self.url,
            headers={"Authorization": "Bearer %s" % api_key, "Content-Type": "application/json"},
            timeout=(10, timeout),
            retry=RetryPolicy(max_retries=max_retries, statuses=RETRY_STATUSES | {500}),
            sleep=sleep,
        )
        # plain uploads to the storage a presigned URL names: no token there
        self.storage = HttpSession(
            self.url, timeout=(10, timeout), retry=RetryPolicy(max_retries=max_retries), sleep=sleep
        )
        self._organization: JsonDict | None = None
        self._ping: JsonDict | None = None

    def __repr__(self) -> str:
        return "PicselliaClient(%r)" % self.url

    @property
    def request_count(self) -> int:
        """HTTP requests sent (API and storage), retries included."""
        return self.http.request_count + self.storage.request_count

    def close(self) -> None:
        """Closes the pooled connections."""
        self.http.close()
        self.storage.close()

    # ------------------------------------------------------------------
    # transport

    def call(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Sends one request; returns the decoded JSON answer (``None`` for
        an empty one). ``XGET`` (a GET with a JSON body) is idempotent."""
        if method == "XGET" and idempotent is None:
            idempotent = True
        try:
            response = self.http.request(method, path, params=params, json=body, idempotent=idempotent)
        except AuthenticationError:
            raise AuthenticationError(
                "Picsellia refused the API token (401/403) at %s: check FIFTYONE_PICSELLIA_API_KEY" % self.url
            ) from None
        if response.status_code == 208:
            raise ServiceError(
                "Picsellia could not reach its distant storage for %s %s" % (method, path), 208, method, path
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ServiceError(
                "%s answered %s %s with a body that is not JSON: is it Picsellia's host?" % (self.url, method, path)
            ) from None

    def iter_list(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[JsonDict]:
        """Every item of a list endpoint, following ``next_cursor`` (pages of
        1000)."""
        query = dict(params or {}, limit=MAX_PAGE_SIZE)
        while True:
            page = self.call("GET", path, params=query) or {}
            items = page.get("items") or []
            yield from items
            cursor = page.get("next_cursor")
            if not items or not cursor:
                return
            query = dict(params or {}, limit=MAX_PAGE_SIZE, cursor=cursor)

    def xget_many(
        self, path: str, key: str, values: Sequence[str], extra: Mapping[str, Any] | None = None
    ) -> list[Any]:
        """``XGET`` lookups by ``key`` (``ids``, ``filenames``, ``data_ids``
        ...), 1000 values a request; the items of every answer."""
        out: list[Any] = []
        for start in range(0, len(values), MAX_PAGE_SIZE):
            body = dict(extra or {}, **{key: list(values[start : start + MAX_PAGE_SIZE])})
            answer = self.call("XGET", path, body=body)
            out.extend(answer.get("items", []) if isinstance(answer, dict) else answer or [])
        return out

    # ------------------------------------------------------------------
    # the session: who, which organization

    def ping(self) -> JsonDict:
        """``{"sdk_version", "default_organization", "username"}`` of the token
        (checks the credentials and that the host is Picsellia's)."""
        try:
            answer = self.call("GET", "/api/home/ping")
        except ServiceError as e:
            if e.status_code in (404, 405) or e.status_code is None:
                raise ParameterError(
                    "%s does not answer as Picsellia's host (GET /api/home/ping: %s). `url` is the host, like %s"
                    % (self.url, e, DEFAULT_URL)
                ) from None
            raise
        if not isinstance(answer, dict) or "username" not in answer:
            raise ParameterError("%s does not answer as Picsellia's host (GET /api/home/ping)" % self.url)
        self._ping = answer
        return answer

    def organization(self) -> JsonDict:
        """The organization in use ``{"id", "name", "default_connector_id"}``
        (found once: by id, by name, or the token's default)."""
        if self._organization is not None:
            return self._organization
        wanted = self.requested_organization
        if wanted is None:
            wanted = (self._ping or self.ping()).get("default_organization")
            if not wanted:
                raise ParameterError("This Picsellia token has no default organization: pass `organization=`")
            org = self.call("GET", "/api/organization/%s" % wanted)
        elif _is_uuid(wanted):
            org = self.call("GET", "/api/organization/%s" % wanted)
        else:
            try:
                org = self.call("GET", "/api/organizations/find", params={"name": wanted})
            except ServiceError as e:
                if e.status_code == 404:
                    raise ParameterError("No Picsellia organization named %r for this token" % wanted) from None
                raise
        self._organization = org
        return org

    # ------------------------------------------------------------------
    # datasets and versions

    def find_dataset(self, name: str) -> JsonDict | None:
        """The organization's dataset named ``name``, or ``None``."""
        return self._find("/api/organization/%s/datasets/find" % self.organization()["id"], {"name": name})

    def create_dataset(self, name: str, description: str = "") -> JsonDict:
        """Creates a dataset (a lost answer is resolved by its name)."""
        path = "/api/organization/%s/datasets" % self.organization()["id"]
        result = self.http.create(
            "POST",
            path,
            lambda: self.find_dataset(name),
            what="dataset %r" % name,
            json={"name": name, "description": description},
        )
        return result.json() if isinstance(result, requests.Response) else result

    def find_version(self, dataset_id: str, version: str) -> JsonDict | None:
        """The version named ``version`` of a dataset, or ``None``."""
        return self._find("/api/dataset/%s/versions/find" % dataset_id, {"version": version})

    def create_version(self, dataset_id: str, version: str, version_type: str, description: str = "") -> JsonDict:
        """Creates a version of the given type (a lost answer is resolved by
        its name)."""
        body = {"version": version, "description": description, "type": version_type}
        result = self.http.create(
            "POST",
            "/api/dataset/%s/versions" % dataset_id,
            lambda: self.find_version(dataset_id, version),
            what="version %r" % version,
            json=body,
        )
        return result.json() if isinstance(result, requests.Response) else result

    def get_version(self, version_id: str) -> JsonDict | None:
        """A version, or ``None`` when it does not exist."""
        response = self.http.request("GET", "/api/dataset/version/%s" % version_id, ok_statuses={404})
        return None if response.status_code == 404 else response.json()

    def delete_version(self, version_id: str) -> None:
        """Deletes a version (gone already is fine)."""
        self.http.request("DELETE", "/api/dataset/version/%s" % version_id, ok_statuses={404})

    def dataset_versions(self, dataset_id: str) -> list[JsonDict] | None:
        """The versions of a dataset, or ``None`` when it does not exist."""
        try:
            return list(self.iter_list("/api/dataset/%s/versions" % dataset_id))
        except ServiceError as e:
            if e.status_code == 404:
                return None
            raise

    def delete_dataset(self, dataset_id: str) -> None:
        """Deletes a dataset (gone already is fine)."""
        self.http.request("DELETE", "/api/dataset/%s" % dataset_id, ok_statuses={404})

    def labels(self, version_id: str, names: Sequence[str]) -> dict[str, str]:
        """``{name: label id}`` of a version's labels, created where missing
        (Picsellia's get-or-create: safe to send again)."""
        answer = self.call("XGET", "/api/dataset/version/%s/bulk-labels" % version_id, body={"names": list(names)})
        items = answer.get("items", []) if isinstance(answer, dict) else answer or []
        return {item["name"]: item["id"] for item in items}

    # ------------------------------------------------------------------
    # the datalake

    def datalake(self) -> JsonDict:
        """The organization's datalake ``{"id", "connector_id", ...}``."""
        answer: JsonDict = self.call("GET", "/api/organization/%s/datalake" % self.organization()["id"])
        return answer

    def find_data(self, datalake_id: str, filenames: Sequence[str]) -> dict[str, JsonDict]:
        """``{filename: data}`` of the datalake's data with these filenames."""
        items = self.xget_many(
            "/api/datalake/%s/datas" % datalake_id,
            "filenames",
            filenames,
            {"upload_statuses": list(UPLOAD_STATUSES), "types": list(MEDIA_TYPES)},
        )
        return {item["filename"]: item for item in items}

    def upload_file(
        self, datalake: JsonDict, path: str, filename: str, meta: Mapping[str, Any] | None = None
    ) -> JsonDict:
        """Uploads a local file into the datalake (presigned POST, or the
        multipart flow above 25 MiB) and creates its data; returns the data.

        ``filename`` is the name the data gets: a lost answer on the create
        is resolved by looking the filename up, so it must be unique."""
        org_id = self.organization()["id"]
        connector = datalake["connector_id"]
        content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        object_name = self.call(
            "POST",
            "/api/organization/%s/connector/%s/generate_object_name" % (org_id, connector),
            body={"filename": filename, "type": "DATA"},
            idempotent=True,
        )["object_name"]
        if os.path.getsize(path) > MULTIPART_THRESHOLD:
            self._upload_multipart(connector, object_name, path, content_type)
        else:
            self._upload_single(connector, object_name, path, content_type)
        body: JsonDict = {
            "type": "IMAGE",
            "filename": filename,
            "object_name": object_name,
            "content_type": content_type,
            "tags": [],
        }
        if meta:
            body["meta"] = dict(meta)
        result = self.http.create(
            "POST",
            "/api/datalake/%s/datas" % datalake["id"],
            lambda: self.find_data(datalake["id"], [filename]).get(filename),
            what="data %r" % filename,
            json=body,
        )
        data: JsonDict = result.json() if isinstance(result, requests.Response) else result
        return data

    def _upload_single(self, connector: str, object_name: str, path: str, content_type: str) -> None:
        answer = self.call(
            "POST",
            "/api/object-storage/%s/generate_presigned_url" % connector,
            body={"object_name": object_name, "content_type": content_type},
            idempotent=True,
        )
        target = answer["presigned_url_data"]
        with open(path, "rb") as f:
            content = f.read()
        if answer.get("client_type") == "azure":
            headers = dict(target.get("fields") or {}, **{"Content-Type": content_type})
            self.storage.request("PUT", target["url"], data=content, headers=headers)
            return
        fields = dict(target.get("fields") or {}, **{"Content-Type": content_type})
        files = {"file": (os.path.basename(path), content, content_type)}
        # the same object name: sending it again overwrites, never duplicates
        self.storage.request("POST", target["url"], data=fields, files=files, idempotent=True)

    def _upload_multipart(self, connector: str, object_name: str, path: str, content_type: str) -> None:
        base = "/api/object-storage/%s" % connector
        try:
            started = self.call(
                "POST", base + "/init_multipart_upload", body={"object_name": object_name, "content_type": content_type}
            )
        except ServiceError as e:
            if e.status_code == 400:  # the storage does not do multipart
                self._upload_single(connector, object_name, path, content_type)
                return
            raise
        upload_id = started["upload_id"]
        parts = []
        with open(path, "rb") as f:
            part_no = 1
            while True:
                chunk = f.read(MULTIPART_THRESHOLD)
                if not chunk:
                    break
                url = self.call(
                    "POST",
                    base + "/generate_part_presigned_url",
                    body={"object_name": object_name, "upload_id": upload_id, "part_no": part_no},
                    idempotent=True,
                )["url"]
                response = self.storage.request("PUT", url, data=chunk)
                parts.append({"ETag": response.headers.get("ETag", ""), "PartNumber": part_no})
                part_no += 1
        self.call(
            "POST",
            base + "/complete_part_upload",
            body={"object_name": object_name, "upload_id": upload_id, "parts": parts},
            idempotent=True,
        )

    # ------------------------------------------------------------------
    # assets and jobs

    def add_data(self, version_id: str, data_ids: Sequence[str], poll_seconds: float = 1.0) -> None:
        """Places data in a version as assets (jobs of 10,000, each followed
        to its end). Data already in the version are not sent again."""
        present = self.assets_by_data_id(version_id, data_ids)
        pending = [d for d in data_ids if d not in present]
        for start in range(0, len(pending), MAX_DATA_PER_JOB):
            chunk = pending[start : start + MAX_DATA_PER_JOB]
            send_until_applied(
                lambda items: self._start_add_data(version_id, items, poll_seconds),
                chunk,
                lambda items: set(self.assets_by_data_id(version_id, items)),
                key=lambda data_id: data_id,
                checks=3,
                wait=self.http.wait_before_check,
                what="adding %d data to version %s" % (len(chunk), version_id),
                log=logger,
            )

    def _start_add_data(self, version_id: str, data_ids: Sequence[str], poll_seconds: float) -> None:
        answer = self.call(
            "POST",
            "/api/dataset/version/%s/assets" % version_id,
            body={"data_ids": list(data_ids), "asset_tag_ids": []},
        )
        self.wait_for_job((answer.get("job") or {}).get("id"), poll_seconds)

    def wait_for_job(
        self, job_id: str | None, poll_seconds: float = 1.0, timeout: float = 3600, path: str = "/api/job/%s"
    ) -> None:
        """Follows a job until it succeeds (``path``: ``/api/v2/job/%s`` for
        campaign jobs).

        Raises:
            ServiceError: the job failed, or did not end within ``timeout``
        """
        if not job_id:
            return
        deadline = time.monotonic() + timeout
        while True:
            status = (self.call("GET", path % job_id) or {}).get("status")
            if status in JOB_DONE:
                return
            if status in JOB_FAILED:
                raise ServiceError("Picsellia job %s ended %s" % (job_id, status))
            if time.monotonic() > deadline:
                raise ServiceError(
                    "Picsellia job %s did not end within %d s (last status %s)" % (job_id, timeout, status)
                )
            self._sleep(poll_seconds)

    def assets_by_data_id(self, version_id: str, data_ids: Sequence[str]) -> dict[str, JsonDict]:
        """``{data id: asset}`` of a version's assets made from these data."""
        items = self.xget_many(
            "/api/dataset/version/%s/assets" % version_id,
            "data_ids",
            data_ids,
            {"upload_statuses": list(UPLOAD_STATUSES), "types": list(MEDIA_TYPES)},
        )
        return {item["data"]["id"]: item for item in items}

    def delete_assets(self, version_id: str, asset_ids: Sequence[str]) -> None:
        """Removes assets from a version (1000 a request)."""
        for start in range(0, len(asset_ids), MAX_PAGE_SIZE):
            body = {"ids": list(asset_ids[start : start + MAX_PAGE_SIZE])}
            self.http.request("DELETE", "/api/dataset/version/%s/assets" % version_id, json=body, ok_statuses={404})

    # ------------------------------------------------------------------
    # annotations

    def import_annotations(self, version_id: str, annotations: Sequence[JsonDict], status: str | None = None) -> None:
        """Imports annotations in bulk, 100 assets a request, replacing what
        the assets had (``REPLACE``: sending one again changes nothing)."""
        for start in range(0, len(annotations), MAX_ANNOTATIONS_PER_IMPORT):
            body: JsonDict = {
                "import_type": "REPLACE",
                "annotations": list(annotations[start : start + MAX_ANNOTATIONS_PER_IMPORT]),
            }
            if status:
                body["status"] = status
            self.call("POST", "/api/dataset/version/%s/bulk-annotations" % version_id, body=body, idempotent=True)

    def annotation_ids(self, version_id: str, asset_ids: Sequence[str], status: str | None = None) -> list[str]:
        """The ids of the annotations of these assets (50 assets a request)."""
        out: list[str] = []
        for start in range(0, len(asset_ids), 50):
            params: dict[str, Any] = {"asset_ids": list(asset_ids[start : start + 50])}
            if status:
                params["status"] = status
            out.extend(self.call("GET", "/api/dataset/version/%s/annotations/ids" % version_id, params=params) or [])
        return out

    def load_annotations(
        self, version_id: str, annotation_ids: Sequence[str], per_request: int = 100
    ) -> list[JsonDict]:
        """The annotations with their shapes (each shape names its label)."""
        out: list[JsonDict] = []
        for start in range(0, len(annotation_ids), per_request):
            chunk = list(annotation_ids[start : start + per_request])
            answer = self.call("XGET", "/api/dataset/version/%s/annotations" % version_id, body=chunk)
            out.extend(answer.get("items", []) if isinstance(answer, dict) else answer or [])
        return out

    def delete_annotations(self, version_id: str, asset_ids: Sequence[str]) -> None:
        """Deletes every annotation of these assets (1000 a request)."""
        for start in range(0, len(asset_ids), MAX_PAGE_SIZE):
            body = {"asset_ids": list(asset_ids[start : start + MAX_PAGE_SIZE])}
            self.http.request(
                "DELETE", "/api/dataset/version/%s/annotations" % version_id, json=body, ok_statuses={404}
            )

    # ------------------------------------------------------------------
    # attributes, users, data

    def attributes(self, version_id: str) -> dict[str, Any]:
        """``{name: definition}`` of a version's attributes (``{}``: none)."""
        answer = self.call("GET", "/api/dataset/version/%s/attributes" % version_id) or {}
        return dict(answer.get("attributes") or {})

    def set_attributes(self, version_id: str, attributes: Mapping[str, Any] | None) -> None:
        """Replaces a version's attribute definitions (``None``: none)."""
        body = {"attributes": dict(attributes) if attributes else None}
        self.call("POST", "/api/dataset/version/%s/attributes" % version_id, body=body, idempotent=True)

    def users(self) -> dict[str, str]:
        """``{username: user id}`` of the organization's users."""
        answer = self.call("GET", "/api/access/organization/%s/users" % self.organization()["id"]) or {}
        return {user["username"]: user["id"] for user in answer.get("users") or []}

    def delete_data(self, datalake_id: str, data_ids: Sequence[str]) -> None:
        """Deletes data from the datalake (and their assets), 1000 a request."""
        for start in range(0, len(data_ids), MAX_DELETE):
            body = {"ids": list(data_ids[start : start + MAX_DELETE])}
            self.http.request("DELETE", "/api/datalake/%s/datas" % datalake_id, json=body, ok_statuses={404})

    def count_assets(self, version_id: str) -> int:
        """How many assets a version holds."""
        params = {"limit": 1, "upload_statuses": list(UPLOAD_STATUSES), "types": list(MEDIA_TYPES)}
        answer = self.call("GET", "/api/dataset/version/%s/assets" % version_id, params=params) or {}
        return int(answer.get("count") or 0)

    # ------------------------------------------------------------------
    # campaigns

    def create_campaign(self, version_id: str, description: str, instructions: str | None = None) -> JsonDict:
        """Creates the version's annotation campaign (a lost answer is
        resolved by reading the version's campaign)."""
        body: JsonDict = {"description": description}
        if instructions:
            body["instructions_text"] = instructions

        def find() -> JsonDict | None:
            campaign_id = (self.get_version(version_id) or {}).get("annotation_campaign_id")
            return self.campaign(campaign_id) if campaign_id else None

        result = self.http.create(
            "POST", "/api/dataset/version/%s/campaigns" % version_id, find, what="campaign", json=body
        )
        campaign: JsonDict = result.json() if isinstance(result, requests.Response) else result
        return campaign

    def campaign(self, campaign_id: str) -> JsonDict | None:
        """A campaign, or ``None`` when it does not exist."""
        response = self.http.request("GET", "/api/campaigns/annotation/%s" % campaign_id, ok_statuses={404})
        return None if response.status_code == 404 else response.json()

    def delete_campaign(self, campaign_id: str) -> None:
        """Deletes a campaign (gone already is fine)."""
        self.http.request("DELETE", "/api/campaigns/annotation/%s" % campaign_id, ok_statuses={404})

    def steps(self, campaign_id: str) -> list[JsonDict]:
        """A campaign's steps, in order."""
        answer = self.call("GET", "/api/campaigns/annotation/%s/steps" % campaign_id)
        items = answer.get("items", []) if isinstance(answer, dict) else answer or []
        return sorted(items, key=lambda step: step.get("order", 0))

    def create_step(self, campaign_id: str, body: Mapping[str, Any]) -> JsonDict:
        """Adds a step (a lost answer is resolved by its name)."""

        def find() -> JsonDict | None:
            return next((s for s in self.steps(campaign_id) if s.get("name") == body.get("name")), None)

        result = self.http.create(
            "POST", "/api/campaigns/annotation/%s/steps" % campaign_id, find, what="step", json=dict(body)
        )
        step: JsonDict = result.json() if isinstance(result, requests.Response) else result
        return step

    def sync_campaign(self, campaign_id: str, existing_step_id: str | None, poll_seconds: float = 1.0) -> None:
        """Makes the assignments of the campaign's unsynced assets (the
        annotated ones at ``existing_step_id``) and follows the job."""
        base = "/api/campaigns/annotation/%s/assignments/sync" % campaign_id
        available = self.call("GET", base + "/available") or {}
        if not available.get("is_sync_available"):
            if not available.get("unsynced_item_count"):
                return  # nothing left to sync (a resumed run)
            raise ServiceError("Picsellia cannot sync campaign %s: %s" % (campaign_id, available.get("reason")))
        body = {"existing_annotations_step_id": existing_step_id} if existing_step_id else {}
        answer = self.call("POST", base, body=body) or {}
        self.wait_for_job((answer.get("job") or {}).get("id"), poll_seconds, path="/api/v2/job/%s")

    def assignments(self, campaign_id: str) -> list[JsonDict]:
        """Every assignment of a campaign."""
        return list(self.iter_list("/api/campaigns/annotation/%s/assignments" % campaign_id))

    # ------------------------------------------------------------------

    def _find(self, path: str, params: Mapping[str, Any]) -> JsonDict | None:
        response = self.http.request("GET", path, params=params, ok_statuses={404})
        if response.status_code == 404:
            return None
        found: JsonDict = response.json()
        return found


def _is_uuid(value: str) -> bool:
    parts = value.split("-")
    return [len(p) for p in parts] == [8, 4, 4, 4, 12] and all(c in "0123456789abcdefABCDEF" for c in "".join(parts))
