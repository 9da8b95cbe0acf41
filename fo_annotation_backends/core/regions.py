"""Service regions -> FiftyOne labels, once for every service.

Each service parses its own answer into :class:`Region` objects (which
uploaded label a region belongs to, its part index, class, geometry in
FiftyOne's normalised coordinates, attributes); this module turns the
regions of one sample and field into FiftyOne labels:

- grouping: the regions of an uploaded label (its id, or ``<id>_<k>`` for
  part ``k``; a service may also resolve aliases from earlier loads into
  ``label_id``) make up that label; every other region is a new label of its
  own (regions sharing a service id are one), except new single points of
  one class, which are one new ``Keypoint`` in placement order (what
  FiftyOne's built-in backend does);
- attributes: the first part (in part order) that sets one provides it;
  those nobody set are completed from the schema (the default for a new
  label, ``None`` for an uploaded one, ``False`` for a checkbox);
- geometry: boxes, polyline shapes (closed/filled as uploaded, else from the
  service's hint, else ``polygons`` fields closed and filled), keypoints
  (missing points are NaN; a pose keeps the points beyond its skeleton and
  the length it had), instance masks (polygons rasterised exactly at the
  image size, or the service's own full-image masks);
- classifications and semantic segmentations (``mask_targets``), with an
  erased segmentation an all-zero mask under its id;
- ids: uploaded labels keep theirs; each new label is handed to the
  service's ``on_new`` callback, which may give it a remembered id and
  records the id for the next load (:class:`NewLabelIds` is one such
  memory).
"""

import dataclasses
import math
import typing

import fiftyone.core.labels as fol
import numpy as np

from . import geometry, masks
from .schema import RETURN_TYPES, FieldSpec

Point = typing.List[float]
Ring = typing.Sequence[typing.Sequence[float]]
#: a polygon: its outer ring, then its holes (normalised ``[x, y]`` rings)
Polygon = typing.List[Ring]


@dataclasses.dataclass
class Region:
    """One region of a service's answer, in FiftyOne's terms.

    Attributes:
        label: the class name (``None`` when the service gave none)
        label_id: the FiftyOne label id the region belongs to (from a part
            id, or an alias a service resolved), or ``None`` for a new label;
            an id that is not known (uploaded) makes a new label all the same
        part: the part index within that label (``None``: in order of
            appearance)
        region_id: the service's own id of the region
        box: a normalised ``[x, y, w, h]`` box
        shapes: normalised polyline shapes ``[[[x, y], ...], ...]``
        points: normalised keypoints ``[[x, y], ...]`` placed from index
            ``part`` on (NaN for a missing point)
        skeleton: whether ``points`` is a whole pose skeleton (one region per
            label) rather than single points
        polygons: normalised polygons with holes, for masks (rasterised at
            the mask's size)
        mask: a full-image boolean mask
        closed: whether the service drew a closed shape (``None``: unknown)
        filled: whether the service drew a filled shape (``None``: as closed)
        attributes: the typed attribute values the service holds for the
            region (only those set)
        frame_number: the video frame of the region (``None`` for images),
            1-based as in FiftyOne
        index: the FiftyOne track index of a video region, when the backend
            knows it (``None``: a new track, or unknown)
        keyframe: whether the service marks the region a keyframe of its
            track (``None``: not said; a region the service sent counts as
            drawn, see :mod:`~.video_download`)
        segment_end: whether the track is hidden after this frame until its
            next region (Label Studio's ``enabled: false``)
    """

    label: typing.Optional[str] = None
    label_id: typing.Optional[str] = None
    part: typing.Optional[int] = None
    region_id: typing.Optional[str] = None
    box: typing.Optional[typing.List[float]] = None
    shapes: typing.Optional[typing.List[typing.List[Point]]] = None
    points: typing.Optional[typing.List[Point]] = None
    skeleton: bool = False
    polygons: typing.Optional[typing.List[Polygon]] = None
    mask: typing.Optional[np.ndarray] = None
    closed: typing.Optional[bool] = None
    filled: typing.Optional[bool] = None
    attributes: typing.Dict[str, typing.Any] = dataclasses.field(default_factory=dict)
    frame_number: typing.Optional[int] = None
    index: typing.Optional[int] = None
    keyframe: typing.Optional[bool] = None
    segment_end: bool = False


#: the parts of one label: ``(part index, region)``, in part order
Parts = typing.List[typing.Tuple[int, Region]]
#: ``on_new(label, parts)``: called for every new label before it is
#: returned; it may set ``label.id`` (a remembered id) and record it
OnNew = typing.Callable[[fol.Label, Parts], None]


@dataclasses.dataclass
class Group:
    """The regions of one label: ``label_id`` is the uploaded label's id, or
    ``None`` for a new label."""

    label_id: typing.Optional[str]
    parts: Parts


class NewLabelIds:
    """The ids of labels a person added, by where they come from in one
    item (``{origin: label id}``): the next load gives them the same ids,
    so that FiftyOne merges them instead of replacing them.

    Args:
        previous (None): the map of the previous load
    """

    def __init__(self, previous: typing.Optional[typing.Dict[str, str]] = None) -> None:
        self.previous = dict(previous or {})
        #: the origins seen in this load (what the next load gets)
        self.current: typing.Dict[str, str] = {}

    def assign(self, label: fol.Label, origin: typing.Optional[str]) -> fol.Label:
        """Gives ``label`` the id ``origin`` had, or records its new id."""
        if origin:
            if origin in self.previous:
                label.id = self.previous[origin]
            self.current[origin] = label.id
        return label


def require_image_size(spec: FieldSpec, image_size: typing.Optional[typing.Sequence[int]]) -> typing.Tuple[int, int]:
    """``(width, height)`` of ``image_size``; an error naming the field when
    it is unknown (masks are drawn at the image's pixel size)."""
    if not image_size or not image_size[0] or not image_size[1]:
        raise ValueError("Field '%s' (%s) needs the image size" % (spec.name, spec.type))
    return int(image_size[0]), int(image_size[1])


def group_regions(
    spec: FieldSpec, regions: typing.Sequence[Region], known: typing.Container[str]
) -> typing.List[Group]:
    """The regions of each label, in order of first appearance.

    Args:
        spec: the field's ``FieldSpec`` (keypoints group new points)
        regions: the field's regions
        known: the label ids that keep their id (uploaded labels)
    """
    groups: typing.Dict[typing.Any, Group] = {}
    for position, region in enumerate(regions):
        if region.label_id is not None and region.label_id in known:
            group = groups.setdefault(region.label_id, Group(region.label_id, []))
            index = region.part if region.part is not None else len(group.parts)
        elif spec.type == "keypoints" and not region.skeleton:
            group = groups.setdefault(("new points", region.label), Group(None, []))
            index = len(group.parts)
        else:
            # the regions of one new service object (same service id) are its parts
            group = groups.setdefault(("new", region.region_id or position), Group(None, []))
            index = len(group.parts)
        group.parts.append((index, region))
    for group in groups.values():
        group.parts.sort(key=lambda entry: entry[0])
    return list(groups.values())


def regions_to_labels(
    spec: FieldSpec,
    regions: typing.Sequence[Region],
    current: typing.Mapping[str, typing.Optional[fol.Label]],
    known_ids: typing.Iterable[str] = (),
    image_size: typing.Optional[typing.Sequence[int]] = None,
    on_new: typing.Optional[OnNew] = None,
) -> typing.Dict[str, fol.Label]:
    """The labels of an object field (detections, instances, polylines,
    polygons, keypoints) from its regions in one sample.

    Args:
        spec: the field's ``FieldSpec``
        regions: the field's regions, in the service's order
        current: ``{label_id: Label}`` of the field's uploaded labels that
            still exist in the dataset (closed/filled flags, point counts)
        known_ids (()): more label ids that keep their ids although the
            dataset lacks them (the field was deleted)
        image_size (None): ``(width, height)``, needed for polygon masks
        on_new (None): called with every new label (see :data:`OnNew`)

    Returns:
        ``{label_id: Label}``
    """
    known = set(current) | set(known_ids)
    labels = {}
    for group in group_regions(spec, regions, known):
        label_id = group.label_id
        label = make_label(spec, group, current.get(label_id) if label_id is not None else None, image_size)
        if label is None:
            continue
        if label_id is not None:
            label.id = label_id
        elif on_new is not None:
            on_new(label, group.parts)
        labels[label.id] = label
    return labels


def merge_attributes(spec: FieldSpec, regions: typing.Iterable[Region], new: bool) -> typing.Dict[str, typing.Any]:
    """The attributes of a label from its regions (the first that sets one
    provides it), completed from the schema."""
    found: typing.Dict[str, typing.Any] = {}
    for region in regions:
        for name, value in region.attributes.items():
            if name in spec.attributes and name not in found:
                found[name] = value
    return spec.complete_attributes(found, new)


def make_label(
    spec: FieldSpec,
    group: Group,
    current: typing.Optional[fol.Label],
    image_size: typing.Optional[typing.Sequence[int]] = None,
) -> typing.Optional[fol.Label]:
    """One label of an object field from its regions, or ``None`` when they
    hold no shape (its id is not set here)."""
    parts = group.parts
    head = parts[0][1]
    attributes = merge_attributes(spec, [region for _, region in parts], new=group.label_id is None)
    if spec.type == "detections":
        if head.box is None:
            return None
        return fol.Detection(label=head.label, bounding_box=list(head.box), **attributes)
    if spec.type in ("polylines", "polygons"):
        shapes = [shape for _, region in parts for shape in region.shapes or [] if shape]
        if not shapes:
            return None
        if current is not None:
            closed, filled = bool(current.closed), bool(current.filled)
        else:
            closed = head.closed if head.closed is not None else spec.type == "polygons"
            filled = head.filled if head.filled is not None else closed
        return fol.Polyline(label=head.label, points=shapes, closed=closed, filled=filled, **attributes)
    if spec.type == "keypoints":
        points = keypoint_points(parts, current)
        if points is None:
            return None
        return fol.Keypoint(label=head.label, points=points, **attributes)
    if spec.type == "instances":
        instance = geometry.full_mask_to_instance(_instance_mask(spec, parts, image_size))
        if instance is None:
            return None
        box, mask = instance
        return fol.Detection(label=head.label, bounding_box=box, mask=mask, **attributes)
    raise ValueError("Unsupported label type %s" % spec.type)


def keypoint_points(parts: Parts, current: typing.Optional[fol.Label]) -> typing.Optional[typing.List[Point]]:
    """The points of a keypoint from its parts: a point nobody placed is NaN.

    Single points: as many as the uploaded label had, or up to the highest
    part (``None`` when no part holds a point). A pose: the skeleton's points
    of its first region, then the uploaded label's points beyond the
    skeleton (never sent); an uploaded label with fewer points than the
    skeleton keeps its length unless the person placed the points beyond it.
    """
    old = [list(p) for p in current.points] if current is not None and current.points is not None else None
    skeleton = next((region for _, region in parts if region.skeleton), None)
    if skeleton is not None:
        points = [_point(p) for p in skeleton.points or []]
        if old is not None:
            size = len(points)
            if len(old) > size:
                points.extend(old[size:])
            while len(points) > len(old) and geometry.is_missing(points[-1]):
                points.pop()
        return points
    placed: typing.Dict[int, Point] = {}
    size = 0
    for index, region in parts:
        size = max(size, index + max(len(region.points or []), 1))
        for k, point in enumerate(region.points or []):
            if not geometry.is_missing(point):
                placed[index + k] = _point(point)
    if not placed:
        return None
    return [placed.get(i, [math.nan, math.nan]) for i in range(max(len(old or []), size))]


def _point(point: typing.Any) -> Point:
    return [math.nan, math.nan] if geometry.is_missing(point) else [float(point[0]), float(point[1])]


def _instance_mask(spec: FieldSpec, parts: Parts, image_size: typing.Optional[typing.Sequence[int]]) -> np.ndarray:
    """The full-image mask of an instance: the union of its parts."""
    rasters = [np.asarray(region.mask, dtype=bool) for _, region in parts if region.mask is not None]
    polygons = [polygon for _, region in parts for polygon in region.polygons or []]
    if rasters:
        height, width = rasters[0].shape[:2]
    else:
        width, height = require_image_size(spec, image_size)
    full = np.zeros((height, width), dtype=bool)
    for raster in rasters:
        full |= raster
    if polygons:
        full |= masks.polygons_to_mask(scale_polygons(polygons, width, height), width, height)
    return full


def scale_polygons(
    polygons: typing.Sequence[Polygon], width: float, height: float
) -> typing.List[typing.List[np.ndarray]]:
    """Normalised polygons -> pixel-edge coordinates of a ``width x height``
    mask."""
    scale = np.array([float(width), float(height)])
    return [[np.asarray(ring, dtype=float).reshape(-1, 2) * scale for ring in polygon] for polygon in polygons]


def segmentation_to_labels(
    spec: FieldSpec,
    regions: typing.Sequence[Region],
    current: typing.Mapping[str, typing.Optional[fol.Label]],
    known_ids: typing.Iterable[str] = (),
    image_size: typing.Optional[typing.Sequence[int]] = None,
    on_new: typing.Optional[OnNew] = None,
) -> typing.Dict[str, fol.Label]:
    """The semantic segmentation of one sample from its regions (each one
    class's area, painted with the class's pixel value of ``mask_targets``).

    The label keeps the uploaded label's id; no region at all is an erased
    segmentation: an all-zero mask under that id. The mask is drawn at the
    size of the service's own masks, else of the uploaded mask (and keeps
    its integer type), else of the image.

    Args:
        spec: the field's ``FieldSpec``
        regions: the field's regions (``polygons`` or ``mask`` each)
        current: ``{label_id: Label}`` of the uploaded label, if the dataset
            still has it
        known_ids (()): more label ids that keep their id (the field was
            deleted)
        image_size (None): ``(width, height)``
        on_new (None): called with a new label (see :data:`OnNew`)

    Returns:
        ``{label_id: Segmentation}``, or ``{}``
    """
    known_ids = list(known_ids)
    candidates = [region.label_id for region in regions if region.label_id]
    label_id = next((i for i in candidates if i in current), None) or next(iter(current), None)
    if label_id is None:
        label_id = next((i for i in candidates if i in known_ids), None) or next(iter(known_ids), None)
    if not regions and label_id is None:
        return {}
    label = current.get(label_id) if label_id is not None else None
    old = label.get_mask() if label is not None else None
    old = np.asarray(old) if old is not None else None
    rasters = [np.asarray(region.mask, dtype=bool) for region in regions if region.mask is not None]
    if rasters:
        height, width = rasters[0].shape[:2]
    elif old is not None:
        height, width = old.shape[:2]
    elif not regions and not image_size:
        return {}  # erased, and nothing says at which size
    else:
        width, height = require_image_size(spec, image_size)
    dtype = old.dtype if old is not None and np.issubdtype(old.dtype, np.integer) else np.uint8
    mask = np.zeros((height, width), dtype=dtype)
    class_to_value = spec.class_to_value
    for region in regions:
        value = class_to_value.get(region.label) if region.label is not None else None
        if value is None:
            continue
        if region.mask is not None:
            mask[np.asarray(region.mask, dtype=bool)] = value
        if region.polygons:
            polygons = scale_polygons(region.polygons, width, height)
            mask[masks.polygons_to_mask(polygons, width, height)] = value
    segmentation = fol.Segmentation(mask=mask)
    if label_id is not None:
        segmentation.id = label_id
    elif on_new is not None:
        on_new(segmentation, list(enumerate(regions)))
    return {segmentation.id: segmentation}


def classifications_to_labels(
    spec: FieldSpec,
    choices: typing.Iterable[typing.Tuple[str, typing.Mapping[str, typing.Any]]],
    current: typing.Mapping[str, typing.Optional[fol.Label]],
    known_ids: typing.Iterable[str] = (),
    on_new: typing.Optional[OnNew] = None,
) -> typing.Dict[str, fol.Classification]:
    """The labels of a classification(s) field from the classes chosen.

    A ``classification`` field keeps the first choice, under the uploaded
    label's id; a ``classifications`` field keeps each class once, an
    uploaded class under its id.

    Args:
        spec: the field's ``FieldSpec``
        choices: ``(class, {attribute: value set})`` in the service's order
        current: ``{label_id: Label}`` of the uploaded labels still in the
            dataset
        known_ids (()): more label ids that keep their id (the field was
            deleted)
        on_new (None): called with every new label (see :data:`OnNew`)

    Returns:
        ``{label_id: Classification}``
    """
    by_name = {label.label: label_id for label_id, label in current.items() if label is not None}
    single_id = next(iter([*current, *known_ids]), None) if spec.type == "classification" else None
    labels = {}
    seen = set()
    for name, found in choices:
        if name in seen:
            continue
        seen.add(name)
        label_id = single_id or by_name.get(name)
        attributes = spec.complete_attributes(
            {n: v for n, v in found.items() if n in spec.attributes}, new=label_id is None
        )
        label = fol.Classification(label=name, **attributes)
        if label_id is not None:
            label.id = label_id
        elif on_new is not None:
            on_new(label, [])
        labels[label.id] = label
        if spec.type == "classification":
            break
    return labels


def foreign_labels(
    spec: FieldSpec,
    regions_by_type: typing.Mapping[str, typing.Sequence[Region]],
    on_new: typing.Optional[OnNew] = None,
    attributes: bool = True,
) -> typing.Dict[str, typing.Dict[str, fol.Label]]:
    """Labels of other types drawn in a field (a point in a detections
    field), for FiftyOne's ``unexpected`` handling: always new labels.

    Args:
        spec: the field's ``FieldSpec``
        regions_by_type: ``{label type: [Region]}`` (``detections``,
            ``instances``, ``polylines``, ``keypoints``)
        on_new (None): called with every label (see :data:`OnNew`)
        attributes (True): whether the labels get the field's attributes

    Returns:
        ``{return_type: {label_id: Label}}``, without the field's own
        return type
    """
    out: typing.Dict[str, typing.Dict[str, fol.Label]] = {}
    for label_type, regions in regions_by_type.items():
        return_type = RETURN_TYPES[label_type]
        if return_type == spec.return_type or not regions:
            continue
        as_spec = dataclasses.replace(spec, type=label_type, classes=[])
        if not attributes:
            as_spec.attributes = {}
        labels = regions_to_labels(as_spec, regions, {}, on_new=on_new)
        if labels:
            out.setdefault(return_type, {}).update(labels)
    return out
