"""A fault-injecting HTTP proxy in front of a real server (Label Studio in
our tests), on 127.0.0.1.

It forwards every request to the upstream server and injects the faults of
:mod:`~fo_annotation_backends.testing.emulator_base` on the way: answers 429
with ``Retry-After`` (``rate_limit``), 503 with an HTML body as a reverse
proxy sends it (``server_error``), closes the connection without an answer
(``drop``), or forwards a mutation and then closes the connection
(``lost_response``). Faults are drawn at random (seeded) from the knobs, or
scripted for the next requests of one operation::

    with FaultProxy(server.url, faults={"rate_limit": 0.05}, seed=3) as proxy:
        proxy.script("token_refresh", "rate_limit", "server_error", "drop")
        client = LabelStudioClient(proxy.url, key)

Operations are named ``token_refresh``, ``health``, or ``"<METHOD> <path>"``
with numbers replaced by ``{id}`` (``"POST /api/projects/{id}/import"``; a
media upload is ``"POST /api/projects/{id}/import (files)"``).
"""

from __future__ import annotations

import collections
import re
import threading
from collections.abc import Mapping
from typing import Any

import requests

from .emulator_base import Call, EmulatorServer, Request, Response, _Decision, _too_many

#: request headers not forwarded (hop by hop, or set by the forwarding client)
_DROPPED_REQUEST_HEADERS = frozenset(
    {"host", "connection", "keep-alive", "content-length", "transfer-encoding", "accept-encoding", "proxy-connection"}
)
#: answer headers passed back
_KEPT_RESPONSE_HEADERS = ("content-type", "retry-after", "location", "content-disposition", "www-authenticate")

_HTML_503 = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_SCRIPTABLE = ("rate_limit", "server_error", "drop", "lost_response")


def operation_name(method: str, path: str, query: str = "") -> str:
    """The operation a request is, for counting and targeting faults."""
    if path.rstrip("/") == "/api/token/refresh":
        return "token_refresh"
    if path.rstrip("/") == "/health":
        return "health"
    name = "%s %s" % (method, re.sub(r"/\d+(?=/|$)", "/{id}", path))
    if name == "POST /api/projects/{id}/import" and "commit_to_project=false" in query:
        name += " (files)"  # an upload of media files, not a task import
    return name


class FaultProxy(EmulatorServer):
    """Forwards to ``upstream``, injecting faults (see the module docstring).

    Args:
        upstream: the URL of the real server
        faults (None): fault knobs (``rate_limit``, ``server_error``,
            ``drop``, ``lost_response``, ``retry_after``,
            ``fault_operations``, ...)
        seed (0): the seed of the random faults
        timeout (300): the read timeout of forwarded requests
    """

    def __init__(
        self, upstream: str, faults: Mapping[str, Any] | None = None, seed: int = 0, timeout: float = 300
    ) -> None:
        super().__init__(faults=faults, seed=seed)
        self.upstream = upstream.rstrip("/")
        self.timeout = timeout
        self._local = threading.local()
        #: operation -> the fault kinds scripted for its next requests
        self._scripted: collections.defaultdict[str, collections.deque[str]] = collections.defaultdict(
            collections.deque
        )

    def script(self, operation: str, *kinds: str) -> None:
        """Injects ``kinds`` (``rate_limit``, ``server_error``, ``drop``,
        ``lost_response``) into the next requests of ``operation``, one
        each, before any random fault."""
        unknown = [k for k in kinds if k not in _SCRIPTABLE]
        if unknown:
            raise ValueError("unknown fault kinds %s (known: %s)" % (unknown, ", ".join(_SCRIPTABLE)))
        with self._lock:
            self._scripted[operation].extend(kinds)

    def classify(self, request: Request) -> Call:
        name = operation_name(request.method, request.path, request.query_string)
        return Call([name], mutation=request.method not in ("GET", "HEAD"))

    def _admit(self, call: Call) -> _Decision:
        operation = call.operations[0]
        with self._lock:
            queue = self._scripted.get(operation)
            kind = queue.popleft() if queue else None
            if kind is not None:
                self._requests += 1
                self._op_counts.update(call.operations)
                self._fault_counts[kind] += 1
        if kind is None:
            decision = super()._admit(call)
        elif kind == "rate_limit":
            decision = _Decision(_too_many(self.faults["retry_after"]))
        elif kind == "server_error":
            decision = _Decision(Response(503))
        elif kind == "drop":
            decision = _Decision(drop=True)
        else:
            decision = _Decision(lose_response=True)
        if decision.response is not None and decision.response.status == 503:
            # what a reverse proxy in front of a restarting server answers
            decision.response = Response(503, _HTML_503, content_type="text/html")
        return decision

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def handle(self, request: Request, call: Call) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROPPED_REQUEST_HEADERS}
        try:
            answer = self._session().request(
                request.method,
                self.upstream + request.target,
                headers=headers,
                data=request.body or None,
                allow_redirects=False,
                timeout=(10, self.timeout),
            )
        except requests.RequestException as e:
            return Response(502, "upstream failed: %s" % type(e).__name__, content_type="text/plain")
        kept = {k: v for k, v in answer.headers.items() if k.lower() in _KEPT_RESPONSE_HEADERS}
        if "Location" in kept and kept["Location"].startswith(self.upstream):
            kept["Location"] = self.base_url + kept["Location"][len(self.upstream) :]
        return Response(answer.status_code, answer.content, headers=kept, content_type=None)
