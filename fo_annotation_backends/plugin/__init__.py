"""The FiftyOne App plugin of fo-annotation-backends
(``@fo-annotation-backends/annotation``).

FiftyOne loads this file as the plugin's Python entry (``py_entry`` in the
repository's ``fiftyone.yml``) and calls :func:`register`. It imports the
operators and the panel from the installed package by their absolute names,
so that they are the same objects whether FiftyOne or Python imports them;
when the package is not installed (the plugin folder was only downloaded
with ``fiftyone plugins download``), the plugin folder itself is put on
``sys.path`` first.

Operators (``@fo-annotation-backends/annotation/<name>``):
``request_annotations``, ``load_annotations``, ``get_annotation_status``,
``cleanup_annotations``, ``delete_annotation_run``; panel:
``annotation_runs``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fiftyone.plugins.context import PluginContext


def _ensure_importable() -> None:
    if importlib.util.find_spec("fo_annotation_backends") is None:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        if root not in sys.path:
            sys.path.append(root)


def register(p: PluginContext) -> None:
    """Registers the plugin's operators and panel on FiftyOne's plugin
    context ``p``."""
    _ensure_importable()
    from fo_annotation_backends.plugin.operators import OPERATORS
    from fo_annotation_backends.plugin.panel import PANELS

    for cls in OPERATORS + PANELS:
        p.register(cls)
