"""The service-independent part of our local service emulators.

An emulator is a real HTTP server on 127.0.0.1 (``ThreadingHTTPServer`` in a
background thread) that a service-specific subclass teaches a wire protocol
(see :mod:`fo_annotation_backends.testing.kili`). This module gives every
emulator the same test instruments:

- request counting: total, per operation, per HTTP status
- fault injection, seeded: answers 429 (``rate_limit``) or 503
  (``server_error``) without processing, closes the connection without an
  answer (``drop``), delays (``slow``), or processes a mutation and then closes
  the connection (``lost_response``); ``fault_operations`` restricts faults to
  named operations; ``fail_after`` starts an outage (every request 503) after
  N more requests
- an optional calls-per-window budget (``max_calls`` per ``window_seconds``)
  answered with 429 and ``Retry-After``, the count of calls over it and the
  peak number of calls seen in any window
- control endpoints under ``/_emulator/`` (they need the API key, and are
  never counted nor faulted)::

      GET  /_emulator/stats         counts (see EmulatorServer.stats)
      POST /_emulator/reset_stats   zeroes the counts
      GET  /_emulator/faults        the current knobs
      POST /_emulator/faults        {"knob": value, ...} changes knobs

- :func:`serve` runs an emulator as a command-line server: the client URL alone
  on the first stdout line, then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import logging
import math
import random
import secrets
import signal
import sys
import threading
import time
import zlib
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import parse_qs, unquote, urlsplit

if TYPE_CHECKING:
    from typing_extensions import Self

#: fault knobs and their defaults
FAULT_DEFAULTS: dict[str, Any] = {
    "rate_limit": 0.0,
    "server_error": 0.0,
    "drop": 0.0,
    "slow": 0.0,
    "slow_seconds": 1.0,
    "lost_response": 0.0,
    "retry_after": 1.0,
    "fault_operations": None,
    "fail_after": None,
    "max_faults": None,
}

#: the fault knobs that are fractions of requests
FRACTION_KNOBS = ("rate_limit", "server_error", "drop", "slow", "lost_response")

#: call-budget knobs, also accepted by ``set_faults``
LIMIT_KNOBS = ("max_calls", "window_seconds", "enforce_limit")

#: counters of injected faults
FAULT_KINDS = ("rate_limit", "server_error", "drop", "slow", "lost_response", "outage")

CONTROL_PREFIX = "/_emulator/"

logger = logging.getLogger(__name__)


class Clock:
    """ISO-8601 UTC timestamps with milliseconds, strictly increasing."""

    def __init__(self) -> None:
        self._last_ms = 0

    def now(self) -> str:
        ms = max(int(time.time() * 1000), self._last_ms + 1)
        self._last_ms = ms
        stamp = datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc)
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


class Request:
    """An HTTP request as the emulator sees it (body read and un-gzipped).

    Attributes:
        method: ``"GET"``, ``"POST"``, ...
        target: the raw request target (path and query)
        path: the path, without the query
        query: ``{name: [values]}`` of the query string
        headers: the request headers (an ``email.message.Message``)
        body: the body bytes, decompressed when sent with
            ``Content-Encoding: gzip``
        cache: a dict where a subclass keeps what it parsed once
    """

    def __init__(self, method: str, target: str, headers: Message, body: bytes) -> None:
        self.method = method
        self.target = target
        parts = urlsplit(target)
        self.path = parts.path
        self.query_string = parts.query
        self.query = parse_qs(parts.query, keep_blank_values=True)
        self.headers = headers
        self.body = body
        self.cache: dict[str, Any] = {}

    def json(self) -> Any:
        """The body parsed as JSON (``ValueError`` if it is not)."""
        if "json" not in self.cache:
            self.cache["json"] = json.loads(self.body.decode("utf-8") or "null")
        return self.cache["json"]


class Response:
    """An answer: status, headers (a dict) and body bytes."""

    def __init__(
        self,
        status: int,
        body: bytes | str = b"",
        headers: Mapping[str, str] | None = None,
        content_type: str | None = "application/json",
    ) -> None:
        self.status = int(status)
        self.headers = dict(headers or {})
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.body: bytes = body
        if content_type and "Content-Type" not in self.headers:
            self.headers["Content-Type"] = content_type


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A :class:`Response` with a JSON body."""
    return Response(status, json.dumps(payload).encode("utf-8"), headers=headers)


#: a REST route: ``(method, path template with {id} segments, handler name)``
Route = tuple[str, str, str]


def match_route(routes: Iterable[Route], method: str, path: str) -> tuple[str, str, list[str]] | None:
    """``(template, handler name, ids)`` of the first route matching a
    request, where ``path`` is relative to the API prefix and each ``{id}``
    segment of the template matches one non-empty segment (its value, unquoted,
    goes into ``ids``); ``None`` when no route matches."""
    segments = path.split("/")
    for route_method, template, handler in routes:
        if route_method != method:
            continue
        parts = template.split("/")
        if len(parts) != len(segments):
            continue
        ids: list[str] = []
        for part, segment in zip(parts, segments):
            if part == "{id}" and segment:
                ids.append(unquote(segment))
            elif part != segment:
                break
        else:
            return template, handler, ids
    return None


def bearer_token(headers: Message | Mapping[str, str]) -> str | None:
    """The token of ``Authorization: Bearer <token>``, or ``None``."""
    scheme, _, token = (headers.get("Authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class Deleted:
    """What a REST emulator's DELETE handler returns: an empty answer."""


#: the one :class:`Deleted` value
DELETED = Deleted()


class Call:
    """What a request is, for counting, budgets and faults.

    Args:
        operations: the operation names it runs (GraphQL root fields, or a
            name like ``"storage_put"``), counted one by one
        mutation: whether it changes state (``lost_response`` applies)
        faultable: whether faults may be injected into it
        limited: whether it counts against the calls-per-window budget
    """

    __slots__ = ("operations", "mutation", "faultable", "limited")

    def __init__(
        self, operations: Iterable[str], mutation: bool = False, faultable: bool = True, limited: bool = True
    ) -> None:
        self.operations = tuple(operations)
        self.mutation = bool(mutation)
        self.faultable = bool(faultable)
        self.limited = bool(limited)


class _Decision:
    """What the admission step decided for one request."""

    __slots__ = ("response", "drop", "delay", "lose_response")

    def __init__(
        self, response: Response | None = None, drop: bool = False, delay: float = 0.0, lose_response: bool = False
    ) -> None:
        self.response = response
        self.drop = drop
        self.delay = delay
        self.lose_response = lose_response


def validate_knobs(knobs: Mapping[str, Any]) -> dict[str, Any]:
    """Checks fault and budget knobs; returns them normalized.

    Raises:
        ValueError: an unknown knob or a value out of range
    """
    out: dict[str, Any] = {}
    for name, value in knobs.items():
        if name in FRACTION_KNOBS:
            value = float(value or 0.0)
            if not 0.0 <= value <= 1.0:
                raise ValueError("%s must be a fraction between 0 and 1, not %r" % (name, value))
        elif name in ("slow_seconds", "retry_after"):
            value = float(value)
            if value < 0:
                raise ValueError("%s must be >= 0" % name)
        elif name == "fault_operations":
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            value = frozenset(value) if value else None
        elif name in ("fail_after", "max_calls", "max_faults"):
            if value is not None:
                value = int(value)
                if value < 0:
                    raise ValueError("%s must be >= 0" % name)
        elif name == "window_seconds":
            value = float(value)
            if value <= 0:
                raise ValueError("window_seconds must be > 0")
        elif name == "enforce_limit":
            value = bool(value)
        else:
            raise ValueError(
                "unknown knob %r (known: %s)" % (name, ", ".join(list(FAULT_DEFAULTS) + list(LIMIT_KNOBS)))
            )
        out[name] = value
    if sum(out.get(k, 0.0) for k in ("rate_limit", "server_error", "drop")) > 1.0:
        raise ValueError("rate_limit + server_error + drop must not exceed 1")
    return out


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: without TCP_NODELAY the body of
    # an answer on a kept-alive connection waits for the client's delayed ACK
    disable_nagle_algorithm = True
    # idle keep-alive connections end eventually
    timeout = 120

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read stats, not logs
        pass

    def do_GET(self) -> None:
        try:
            self.server.emulator._serve(self)
        except Exception as e:  # a bug of the emulator: answer it, log it
            logger.exception("emulator: error while serving %s %s", self.command, self.path)
            try:
                self.server.emulator._send(self, json_response(500, {"message": "emulator error: %r" % (e,)}))
            except OSError:
                self.close_connection = True

    # XGET: a GET with a JSON body, which Picsellia's API uses for id lookups
    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_XGET = do_GET


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: EmulatorServer


class EmulatorServer:
    """A local HTTP emulator of a labeling service, in a background thread.

    Subclasses implement :meth:`classify` and :meth:`handle` (and may
    override :meth:`authorized` and :meth:`control`).

    Args:
        api_key (None): the key clients must send (a random one by default)
        faults (None): fault knobs (see :data:`FAULT_DEFAULTS`)
        seed (0): the seed of the fault-injection random generator
        max_calls (None): the calls-per-window budget, ``None`` for none
        window_seconds (60): the budget's sliding window, also the window of
            the ``peak_calls_in_window`` statistic
        enforce_limit (True): answer calls over the budget with 429; when
            ``False`` they are only counted (``over_limit``)
        host ("127.0.0.1"): the address to bind
        port (0): the port, 0 for a free one
    """

    #: the path of the client endpoint, appended to the base URL in :attr:`url`
    client_path = ""

    def __init__(
        self,
        api_key: str | None = None,
        faults: Mapping[str, Any] | None = None,
        seed: int = 0,
        max_calls: int | None = None,
        window_seconds: float = 60,
        enforce_limit: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if api_key is None:
            api_key = "emu-" + secrets.token_hex(16)
        self.api_key = api_key
        self.host = host
        self.port = port
        self.seed = seed
        self._rng = random.Random(seed)
        self._lock = threading.Lock()  # stats, knobs and the RNG
        self._knobs: dict[str, Any] = dict(FAULT_DEFAULTS)
        self._knobs.update(max_calls=None, window_seconds=60.0, enforce_limit=True)
        self._knobs.update(
            validate_knobs(
                dict(faults or {}, max_calls=max_calls, window_seconds=window_seconds, enforce_limit=enforce_limit)
            )
        )
        self._fail_countdown: int | None = self._knobs["fail_after"]
        self._outage = False
        self._window: collections.deque[float] = collections.deque()
        self._reset_counters()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return "http://%s:%d" % (self.host, self.port)

    @property
    def url(self) -> str:
        """The URL clients are given (the base URL plus :attr:`client_path`)."""
        return self.base_url + self.client_path

    def start(self) -> Self:
        """Binds the port and serves in a background thread; returns self."""
        if self._server is not None:
            return self
        server = self._server = _Server((self.host, self.port), _Handler)
        server.emulator = self
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="emulator-%d" % self.port,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and closes the port."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- knobs and stats -----------------------------------------------------

    @property
    def faults(self) -> dict[str, Any]:
        """The current knobs (fault knobs and budget knobs), a copy."""
        with self._lock:
            knobs = dict(self._knobs)
        if knobs["fault_operations"] is not None:
            knobs["fault_operations"] = sorted(knobs["fault_operations"])
        return knobs

    def set_faults(self, **knobs: Any) -> dict[str, Any]:
        """Changes knobs at runtime, e.g. ``set_faults(rate_limit=0.2)``.

        Fault knobs are in :data:`FAULT_DEFAULTS`; the budget knobs
        ``max_calls``, ``window_seconds`` and ``enforce_limit`` are accepted
        too. ``fail_after=N`` (re)starts the countdown: the next N matching
        requests pass, every one after gets a 503 until ``fail_after`` is set
        again (``None`` ends the outage). ``max_faults=N`` stops injecting
        429s, 5xx and drops once N of them were injected (counted since the
        emulator started).

        Raises:
            ValueError: an unknown knob or a value out of range
        """
        knobs = validate_knobs(knobs)
        with self._lock:
            merged = dict(self._knobs, **knobs)
            if sum(merged[k] for k in ("rate_limit", "server_error", "drop")) > 1.0:
                raise ValueError("rate_limit + server_error + drop must not exceed 1")
            self._knobs = merged
            if "fail_after" in knobs:
                self._fail_countdown = knobs["fail_after"]
                self._outage = False
        return self.faults

    def reset_faults(self) -> dict[str, Any]:
        """Back to no faults (the budget knobs are kept)."""
        return self.set_faults(**FAULT_DEFAULTS)

    def _reset_counters(self) -> None:
        self._requests = 0
        self._op_counts: collections.Counter[str] = collections.Counter()
        self._statuses: collections.Counter[int] = collections.Counter()
        self._fault_counts: collections.Counter[str] = collections.Counter({kind: 0 for kind in FAULT_KINDS})
        self._over_limit = 0
        self._peak = 0
        self._window.clear()

    def stats(self) -> dict[str, Any]:
        """The counts since start (or the last :meth:`reset_stats`)::

            {"requests": total, "operations": {name: n}, "statuses": {"200": n},
             "faults": {kind: n}, "over_limit": n, "peak_calls_in_window": n,
             "window_seconds": s, "max_calls": n or None}

        ``operations`` counts each operation a request runs (a GraphQL
        request counts each of its root fields). ``over_limit`` and
        ``peak_calls_in_window`` concern the calls in the budget (for Kili:
        GraphQL requests, not storage transfers). Control requests are not
        counted. A request closed without an answer has no status: it is
        counted under ``faults``.
        """
        with self._lock:
            return {
                "requests": self._requests,
                "operations": dict(self._op_counts),
                "statuses": {str(k): v for k, v in sorted(self._statuses.items())},
                "faults": dict(self._fault_counts),
                "over_limit": self._over_limit,
                "peak_calls_in_window": self._peak,
                "window_seconds": self._knobs["window_seconds"],
                "max_calls": self._knobs["max_calls"],
            }

    def reset_stats(self) -> None:
        """Zeroes every count (and the budget's window)."""
        with self._lock:
            self._reset_counters()

    # -- subclass hooks ------------------------------------------------------

    def classify(self, request: Request) -> Call:
        """The :class:`Call` a request is (override)."""
        return Call(["%s %s" % (request.method, request.path)])

    def handle(self, request: Request, call: Call) -> Response:
        """Processes a request and returns its :class:`Response` (override)."""
        return json_response(404, {"message": "not found"})

    def authorized(self, request: Request) -> bool:
        """Whether a request carries the API key (control endpoints).

        Accepts ``Authorization: X-API-Key: <key>``, ``Authorization: Bearer
        <key>``, ``Authorization: Token <key>`` and ``X-API-Key: <key>``.
        """
        return presented_key(request.headers) == self.api_key

    def control(self, request: Request, name: str) -> Response | None:
        """A subclass's own control endpoint ``/_emulator/<name>``; ``None``
        when it has none of that name."""
        return None

    # -- request processing --------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        try:
            request = _read_request(handler)
        except _BadRequest as e:
            self._send(handler, json_response(e.status, {"message": str(e)}), count=False)
            return
        if request.path.startswith(CONTROL_PREFIX):
            self._send(handler, self._control(request), count=False)
            return
        call = self.classify(request)
        decision = self._admit(call)
        if decision.drop:
            self._close(handler)
            return
        if decision.response is not None:
            self._send(handler, decision.response)
            return
        if decision.delay:
            time.sleep(decision.delay)
        response = self.handle(request, call)
        if decision.lose_response:
            self._close(handler)
            return
        self._send(handler, response)

    def _admit(self, call: Call) -> _Decision:
        """Counts a request and decides its fate: budget, outage, faults."""
        now = time.monotonic()
        with self._lock:
            knobs = self._knobs
            self._requests += 1
            self._op_counts.update(call.operations)
            ops = knobs["fault_operations"]
            matches = call.faultable and (ops is None or any(op in ops for op in call.operations))
            if matches and not self._outage and self._fail_countdown is not None:
                if self._fail_countdown == 0:
                    self._outage = True
                else:
                    self._fail_countdown -= 1
            if matches and self._outage:
                self._fault_counts["outage"] += 1
                return _Decision(_unavailable())
            if call.limited:
                over = self._budget(now, knobs)
                if over is not None:
                    return _Decision(over)
            if not matches:
                return _Decision()
            # always three draws per request: a knob change keeps the sequence
            fate, slow, lost = self._rng.random(), self._rng.random(), self._rng.random()
            injected = sum(self._fault_counts[k] for k in ("rate_limit", "server_error", "drop"))
            if knobs["max_faults"] is not None and injected >= knobs["max_faults"]:
                fate = 1.0  # the fault budget is spent: answer normally
            if fate < knobs["rate_limit"]:
                self._fault_counts["rate_limit"] += 1
                return _Decision(_too_many(knobs["retry_after"]))
            fate -= knobs["rate_limit"]
            if fate < knobs["server_error"]:
                self._fault_counts["server_error"] += 1
                return _Decision(_unavailable())
            fate -= knobs["server_error"]
            if fate < knobs["drop"]:
                self._fault_counts["drop"] += 1
                return _Decision(drop=True)
            decision = _Decision()
            if slow < knobs["slow"]:
                self._fault_counts["slow"] += 1
                decision.delay = knobs["slow_seconds"]
            if call.mutation and lost < knobs["lost_response"]:
                self._fault_counts["lost_response"] += 1
                decision.lose_response = True
            return decision

    def _budget(self, now: float, knobs: Mapping[str, Any]) -> Response | None:
        """Records a budgeted call; the 429 to answer when it goes over."""
        window = knobs["window_seconds"]
        while self._window and self._window[0] <= now - window:
            self._window.popleft()
        max_calls = knobs["max_calls"]
        if max_calls is not None and len(self._window) >= max_calls:
            self._over_limit += 1
            if knobs["enforce_limit"]:
                wait = self._window[0] + window - now if self._window else window
                return _too_many(
                    max(1, math.ceil(wait)),
                    "the emulator's call budget (%d calls per %gs) is spent" % (max_calls, window),
                )
        self._window.append(now)
        self._peak = max(self._peak, len(self._window))
        return None

    def _control(self, request: Request) -> Response:
        if not self.authorized(request):
            return json_response(401, {"message": "control endpoints need the API key"})
        name = request.path[len(CONTROL_PREFIX) :].strip("/")
        try:
            if name == "stats" and request.method == "GET":
                return json_response(200, self.stats())
            if name == "reset_stats" and request.method == "POST":
                self.reset_stats()
                return json_response(200, self.stats())
            if name == "faults" and request.method == "GET":
                return json_response(200, self.faults)
            if name == "faults" and request.method == "POST":
                knobs = request.json() or {}
                if not isinstance(knobs, dict):
                    raise ValueError("the body must be a JSON object of knobs")
                return json_response(200, self.set_faults(**knobs))
            response = self.control(request, name)
        except ValueError as e:
            return json_response(400, {"message": str(e)})
        if response is None:
            return json_response(404, {"message": "no control endpoint %s %s" % (request.method, request.path)})
        return response

    def _send(self, handler: _Handler, response: Response, count: bool = True) -> None:
        if count:
            with self._lock:
                self._statuses[response.status] += 1
        try:
            handler.send_response(response.status)
            for name, value in response.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(response.body)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True

    @staticmethod
    def _close(handler: _Handler) -> None:
        """Closes the connection without an answer."""
        handler.close_connection = True
        try:
            handler.wfile.flush()
        except OSError:
            pass


def _too_many(retry_after: float, message: str = "too many requests (emulated)") -> Response:
    # no "errors" key: clients read it as "not processed, retry later"
    retry = ("%g" % retry_after) if retry_after != int(retry_after) else str(int(retry_after))
    return json_response(429, {"message": message}, headers={"Retry-After": retry})


def _unavailable() -> Response:
    return json_response(503, {"message": "service unavailable (emulated)"})


class _BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _read_request(handler: _Handler) -> Request:
    headers = handler.headers
    if headers.get("Transfer-Encoding", "").lower() == "chunked":
        body = _read_chunked(handler.rfile)
    else:
        try:
            length = int(headers.get("Content-Length") or 0)
        except ValueError:
            raise _BadRequest("bad Content-Length") from None
        body = handler.rfile.read(length) if length > 0 else b""
    encoding = headers.get("Content-Encoding", "").strip().lower()
    if encoding == "gzip" and body:
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error):
            raise _BadRequest("the gzip body could not be decompressed") from None
    elif encoding not in ("", "identity"):
        raise _BadRequest("unsupported Content-Encoding %r" % encoding, status=415)
    return Request(handler.command, handler.path, headers, body)


def _read_chunked(rfile: BufferedIOBase) -> bytes:
    chunks: list[bytes] = []
    while True:
        line = rfile.readline(65537)
        try:
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        except ValueError:
            raise _BadRequest("bad chunked body") from None
        if size == 0:
            while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        chunks.append(rfile.read(size))
        rfile.readline(3)


def presented_key(headers: Message) -> str | None:
    """The API key a request presents, or ``None``.

    Reads ``Authorization: X-API-Key: <key>`` (Kili), ``Authorization:
    Bearer <key>``, ``Authorization: Token <key>`` and a bare ``X-API-Key``
    header.
    """
    auth = (headers.get("Authorization") or "").strip()
    if auth:
        scheme, _, rest = auth.partition(" ")
        if scheme.lower() in ("x-api-key:", "bearer", "token") and rest.strip():
            return rest.strip()
        if scheme.lower().startswith("x-api-key:") and len(scheme) > len("x-api-key:"):
            return scheme[len("x-api-key:") :].strip()
    bare = (headers.get("X-API-Key") or "").strip()
    return bare or None


# -- command line ------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Adds the common emulator options (address, key, seed, faults, budget)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")
    parser.add_argument(
        "--api-key", default=None, help="the API key clients must send (default: a random one, printed)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault-injection generator")
    faults = parser.add_argument_group("faults (fractions of requests)")
    faults.add_argument("--rate-limit", type=float, default=0.0, help="answered 429 with Retry-After, not processed")
    faults.add_argument("--server-error", type=float, default=0.0, help="answered 503, not processed")
    faults.add_argument("--drop", type=float, default=0.0, help="connection closed without an answer, not processed")
    faults.add_argument("--slow", type=float, default=0.0, help="delayed by --slow-seconds before processing")
    faults.add_argument("--slow-seconds", type=float, default=1.0)
    faults.add_argument(
        "--lost-response", type=float, default=0.0, help="mutations processed, then the connection closed"
    )
    faults.add_argument("--retry-after", type=float, default=1.0, help="Retry-After of the 429 faults, in seconds")
    faults.add_argument(
        "--fault-operations", default=None, help="comma-separated operations that faults apply to (default all)"
    )
    faults.add_argument("--fail-after", type=int, default=None, help="every request after the next N gets a 503")
    budget = parser.add_argument_group("call budget")
    budget.add_argument("--max-calls", type=int, default=None, help="calls allowed per window; more get 429")
    budget.add_argument("--window-seconds", type=float, default=60.0)
    return parser


def emulator_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The constructor keywords shared by every emulator, from parsed options."""
    faults = {
        "rate_limit": args.rate_limit,
        "server_error": args.server_error,
        "drop": args.drop,
        "slow": args.slow,
        "slow_seconds": args.slow_seconds,
        "lost_response": args.lost_response,
        "retry_after": args.retry_after,
        "fault_operations": args.fault_operations,
        "fail_after": args.fail_after,
    }
    return dict(
        api_key=args.api_key,
        faults=faults,
        seed=args.seed,
        max_calls=args.max_calls,
        window_seconds=args.window_seconds,
        host=args.host,
        port=args.port,
    )


def serve(emulator: EmulatorServer, show_key: bool = False, out: TextIO | None = None) -> int:
    """Runs a started-or-not emulator until SIGTERM or SIGINT.

    Prints the client URL alone on the first line of ``out`` (stdout), then,
    when ``show_key``, the API key on the second. Returns 0.
    """
    out = out or sys.stdout
    stopping = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    emulator.start()
    try:
        print(emulator.url, file=out, flush=True)
        if show_key:
            print("api key: %s" % emulator.api_key, file=out, flush=True)
        while not stopping.is_set():
            stopping.wait(0.5)
    finally:
        emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def main_parser(description: str) -> argparse.ArgumentParser:
    """An ``argparse`` parser with the common emulator options."""
    return add_arguments(argparse.ArgumentParser(description=description))
