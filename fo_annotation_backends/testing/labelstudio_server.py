"""Start and stop a real Label Studio server on 127.0.0.1.

The server is an application with its own pinned dependencies, so it runs
from its own virtual environment (``./run`` creates it under
``.cache/labelstudio-venv``). Its data directory is reused between runs: the
first start migrates a database (~35 s), later starts take seconds.

Run one by hand::

    python -m fo_annotation_backends.testing.labelstudio_server --port 8080
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from io import BufferedWriter
from typing import TYPE_CHECKING

import requests

from . import cache_dir

if TYPE_CHECKING:
    from typing_extensions import Self

DEFAULT_USERNAME = "fiftyone@example.com"
DEFAULT_PASSWORD = "fiftyone-local-password"
DEFAULT_LEGACY_TOKEN = "fiftyone-local-legacy-token"


def find_executable() -> str:
    """The ``label-studio`` executable: ``FOAB_LABEL_STUDIO_BIN``, the cached
    virtual environment, or the PATH."""
    candidates = [
        os.environ.get("FOAB_LABEL_STUDIO_BIN"),
        os.path.join(cache_dir(), "labelstudio-venv", "bin", "label-studio"),
        shutil.which("label-studio"),
    ]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(
        "No label-studio executable found. Run `./run setup` (it installs Label Studio into "
        ".cache/labelstudio-venv), or set FOAB_LABEL_STUDIO_BIN"
    )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LabelStudioServer:
    """A Label Studio server process started (and stopped) by us.

    Args:
        data_dir (None): the server's data directory (default
            ``<cache>/labelstudio-data``)
        document_root (None): the local-files document root, or ``None`` to
            disable local-files serving
        port (None): the port (default: a free one)
        username, password, legacy_token: the admin user created on first
            start; ``legacy_token`` is its legacy API token
        extra_env (None): more environment variables for the server
        log_path (None): where the server's output goes (default
            ``<data_dir>/server.log``)
    """

    #: the server's output, open while it runs
    _log: BufferedWriter | None
    _log_offset: int

    def __init__(
        self,
        data_dir: str | None = None,
        document_root: str | None = None,
        port: int | None = None,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        legacy_token: str = DEFAULT_LEGACY_TOKEN,
        extra_env: Mapping[str, str] | None = None,
        log_path: str | None = None,
    ) -> None:
        self.data_dir = os.path.abspath(data_dir or os.path.join(cache_dir(), "labelstudio-data"))
        self.document_root = os.path.abspath(document_root) if document_root else None
        self.port = port
        self.username = username
        self.password = password
        self.legacy_token = legacy_token
        self.extra_env = dict(extra_env or {})
        self.log_path = log_path or os.path.join(self.data_dir, "server.log")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server URL (known once started, or when a port was given)."""
        if self.port is None:
            raise RuntimeError("the server has no port yet: start it first")
        return "http://127.0.0.1:%d" % self.port

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *args: object) -> None:
        self.stop()

    def start(self, timeout: float = 240) -> Self:
        """Starts the server and waits until it is healthy."""
        os.makedirs(self.data_dir, exist_ok=True)
        if self.port is None:
            self.port = free_port()
        env = dict(os.environ)
        env.update(
            LABEL_STUDIO_USERNAME=self.username,
            LABEL_STUDIO_PASSWORD=self.password,
            LABEL_STUDIO_USER_TOKEN=self.legacy_token,
            LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
            LABEL_STUDIO_DATA_UPLOAD_MAX_NUMBER_FILES=env.get("LABEL_STUDIO_DATA_UPLOAD_MAX_NUMBER_FILES", "100"),
            LATEST_VERSION_CHECK="false",
            COLLECT_ANALYTICS="false",
            SENTRY_DSN="",
            FRONTEND_SENTRY_DSN="",
            DJANGO_DB="sqlite",
            PYTHONUNBUFFERED="1",
        )
        if self.document_root:
            os.makedirs(self.document_root, exist_ok=True)
            env.update(
                LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED="true",
                LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=self.document_root,
            )
        else:
            env.pop("LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED", None)
            env.pop("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT", None)
        env.update(self.extra_env)
        command = [
            find_executable(),
            "start",
            "--no-browser",
            "--internal-host",
            "127.0.0.1",
            "-p",
            str(self.port),
            "--data-dir",
            self.data_dir,
        ]
        self._log = log = open(self.log_path, "ab")
        self._log_offset = log.tell()
        self.process = process = subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("Label Studio exited with code %s; see %s" % (process.returncode, self.log_path))
            actual = self._announced_port()
            if actual is not None and actual != self.port:
                self.stop()
                raise RuntimeError("Label Studio moved to port %d (port %d was busy)" % (actual, self.port))
            try:
                if requests.get(self.url + "/health", timeout=2).json().get("status") == "UP":
                    return self
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError("Label Studio did not become healthy in %ds; see %s" % (timeout, self.log_path))

    def _announced_port(self) -> int | None:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return None
        match = re.search(r"Starting development server at http://[\d.]+:(\d+)/", text)
        return int(match.group(1)) if match else None

    def wait(self) -> None:
        """Blocks until the server exits or Ctrl-C is pressed."""
        try:
            while self.process is not None and self.process.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass

    def stop(self, timeout: float = 20) -> None:
        """Stops the server process group that :meth:`start` created."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=timeout)
            except ProcessLookupError:
                pass
        log = getattr(self, "_log", None)
        if log is not None:
            log.close()
            self._log = None

    # -- admin helpers (tests and demos) ------------------------------------

    def _legacy_headers(self) -> dict[str, str]:
        return {"Authorization": "Token %s" % self.legacy_token}

    def create_personal_access_token(self) -> str:
        """A personal access token (JWT refresh token) for the admin.

        A Label Studio user has one token at a time and it cannot be read
        back, so the token is kept next to the server's data (a local test
        credential) and reused by later runs on the same data directory.
        """
        token_file = os.path.join(self.data_dir, "admin-personal-access-token")
        if os.path.exists(token_file):
            with open(token_file) as f:
                token = f.read().strip()
            if requests.post(self.url + "/api/token/refresh/", json={"refresh": token}, timeout=30).ok:
                return token
        response = requests.post(self.url + "/api/token/", headers=self._legacy_headers(), timeout=30)
        if response.status_code == 409:
            raise RuntimeError(
                "The admin of %s already has a personal access token that was not saved; "
                "delete the data directory to start afresh" % self.data_dir
            )
        response.raise_for_status()
        token = response.json()["token"]
        with open(token_file, "w") as f:
            f.write(token)
        return token

    def set_legacy_tokens_enabled(self, enabled: bool, personal_access_token: str) -> None:
        """Enables or disables legacy tokens for the organization."""
        access = requests.post(self.url + "/api/token/refresh/", json={"refresh": personal_access_token}, timeout=30)
        access.raise_for_status()
        response = requests.post(
            self.url + "/api/jwt/settings",
            headers={"Authorization": "Bearer %s" % access.json()["access"]},
            json={"api_tokens_enabled": True, "legacy_api_tokens_enabled": bool(enabled)},
            timeout=30,
        )
        response.raise_for_status()


class LocalLabelStudio(LabelStudioServer):
    """The local server of the demo (the registry's ``local_server`` of Label
    Studio): a :class:`LabelStudioServer` on the cache's data directory with
    the emulators' interface, ``url`` and ``api_key`` (the admin's legacy
    token)."""

    #: printed before :meth:`start`, which takes a while the first time
    starting_message = "Starting a local Label Studio server (its first start migrates its database: ~40 s)..."

    @property
    def api_key(self) -> str:
        """The admin user's legacy token."""
        return self.legacy_token

    def describe(self) -> str:
        """How to look at the server in a browser."""
        return "sign in as %s, password %s" % (self.username, self.password)

    def stats(self) -> None:
        """A real server counts nothing for us: always ``None``."""
        return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a local Label Studio server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--document-root", default=None)
    args = parser.parse_args(argv)
    server = LabelStudioServer(data_dir=args.data_dir, document_root=args.document_root, port=args.port)
    server.start()
    print(server.url, flush=True)
    print("legacy token: %s (user %s)" % (server.legacy_token, server.username), flush=True)
    try:
        server.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
