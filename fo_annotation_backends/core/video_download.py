"""Service tracks -> FiftyOne's video download shape.

A backend parses a service's video answer into :class:`~.regions.Region`
objects, one per track and frame it got (``frame_number`` already in
FiftyOne's 1-based numbering, see :class:`~.video.FrameNumbering`), with:

- ``region_id``: the service's id of the **track** (Label Studio's result
  id, Kili's ``mid``, FastLabel's annotation id): the regions sharing it are
  one track;
- ``index``: the FiftyOne index of the track when the backend knows it
  (it uploaded the track), else ``None``;
- ``label_id``: a FiftyOne label id when the service carries one per frame
  (none of the three does; the backend may resolve one);
- ``keyframe`` and ``segment_end`` as the service says.

:func:`video_frame_labels` turns the regions of one sample and field into
``{frame_id: {label_id: label}}``, the per-sample value of FiftyOne's video
download shape ``{field: {return_type: {sample_id: {frame_id: {label_id:
label}}}}}`` (``frame_id`` is the frame **document** id: FiftyOne merges
only into existing frame documents, which ``ensure_frames()`` creates at
upload). Rules:

- interpolation (``interpolate=True``, for services that send keyframes
  only, such as Label Studio): between two regions of a track the frames are
  filled linearly (boxes, and points/polylines of the same shape; masks and
  shapes that differ keep the earlier keyframe's), exact at the keyframes
  (their values are used as sent, never recomputed), class and attributes
  from the earlier keyframe, ``keyframe=False``; a region with
  ``segment_end`` stops the track until its next region; the last region of
  a track without ``segment_end`` holds to the video's last frame
  (``extend_last``, what Label Studio and CVAT show);
- frames outside ``1..frame_count`` or without a frame document are dropped
  (logged): they are not frames of the video FiftyOne holds;
- ids: a region's own ``label_id`` if the run uploaded it; else the
  uploaded label of the same track on the same frame (``(frame, index)``,
  so interpolated frames keep their ids, as FiftyOne's own track merge
  does); else a new id, remembered by ``new_ids`` under ``"<field>:<track
  id>@<frame>"`` so that the next load gives it the same id; an id is used
  once per sample;
- indexes: the region's ``index``; else the index of an uploaded label the
  track holds (a remembered new track comes back with the index FiftyOne
  gave it); else a new index above every index of the sample (FiftyOne maps
  it to its own next index). An uploaded label without index that comes
  back on one frame stays without index; any other new track gets one.
  Tracks sharing an index (a class change split at upload) are one FiftyOne
  track again; two regions of one track on one frame: the later one is a
  new label of its own;
- keyframe flags (``keep_keyframes``, see :func:`~.video.keyframe_flags_kept`):
  a region is a keyframe unless the service says otherwise, interpolated
  frames are not; when FiftyOne would delete the flags they are not set.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import fiftyone.core.labels as fol
from bson import ObjectId

from .download import UNCHANGED
from .idmap import iter_labels, recorded_ids
from .regions import Group, NewLabelIds, Region, make_label
from .video import SampleFrames, VideoError, is_frame_field, keyframe_flags_kept, load_frames

if TYPE_CHECKING:
    from fiftyone.core.collections import SampleCollection

    from .backend import Annotations, IdMap
    from .schema import Fields, FieldSpec

logger = logging.getLogger(__name__)

#: one frame of an expanded track: ``(frame_number, region, keyframe)``
Expanded = tuple[int, Region, bool]


@dataclasses.dataclass
class VideoContext:
    """What the download of one sample and frame field knows.

    Attributes:
        sample_id: the sample
        field: the frame field (``frames.<name>``)
        frame_ids: ``{frame_number: frame id}``
        frame_count: the video's decoded frame count (its metadata's)
        frame_size: ``(width, height)`` in pixels, or ``None``
        frame_rate: the metadata's frame rate
        current: ``{frame_number: value}`` of the field now
        uploaded_ids: the label ids the run's ``id_map`` holds for the
            sample and field
        keep_keyframes: whether loaded labels carry ``keyframe`` flags
    """

    sample_id: str
    field: str
    frame_ids: dict[int, str]
    frame_count: int
    frame_size: tuple[int, int] | None = None
    frame_rate: float = 0.0
    current: dict[int, Any] = dataclasses.field(default_factory=dict)
    uploaded_ids: set[str] = dataclasses.field(default_factory=set)
    keep_keyframes: bool = True

    def current_labels(self) -> dict[str, tuple[int, fol.Label]]:
        """``{label_id: (frame_number, label)}`` of the field now."""
        return {str(label.id): (n, label) for n, value in self.current.items() for label in iter_labels(value)}

    def uploaded_by_frame(self) -> dict[str, dict[str, fol.Label]]:
        """``{frame_id: {label_id: label}}`` of the uploaded labels the
        dataset still has (what an untouched sample returns)."""
        out: dict[str, dict[str, fol.Label]] = {}
        for label_id, (frame_number, label) in self.current_labels().items():
            frame_id = self.frame_ids.get(frame_number)
            if label_id in self.uploaded_ids and frame_id is not None:
                out.setdefault(frame_id, {})[label_id] = label
        return out


def interpolate_region(a: Region, b: Region, t: float, frame_number: int) -> Region:
    """The region of a track at ``t`` (0..1) of the way from keyframe ``a``
    to keyframe ``b``, on ``frame_number``: linear in the box, and in the
    points and polyline shapes when both keyframes have the same number of
    them; anything else (masks, polygons, shapes of other sizes) is
    ``a``'s. Class and attributes are ``a``'s; no label id, not a keyframe."""
    box = a.box
    if a.box is not None and b.box is not None:
        box = [p + (q - p) * t for p, q in zip(a.box, b.box)]
    points = a.points
    if a.points is not None and b.points is not None and len(a.points) == len(b.points):
        points = [_lerp_point(p, q, t) for p, q in zip(a.points, b.points)]
    shapes = a.shapes
    if a.shapes is not None and b.shapes is not None and [len(s) for s in a.shapes] == [len(s) for s in b.shapes]:
        shapes = [[_lerp_point(p, q, t) for p, q in zip(sa, sb)] for sa, sb in zip(a.shapes, b.shapes)]
    return dataclasses.replace(
        a,
        box=box,
        points=points,
        shapes=shapes,
        label_id=None,
        frame_number=frame_number,
        keyframe=False,
        segment_end=False,
        attributes=dict(a.attributes),
    )


def _lerp_point(p: Sequence[float], q: Sequence[float], t: float) -> list[float]:
    return [float(p[0]) + (float(q[0]) - float(p[0])) * t, float(p[1]) + (float(q[1]) - float(p[1])) * t]


def expand_track(
    regions: Sequence[Region], frame_count: int, interpolate: bool = False, extend_last: bool = True
) -> list[Expanded]:
    """The frames of one track from its regions (in frame order, one per
    frame): as sent, or with ``interpolate`` filled between keyframes (see
    the module's docstring)."""
    regions = sorted(regions, key=lambda r: int(r.frame_number or 0))
    out: list[Expanded] = []
    for k, region in enumerate(regions):
        start = int(region.frame_number or 0)
        out.append((start, region, region.keyframe is not False))
        if not interpolate or region.segment_end:
            continue
        if k + 1 < len(regions):
            nxt = regions[k + 1]
            stop = int(nxt.frame_number or 0)
            for f in range(start + 1, stop):
                out.append((f, interpolate_region(region, nxt, (f - start) / (stop - start), f), False))
        elif extend_last:
            for f in range(start + 1, frame_count + 1):
                out.append((f, interpolate_region(region, region, 0.0, f), False))
    return out


def _group_tracks(regions: Sequence[Region]) -> list[list[Region]]:
    """The regions of each track (by service track id, else index, else
    label id), in order of first appearance; a second region of a track on
    one frame becomes a track of its own."""
    groups: dict[Any, list[Region]] = {}
    extra: list[list[Region]] = []
    for position, region in enumerate(regions):
        if region.frame_number is None:
            raise ValueError("A video region needs its frame_number (region %r)" % (region.region_id,))
        if region.region_id is not None:
            key: Any = ("track", region.region_id)
        elif region.index is not None:
            key = ("index", region.index)
        elif region.label_id is not None:
            key = ("label", region.label_id)
        else:
            key = ("position", position)
        group = groups.setdefault(key, [])
        if any(r.frame_number == region.frame_number for r in group):
            extra.append([dataclasses.replace(region, region_id=None, index=None)])
        else:
            group.append(region)
    return list(groups.values()) + extra


def video_frame_labels(
    spec: FieldSpec,
    regions: Sequence[Region],
    context: VideoContext,
    interpolate: bool = False,
    extend_last: bool = True,
    new_ids: NewLabelIds | None = None,
) -> dict[str, dict[str, fol.Label]]:
    """The labels of one sample's frame field from a service's track
    regions (see the module's docstring for every rule).

    Args:
        spec: the field's ``FieldSpec`` (detections, polylines, polygons,
            keypoints, instances)
        regions: the regions, ``frame_number`` in FiftyOne's numbering
        context: the sample's :class:`VideoContext`
        interpolate (False): whether the service sent keyframes only
        extend_last (True): with ``interpolate``, whether a track whose last
            region does not end its segment lasts to the last frame
        new_ids (None): the memory of new labels' ids

    Returns:
        ``{frame_id: {label_id: label}}``
    """
    current = context.current_labels()
    known = {i for i in current if i in context.uploaded_ids}
    at = {
        (n, int(label.index)): label_id
        for label_id, (n, label) in current.items()
        if label_id in known and getattr(label, "index", None) is not None
    }
    indexes = [int(label.index) for _, label in current.values() if getattr(label, "index", None) is not None]
    indexes += [r.index for r in regions if r.index is not None]
    next_index = max(indexes, default=0) + 1
    used: set[str] = set()
    dropped = 0
    out: dict[str, dict[str, fol.Label]] = {}
    for group in _group_tracks(regions):
        expanded = expand_track(group, context.frame_count, interpolate, extend_last)
        origins = {f: _origin(context.field, region.region_id, f) for f, region, _ in expanded}
        index = _track_index(group, expanded, origins, current, known, new_ids)
        if index is None and not _stays_unindexed(group, current, known):
            index, next_index = next_index, next_index + 1
        for frame_number, region, keyframe in expanded:
            frame_id = context.frame_ids.get(frame_number)
            if frame_id is None or not 1 <= frame_number <= context.frame_count:
                dropped += 1
                continue
            label_id = region.label_id if region.label_id in known and region.label_id not in used else None
            if label_id is None and index is not None:
                candidate = at.get((frame_number, index))
                label_id = candidate if candidate is not None and candidate not in used else None
            existing = current[label_id][1] if label_id is not None else None
            label = make_label(spec, Group(label_id, [(0, region)]), existing, context.frame_size)
            if label is None:
                continue
            label.index = index
            if context.keep_keyframes:
                label["keyframe"] = keyframe
            if label_id is not None:
                label.id = label_id
            elif new_ids is not None and origins[frame_number] is not None:
                new_ids.assign(label, origins[frame_number])
            if label.id in used:
                label.id = str(ObjectId())
                if new_ids is not None and origins[frame_number] is not None:
                    new_ids.current[str(origins[frame_number])] = label.id
            used.add(label.id)
            out.setdefault(frame_id, {})[label.id] = label
    if dropped:
        logger.warning(
            "Sample %s, field '%s': %d track frame(s) outside the video's %d frames (or without a frame document) "
            "were left out",
            context.sample_id,
            context.field,
            dropped,
            context.frame_count,
        )
    return out


def _origin(field: str, track_id: str | None, frame_number: int) -> str | None:
    return None if track_id is None else "%s:%s@%d" % (field, track_id, frame_number)


def _track_index(
    group: Sequence[Region],
    expanded: Sequence[Expanded],
    origins: Mapping[int, str | None],
    current: Mapping[str, tuple[int, fol.Label]],
    known: set[str],
    new_ids: NewLabelIds | None,
) -> int | None:
    """The region's index, else that of an uploaded label the track holds
    (its own id, or a remembered one)."""
    for region in group:
        if region.index is not None:
            return int(region.index)
    candidates = [r.label_id for r in group if r.label_id in known]
    if new_ids is not None:
        remembered = (new_ids.previous.get(o) for o in origins.values() if o is not None)
        candidates += [i for i in remembered if i in known]
    for label_id in candidates:
        index = getattr(current[str(label_id)][1], "index", None)
        if index is not None:
            return int(index)
    return None


def _stays_unindexed(group: Sequence[Region], current: Mapping[str, tuple[int, fol.Label]], known: set[str]) -> bool:
    """Whether a track is an uploaded label without index, back on one
    frame."""
    if len(group) != 1 or group[0].label_id not in known:
        return False
    return getattr(current[str(group[0].label_id)][1], "index", None) is None


#: ``convert(spec, annotation, context)``: ``{frame_id: {label_id: label}}``
#: for one sample and field, or :data:`~.download.UNCHANGED`
VideoConvert = Callable[["FieldSpec", Any, VideoContext], Any]


def build_video_annotations(
    samples: SampleCollection,
    fields: Fields,
    id_map: IdMap,
    sample_ids: Sequence[str],
    annotated: Mapping[str, Any],
    convert: VideoConvert,
    label_schema: Mapping[str, Any] | None = None,
) -> Annotations:
    """FiftyOne's ``download_annotations`` result for a video run (the
    video counterpart of :func:`~.download.build_annotations`).

    Args:
        samples: the run's collection
        fields: ``{field: FieldSpec}``, frame fields only
        id_map: the run's ``id_map`` (``{field: {sample_id: {frame_id:
            ids}}}``)
        sample_ids: every sample id of the run
        annotated: ``{sample_id: annotation}`` of the samples whose human
            annotation counts (in the service's form)
        convert: ``convert(spec, annotation, context)``, usually calling
            :func:`video_frame_labels`
        label_schema (None): the run's label schema, for
            :func:`~.video.keyframe_flags_kept` (``None``: flags kept)

    Returns:
        ``{field: {return_type: {sample_id: {frame_id: {label_id: label}}}}}``;
        a sample nobody annotated returns its uploaded labels as they are
    """
    for field in fields:
        if not is_frame_field(field):
            raise VideoError("Field '%s' is not a frame field ('frames.<name>')" % field)
    frames = load_frames(samples, list(fields), sample_ids)
    out: Annotations = {field: {spec.return_type: {}} for field, spec in fields.items()}
    for sample_id in sample_ids:
        sample_frames = frames.get(sample_id)
        if sample_frames is None:
            continue  # deleted from the dataset since
        annotation = annotated.get(sample_id)
        for field, spec in fields.items():
            context = video_context(sample_id, field, sample_frames, id_map, label_schema)
            if annotation is not None:
                value = convert(spec, annotation, context)
            else:
                value = context.uploaded_by_frame() or UNCHANGED
            if value is not UNCHANGED:
                out[field][spec.return_type][sample_id] = value
    return out


def video_context(
    sample_id: str,
    field: str,
    frames: SampleFrames,
    id_map: IdMap,
    label_schema: Mapping[str, Any] | None = None,
) -> VideoContext:
    """The :class:`VideoContext` of one sample and field."""
    recorded = id_map.get(field, {}).get(sample_id) or {}
    uploaded = {i for ids in recorded.values() for i in recorded_ids(ids)} if isinstance(recorded, Mapping) else set()
    return VideoContext(
        sample_id=sample_id,
        field=field,
        frame_ids=dict(frames.frame_ids),
        frame_count=frames.frame_count,
        frame_size=frames.frame_size,
        frame_rate=frames.frame_rate,
        current=dict(frames.values.get(field, {})),
        uploaded_ids=uploaded,
        keep_keyframes=True if label_schema is None else keyframe_flags_kept(label_schema, field),
    )
