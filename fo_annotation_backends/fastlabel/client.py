"""A small client of FastLabel's REST API, spoken with ``requests``.

Every call goes through one :class:`~..core.http.HttpSession` paced to a
calls-per-window budget (FastLabel allows 10,000 calls per 10 minutes) and
safe to use from several threads at once, so that uploads keep several
requests in flight without ever going over the budget. 429 and 5xx answers
are retried with backoff (``Retry-After`` honoured); a create whose answer is
lost is resolved by looking the object up (projects by slug, classes by
value, tasks by name, all unique) before anything is sent again.
"""

from collections.abc import Callable, Iterator
from typing import Any

import fiftyone.utils.annotations as foua
import requests

from .. import registry
from ..core.errors import AuthenticationError, ParameterError, ServiceError
from ..core.http import RETRY_STATUSES, HttpSession, RetryPolicy
from ..core.pacing import Pacer
from ..core.secrets import get_logger, register_secret

logger = get_logger(__name__)

DEFAULT_URL: str = registry.get("fastlabel").default_url or ""
MAX_PAGE_SIZE = 1000
IMAGE_TASKS = "tasks/image"
CLASSIFICATION_TASKS = "tasks/image/classification"

#: a decoded JSON object of the API (a project, a class, a task, ...)
JsonDict = dict[str, Any]


class FastLabelClient(foua.AnnotationAPI):
    """FastLabel's REST API at one base URL, authenticated with a token (a
    FiftyOne ``AnnotationAPI``: ``results.connect_to_api()`` returns it, and
    ``close()`` releases its connections).

    Args:
        url: the API base URL (ends with ``/v1/``)
        api_key: the access token (held in memory only)
        timeout (300): the read timeout of each request, in seconds
        max_retries (5): retries of failed requests
        max_calls (10000): the most calls per window; ``None`` for none
        window_seconds (600): the budget window, in seconds
        sleep (time.sleep): the sleep function (for tests)
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        api_key: str | None = None,
        timeout: float = 300,
        max_retries: int = 5,
        max_calls: int | None = 10000,
        window_seconds: float = 600,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if not url:
            raise ValueError("The FastLabel API `url` is required")
        if not api_key:
            raise AuthenticationError(
                "No FastLabel access token: set FIFTYONE_FASTLABEL_API_KEY (or FASTLABEL_ACCESS_TOKEN) or pass `api_key=`"
            )
        register_secret(api_key)
        self.url = url if url.endswith("/") else url + "/"
        extra: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
        self.http = HttpSession(
            self.url,
            headers={"Authorization": "Bearer %s" % api_key, "Content-Type": "application/json"},
            timeout=(10, timeout),
            retry=RetryPolicy(max_retries=max_retries, statuses=RETRY_STATUSES | {500}),
            pacer=Pacer(max_calls, window_seconds, **extra),
            **extra,
        )

    def __repr__(self) -> str:
        return "FastLabelClient(%r)" % self.url

    @property
    def request_count(self) -> int:
        """HTTP requests sent, retries included."""
        return self.http.request_count

    def close(self) -> None:
        """Closes the pooled connections."""
        self.http.close()

    # ------------------------------------------------------------------
    # transport

    def call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: JsonDict | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Sends one request; returns the decoded JSON answer (``None`` for
        an empty one)."""
        try:
            response = self.http.request(method, path, params=params, json=body, idempotent=idempotent)
        except AuthenticationError:
            raise AuthenticationError(
                "FastLabel refused the access token (401/403) at %s: check FIFTYONE_FASTLABEL_API_KEY" % self.url
            ) from None
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ServiceError("FastLabel answered %s %s with a body that is not JSON" % (method, path)) from None

    def create(
        self, path: str, body: JsonDict, find_existing: Callable[[], str | None], what: str | None = None
    ) -> str:
        """POSTs a create; a lost answer is resolved with ``find_existing()``
        (returning the id or ``None``) before sending it again. Returns the
        new id. ``what`` names the object in the log lines."""
        result = self.http.create("POST", path, find_existing, what=what, json=body)
        if isinstance(result, requests.Response):
            return result.json()  # FastLabel answers a create with the id
        return result  # found by the check

    def iter_pages(self, path: str, params: dict[str, Any]) -> Iterator[JsonDict]:
        """Every item of a paginated list (offset/limit, 1000 a page)."""
        offset = 0
        while True:
            page = self.call("GET", path, params=dict(params, offset=offset, limit=MAX_PAGE_SIZE)) or []
            yield from page
            if len(page) < MAX_PAGE_SIZE:
                return
            offset += len(page)

    # ------------------------------------------------------------------
    # projects and classes

    def check_credentials(self) -> None:
        """Checks that :attr:`url` is a FastLabel API base that accepts the
        token, before anything is created.

        Raises:
            AuthenticationError: the token is refused
            ParameterError: the URL answers, but not as FastLabel's API base
                (the message names the base expected, ending in ``/v1/``)
        """
        try:
            answer = self.call("GET", "projects", params={"limit": 1})
        except ServiceError as e:
            if e.status_code is None:
                raise ParameterError(self._wrong_endpoint("GET projects answered something that is not JSON")) from None
            if e.status_code in (404, 405):
                raise ParameterError(self._wrong_endpoint("GET projects answered %d" % e.status_code)) from None
            raise
        if not isinstance(answer, list):
            raise ParameterError(self._wrong_endpoint("GET projects did not answer a list of projects"))

    def _wrong_endpoint(self, what: str) -> str:
        hint = ""
        if not self.url.rstrip("/").endswith("/v1"):
            hint = " (did you mean %sv1/ ?)" % self.url
        return (
            "%s is not a FastLabel API base: %s. `url` (or FIFTYONE_FASTLABEL_URL / FASTLABEL_API_URL) must be the "
            "API base ending in /v1/, like %s%s. Nothing was created" % (self.url, what, DEFAULT_URL, hint)
        )

    def find_project(self, slug: str) -> JsonDict | None:
        """The project with this slug, or ``None``."""
        for project in self.call("GET", "projects", params={"slug": slug, "limit": 100}) or []:
            if project.get("slug") == slug:
                return project
        return None

    def create_project(self, project_type: str, name: str, slug: str) -> str:
        """Creates a project; returns its id."""
        body = {"type": project_type, "name": name, "slug": slug}
        return self.create(
            "projects", body, lambda: (self.find_project(slug) or {}).get("id"), what="project %s" % slug
        )

    def project(self, project_id: str) -> JsonDict | None:
        """The project with this id, or ``None`` when it does not exist."""
        response = self.http.request("GET", "projects/%s" % project_id, ok_statuses={404})
        if response.status_code == 404:
            return None
        return response.json()

    def delete_project(self, project_id: str) -> None:
        """Deletes a project, its classes and its tasks (gone already: fine)."""
        self.http.request("DELETE", "projects/%s" % project_id, ok_statuses={404})

    def classes(self, slug: str) -> list[JsonDict]:
        """Every annotation class of a project."""
        return list(self.iter_pages("annotations", {"project": slug}))

    def create_class(self, slug: str, body: JsonDict) -> str:
        """Creates an annotation class (``body`` without ``project``);
        returns its id."""
        body = dict(body, project=slug)

        def existing() -> str | None:
            found = self.call("GET", "annotations", params={"project": slug, "value": body["value"], "limit": 10}) or []
            return next((c["id"] for c in found if c.get("value") == body["value"]), None)

        return self.create("annotations", body, existing, what="class %r of project %s" % (body["value"], slug))

    def create_classification_class(self, slug: str, attributes: list[JsonDict]) -> str:
        """Creates the classification class of an image_classification
        project; returns its id."""

        def existing() -> str | None:
            return next((c["id"] for c in self.classes(slug)), None)

        return self.create(
            "annotations/classification",
            {"project": slug, "attributes": attributes},
            existing,
            what="the classification class of project %s" % slug,
        )

    def delete_class(self, class_id: str) -> None:
        """Deletes an annotation class (gone already: fine)."""
        self.http.request("DELETE", "annotations/%s" % class_id, ok_statuses={404})

    def find_user(self, slug: str) -> JsonDict | None:
        """The workspace user with this slug (or email), or ``None``."""
        for user in self.iter_pages("workspaces-users", {"keyword": slug}):
            if slug in (user.get("userSlug"), user.get("email")):
                return user
        return None

    # ------------------------------------------------------------------
    # tasks

    def create_task(self, endpoint: str, body: JsonDict) -> str:
        """Creates a task (``endpoint`` is :data:`IMAGE_TASKS` or
        :data:`CLASSIFICATION_TASKS`); returns its id. Task names are unique
        in a project, which is how a lost answer is resolved."""

        def existing() -> str | None:
            found = self.call(
                "GET", endpoint, params={"project": body["project"], "taskName": body["name"], "limit": 10}
            )
            return next((t["id"] for t in found or [] if t.get("name") == body["name"]), None)

        return self.create(endpoint, body, existing, what="task %r" % body["name"])

    def iter_tasks(
        self, endpoint: str, slug: str, tag: str | None = None, status: str | None = None
    ) -> Iterator[JsonDict]:
        """The project's tasks (with one tag / status), 1000 a page."""
        params: dict[str, Any] = {"project": slug}
        if tag:
            params["tags"] = [tag]
        if status:
            params["status"] = status
        return self.iter_pages(endpoint, params)

    def task(self, endpoint: str, task_id: str) -> JsonDict | None:
        """One task by id, or ``None`` when it does not exist."""
        response = self.http.request("GET", "%s/%s" % (endpoint, task_id), ok_statuses={404})
        if response.status_code == 404:
            return None
        return response.json()

    def count_tasks(self, slug: str) -> int:
        """How many tasks the project has (of every kind)."""
        return int(self.call("GET", "tasks/count", params={"project": slug}) or 0)

    def delete_task(self, task_id: str) -> None:
        """Deletes one task (gone already: fine)."""
        self.http.request("DELETE", "tasks/%s" % task_id, ok_statuses={404})
