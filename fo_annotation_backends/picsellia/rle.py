"""COCO *compressed* run-length encoding of binary masks (Picsellia's mask
format), with numpy only.

A mask of ``height`` x ``width`` pixels is read in column-major (Fortran)
order and cut into runs that alternate between 0 and 1, starting with a run
of zeros (which may be empty). The ``counts`` string holds the runs as
pycocotools' ``rleToString`` writes them: each count (from the fourth on,
minus the count two places before it) is cut into 5-bit groups, least
significant first, each written as one character ``48 + group`` with
``0x20`` set while more groups follow; the last group's ``0x10`` bit is the
sign.
"""

from __future__ import annotations

import numpy as np

#: the first character of the alphabet ("0"); groups are 6 bits above it
_OFFSET = 48


def runs(mask: np.ndarray) -> list[int]:
    """The uncompressed COCO counts of a 2-D mask (nonzero = in): run
    lengths in column-major order, starting with a run of zeros."""
    array = np.asarray(mask)
    if array.ndim != 2:
        raise ValueError("a mask must be 2-D (height, width), not of shape %s" % (array.shape,))
    flat = array.astype(bool).ravel(order="F")
    if flat.size == 0:
        return []
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    counts = [int(c) for c in np.diff(bounds)]
    return [0] + counts if flat[0] else counts


def counts_to_string(counts: list[int]) -> str:
    """The compressed string of uncompressed COCO counts."""
    chars = []
    for index, count in enumerate(counts):
        if count < 0:
            raise ValueError("run lengths must be >= 0, not %d" % count)
        value = count - counts[index - 2] if index > 2 else count
        more = True
        while more:
            group = value & 0x1F
            value >>= 5  # arithmetic shift: negative deltas end at -1
            more = value != -1 if group & 0x10 else value != 0
            if more:
                group |= 0x20
            chars.append(chr(group + _OFFSET))
    return "".join(chars)


def string_to_counts(counts: str) -> list[int]:
    """The uncompressed COCO counts of a compressed string.

    Raises:
        ValueError: a character outside COCO's alphabet, a string that ends
            inside a count, or a negative run length
    """
    if not isinstance(counts, str):
        raise ValueError("RLE counts must be a string, not %s" % type(counts).__name__)
    out: list[int] = []
    value = shift = 0
    for position, char in enumerate(counts):
        group = ord(char) - _OFFSET
        if not 0 <= group < 64:
            raise ValueError("invalid character %r at %d in RLE counts" % (char, position))
        value |= (group & 0x1F) << shift
        shift += 5
        if group & 0x20:
            continue
        if group & 0x10:
            value -= 1 << shift  # sign extension
        if len(out) > 2:
            value += out[-2]
        if value < 0:
            raise ValueError("negative run length at character %d of the RLE counts" % position)
        out.append(value)
        value = shift = 0
    if shift:
        raise ValueError("the RLE counts end inside a run length")
    return out


def encode(mask: np.ndarray) -> str:
    """The COCO compressed RLE ``counts`` string of a 2-D mask (height,
    width); any nonzero value is in the mask."""
    return counts_to_string(runs(mask))


def decode(counts: str, height: int, width: int) -> np.ndarray:
    """The bool mask (height, width) of a COCO compressed RLE string.

    Raises:
        ValueError: a malformed string, or runs that do not cover exactly
            ``height * width`` pixels
    """
    if height < 0 or width < 0:
        raise ValueError("height and width must be >= 0, not %d x %d" % (height, width))
    lengths = string_to_counts(counts)
    total = sum(lengths)
    if total != height * width:
        raise ValueError("the RLE runs cover %d pixels, not %d x %d = %d" % (total, height, width, height * width))
    values = np.arange(len(lengths)) % 2 == 1
    flat = np.repeat(values, lengths)
    return flat.reshape((height, width), order="F")


def area(counts: str) -> int:
    """The number of pixels in the mask of a COCO compressed RLE string."""
    return sum(string_to_counts(counts)[1::2])


def bbox(counts: str, height: int, width: int) -> list[int]:
    """``[x, y, w, h]`` in pixels of the mask of a COCO compressed RLE string,
    as pycocotools' ``toBbox`` (a run that crosses a column spans the whole
    height); ``[0, 0, 0, 0]`` for an empty mask.

    Raises:
        ValueError: as :func:`decode`
    """
    lengths = string_to_counts(counts)
    if sum(lengths) != height * width:
        raise ValueError("the RLE runs cover %d pixels, not %d x %d" % (sum(lengths), height, width))
    x0, y0, x1, y1 = width, height, -1, -1
    start = 0
    for index, length in enumerate(lengths):
        if index % 2 == 1 and length:
            end = start + length - 1
            first_col, last_col = start // height, end // height
            top, bottom = (start % height, end % height) if first_col == last_col else (0, height - 1)
            x0, x1 = min(x0, first_col), max(x1, last_col)
            y0, y1 = min(y0, top), max(y1, bottom)
        start += length
    if x1 < 0:
        return [0, 0, 0, 0]
    return [x0, y0, x1 - x0 + 1, y1 - y0 + 1]


__all__ = ["area", "bbox", "counts_to_string", "decode", "encode", "runs", "string_to_counts"]
