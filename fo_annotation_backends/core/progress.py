"""FiftyOne's own progress bar, for long uploads and downloads."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import fiftyone.core.utils as fou


class Advance(Protocol):
    """The ``advance(n=1)`` callable that :func:`progress_bar` yields."""

    def __call__(self, n: int = 1) -> None: ...


@contextlib.contextmanager
def progress_bar(
    total: int, unit: str = "samples", progress: bool | Callable[..., Any] | None = None
) -> Iterator[Advance]:
    """A FiftyOne progress bar over ``total`` items.

    Args:
        total: the number of items
        unit ("samples"): what is counted
        progress (None): FiftyOne's ``progress`` argument (``None`` follows
            ``fo.config.show_progress_bars``; ``False`` hides the bar; a callable
            is called with the bar instead)

    Yields:
        a callable ``advance(n=1)``
    """
    with fou.ProgressBar(total=total, progress=progress, iters_str=unit) as bar:

        def advance(n: int = 1) -> None:
            bar.update(n)

        yield advance
