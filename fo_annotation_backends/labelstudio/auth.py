"""Label Studio credentials: legacy tokens and personal access tokens.

A legacy token is sent as it is (``Authorization: Token <key>``). A personal
access token (PAT) is a JWT *refresh* token: it is exchanged at
``POST /api/token/refresh/`` for a short-lived access token (5 minutes on
Label Studio 1.23) that requests carry as ``Authorization: Bearer <access>``.

:class:`TokenAuth` does that exchange through an
:class:`~fo_annotation_backends.core.http.HttpSession`, so a refresh gets the
retries, backoff and ``Retry-After`` handling of every other request: a 429,
a 503 with an HTML body or a dropped connection during a refresh is retried,
never reported as a bad token. Only a refused refresh token (400/401/403 from
the refresh endpoint) is an :class:`AuthenticationError`. The access token is
refreshed shortly before it expires, and once more when the server answers a
request with 401 (then the request is sent again with the new token).
"""

import base64
import datetime
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from ..core.errors import AuthenticationError, ServiceError
from ..core.http import HttpSession
from ..core.secrets import get_logger, redact, register_secret

logger = get_logger(__name__)

REFRESH_PATH = "/api/token/refresh/"
NEW_TOKEN_HINT = "Create a new one in Label Studio under Account & Settings > Personal Access Token"

#: assumed lifetime of an access token whose claims carry none, in seconds
DEFAULT_ACCESS_LIFETIME = 300.0
#: how long before its expiry an access token is replaced, at most
REFRESH_MARGIN = 30.0


def jwt_claims(token: object) -> dict[str, Any] | None:
    """The claims of a JWT (decoded, not verified), or ``None`` when
    ``token`` is not a JWT (a legacy token)."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeError):
        return None
    return claims if isinstance(claims, dict) else None


def token_kind(api_key: str, now: float | None = None) -> str:
    """``"legacy"``, ``"refresh"`` (a personal access token) or ``"access"``
    (a JWT access token used as it is).

    Raises:
        AuthenticationError: a JWT without an expiry, or one that expired
    """
    claims = jwt_claims(api_key)
    if claims is None:
        return "legacy"
    kind = "refresh" if claims.get("token_type") == "refresh" else "access"
    expiry = claims.get("exp")
    if not isinstance(expiry, (int, float)):
        raise AuthenticationError(
            "The Label Studio API key is a JWT without an expiry, which Label Studio does not issue. %s"
            % NEW_TOKEN_HINT
        )
    now = time.time() if now is None else now
    if expiry < now:
        when = datetime.datetime.fromtimestamp(expiry, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        what = "personal access token" if kind == "refresh" else "access token"
        raise AuthenticationError("The Label Studio %s expired on %s. %s" % (what, when, NEW_TOKEN_HINT))
    return kind


class TokenAuth(requests.auth.AuthBase):
    """Sets the ``Authorization`` header of every request, exchanging a
    personal access token for access tokens when needed.

    Args:
        api_key: a legacy token or a personal access token
        session: the :class:`~fo_annotation_backends.core.http.HttpSession`
            (without auth) that sends the refresh requests
        clock (time.monotonic): a monotonic clock (for tests)
        margin (30): refresh this many seconds before the access token
            expires (at most a quarter of its lifetime)
    """

    def __init__(
        self,
        api_key: str,
        session: HttpSession,
        clock: Callable[[], float] = time.monotonic,
        margin: float = REFRESH_MARGIN,
    ) -> None:
        register_secret(api_key)
        self._api_key = api_key
        self.kind = token_kind(api_key)
        self._session = session
        self._clock = clock
        self._margin = margin
        self._lock = threading.Lock()
        self._access: str | None = None
        self._refresh_at = 0.0
        self.refreshes = 0
        self.resent_after_401 = 0

    def __repr__(self) -> str:
        return "TokenAuth(kind=%r)" % self.kind

    @property
    def uses_legacy_token(self) -> bool:
        """Whether the key is a legacy token."""
        return self.kind == "legacy"

    def header(self) -> str:
        """The ``Authorization`` header value to send now."""
        if self.kind == "legacy":
            return "Token %s" % self._api_key
        if self.kind == "access":
            return "Bearer %s" % self._api_key
        return "Bearer %s" % self.access_token()

    def access_token(self, replace: str | None = None) -> str:
        """The current access token, refreshed when it is about to expire,
        or when it is ``replace`` (a token the server refused)."""
        with self._lock:
            stale = replace is not None and replace == self._access
            if stale or self._access is None or self._clock() >= self._refresh_at:
                return self._refresh()
            return self._access

    def _refresh(self) -> str:
        """Exchanges the personal access token for a new access token, kept
        and returned."""
        response = self._session.request(
            "POST",
            REFRESH_PATH,
            idempotent=True,  # an exchange changes nothing on the server
            ok_statuses={400, 401, 403},
            json={"refresh": self._api_key},
        )
        self.refreshes += 1
        if response.status_code in (400, 401, 403):
            raise AuthenticationError(
                "Label Studio refused the personal access token (the token refresh answered %d: %s). It is invalid, "
                "revoked, or from another server. %s" % (response.status_code, _detail(response), NEW_TOKEN_HINT)
            )
        try:
            access = response.json()["access"]
        except (ValueError, KeyError, TypeError):
            raise ServiceError(
                "Label Studio answered the token refresh with HTTP %d but no access token (%s)"
                % (response.status_code, response.headers.get("Content-Type") or "no content type"),
                status_code=response.status_code,
                method="POST",
                path=REFRESH_PATH,
            ) from None
        register_secret(access)
        claims = jwt_claims(access) or {}
        lifetime = DEFAULT_ACCESS_LIFETIME
        if isinstance(claims.get("exp"), (int, float)) and isinstance(claims.get("iat"), (int, float)):
            # the lifetime, not the server's clock: the local clock may differ
            lifetime = max(1.0, float(claims["exp"] - claims["iat"]))
        self._access = access
        self._refresh_at = self._clock() + lifetime - min(self._margin, lifetime / 4.0)
        logger.debug("Got a Label Studio access token valid for %.0fs", lifetime)
        return access

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self.header()
        if self.kind == "refresh":
            request.register_hook("response", self._resend_after_401)
        return request

    def _resend_after_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        """A 401 to a Bearer request: the access token may have expired
        early (a server restart, clock skew); refresh it and send the request
        once more."""
        if response.status_code != 401 or getattr(response.request, "_resent_after_401", False):
            return response
        refused = _text(response.request.headers.get("Authorization")).partition(" ")[2]
        new_token = self.access_token(replace=refused)
        response.content  # noqa: B018 -- read the body so that the connection can be reused
        response.close()
        retry = response.request.copy()
        retry._resent_after_401 = True  # type: ignore[attr-defined]  # a marker on this copy only
        retry.headers["Authorization"] = "Bearer %s" % new_token
        body: Any = retry.body
        if hasattr(body, "seek"):
            body.seek(0)
        self.resent_after_401 += 1
        logger.debug("%s %s answered 401; sending it again with a new access token", retry.method, retry.path_url)
        new_response = response.connection.send(retry, **kwargs)
        new_response.history.append(response)
        new_response.request = retry
        return new_response


def _text(header: str | bytes | None) -> str:
    """A header value as text (HTTP header bytes are Latin-1)."""
    if isinstance(header, bytes):
        return header.decode("latin-1")
    return header or ""


def _detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return redact((response.text or response.reason or "no detail").strip()[:200])
    if isinstance(body, dict):
        return redact(str(body.get("detail") or body.get("code") or body)[:200])
    return redact(str(body)[:200])
