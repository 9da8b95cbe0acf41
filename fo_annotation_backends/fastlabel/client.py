"""A small client of FastLabel's REST API, spoken with ``requests``.

Every call goes through one :class:`~..core.http.HttpSession` paced to a
calls-per-window budget (FastLabel allows 10,000 calls per 10 minutes) and
safe to use from several threads at once, so that uploads keep several
requests in flight without ever going over the budget. 429 and 5xx answers
are retried with backoff (``Retry-After`` honoured); a create whose answer is
lost is resolved by looking the object up (projects by slug, classes by
value, tasks by name, all unique) before anything is sent again.
"""

import fiftyone.utils.annotations as foua

from ..core.errors import AuthenticationError, ParameterError, ServiceError
from ..core.http import RETRY_STATUSES, HttpSession, RetryPolicy
from ..core.pacing import Pacer
from ..core.secrets import get_logger, register_secret

logger = get_logger(__name__)

DEFAULT_URL = "https://api.fastlabel.ai/v1/"
MAX_PAGE_SIZE = 1000
IMAGE_TASKS = "tasks/image"
CLASSIFICATION_TASKS = "tasks/image/classification"


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
        self, url=DEFAULT_URL, api_key=None, timeout=300, max_retries=5, max_calls=10000, window_seconds=600, sleep=None
    ):
        if not url:
            raise ValueError("The FastLabel API `url` is required")
        if not api_key:
            raise AuthenticationError(
                "No FastLabel access token: set FIFTYONE_FASTLABEL_API_KEY (or FASTLABEL_ACCESS_TOKEN) or pass `api_key=`"
            )
        register_secret(api_key)
        self.url = url if url.endswith("/") else url + "/"
        extra = {} if sleep is None else {"sleep": sleep}
        self.http = HttpSession(
            self.url,
            headers={"Authorization": "Bearer %s" % api_key, "Content-Type": "application/json"},
            timeout=(10, timeout),
            retry=RetryPolicy(max_retries=max_retries, statuses=RETRY_STATUSES | {500}),
            pacer=Pacer(max_calls, window_seconds, **extra),
            **extra,
        )

    def __repr__(self):
        return "FastLabelClient(%r)" % self.url

    @property
    def request_count(self):
        """HTTP requests sent, retries included."""
        return self.http.request_count

    def close(self):
        """Closes the pooled connections."""
        self.http.close()

    # ------------------------------------------------------------------
    # transport

    def call(self, method, path, params=None, body=None, idempotent=None):
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

    def create(self, path, body, find_existing):
        """POSTs a create; a lost answer is resolved with ``find_existing()``
        (returning the id or ``None``) before sending it again."""
        result = self.http.create("POST", path, find_existing, json=body)
        if isinstance(result, str):
            return result  # found by the check
        return result.json()

    def iter_pages(self, path, params):
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

    def check_credentials(self):
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

    def _wrong_endpoint(self, what):
        hint = ""
        if not self.url.rstrip("/").endswith("/v1"):
            hint = " (did you mean %sv1/ ?)" % self.url
        return (
            "%s is not a FastLabel API base: %s. `url` (or FIFTYONE_FASTLABEL_URL / FASTLABEL_API_URL) must be the "
            "API base ending in /v1/, like %s%s. Nothing was created" % (self.url, what, DEFAULT_URL, hint)
        )

    def find_project(self, slug):
        """The project with this slug, or ``None``."""
        for project in self.call("GET", "projects", params={"slug": slug, "limit": 100}) or []:
            if project.get("slug") == slug:
                return project
        return None

    def create_project(self, project_type, name, slug):
        """Creates a project; returns its id."""
        body = {"type": project_type, "name": name, "slug": slug}
        return self.create("projects", body, lambda: (self.find_project(slug) or {}).get("id"))

    def project(self, project_id):
        """The project with this id, or ``None`` when it does not exist."""
        response = self.http.request("GET", "projects/%s" % project_id, ok_statuses={404})
        if response.status_code == 404:
            return None
        return response.json()

    def delete_project(self, project_id):
        """Deletes a project, its classes and its tasks (gone already: fine)."""
        self.http.request("DELETE", "projects/%s" % project_id, ok_statuses={404})

    def classes(self, slug):
        """Every annotation class of a project."""
        return list(self.iter_pages("annotations", {"project": slug}))

    def create_class(self, slug, body):
        """Creates an annotation class (``body`` without ``project``)."""
        body = dict(body, project=slug)

        def existing():
            found = self.call("GET", "annotations", params={"project": slug, "value": body["value"], "limit": 10}) or []
            return next((c["id"] for c in found if c.get("value") == body["value"]), None)

        return self.create("annotations", body, existing)

    def create_classification_class(self, slug, attributes):
        """Creates the classification class of an image_classification project."""

        def existing():
            return next((c["id"] for c in self.classes(slug)), None)

        return self.create("annotations/classification", {"project": slug, "attributes": attributes}, existing)

    def delete_class(self, class_id):
        """Deletes an annotation class (gone already: fine)."""
        self.http.request("DELETE", "annotations/%s" % class_id, ok_statuses={404})

    def find_user(self, slug):
        """The workspace user with this slug (or email), or ``None``."""
        for user in self.iter_pages("workspaces-users", {"keyword": slug}):
            if slug in (user.get("userSlug"), user.get("email")):
                return user
        return None

    # ------------------------------------------------------------------
    # tasks

    def create_task(self, endpoint, body):
        """Creates a task (``endpoint`` is :data:`IMAGE_TASKS` or
        :data:`CLASSIFICATION_TASKS`); returns its id. Task names are unique
        in a project, which is how a lost answer is resolved."""

        def existing():
            found = self.call(
                "GET", endpoint, params={"project": body["project"], "taskName": body["name"], "limit": 10}
            )
            return next((t["id"] for t in found or [] if t.get("name") == body["name"]), None)

        return self.create(endpoint, body, existing)

    def iter_tasks(self, endpoint, slug, tag=None, status=None):
        """The project's tasks (with one tag / status), 1000 a page."""
        params = {"project": slug}
        if tag:
            params["tags"] = [tag]
        if status:
            params["status"] = status
        return self.iter_pages(endpoint, params)

    def task(self, endpoint, task_id):
        """One task by id, or ``None`` when it does not exist."""
        response = self.http.request("GET", "%s/%s" % (endpoint, task_id), ok_statuses={404})
        if response.status_code == 404:
            return None
        return response.json()

    def count_tasks(self, slug):
        """How many tasks the project has (of every kind)."""
        return int(self.call("GET", "tasks/count", params={"project": slug}) or 0)

    def delete_task(self, task_id):
        """Deletes one task (gone already: fine)."""
        self.http.request("DELETE", "tasks/%s" % task_id, ok_statuses={404})
