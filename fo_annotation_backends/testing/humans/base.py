"""The person in the loop, one interface for every service.

A :class:`Human` works on one annotation run through the service's own API,
as a person in its editor would: it lists the run's items, opens one (a
:class:`Doc`: what the editor shows, i.e. the latest submitted work, else the
uploaded pre-annotations), edits it, and submits or skips it; it can also
delete an item on the service.

Edits are expressed in FiftyOne's terms (normalised coordinates, class
names, typed attribute values, FiftyOne label ids) and written in the
service's own label format by the service's driver (``human_*.py``), built
on the simulated annotators of ``fo_annotation_backends.testing``. The
registry names each service's :class:`Human` (``Service.human``), and the
conformance suite (``tests/conformance``) runs every scenario with it.
"""

from __future__ import annotations

import random
import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from fo_annotation_backends.core.idmap import split_part_id

#: a point ``[x, y]`` (or ``(x, y)``) in normalised coordinates
Point = Sequence[float]

#: the size of the conformance suite's generated images (not square, so that
#: a backend that swaps width and height is caught): a :class:`Doc`'s default
WIDTH, HEIGHT = 100, 80

#: FiftyOne label type -> the normalised type the drivers use
NORMALISED_TYPES = {
    "classification": "classification",
    "classifications": "classifications",
    "detection": "detections",
    "detections": "detections",
    "instance": "instances",
    "instances": "instances",
    "polyline": "polylines",
    "polylines": "polylines",
    "polygon": "polygons",
    "polygons": "polygons",
    "keypoint": "keypoints",
    "keypoints": "keypoints",
    "segmentation": "segmentation",
    "scalar": "scalar",
}

_random = random.Random(7)


def new_region_id(length: int = 10) -> str:
    """A short random region id, as editors give new regions."""
    return "".join(_random.choice(string.ascii_letters + string.digits) for _ in range(length))


def base_id(region_id: Any) -> str | None:
    """The FiftyOne label id a region id carries, or ``None``."""
    label_id, _ = split_part_id(region_id if isinstance(region_id, str) else "")
    return label_id


def part_index(region_id: Any) -> int:
    _, index = split_part_id(region_id if isinstance(region_id, str) else "")
    return index or 0


class Human:
    """A person working on one run in the service's editor.

    Attributes:
        backend: the backend name
        identity: how the service names this person in the run's status
            (``annotators``), or ``None`` when the service does not say
        can_draw_foreign_types: whether the service lets a person draw a
            region of another type in a field (a point in a detections job)
        polylines_closed: whether a shape drawn in a ``polylines`` field
            with the service's tool is closed (Label Studio has only a
            polygon tool)
        box_pixels: whether the service stores boxes in whole pixels (a box
            drawn between pixels comes back on the nearest ones)
    """

    backend: str | None = None
    identity: str | None = None
    can_draw_foreign_types = True
    polylines_closed = False
    box_pixels = False

    def __init__(self, results: Any) -> None:
        self.results = results
        self.schema = results.config.label_schema

    def field_type(self, field: str) -> str:
        return NORMALISED_TYPES[self.schema[field]["type"]]

    def attribute_types(self, field: str) -> dict[str, str | None]:
        """``{attribute: type}`` of a field in the run's schema."""
        return {name: (a or {}).get("type") for name, a in (self.schema[field].get("attributes") or {}).items()}

    # -- the run's items -------------------------------------------------

    def items(self) -> dict[str, Any]:
        """``{sample id: item id}`` of the run."""
        raise NotImplementedError

    def open(self, sample_id: str) -> Doc:
        """The item as the editor shows it (a :class:`Doc` to edit)."""
        raise NotImplementedError

    def submit(self, doc: Doc) -> None:
        """Submits the work in ``doc`` (it counts when loading)."""
        raise NotImplementedError

    def accept(self, sample_id: str) -> None:
        """Opens the item and submits it as it is."""
        self.submit(self.open(sample_id))

    def skip(self, sample_id: str) -> None:
        """Skips the item (nothing submitted that counts)."""
        raise NotImplementedError

    def delete_item(self, sample_id: str) -> None:
        """Deletes the item on the service."""
        raise NotImplementedError

    def project_exists(self) -> bool:
        """Whether the run's project is still on the service."""
        raise NotImplementedError


class Doc:
    """One item open in the editor. Coordinates are normalised ``[0, 1]``
    (FiftyOne's), masks are pixel rectangles ``(x0, y0, x1, y1)`` (``x1``,
    ``y1`` excluded), attributes are FiftyOne-typed values."""

    def __init__(self, human: Human, sample_id: str, width: int = WIDTH, height: int = HEIGHT) -> None:
        self.human = human
        self.sample_id = sample_id
        self.width = width
        self.height = height

    def label_ids(self, field: str) -> set[str]:
        """The FiftyOne label ids the field's pre-annotations carry."""
        raise NotImplementedError

    def classes(self, field: str) -> list[str]:
        """The class names present in the field, sorted (with repeats)."""
        raise NotImplementedError

    def add_box(
        self, field: str, label: str, bounding_box: list[float], attributes: dict[str, Any] | None = None
    ) -> None:
        raise NotImplementedError

    def add_polygon(
        self, field: str, label: str, points: Sequence[Point], attributes: dict[str, Any] | None = None
    ) -> None:
        """One shape ``[[x, y], ...]``, drawn with the field's tool."""
        raise NotImplementedError

    def add_points(
        self, field: str, label: str, points: Sequence[Point], attributes: dict[str, Any] | None = None
    ) -> None:
        """Points ``[[x, y], ...]`` placed for one object of class ``label``."""
        raise NotImplementedError

    def add_mask(
        self, field: str, label: str, rect: tuple[int, int, int, int], attributes: dict[str, Any] | None = None
    ) -> None:
        """A region of class ``label`` covering a pixel rectangle."""
        raise NotImplementedError

    def set_classes(self, field: str, labels: list[str], attributes: dict[str, Any] | None = None) -> None:
        """The chosen class (classification) or classes (classifications)."""
        raise NotImplementedError

    def set_number(self, field: str, value: float | None) -> None:
        """A value typed in a scalar field's control."""
        raise NotImplementedError

    def edit(
        self,
        field: str,
        label_id: str,
        label: str | None = None,
        bounding_box: list[float] | None = None,
        points: Sequence[Point] | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        """Edits the regions of FiftyOne label ``label_id``: its class, box,
        points (``[[x, y], ...]`` of a keypoint, or one shape of a
        polyline), attribute values (``None`` unsets one)."""
        raise NotImplementedError

    def delete(self, field: str, label_id: str) -> None:
        """Deletes every region of FiftyOne label ``label_id``."""
        raise NotImplementedError

    def clear(self, field: str) -> None:
        """Removes everything of the field (every region, the value)."""
        raise NotImplementedError

    def add_foreign_point(self, field: str, label: str, point: Point) -> None:
        """A point of class ``label`` drawn in a field of another type."""
        raise NotImplementedError


def rect_mask(
    rect: tuple[int, int, int, int], width: int = WIDTH, height: int = HEIGHT, value: int = 1, dtype: Any = np.uint8
) -> np.ndarray:
    """A ``(height, width)`` mask with ``value`` in the pixel rectangle
    ``(x0, y0, x1, y1)`` (``x1``/``y1`` excluded)."""
    mask = np.zeros((height, width), dtype=dtype)
    x0, y0, x1, y1 = rect
    mask[y0:y1, x0:x1] = value
    return mask
