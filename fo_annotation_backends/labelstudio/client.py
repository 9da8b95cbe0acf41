"""A Label Studio REST client for what the backend needs.

Every request, token refreshes included, goes through the shared
:class:`~fo_annotation_backends.core.http.HttpSession` (timeouts, retries
with backoff and ``Retry-After``, pacing, counting, redaction); uploads are
streamed from disk. Legacy tokens and personal access tokens both work (see
:mod:`.auth`).
"""

import json
import os
import posixpath
import urllib.parse
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any

import fiftyone.utils.annotations as foua
import requests

from ..core.errors import (
    AuthenticationError,
    ParameterError,
    ProjectDeletedError,
    ServiceError,
    ServiceUnavailableError,
)
from ..core.http import HttpSession, RetryPolicy
from ..core.multipart import MultipartFileStream
from ..core.pacing import Pacer
from ..core.secrets import get_logger, redact, register_secret
from .auth import TokenAuth

logger = get_logger(__name__)

LEGACY_DISABLED_MARKER = "legacy token authentication has been disabled"
EXPECTED_URL = "the address of the Label Studio server, the one you open in a browser (e.g. http://localhost:8080)"
SAMPLE_KEY = "fo_sample_id"
RUN_KEY = "fo_run_id"  # every task of a run carries its run id in its data

#: a decoded JSON object of the API (a project, a task, a storage, ...)
JsonDict = dict[str, Any]


class LabelStudioClient(foua.AnnotationAPI):
    """A connection to one Label Studio server.

    Args:
        url: the server URL, e.g. ``http://localhost:8080``
        api_key: a legacy token or a personal access token
        timeout (300): read timeout of each request, in seconds
        max_retries (5): retries of failed requests (token refreshes too)
        max_calls (None): optional calls-per-window budget
        window_seconds (60): the budget's window
    """

    def __init__(
        self,
        url: str | None,
        api_key: str | None,
        timeout: float = 300,
        max_retries: int = 5,
        max_calls: int | None = None,
        window_seconds: float = 60,
    ) -> None:
        if not url:
            raise ParameterError("No Label Studio URL: pass `url=...` or set FIFTYONE_LABELSTUDIO_URL")
        if not api_key:
            raise AuthenticationError(
                "No Label Studio API key: pass `api_key=...`, set "
                "FIFTYONE_LABELSTUDIO_API_KEY, or add it to your annotation config"
            )
        register_secret(api_key)
        self.url = url.rstrip("/")
        retry = RetryPolicy(max_retries=max_retries)
        # endpoints without credentials (health, token refresh); its own
        # pacer, since a refresh happens while a paced request is in flight
        self.anonymous = HttpSession(
            self.url, timeout=(10, timeout), retry=retry, pacer=Pacer(max_calls, window_seconds)
        )
        self.auth = TokenAuth(api_key, self.anonymous)
        self.http = HttpSession(
            self.url, auth=self.auth, timeout=(10, timeout), retry=retry, pacer=Pacer(max_calls, window_seconds)
        )
        self._sdk_client: Any = None

    def __repr__(self) -> str:
        return "LabelStudioClient(url=%r)" % self.url

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far (token refreshes and re-sends included)."""
        return self.http.request_count + self.anonymous.request_count + self.auth.resent_after_401

    @property
    def uses_legacy_token(self) -> bool:
        """Whether the key is a legacy token (else a personal access token)."""
        return self.auth.uses_legacy_token

    def close(self) -> None:
        """Closes pooled connections (a new client is needed afterwards)."""
        self.http.close()
        self.anonymous.close()
        if self._sdk_client is not None:
            self._sdk_client.session.close()

    @property
    def sdk_client(self) -> Any:
        """``label_studio_sdk``'s legacy ``Client`` on the same server and
        credentials (personal access tokens work too), for code written
        against FiftyOne's built-in backend; created on first use."""
        if self._sdk_client is None:
            from label_studio_sdk import Client

            session = requests.Session()
            session.auth = self.auth  # replaces the SDK's "Token <key>" header
            self._sdk_client = Client(self.url, api_key="-", session=session)
        return self._sdk_client

    # FiftyOne's built-in API names it so (its tests use `api._client`)
    _client = sdk_client

    # -- credentials -------------------------------------------------------

    def check_credentials(self) -> JsonDict:
        """Checks that a Label Studio server answers at the URL and accepts
        the key.

        Returns:
            the current user's dict (``id``, ``email``, ...)

        Raises:
            ServiceUnavailableError: no server answers at the URL
            ParameterError: the URL is not a Label Studio server's
            AuthenticationError: the key was refused, saying why
        """
        self.check_server()
        response = self.http.request("GET", "/api/current-user/whoami", ok_statuses={401, 403})
        if response.status_code in (401, 403):
            raise AuthenticationError(self._auth_failure_message(_detail(response)))
        return response.json()

    def check_server(self) -> None:
        """Raises unless a Label Studio server answers at the URL."""
        try:
            response = self.anonymous.request("GET", "/health", ok_statuses={400, 401, 403, 404, 405, 500})
        except ServiceUnavailableError as e:
            raise ServiceUnavailableError("No Label Studio server answers at %s: %s" % (self.url, e)) from None
        except ServiceError as e:
            raise ServiceUnavailableError("The server at %s failed: %s" % (self.url, e)) from None
        try:
            healthy = response.status_code == 200 and response.json().get("status") == "UP"
        except (ValueError, AttributeError):
            healthy = False
        if healthy:
            return
        parts = urllib.parse.urlsplit(self.url)
        origin = "%s://%s" % (parts.scheme, parts.netloc)
        hint = " (did you mean %s?)" % origin if parts.path not in ("", "/") else ""
        raise ParameterError(
            "%s is not a Label Studio server: GET %s/health answered HTTP %d, not Label Studio's "
            '{"status": "UP"}. `url` must be %s%s. Nothing was created.'
            % (self.url, self.url, response.status_code, EXPECTED_URL, hint)
        )

    def _auth_failure_message(self, detail: str) -> str:
        if LEGACY_DISABLED_MARKER in detail.lower():
            return (
                "Label Studio refused the API key: it is a legacy token, and legacy tokens are "
                "disabled for this organization. Use a personal access token (Account & Settings > "
                "Personal Access Token), or have an admin enable legacy tokens (Organization > "
                "Access Token Settings)."
            )
        if self.uses_legacy_token:
            return (
                "Label Studio did not accept the API key (a legacy token): the key is wrong or was "
                "revoked. Check `api_key` / FIFTYONE_LABELSTUDIO_API_KEY. (server said: %s)" % detail
            )
        return (
            "Label Studio did not accept the personal access token: it is invalid, revoked, or from "
            "another server. Check `api_key` / FIFTYONE_LABELSTUDIO_API_KEY. (server said: %s)" % detail
        )

    # -- projects -----------------------------------------------------------

    def _projects(self, title_contains: str) -> Iterator[JsonDict]:
        page = 1
        while True:
            # the server's title filter matches substrings, case-insensitively
            body = self.http.get_json("/api/projects", params={"title": title_contains, "page_size": 100, "page": page})
            results = body.get("results", []) if isinstance(body, dict) else body
            yield from results
            if not (isinstance(body, dict) and body.get("next")):
                return
            page += 1

    def find_projects(self, title: str) -> list[JsonDict]:
        """Projects whose title is exactly ``title``."""
        return [p for p in self._projects(title) if p.get("title") == title]

    def find_project_by_marker(self, marker: str, title_hint: str = "") -> JsonDict | None:
        """The project whose description contains ``marker`` (a run id),
        looked for among the projects whose title contains ``title_hint``."""
        for project in self._projects(title_hint):
            if marker in (project.get("description") or ""):
                return project
        return None

    def create_project(self, title: str, label_config: str, description: str, marker: str) -> JsonDict:
        """Creates a project; a lost answer is resolved by looking for the
        project whose description carries ``marker``.

        Returns:
            the project dict
        """
        payload = {"title": title, "label_config": label_config, "description": description}
        hint = title[:20]
        result = self.http.create(
            "POST",
            "/api/projects",
            find_existing=lambda: self.find_project_by_marker(marker, hint),
            what="project %r" % title,
            json=payload,
        )
        return result.json() if isinstance(result, requests.Response) else result

    def get_project(self, project_id: int | str) -> JsonDict | None:
        """The project dict, or ``None`` if it does not exist."""
        response = self.http.request("GET", "/api/projects/%d" % int(project_id), ok_statuses={404})
        return None if response.status_code == 404 else response.json()

    def require_project(self, project_id: int | str) -> JsonDict:
        """The project dict.

        Raises:
            ProjectDeletedError: the project no longer exists
        """
        project = self.get_project(project_id)
        if project is None:
            raise _project_deleted(project_id)
        return project

    def update_label_config(self, project_id: int, label_config: str) -> JsonDict:
        """Replaces a project's labeling config."""
        return self.http.request(
            "PATCH", "/api/projects/%d" % project_id, idempotent=True, json={"label_config": label_config}
        ).json()

    def delete_project(self, project_id: int | str) -> bool:
        """Deletes a project and all its tasks in one request.

        Returns:
            False if it did not exist
        """
        response = self.http.request("DELETE", "/api/projects/%d" % int(project_id), ok_statuses={404})
        return response.status_code != 404

    def delete_tasks(self, project_id: int, task_ids: Iterable[int]) -> None:
        """Deletes the given tasks of a project in one request."""
        if not task_ids:
            return
        self.http.request(
            "POST",
            "/api/dm/actions",
            idempotent=True,  # deleting twice deletes nothing more
            params={"id": "delete_tasks", "project": project_id},
            json={"selectedItems": {"all": False, "included": sorted(int(t) for t in task_ids)}},
        )

    # -- media ---------------------------------------------------------------

    def upload_files(self, project_id: int, files: Sequence[tuple[str, str, str]]) -> dict[str, tuple[str, int | None]]:
        """Uploads files without creating tasks.

        The body is streamed from disk, one file open at a time.

        Args:
            project_id: the project id
            files: a list of ``(key, name, path)``; ``name`` is the file name
                on the server (a unique prefix is added there), by which the
                file is matched back to ``key``

        Returns:
            ``{key: (media URL path, file upload id)}``, the URL such as
            ``/data/upload/3/ab12-<name>``
        """
        names = {name: key for key, name, _ in files}
        stream = MultipartFileStream([(key, name, path) for key, name, path in files])
        try:
            # uncommitted uploads create no task, so a repeat is harmless
            response = self.http.request(
                "POST",
                "/api/projects/%d/import" % project_id,
                idempotent=True,
                params={"commit_to_project": "false"},
                data=stream,
                headers={"Content-Type": stream.content_type},
            )
        finally:
            stream.close()
        upload_ids = response.json().get("file_upload_ids") or []
        uploads = self.http.get_json(
            "/api/projects/%d/file-uploads" % project_id, params={"ids": json.dumps(upload_ids)}
        )
        found: dict[str, tuple[str, int | None]] = {}
        for name, url, upload_id in _stored_files(uploads):
            key = names.get(name)
            if key is not None:
                found[key] = (url, upload_id)
        missing = [key for key in names.values() if key not in found]
        if missing:
            raise ServiceError(
                "Label Studio stored %d of %d uploaded files; missing: %s"
                % (len(found), len(names), ", ".join(map(str, missing[:5])))
            )
        return found

    def uploaded_files(self, project_id: int) -> dict[str, str]:
        """``{name: media URL path}`` of the files uploaded to a project by
        this user (names as given to :meth:`upload_files`)."""
        uploads = self.http.get_json("/api/projects/%d/file-uploads" % project_id, params={"all": "true"})
        return {name: url for name, url, _ in _stored_files(uploads)}

    def delete_file_uploads(self, project_id: int, upload_ids: Collection[int]) -> None:
        """Deletes uploaded files of a project."""
        if upload_ids:
            self.http.request(
                "DELETE", "/api/projects/%d/file-uploads" % project_id, json={"file_upload_ids": list(upload_ids)}
            )

    # -- local files ---------------------------------------------------------

    def validate_local_storage(self, project_id: int, path: str) -> tuple[bool, str | None]:
        """Whether the server would serve local files under ``path``.

        Returns:
            ``(ok, reason)``
        """
        response = self.http.request(
            "POST",
            "/api/storages/localfiles/validate",
            idempotent=True,
            ok_statuses={400, 403, 404, 500},
            json={"project": project_id, "path": path, "use_blob_urls": False, "title": "FiftyOne media"},
        )
        if response.status_code < 300:
            return True, None
        return False, _detail(response)

    def local_storages(self, project_id: int) -> list[JsonDict]:
        """The project's local-files storages."""
        return self.http.get_json("/api/storages/localfiles", params={"project": project_id})

    def create_local_storage(self, project_id: int, path: str) -> tuple[JsonDict, bool]:
        """Connects a local-files import storage (nothing is synced).

        Returns:
            ``(storage dict, created)``: ``created`` is False when the project
            already had one for ``path``
        """
        existing = [s for s in self.local_storages(project_id) if s.get("path") == path]
        if existing:
            return existing[0], False
        payload = {
            "project": project_id,
            "path": path,
            "use_blob_urls": False,
            "title": "FiftyOne media",
            "description": "Created by fo-annotation-backends",
        }

        def find_existing() -> JsonDict | None:
            found = [s for s in self.local_storages(project_id) if s.get("path") == path]
            return found[0] if found else None

        result = self.http.create(
            "POST",
            "/api/storages/localfiles",
            find_existing=find_existing,
            what="a local-files storage of %s" % path,
            json=payload,
        )
        return (result.json() if isinstance(result, requests.Response) else result), True

    def delete_local_storage(self, storage_id: int) -> None:
        """Disconnects a local-files storage (the files stay)."""
        self.http.request("DELETE", "/api/storages/localfiles/%d" % storage_id, ok_statuses={404})

    def serves_local_file(self, relative_path: str) -> bool:
        """Whether ``/data/local-files/?d=<relative_path>`` is served."""
        response = self.http.request(
            "GET",
            "/data/local-files/",
            params={"d": relative_path},
            ok_statuses={400, 403, 404, 500},
            stream=True,
        )
        response.close()
        return response.status_code == 200

    def local_files_url(self, relative_path: str) -> str:
        """The task-data URL of a file under the server's document root."""
        return "/data/local-files/?d=" + urllib.parse.quote(relative_path)

    # -- tasks ---------------------------------------------------------------

    def import_tasks(self, project_id: int, tasks: Sequence[JsonDict], run_id: str) -> list[int]:
        """Creates tasks (with their predictions) in one request.

        A lost answer is resolved by looking the run's tasks up by sample id
        (every task carries ``run_id`` and its sample id in its data), so a
        retry never creates duplicates.

        Returns:
            the new task ids, in the order of ``tasks``
        """
        sample_ids = [t["data"][SAMPLE_KEY] for t in tasks]

        def find_existing() -> list[int] | None:
            existing = self.run_task_ids(project_id, run_id)
            found = [existing[s] for s in sample_ids if existing.get(s)]
            if len(found) == len(sample_ids):
                return found
            if found:  # the server imports a request as a whole
                raise ServiceError(
                    "Label Studio applied part of a task import (%d of %d tasks)" % (len(found), len(sample_ids))
                )
            return None

        result = self.http.create(
            "POST",
            "/api/projects/%d/import" % project_id,
            find_existing=find_existing,
            what="the import of %d tasks" % len(tasks),
            params={"return_task_ids": "true"},
            json=tasks,
        )
        if not isinstance(result, requests.Response):
            return result
        task_ids = result.json().get("task_ids")
        if not task_ids or len(task_ids) != len(tasks):
            existing = self.run_task_ids(project_id, run_id)
            task_ids = [existing[s] for s in sample_ids]
        return task_ids

    def iter_tasks(
        self,
        project_id: int,
        fields: str = "task_only",
        page_size: int = 1000,
        query: JsonDict | None = None,
        include: str | None = None,
    ) -> Iterator[JsonDict]:
        """Every task of a project (paginated).

        Args:
            project_id: the project id
            fields ("task_only"): ``"task_only"`` (data) or ``"all"`` (with
                annotations and predictions)
            page_size (1000): tasks per request
            query (None): a Data Manager query (``{"filters": ...}``)
            include (None): only these task fields, e.g. ``"id"``

        Raises:
            ProjectDeletedError: the project no longer exists
        """
        page = 1
        seen = 0
        while True:
            params: dict[str, Any] = {"project": project_id, "page": page, "page_size": page_size, "fields": fields}
            if query is not None:
                params["query"] = json.dumps(query)
            if include is not None:
                params["include"] = include
            response = self.http.request("GET", "/api/tasks", params=params, ok_statuses={404})
            if response.status_code == 404:
                if page == 1 or "Invalid page" not in _detail(response):
                    raise _project_deleted(project_id)
                return  # past the last page
            body = response.json()
            tasks = body.get("tasks", []) if isinstance(body, dict) else body
            yield from tasks
            seen += len(tasks)
            total = body.get("total") if isinstance(body, dict) else None
            # the server may serve smaller pages than asked for
            # (TASK_API_PAGE_SIZE_MAX): its total says when to stop
            if not tasks or (seen >= total if total is not None else len(tasks) < page_size):
                return
            page += 1

    def task_ids(self, project_id: int, page_size: int = 5000) -> set[int]:
        """The ids of every task of a project."""
        return {t["id"] for t in self.iter_tasks(project_id, page_size=page_size, include="id")}

    def run_task_ids(self, project_id: int, run_id: str, page_size: int = 1000) -> dict[str, int]:
        """``{sample id: task id}`` of the tasks of run ``run_id`` in a
        project (found by the run id in their data)."""
        query = {
            "filters": {
                "conjunction": "and",
                "items": [
                    {"filter": "filter:tasks:data.%s" % RUN_KEY, "operator": "equal", "type": "String", "value": run_id}
                ],
            }
        }
        out: dict[str, int] = {}
        for task in self.iter_tasks(project_id, page_size=page_size, query=query):
            data = task.get("data") or {}
            # the filter is the server's; the check is ours
            if data.get(RUN_KEY) == run_id and data.get(SAMPLE_KEY):
                out[data[SAMPLE_KEY]] = task["id"]
        return out

    def export_tasks(self, project_id: int) -> list[JsonDict]:
        """Every task of a project with its annotations, in one request.

        Raises:
            ProjectDeletedError: the project no longer exists
        """
        params = {"exportType": "JSON", "download_all_tasks": "true"}
        response = self.http.request("GET", "/api/projects/%d/export" % project_id, params=params, ok_statuses={404})
        if response.status_code == 404:
            raise _project_deleted(project_id)
        return response.json()

    def tasks_with_annotations(
        self, project_id: int, single_request: bool = True, page_size: int = 1000
    ) -> Iterable[JsonDict]:
        """Every task of a project with its annotations.

        Args:
            project_id: the project id
            single_request (True): one export request (fastest); ``False``
                reads pages of ``page_size`` tasks, which bounds the size of
                each answer for large projects

        Returns:
            an iterable of task dicts
        """
        if single_request:
            return self.export_tasks(project_id)
        return self.iter_tasks(project_id, fields="all", page_size=page_size)

    def users(self) -> dict[int, str | None]:
        """``{user id: email}`` of the organization."""
        try:
            return {u["id"]: u.get("email") or u.get("username") for u in self.http.get_json("/api/users")}
        except ServiceError:
            return {}

    def project_url(self, project_id: int) -> str:
        """The URL where a person sees the project's tasks."""
        return "%s/projects/%d/data" % (self.url, project_id)


def _stored_files(uploads: Iterable[JsonDict] | None) -> Iterator[tuple[str, str, int | None]]:
    """``(name as uploaded, media URL path, upload id)`` of file uploads."""
    for upload in uploads or []:
        stored = upload.get("file") or ""
        base = posixpath.basename(stored)
        # the server stores "<8 random characters>-<name>"
        name = base.split("-", 1)[1] if "-" in base else base
        yield name, "/data/" + stored, upload.get("id")


def _project_deleted(project_id: int | str) -> ProjectDeletedError:
    return ProjectDeletedError(
        "Label Studio project %s no longer exists (deleted by a cleanup or on the server): there is nothing to "
        "load, and the dataset was not changed" % project_id,
        status_code=404,
    )


def _detail(response: requests.Response) -> str:
    """The server's short explanation of an error answer."""
    try:
        body = response.json()
    except ValueError:
        text = (response.text or "").strip()
        return redact(text[:300]) if text and not text.startswith("<") else (response.reason or "no detail")
    if isinstance(body, dict):
        for key in ("detail", "validation_errors", "message", "error"):
            if body.get(key):
                value = body[key]
                return redact(value if isinstance(value, str) else json.dumps(value))[:500]
    return redact(json.dumps(body))[:500]


def media_name(run_id: str, sample_id: str, path: str) -> str:
    """The name under which a run uploads a sample's file: unique per run
    and sample, so that a resumed upload finds what was already sent."""
    return "%s_%s%s" % (run_id[:12], sample_id, os.path.splitext(path)[1].lower())
