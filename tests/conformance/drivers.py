"""The person in the loop, one interface for every service.

A :class:`Human` works on one annotation run through the service's own API,
as a person in its editor would: it lists the run's items, opens one (a
:class:`Doc`: what the editor shows, i.e. the latest submitted work, else the
uploaded pre-annotations), edits it, and submits or skips it; it can also
delete an item on the service.

Edits are expressed in FiftyOne's terms (normalised coordinates, class
names, typed attribute values, FiftyOne label ids) and written in the
service's own label format by the service's driver (``human_*.py``), built
on the simulated annotators of ``fo_annotation_backends.testing``.
"""

import random
import string

from fo_annotation_backends.core.idmap import split_part_id

from .helpers import HEIGHT, WIDTH

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


def new_region_id(length=10):
    """A short random region id, as editors give new regions."""
    return "".join(_random.choice(string.ascii_letters + string.digits) for _ in range(length))


def base_id(region_id):
    """The FiftyOne label id a region id carries, or ``None``."""
    label_id, _ = split_part_id(region_id if isinstance(region_id, str) else "")
    return label_id


def part_index(region_id):
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
    """

    backend = None
    identity = None
    can_draw_foreign_types = True
    polylines_closed = False

    def __init__(self, results):
        self.results = results
        self.schema = results.config.label_schema

    def field_type(self, field):
        return NORMALISED_TYPES[self.schema[field]["type"]]

    def attribute_types(self, field):
        """``{attribute: type}`` of a field in the run's schema."""
        return {name: (a or {}).get("type") for name, a in (self.schema[field].get("attributes") or {}).items()}

    # -- the run's items -------------------------------------------------

    def items(self):
        """``{sample id: item id}`` of the run."""
        raise NotImplementedError

    def open(self, sample_id):
        """The item as the editor shows it (a :class:`Doc` to edit)."""
        raise NotImplementedError

    def submit(self, doc):
        """Submits the work in ``doc`` (it counts when loading)."""
        raise NotImplementedError

    def accept(self, sample_id):
        """Opens the item and submits it as it is."""
        self.submit(self.open(sample_id))

    def skip(self, sample_id):
        """Skips the item (nothing submitted that counts)."""
        raise NotImplementedError

    def delete_item(self, sample_id):
        """Deletes the item on the service."""
        raise NotImplementedError

    def project_exists(self):
        """Whether the run's project is still on the service."""
        raise NotImplementedError


class Doc:
    """One item open in the editor. Coordinates are normalised ``[0, 1]``
    (FiftyOne's), masks are pixel rectangles ``(x0, y0, x1, y1)`` (``x1``,
    ``y1`` excluded), attributes are FiftyOne-typed values."""

    def __init__(self, human, sample_id, width=WIDTH, height=HEIGHT):
        self.human = human
        self.sample_id = sample_id
        self.width = width
        self.height = height

    def label_ids(self, field):
        """The FiftyOne label ids the field's pre-annotations carry."""
        raise NotImplementedError

    def classes(self, field):
        """The class names present in the field, sorted (with repeats)."""
        raise NotImplementedError

    def add_box(self, field, label, bounding_box, attributes=None):
        raise NotImplementedError

    def add_polygon(self, field, label, points, attributes=None):
        """One shape ``[[x, y], ...]``, drawn with the field's tool."""
        raise NotImplementedError

    def add_points(self, field, label, points, attributes=None):
        """Points ``[[x, y], ...]`` placed for one object of class ``label``."""
        raise NotImplementedError

    def add_mask(self, field, label, rect, attributes=None):
        """A region of class ``label`` covering a pixel rectangle."""
        raise NotImplementedError

    def set_classes(self, field, labels, attributes=None):
        """The chosen class (classification) or classes (classifications)."""
        raise NotImplementedError

    def set_number(self, field, value):
        """A value typed in a scalar field's control."""
        raise NotImplementedError

    def edit(self, field, label_id, label=None, bounding_box=None, points=None, attributes=None):
        """Edits the regions of FiftyOne label ``label_id``: its class, box,
        points (``[[x, y], ...]`` of a keypoint, or one shape of a
        polyline), attribute values (``None`` unsets one)."""
        raise NotImplementedError

    def delete(self, field, label_id):
        """Deletes every region of FiftyOne label ``label_id``."""
        raise NotImplementedError

    def clear(self, field):
        """Removes everything of the field (every region, the value)."""
        raise NotImplementedError

    def add_foreign_point(self, field, label, point):
        """A point of class ``label`` drawn in a field of another type."""
        raise NotImplementedError


def make_human(service, results):
    """The :class:`Human` of ``service`` (a conftest ``Service``) for a run."""
    if service.name == "labelstudio":
        from .human_labelstudio import LabelStudioHuman

        return LabelStudioHuman(results, service.url, service.api_key)
    if service.name == "kili":
        from .human_kili import KiliHuman

        return KiliHuman(results, service.url, service.api_key)
    if service.name == "fastlabel":
        from .human_fastlabel import FastLabelHuman

        return FastLabelHuman(results, service.url, service.api_key)
    raise ValueError(service.name)
