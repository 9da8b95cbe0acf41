"""Media checks done before anything is uploaded, and upload chunking."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Optional, TypeVar

from PIL import Image

from .errors import MediaError, ParameterError

if TYPE_CHECKING:
    from fiftyone.core.collections import SampleCollection

K = TypeVar("K", bound=Hashable)

_REMOTE_PREFIXES = ("http://", "https://")
_MAX_LISTED = 10


def is_remote(path: object) -> bool:
    """Whether ``path`` is an http(s) URL that a service can fetch itself."""
    return isinstance(path, str) and path.startswith(_REMOTE_PREFIXES)


def check_image_media(
    items: Sequence[tuple[str, Optional[str]]], allow_remote: bool = True, max_bytes: int | None = None
) -> dict[str, int]:
    """Checks that every media file can be sent, before anything is sent.

    Args:
        items: a list of ``(sample_id, path)``
        allow_remote (True): whether http(s) URLs are accepted as they are
        max_bytes (None): the largest file size accepted

    Local files must be images whose header decodes to a non-empty size
    (only the header is read). A view that lists a sample twice is refused.

    Returns:
        ``{sample_id: size in bytes}`` for the local files

    Raises:
        ParameterError: a sample is listed more than once
        MediaError: naming every problem file (up to 10, then a count)
    """
    check_distinct_samples([sample_id for sample_id, _ in items])
    problems: list[str] = []
    sizes: dict[str, int] = {}
    for sample_id, path in items:
        problem = None
        if not path:
            problem = "sample %s has no media path" % sample_id
        elif is_remote(path):
            if not allow_remote:
                problem = "%s: remote media is not supported here" % path
        elif "://" in path:
            problem = "%s: cloud paths cannot be sent; download the media first" % path
        elif not os.path.isfile(path):
            problem = "%s: file not found" % path
        else:
            mime = mimetypes.guess_type(path)[0] or ""
            if mime.startswith("video/"):
                problem = "%s: video is not supported yet (images only)" % path
            else:
                size = os.path.getsize(path)
                if size == 0:
                    problem = "%s: file is empty" % path
                elif max_bytes is not None and size > max_bytes:
                    problem = "%s: %d bytes is over the limit of %d bytes" % (path, size, max_bytes)
                else:
                    problem = _image_problem(path)
                    if problem is None:
                        sizes[sample_id] = size
        if problem:
            problems.append(problem)
    if problems:
        listed = "\n  ".join(problems[:_MAX_LISTED])
        more = "\n  ... and %d more" % (len(problems) - _MAX_LISTED) if len(problems) > _MAX_LISTED else ""
        raise MediaError(
            "%d media file(s) cannot be annotated; nothing was uploaded:\n  %s%s" % (len(problems), listed, more)
        )
    return sizes


def _image_problem(path: str) -> str | None:
    """Why ``path`` is not an image a service can show, or ``None``."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except Exception as e:
        return "%s: not a decodable image (%s)" % (path, type(e).__name__)
    if width <= 0 or height <= 0:
        return "%s: the image is %dx%d pixels" % (path, width, height)
    return None


def check_distinct_samples(sample_ids: Iterable[str]) -> None:
    """Raises :class:`ParameterError` if a sample id is listed twice (a view
    such as ``a.concat(b)`` can list a sample more than once; each sample
    must be one task)."""
    seen: set[str] = set()
    repeated: list[str] = []
    for sample_id in sample_ids:
        if sample_id in seen:
            repeated.append(sample_id)
        seen.add(sample_id)
    if repeated:
        raise ParameterError(
            "The view lists %d sample(s) more than once (e.g. %s); each sample can be annotated once per run. "
            "Nothing was uploaded. Annotate a view without repeats, e.g. `dataset.select(list(set(view.values('id'))))`"
            % (len(repeated), repeated[0])
        )


def image_size(path: str) -> tuple[int, int]:
    """``(width, height)`` of an image, reading only its header."""
    try:
        with Image.open(path) as image:
            return image.size
    except Exception as e:
        raise MediaError("%s: not a readable image (%s)" % (path, e)) from None


def chunk_by_count_and_bytes(
    items: Iterable[K], sizes: Mapping[K, int], max_count: int, max_bytes: int
) -> Iterator[list[K]]:
    """Splits ``items`` into chunks of at most ``max_count`` items and
    ``max_bytes`` bytes (a single larger item gets a chunk of its own).

    Args:
        items: a list of keys
        sizes: ``{key: size}``
        max_count: the most items per chunk
        max_bytes: the most bytes per chunk

    Yields:
        lists of keys
    """
    chunk: list[K] = []
    total = 0
    for item in items:
        size = sizes.get(item, 0)
        if chunk and (len(chunk) >= max_count or total + size > max_bytes):
            yield chunk
            chunk, total = [], 0
        chunk.append(item)
        total += size
    if chunk:
        yield chunk


def sample_image_sizes(
    samples: SampleCollection, sample_ids: Sequence[str], paths: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """``{sample_id: (width, height)}`` in pixels, from the samples'
    ``metadata`` when set, else from the image headers.

    Raises:
        MediaError: remote media without ``metadata.width/height``
    """
    widths, heights = samples.select(list(sample_ids), ordered=True).values(["metadata.width", "metadata.height"])
    out: dict[str, tuple[int, int]] = {}
    for sample_id, path, width, height in zip(sample_ids, paths, widths, heights):
        if not (width and height):
            if is_remote(path):
                raise MediaError(
                    "%s: remote media needs `metadata.width/height` for mask fields; "
                    "run `compute_metadata()` first" % path
                )
            width, height = image_size(path)
        out[sample_id] = (int(width), int(height))
    return out
