"""A Label Studio REST client for what the backend needs.

Authentication is the ``label-studio-sdk`` 2.x client's: it accepts both
legacy tokens and personal access tokens (exchanging the latter for
short-lived access tokens and refreshing them). Requests then go through the
shared :class:`~fo_annotation_backends.core.http.HttpSession` (retries,
pacing, counting, redaction), which lets uploads be streamed from disk.
"""

import json
import os
import posixpath
import urllib.parse

import httpx
import requests
from label_studio_sdk.core.api_error import ApiError
from label_studio_sdk.core.client_wrapper import SyncClientWrapper
from label_studio_sdk.users.client import UsersClient

from ..core.errors import AuthenticationError, ServiceError, ServiceUnavailableError
from ..core.http import HttpSession, RetryPolicy
from ..core.multipart import MultipartFileStream
from ..core.pacing import Pacer
from ..core.secrets import get_logger, redact, register_secret

logger = get_logger(__name__)

LEGACY_DISABLED_MARKER = "legacy token authentication has been disabled"


class _SdkAuth(requests.auth.AuthBase):
    """Adds the SDK's current ``Authorization`` header to each request."""

    def __init__(self, wrapper):
        self._wrapper = wrapper

    def __call__(self, request):
        try:
            request.headers["Authorization"] = self._wrapper.get_headers()["Authorization"]
        except ApiError as e:
            raise AuthenticationError(_token_refresh_message(e)) from None
        return request

    def __repr__(self):
        return "_SdkAuth()"


def _token_refresh_message(error):
    return (
        "Label Studio did not accept the personal access token (token refresh "
        "answered %s: %s). Create a new token under Account & Settings > "
        "Personal Access Token" % (error.status_code, redact(_api_error_detail(error)))
    )


def _api_error_detail(error):
    body = error.body
    if isinstance(body, dict):
        return str(body.get("detail") or body)
    return str(body)


class LabelStudioClient:
    """A connection to one Label Studio server.

    Args:
        url: the server URL, e.g. ``http://localhost:8080``
        api_key: a legacy token or a personal access token
        timeout (300): read timeout of each request, in seconds
        max_retries (5): retries of failed requests
        max_calls (None): optional calls-per-window budget
        window_seconds (60): the budget's window
    """

    def __init__(self, url, api_key, timeout=300, max_retries=5, max_calls=None, window_seconds=60):
        if not url:
            raise ValueError(
                "No Label Studio URL: pass `url=...` or set FIFTYONE_LABELSTUDIO_URL"
            )
        if not api_key:
            raise AuthenticationError(
                "No Label Studio API key: pass `api_key=...`, set "
                "FIFTYONE_LABELSTUDIO_API_KEY, or add it to your annotation config"
            )
        register_secret(api_key)
        self.url = url.rstrip("/")
        self._sdk_requests = 0
        hooks = {"request": [self._count_sdk_request]}
        # The SDK's client core, without the ~35 MB of typed sub-clients that
        # `label_studio_sdk.LabelStudio` imports: it tells legacy tokens from
        # personal access tokens and exchanges/refreshes the latter
        try:
            self._sdk = SyncClientWrapper(
                base_url=self.url,
                api_key=api_key,
                httpx_client=httpx.Client(timeout=timeout, event_hooks=hooks, follow_redirects=True),
                timeout=timeout,
                max_retries=max_retries,
            )
        except ApiError as e:
            raise AuthenticationError(
                "Label Studio API key rejected before any request: %s" % redact(_api_error_detail(e))
            ) from None
        self.users_api = UsersClient(client_wrapper=self._sdk)
        self.http = HttpSession(
            self.url,
            auth=_SdkAuth(self._sdk),
            timeout=(10, timeout),
            retry=RetryPolicy(max_retries=max_retries),
            pacer=Pacer(max_calls, window_seconds),
        )

    def __repr__(self):
        return "LabelStudioClient(url=%r)" % self.url

    def _count_sdk_request(self, request):
        self._sdk_requests += 1

    @property
    def request_count(self):
        """HTTP requests sent so far (ours and the SDK's)."""
        return self.http.request_count + self._sdk_requests

    @property
    def uses_legacy_token(self):
        """Whether the key is a legacy token (else a personal access token)."""
        return bool(self._sdk._tokens_client._use_legacy_token)

    def close(self):
        """Closes pooled connections."""
        self.http.close()

    # -- credentials -------------------------------------------------------

    def check_credentials(self):
        """Checks that the server answers and accepts the key.

        Returns:
            the current user's dict (``id``, ``email``, ...)

        Raises:
            ServiceUnavailableError: no Label Studio server answers at the URL
            AuthenticationError: the key was refused, saying why
        """
        try:
            health = self.http.request("GET", "/health", ok_statuses={404})
        except (ServiceUnavailableError, ServiceError) as e:
            raise ServiceUnavailableError("No Label Studio server answers at %s: %s" % (self.url, e)) from None
        if health.status_code == 404:
            raise ServiceUnavailableError("%s does not look like a Label Studio server (/health is missing)" % self.url)
        try:
            user = self.users_api.whoami()
        except ApiError as e:
            if e.status_code in (401, 403):
                raise AuthenticationError(self._auth_failure_message(e)) from None
            raise ServiceError(
                "Label Studio answered %s to the credentials check: %s" % (e.status_code, redact(_api_error_detail(e))),
                status_code=e.status_code,
            ) from None
        except AuthenticationError:
            raise
        except httpx.HTTPError as e:
            raise ServiceUnavailableError("Label Studio at %s did not answer: %s" % (self.url, redact(str(e)))) from None
        return user.dict() if hasattr(user, "dict") else dict(user)

    def _auth_failure_message(self, error):
        detail = _api_error_detail(error)
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
                "revoked. Check `api_key` / FIFTYONE_LABELSTUDIO_API_KEY. (server said: %s)" % redact(detail)
            )
        return (
            "Label Studio did not accept the personal access token: it is invalid, revoked, or from "
            "another server. Check `api_key` / FIFTYONE_LABELSTUDIO_API_KEY. (server said: %s)" % redact(detail)
        )

    # -- projects -----------------------------------------------------------

    def find_projects(self, title):
        """Projects whose title is exactly ``title``."""
        found = []
        page = 1
        while True:
            # the server's title filter matches substrings: read every page
            body = self.http.get_json("/api/projects", params={"title": title, "page_size": 100, "page": page})
            results = body.get("results", []) if isinstance(body, dict) else body
            found.extend(p for p in results if p.get("title") == title)
            if not (isinstance(body, dict) and body.get("next")):
                return found
            page += 1

    def create_project(self, title, label_config, description=""):
        """Creates a project; a lost answer is resolved by looking it up.

        Returns:
            the project dict
        """
        payload = {"title": title, "label_config": label_config, "description": description}

        def find_existing():
            found = self.find_projects(title)
            return found[0] if found else None

        result = self.http.create("POST", "/api/projects", find_existing=find_existing, json=payload)
        return result.json() if isinstance(result, requests.Response) else result

    def get_project(self, project_id):
        """The project dict, or ``None`` if it does not exist."""
        response = self.http.request("GET", "/api/projects/%d" % project_id, ok_statuses={404})
        return None if response.status_code == 404 else response.json()

    def update_label_config(self, project_id, label_config):
        """Replaces a project's labeling config."""
        return self.http.request(
            "PATCH", "/api/projects/%d" % project_id, idempotent=True, json={"label_config": label_config}
        ).json()

    def delete_project(self, project_id):
        """Deletes a project and all its tasks in one request (idempotent)."""
        self.http.request("DELETE", "/api/projects/%d" % project_id, ok_statuses={404})

    def delete_tasks(self, project_id, task_ids):
        """Deletes the given tasks of a project in one request."""
        if not task_ids:
            return
        self.http.request(
            "POST",
            "/api/dm/actions",
            idempotent=True,  # deleting twice deletes nothing more
            params={"id": "delete_tasks", "project": project_id},
            json={"selectedItems": {"all": False, "included": list(task_ids)}},
        )

    # -- media ---------------------------------------------------------------

    def upload_files(self, project_id, files):
        """Uploads files without creating tasks.

        The body is streamed from disk, one file open at a time.

        Args:
            project_id: the project id
            files: a list of ``(key, path)``; ``key`` names the file on the
                server so that it can be matched back

        Returns:
            ``{key: media URL path}`` such as ``/data/upload/3/ab12-<key>.jpg``
        """
        names = {}
        parts = []
        for key, path in files:
            name = "%s%s" % (key, os.path.splitext(path)[1].lower())
            names[name] = key
            parts.append((key, name, path))
        stream = MultipartFileStream(parts)
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
        urls = {}
        for upload in uploads:
            stored = upload.get("file") or ""
            base = posixpath.basename(stored)
            original = base.split("-", 1)[1] if "-" in base else base
            key = names.get(original)
            if key is not None:
                urls[key] = "/data/" + stored
        missing = [key for key in names.values() if key not in urls]
        if missing:
            raise ServiceError(
                "Label Studio stored %d of %d uploaded files; missing: %s"
                % (len(urls), len(names), ", ".join(map(str, missing[:5])))
            )
        return urls

    # -- local files ---------------------------------------------------------

    def validate_local_storage(self, project_id, path):
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
        try:
            body = response.json()
            reason = json.dumps(body.get("validation_errors") or body.get("detail") or body)
        except ValueError:
            reason = "HTTP %d" % response.status_code
        return False, redact(reason)

    def create_local_storage(self, project_id, path):
        """Connects a local-files import storage (nothing is synced)."""
        payload = {
            "project": project_id,
            "path": path,
            "use_blob_urls": False,
            "title": "FiftyOne media",
            "description": "Created by fo-annotation-backends",
        }

        def find_existing():
            storages = self.http.get_json("/api/storages/localfiles", params={"project": project_id})
            found = [s for s in storages if s.get("path") == path]
            return found[0] if found else None

        result = self.http.create("POST", "/api/storages/localfiles", find_existing=find_existing, json=payload)
        return result.json() if isinstance(result, requests.Response) else result

    def serves_local_file(self, relative_path):
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

    # -- tasks ---------------------------------------------------------------

    def import_tasks(self, project_id, tasks, sample_key="fo_sample_id", upload_key=None):
        """Creates tasks (with their predictions) in one request.

        A lost answer is resolved by looking the tasks up by sample id, so a
        retry never creates duplicates.

        Args:
            project_id: the project id
            tasks: the task dicts
            sample_key ("fo_sample_id"): the ``data`` key with the sample id
            upload_key (None): a ``data`` key whose value, the same in every
                task of one upload, tells its tasks from earlier tasks of the
                same samples in a reused project

        Returns:
            the new task ids, in the order of ``tasks``
        """
        sample_ids = [t["data"][sample_key] for t in tasks]
        where = {upload_key: tasks[0]["data"][upload_key]} if upload_key and tasks else None

        def find_existing():
            existing = self.task_ids_by_sample(project_id, sample_key, where)
            found = [existing.get(s) for s in sample_ids]
            if all(found):
                return found
            if any(found):
                raise ServiceError(
                    "Label Studio applied part of a task import (%d of %d tasks); "
                    "delete the project and try again" % (sum(map(bool, found)), len(found))
                )
            return None

        result = self.http.create(
            "POST",
            "/api/projects/%d/import" % project_id,
            find_existing=find_existing,
            params={"return_task_ids": "true"},
            json=tasks,
        )
        if not isinstance(result, requests.Response):
            return result
        task_ids = result.json().get("task_ids")
        if not task_ids or len(task_ids) != len(tasks):
            existing = self.task_ids_by_sample(project_id, sample_key, where)
            task_ids = [existing[s] for s in sample_ids]
        return task_ids

    def iter_tasks(self, project_id, fields="task_only", page_size=1000):
        """Every task of a project (paginated)."""
        page = 1
        while True:
            response = self.http.request(
                "GET",
                "/api/tasks",
                params={"project": project_id, "page": page, "page_size": page_size, "fields": fields},
                ok_statuses={404},
            )
            if response.status_code == 404:
                return
            body = response.json()
            tasks = body.get("tasks", []) if isinstance(body, dict) else body
            yield from tasks
            if len(tasks) < page_size:
                return
            page += 1

    def task_ids_by_sample(self, project_id, sample_key="fo_sample_id", where=None):
        """``{sample id: task id}`` of a project's tasks.

        Args:
            project_id: the project id
            sample_key ("fo_sample_id"): the ``data`` key with the sample id
            where (None): only tasks whose ``data`` has these values
        """
        where = where or {}
        out = {}
        for task in self.iter_tasks(project_id):
            data = task.get("data") or {}
            if data.get(sample_key) and all(data.get(k) == v for k, v in where.items()):
                out[data[sample_key]] = task["id"]
        return out

    def export_tasks(self, project_id):
        """Every task of a project with its annotations, in one request."""
        params = {"exportType": "JSON", "download_all_tasks": "true"}
        return self.http.get_json("/api/projects/%d/export" % project_id, params=params)

    def tasks_with_annotations(self, project_id, single_request=True, page_size=1000):
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

    def users(self):
        """``{user id: email}`` of the organization."""
        try:
            return {u["id"]: u.get("email") or u.get("username") for u in self.http.get_json("/api/users")}
        except ServiceError:
            return {}

    def project_url(self, project_id):
        """The URL where a person sees the project's tasks."""
        return "%s/projects/%d/data" % (self.url, project_id)

    def local_files_url(self, relative_path):
        """The task-data URL of a file under the server's document root."""
        return "/data/local-files/?d=" + urllib.parse.quote(relative_path)
