"""Which FastLabel annotation holds which uploaded FiftyOne label.

FastLabel gives every annotation it creates an id of its own and answers a
task create with the task id only, so the run learns the annotation ids by
reading its tasks back. Edits come back by id, so this matching must be
exact: each uploaded annotation is matched to the returned annotation of the
same type and class whose content (geometry, attributes) is the same, within
a pixel; order only decides between identical annotations. A task whose
annotations cannot all be matched (the server dropped, added or changed one)
is refused with :class:`AnnotationIdMismatchError`, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..core.errors import AnnotationBackendError

#: the largest coordinate difference (pixels) between what was sent and what
#: the server answers (a server that rounds coordinates is fine)
TOLERANCE = 1.0


class AnnotationIdMismatchError(AnnotationBackendError):
    """A task's annotations as the server returned them are not the ones
    that were uploaded, so FastLabel's ids cannot be mapped to FiftyOne's."""


def match_annotation_ids(
    task: Mapping[str, Any],
    sent: Sequence[Mapping[str, Any]],
    part_ids: Iterable[str | None],
    sample_id: str | None = None,
) -> dict[str, str]:
    """``{FastLabel annotation id: FiftyOne part id}`` of one task.

    Args:
        task: the task as the server returns it (``annotations`` with ids)
        sent: the annotations uploaded with the task
        part_ids: the FiftyOne part id of each of ``sent`` (``None`` for
            annotations without one, such as a scalar's)
        sample_id (None): the task's sample, for the error message

    Raises:
        AnnotationIdMismatchError: the counts differ, or an uploaded
            annotation has no counterpart
    """
    returned = [a for a in task.get("annotations") or [] if isinstance(a, dict)]
    where = "task %s%s" % (task.get("id"), " (sample %s)" % sample_id if sample_id else "")
    if len(returned) != len(sent):
        raise AnnotationIdMismatchError(
            "FastLabel %s holds %d annotations where %d were uploaded, so its annotations cannot be matched to "
            "FiftyOne's labels by id" % (where, len(returned), len(sent))
        )
    pending = list(range(len(returned)))
    out: dict[str, str] = {}
    for annotation, part in zip(sent, part_ids):
        best: int | None = None
        best_distance: float | None = None
        for i in pending:
            distance = _distance(annotation, returned[i])
            if distance is not None and (best_distance is None or distance < best_distance):
                best, best_distance = i, distance
        if best is None or best_distance is None or best_distance > TOLERANCE:
            raise AnnotationIdMismatchError(
                "FastLabel %s has no annotation matching the uploaded %s annotation of class %r (label %s): the "
                "server changed it, so edits could not come back by id"
                % (where, annotation.get("type"), annotation.get("value"), part)
            )
        pending.remove(best)
        if part is not None:
            out[returned[best]["id"]] = part
    return out


def _distance(sent: Mapping[str, Any], returned: Mapping[str, Any]) -> float | None:
    """The largest coordinate difference between two annotations of the same
    type, class and attributes, or ``None`` when they differ otherwise."""
    if sent.get("type") != returned.get("type") or sent.get("value") != returned.get("value"):
        return None
    if not _same_attributes(sent.get("attributes"), returned.get("attributes")):
        return None
    distance = 0.0
    if "points" in sent:
        kind = sent.get("type")
        got = _coordinates(returned.get("points"), kind)
        want = _coordinates(sent.get("points"), kind)
        if got is None or want is None or len(got) != len(want):
            return None
        distance = max([abs(a - b) for a, b in zip(want, got)], default=0.0)
        if kind == "bbox" and abs(float(sent.get("rotation") or 0) - float(returned.get("rotation") or 0)) > 1e-6:
            return None
    if "keypoints" in sent:
        points = {k.get("key"): k.get("value") or [] for k in returned.get("keypoints") or [] if isinstance(k, dict)}
        for entry in sent["keypoints"]:
            value, other = entry.get("value") or [], points.get(entry["key"], [])
            if len(value) != len(other):
                return None
            if value:
                distance = max(distance, abs(value[0] - other[0]), abs(value[1] - other[1]))
    return distance


def _coordinates(points: Any, kind: str | None) -> list[float] | None:
    """A flat list of numbers to compare; segmentation regions by the
    bounding box of each region (a server may start a ring elsewhere)."""
    try:
        if kind != "segmentation":
            return [float(v) for v in points]
        out: list[float] = []
        for region in points:
            values = [float(v) for ring in region for v in ring]
            xs, ys = values[0::2], values[1::2]
            out.extend((min(xs), min(ys), max(xs), max(ys)))
        return out
    except (TypeError, ValueError, IndexError):
        return None


def _same_attributes(sent: Iterable[Mapping[str, Any]] | None, returned: Iterable[Any] | None) -> bool:
    """Whether every attribute that was sent has the same value (a server
    also lists the attributes nobody set)."""
    got = {a.get("key"): a.get("value") for a in returned or [] if isinstance(a, dict)}
    for item in sent or []:
        if _normal(got.get(item["key"])) != _normal(item["value"]):
            return False
    return True


def _normal(value: object) -> object:
    if isinstance(value, list):
        return sorted(str(v) for v in value)
    return value
