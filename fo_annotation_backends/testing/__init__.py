"""Local servers and simulated annotators for testing annotation pipelines
offline (used by this package's own tests, demo and benchmarks)."""

from __future__ import annotations

import os
from typing import Protocol


class DemoServer(Protocol):
    """What the demo's simulated people need of a local server (an emulator,
    or :class:`~.labelstudio_server.LocalLabelStudio`): its URL and API key."""

    @property
    def url(self) -> str: ...

    @property
    def api_key(self) -> str: ...


def cache_dir() -> str:
    """The project-local cache directory (``FOAB_CACHE_DIR`` or ``./.cache``):
    the tools' virtual environments, the local servers' data, generated media."""
    return os.path.abspath(os.environ.get("FOAB_CACHE_DIR") or ".cache")
