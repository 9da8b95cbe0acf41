"""A real local HTTP server whose answers are scripted per path.

Used by the unit tier to exercise ``HttpSession`` over real sockets: each
path gets a list of actions (:class:`Respond`, :class:`Apply`,
:class:`Drop`), consumed in order, the last one repeating.
"""

import collections
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Recorded = collections.namedtuple("Recorded", "method path headers body")


class Respond:
    """Answers with ``status``, optional headers and a body (bytes or JSON),
    after ``delay`` seconds."""

    def __init__(self, status, body=b"", headers=None, json_body=None, delay=0.0):
        self.status = status
        self.delay = delay
        self.headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode("utf-8")
            self.headers.setdefault("Content-Type", "application/json")
        self.body = body if isinstance(body, bytes) else str(body).encode("utf-8")
        self.apply = False

    def __repr__(self):
        return "Respond(%d)" % self.status


class Apply(Respond):
    """Records the request as applied server-side, then answers."""

    def __init__(self, status=201, **kwargs):
        super().__init__(status, **kwargs)
        self.apply = True


class Drop:
    """Reads the request, then closes the connection without answering.

    With ``apply=True`` the request is recorded as applied first (a create
    whose answer is lost); with ``apply=False`` it is dropped before it is
    applied.
    """

    def __init__(self, apply=False):
        self.apply = apply

    def __repr__(self):
        return "Drop(apply=%r)" % self.apply


class ScriptedServer:
    """The state shared by the handler threads and the test."""

    def __init__(self):
        self._lock = threading.Lock()
        self._scripts = {}
        self.requests = []
        self.applied = []
        self.errors = []
        self.httpd = None

    @property
    def url(self):
        host, port = self.httpd.server_address[:2]
        return "http://%s:%d" % (host, port)

    def script(self, path, *actions):
        """Answers to ``path``, in order; the last one repeats."""
        with self._lock:
            self._scripts[path] = list(actions)

    def next_action(self, path):
        with self._lock:
            actions = self._scripts.get(path)
            if not actions:
                return Respond(404, json_body={"detail": "no script for %s" % path})
            return actions.pop(0) if len(actions) > 1 else actions[0]

    def record(self, request):
        with self._lock:
            self.requests.append(request)

    def apply(self, request):
        with self._lock:
            self.applied.append(request)

    def count(self, method=None, path=None):
        """How many requests the server received (optionally filtered)."""
        with self._lock:
            return sum(
                1 for r in self.requests if (method is None or r.method == method) and (path is None or r.path == path)
            )


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so no stale pooled connections
    protocol_version = "HTTP/1.0"
    # a client that sends less than its Content-Length fails fast
    timeout = 5

    def _handle(self):
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Recorded(self.command, self.path.split("?", 1)[0], dict(self.headers.items()), body)
        state.record(request)
        action = state.next_action(request.path)
        if action.apply:
            state.apply(request)
        if isinstance(action, Drop):
            self.close_connection = True
            return
        if action.delay:
            time.sleep(action.delay)
        self.send_response(action.status)
        for key, value in action.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(action.body)))
        self.end_headers()
        if action.body and self.command != "HEAD":
            self.wfile.write(action.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_XGET = _handle

    def log_message(self, format, *args):  # keep pytest output clean
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a client that gave up (read timeout) makes the late answer fail:
        # keep it, quietly, instead of printing a traceback
        self.state.errors.append(sys.exc_info()[1])


def start_server():
    """Starts a :class:`ScriptedServer` on 127.0.0.1 (a free port)."""
    state = ScriptedServer()
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.state = state
    state.httpd = httpd
    state.thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    state.thread.start()
    return state


def stop_server(state):
    """Stops a server started by :func:`start_server`."""
    state.httpd.shutdown()
    state.httpd.server_close()
    state.thread.join(timeout=5)
