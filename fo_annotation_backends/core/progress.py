"""FiftyOne's own progress bar, for long uploads and downloads."""

import contextlib

import fiftyone.core.utils as fou


@contextlib.contextmanager
def progress_bar(total, unit="samples", progress=None):
    """A FiftyOne progress bar over ``total`` items.

    Args:
        total: the number of items
        unit ("samples"): what is counted
        progress (None): FiftyOne's ``progress`` argument (``None`` follows
            ``fo.config.show_progress_bars``; ``False`` hides the bar)

    Yields:
        a callable ``advance(n=1)``
    """
    with fou.ProgressBar(total=total, progress=progress, iters_str=unit) as bar:

        def advance(n=1):
            bar.update(n)

        yield advance
