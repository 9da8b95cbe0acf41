"""Registering an annotation backend with FiftyOne for a while (tests,
notebooks, the demo)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import fiftyone as fo


@contextlib.contextmanager
def registered_backend(name: str, entry: dict[str, Any]) -> Iterator[str]:
    """Sets ``fo.annotation_config.backends[name] = entry`` inside the
    ``with`` block and puts back what was there after it.

    Args:
        name: the backend name (``annotate(..., backend=name)``)
        entry: the config entry, e.g. ``{"config_cls": "...", "url": ...}``

    Yields:
        ``name``
    """
    saved = fo.annotation_config.backends.get(name)
    fo.annotation_config.backends[name] = entry
    try:
        yield name
    finally:
        if saved is None:
            fo.annotation_config.backends.pop(name, None)
        else:
            fo.annotation_config.backends[name] = saved
