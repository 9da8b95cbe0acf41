"""Fixtures of the fast unit tier: no Label Studio, no database.

``http_server`` is a real HTTP server on 127.0.0.1 (``ThreadingHTTPServer``
in a thread) whose answers are scripted per path, so that ``HttpSession``'s
retry and create logic is exercised over real sockets.
"""

import socket
import time

import pytest
from scripted_http import start_server, stop_server


@pytest.fixture(autouse=True)
def no_database_connection():
    """The unit tier never connects to FiftyOne's database."""
    import fiftyone.core.odm.database as fodb

    connected_before = fodb._client is not None
    yield
    if not connected_before:
        assert fodb._client is None, "a unit test connected to FiftyOne's database"


@pytest.fixture
def http_server():
    """A running :class:`scripted_http.ScriptedServer`; stopped after the test."""
    state = start_server()
    try:
        yield state
    finally:
        stop_server(state)


@pytest.fixture
def closed_port():
    """A local port that nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return port


@pytest.fixture
def unresponsive_port():
    """A local port whose connection backlog is full: connecting times out
    (the kernel drops the SYN), so nothing is ever sent."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    time.sleep(0.05)
    yield port
    for sock in fillers + [server]:
        sock.close()


class SleepRecorder:
    """A ``sleep`` that records its argument instead of waiting."""

    def __init__(self):
        self.calls = []

    def __call__(self, seconds):
        self.calls.append(seconds)


@pytest.fixture
def fake_sleep():
    return SleepRecorder()
