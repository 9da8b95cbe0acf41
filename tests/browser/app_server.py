"""The FiftyOne App server in a subprocess, as ``fiftyone app launch`` and
``fo.launch_app()`` start it (``python fiftyone/server/main.py --port N
--address A``), bound to 127.0.0.1 on a free port."""

import os
import socket
import subprocess
import sys
import time

import requests


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppServer:
    """``python -m fiftyone.server.main`` on 127.0.0.1.

    Args:
        env: the server's environment (``FIFTYONE_*`` variables: plugins dir,
            annotation config, database dir)
        log_path: where the server's stdout and stderr go
    """

    def __init__(self, env, log_path):
        self.env = env
        self.log_path = str(log_path)
        self.port = None
        self.process = None
        self._log = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def dataset_url(self, name):
        return "%s/datasets/%s" % (self.url, requests.utils.quote(name, safe=""))

    def start(self, timeout=90):
        """Starts the server and waits until it answers ``GET /fiftyone``."""
        self.port = free_port()
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fiftyone.server.main", "--address", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.env.get("HOME") or None,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    "the FiftyOne App server exited with code %s:\n%s" % (self.process.returncode, self.log_tail())
                )
            try:
                answer = requests.get(self.url + "/fiftyone", timeout=2)
                if answer.ok and "version" in answer.json():
                    return self
            except (requests.RequestException, ValueError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the FiftyOne App server did not answer in %d s:\n%s" % (timeout, self.log_tail()))
            time.sleep(0.25)

    def stop(self):
        """Stops the server process (the one this object started, by pid)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        if self._log is not None:
            self._log.close()
            self._log = None

    def list_operators(self, dataset_name=None):
        """``POST /operators`` (what the App asks at start): the operators
        and panels the server registered, and the plugins' loading errors."""
        answer = requests.post(self.url + "/operators", json={"dataset_name": dataset_name}, timeout=60)
        answer.raise_for_status()
        return answer.json()

    def log_tail(self, chars=6000):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - chars))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return "(no server log)"
