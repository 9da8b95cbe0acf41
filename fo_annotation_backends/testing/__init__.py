"""Local servers and simulated annotators for testing annotation pipelines
offline (used by this package's own tests, demo and benchmarks)."""

import os


def cache_dir() -> str:
    """The project-local cache directory (``FOAB_CACHE_DIR`` or ``./.cache``):
    the tools' virtual environments, the local servers' data, generated media."""
    return os.path.abspath(os.environ.get("FOAB_CACHE_DIR") or ".cache")
