"""An HTTP session with timeouts, retries, pacing, counting and redaction.

Every backend of this package talks to its service through
:class:`HttpSession`:

- timeouts on every request;
- retries with exponential backoff and jitter on 429/502/503/504 and on
  connection errors, honouring ``Retry-After``;
- a non-idempotent request (a create) whose outcome is unknown is never
  re-sent blindly: :meth:`HttpSession.create` first asks the caller's
  ``find_existing`` callback whether the server already applied it (the
  loop of :mod:`.resend`);
- optional pacing to a calls-per-window budget (:class:`~.pacing.Pacer`),
  applied to every attempt, retries included, each call counted while in
  flight and from when it ends (safe against a server counting arrivals);
- a request counter, for benchmarks and tests;
- error messages built from the server's answer, with secrets redacted.
"""

import json
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Collection
from typing import Any, TypeVar

import requests
import requests.adapters
import urllib3.exceptions
from urllib3.util.retry import Retry

from .errors import (
    AnnotationBackendError,
    AuthenticationError,
    OutcomeUnknownError,
    ServiceError,
    ServiceUnavailableError,
)
from .pacing import Pacer
from .resend import send_or_find
from .secrets import get_logger, redact

logger = get_logger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})

# 429 means the server refused the request before doing anything with it,
# so it is safe to re-send even a create.
_REFUSED_STATUSES = frozenset({429})

# only its Retry-After parser is used (handles seconds and HTTP dates)
_URLLIB3_RETRY = Retry()

Found = TypeVar("Found")

#: connect and read timeouts in seconds, or one for both
Timeout = float | tuple[float, float]


class RetryPolicy:
    """How often and how long to wait between attempts.

    Args:
        max_retries: retries after the first attempt
        backoff_factor: the first backoff, in seconds; doubles each retry
        backoff_max: the longest backoff, in seconds
        jitter: a random fraction (0-1) of the backoff added or removed
        max_retry_after: the longest ``Retry-After`` honoured, in seconds
        statuses: the HTTP statuses that are retried
    """

    def __init__(
        self,
        max_retries: int = 5,
        backoff_factor: float = 0.5,
        backoff_max: float = 30.0,
        jitter: float = 0.5,
        max_retry_after: float = 600.0,
        statuses: Collection[int] = RETRY_STATUSES,
    ) -> None:
        self.max_retries = max_retries
        self.backoff_factor = backoff_factor
        self.backoff_max = backoff_max
        self.jitter = jitter
        self.max_retry_after = max_retry_after
        self.statuses = frozenset(statuses)

    def backoff(self, attempt: int) -> float:
        """The delay before retry number ``attempt`` (1-based), with jitter."""
        delay = min(self.backoff_max, self.backoff_factor * (2 ** (attempt - 1)))
        spread = delay * self.jitter
        return max(0.0, delay + random.uniform(-spread, spread))

    def delay_for(self, attempt: int, response: requests.Response | None = None) -> float:
        """The delay before retry ``attempt``, honouring ``Retry-After``."""
        if response is not None:
            header = response.headers.get("Retry-After")
            if header:
                try:
                    seconds: float | None = _URLLIB3_RETRY.parse_retry_after(header)
                except Exception:  # an unparseable header: fall back to backoff
                    seconds = None
                if seconds is not None:
                    return min(max(seconds, 0.0), self.max_retry_after)
        return self.backoff(attempt)

    def __repr__(self) -> str:
        return "RetryPolicy(max_retries=%r, backoff_factor=%r)" % (self.max_retries, self.backoff_factor)


class HttpSession:
    """A ``requests`` session bound to one service.

    Args:
        base_url: the URL that relative paths are resolved against
        headers (None): headers sent with every request
        auth (None): a ``requests`` auth object (called for every attempt,
            so it may refresh tokens)
        timeout ((10, 300)): connect and read timeouts, in seconds
        retry (None): a :class:`RetryPolicy`
        pacer (None): a :class:`~.pacing.Pacer`
        sleep (time.sleep): the sleep function (for tests)
    """

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str] | None = None,
        auth: requests.auth.AuthBase | None = None,
        timeout: Timeout = (10, 300),
        retry: RetryPolicy | None = None,
        pacer: Pacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.pacer = pacer or Pacer(None)
        self._count_lock = threading.Lock()
        self._request_count = 0
        self._sleep = sleep
        self._session = requests.Session()
        self._session.headers.update(headers or {})
        self._session.auth = auth
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    @property
    def request_count(self) -> int:
        """How many requests (attempts, retries included) were sent."""
        return self._request_count

    def __repr__(self) -> str:
        return "HttpSession(%r, requests=%d)" % (self.base_url, self.request_count)

    def close(self) -> None:
        """Closes the pooled connections."""
        self._session.close()

    def sleep(self, seconds: float) -> None:
        """Sleeps with this session's sleep function (a fake one in tests)."""
        self._sleep(seconds)

    def url(self, path: str) -> str:
        """The absolute URL of ``path``."""
        if path.startswith(("http://", "https://")):
            return path
        return urllib.parse.urljoin(self.base_url, path.lstrip("/"))

    def request(
        self,
        method: str,
        path: str,
        idempotent: bool | None = None,
        ok_statuses: Collection[int] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Sends a request, retrying what is safe to retry.

        Args:
            method: the HTTP method
            path: a path relative to ``base_url``, or an absolute URL
            idempotent (None): whether the request may be re-sent after a
                lost answer; defaults to ``True`` for GET/HEAD/PUT/DELETE
            ok_statuses (None): statuses returned rather than raised, besides
                2xx (e.g. ``{404}`` to test for existence)
            **kwargs: passed to :meth:`requests.Session.request`

        Returns:
            the ``requests.Response``

        Raises:
            AuthenticationError: on 401/403
            ServiceError: on any other error status
            OutcomeUnknownError: a non-idempotent request got no answer
            ServiceUnavailableError: the retries ran out
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        url = self.url(path)
        kwargs.setdefault("timeout", self.timeout)
        body: Any = kwargs.get("data")
        attempt = 0
        while True:
            response: requests.Response | None
            error: requests.exceptions.RequestException | None
            if attempt and hasattr(body, "seek"):
                body.seek(0)
            with self._count_lock:
                self._request_count += 1
            try:
                # counted from when the answer is in: a server counting
                # arrivals never sees more than the budget in a window
                with self.pacer.slot():
                    response = self._session.request(method, url, **kwargs)
            except requests.exceptions.Timeout as e:
                # before ConnectionError: ConnectTimeout is both, and sent nothing
                sent = not isinstance(e, requests.exceptions.ConnectTimeout)
                error = e
                response = None
            except requests.exceptions.ConnectionError as e:
                # A refused or unresolvable connection sent nothing: always safe
                sent = not _is_connect_failure(e)
                error = e
                response = None
            else:
                error = None
                sent = True

            if response is not None:
                status = response.status_code
                if status < 400 or (ok_statuses and status in ok_statuses):
                    return response
                retryable = status in self.retry.statuses and (idempotent or status in _REFUSED_STATUSES)
                if not retryable:
                    if not idempotent and status in self.retry.statuses:
                        raise OutcomeUnknownError(
                            "%s %s answered %d; the server may have applied it" % (method, _path_of(url), status)
                        )
                    raise self._error_for(method, url, response)
            elif sent and not idempotent:
                raise OutcomeUnknownError(
                    "%s %s got no answer (%s); the server may have applied it"
                    % (method, _path_of(url), type(error).__name__)
                )

            attempt += 1
            if attempt > self.retry.max_retries:
                if response is not None:
                    raise self._error_for(method, url, response, retries=attempt - 1)
                raise ServiceUnavailableError(
                    "Could not reach %s after %d attempts: %s" % (_origin_of(url), attempt, _describe(error))
                ) from None
            delay = self.retry.delay_for(attempt, response)
            logger.debug(
                "%s %s: %s; retry %d/%d in %.2fs",
                method,
                _path_of(url),
                response.status_code if response is not None else type(error).__name__,
                attempt,
                self.retry.max_retries,
                delay,
            )
            self._sleep(delay)

    def wait_before_check(self, check: int) -> None:
        """Sleeps before check number ``check`` (1 for the first) of an
        unknown outcome: after a gateway error the server may still be
        applying the request, so it is given a moment (the backoff of a
        retry) before it is asked what it has."""
        self._sleep(self.retry.backoff(check))

    def create(
        self,
        method: str,
        path: str,
        find_existing: Callable[[], Found | None],
        max_checks: int = 3,
        what: str | None = None,
        **kwargs: Any,
    ) -> requests.Response | Found:
        """Sends a non-idempotent request that creates something.

        When its outcome is unknown (a lost answer, a 502/503/504), the server
        is asked first, through ``find_existing()``, whether the create was
        applied; only if it was not is the request sent again (see
        :func:`.resend.send_or_find`).

        Args:
            method: the HTTP method (usually POST)
            path: the path
            find_existing: a callable returning the created object if the
                server has it, else ``None``
            max_checks (3): how many unknown outcomes to resolve this way
            what (None): names the object in the log lines (by default the
                method and path)
            **kwargs: as for :meth:`request`

        Returns:
            a ``requests.Response``, or whatever ``find_existing`` returned

        Raises:
            OutcomeUnknownError: the outcome stayed unknown after
                ``max_checks`` checks
        """
        return send_or_find(
            lambda: self.request(method, path, idempotent=False, **kwargs),
            find_existing,
            checks=max_checks,
            wait=self.wait_before_check,
            what=what or "%s %s" % (method.upper(), _path_of(self.url(path))),
            log=logger,
        )

    def get_json(self, path: str, **kwargs: Any) -> Any:
        """GET ``path`` and decode its JSON body."""
        return self.request("GET", path, **kwargs).json()

    def _error_for(
        self, method: str, url: str, response: requests.Response, retries: int = 0
    ) -> AnnotationBackendError:
        detail = _error_detail(response)
        status = response.status_code
        where = "%s %s" % (method, _path_of(url))
        suffix = " (after %d retries)" % retries if retries else ""
        if status in (401, 403):
            return AuthenticationError("%s was refused (%d): %s%s" % (where, status, detail, suffix))
        return ServiceError(
            "%s failed (%d): %s%s" % (where, status, detail, suffix),
            status_code=status,
            method=method,
            path=_path_of(url),
        )


def _is_connect_failure(error: BaseException) -> bool:
    """Whether the connection was never made (so no request was sent).

    ``requests`` wraps urllib3's ``MaxRetryError`` whose ``reason`` is the
    underlying error; walk that chain and the ``__cause__``/``__context__``
    links and look at the types.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, urllib3.exceptions.ProtocolError):
            return False  # the connection was made, then lost
        if isinstance(current, (urllib3.exceptions.NewConnectionError, ConnectionRefusedError)):
            return True  # includes NameResolutionError
        pending.extend(
            [getattr(current, "reason", None), current.__cause__, current.__context__]
            + [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        )
    return False


def _path_of(url: str) -> str:
    return urllib.parse.urlsplit(url).path


def _origin_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return "%s://%s" % (parts.scheme, parts.netloc)


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "no answer"
    text = str(error)
    # requests repeats the whole urllib3 object repr; keep the reason only
    if "Caused by" in text:
        text = text.split("Caused by", 1)[1].strip(" ()'\"")
    return redact(text[:300])


def _error_detail(response: requests.Response, limit: int = 500) -> str:
    """The most useful short text of an error response."""
    try:
        body = response.json()
    except ValueError:
        text = (response.text or "").strip()
        if text.lstrip().startswith("<"):
            return response.reason or "error"
        return redact(text[:limit]) or (response.reason or "error")
    if isinstance(body, dict):
        for key in ("detail", "message", "error", "errors", "validation_errors"):
            if body.get(key):
                value = body[key]
                text = value if isinstance(value, str) else json.dumps(value)
                if key == "detail" and body.get("validation_errors"):
                    text += ": " + json.dumps(body["validation_errors"])
                return redact(text[:limit])
    return redact(json.dumps(body)[:limit])
