"""FiftyOne label ids, their container shapes, and service-side part ids.

Services hold one object per region, while a FiftyOne label can span several
regions (a multi-shape polyline, a keypoint set). Part ids keep the FiftyOne
label id recoverable from any region: part 0 carries the label id itself,
part ``k`` carries ``"<label id>_<k>"``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

import fiftyone.core.labels as fol

from . import compat

if TYPE_CHECKING:
    from fiftyone.core.collections import SampleCollection
    from fiftyone.core.labels import Label

    from .schema import FieldSpec

#: the values of some fields by sample: ``{field: {sample_id: value}}``
FieldValues = dict[str, dict[str, Any]]

_OBJECT_ID_RE = re.compile(r"^[0-9a-f]{24}$")
_PART_ID_RE = re.compile(r"^([0-9a-f]{24})(?:_(\d+))?$")

_CONTAINERS = {
    fol.Classifications: "classifications",
    fol.Detections: "detections",
    fol.Polylines: "polylines",
    fol.Keypoints: "keypoints",
}


def is_object_id(value: object) -> bool:
    """Whether ``value`` looks like a FiftyOne (BSON ObjectId) label id."""
    return isinstance(value, str) and bool(_OBJECT_ID_RE.match(value))


def part_id(label_id: str, index: int = 0) -> str:
    """The service-side id of part ``index`` of a FiftyOne label."""
    return label_id if index == 0 else "%s_%d" % (label_id, index)


def split_part_id(region_id: str | None) -> tuple[str, int] | tuple[None, None]:
    """``(label_id, index)`` for a part id, or ``(None, None)`` for others."""
    match = _PART_ID_RE.match(region_id or "")
    if not match:
        return None, None
    return match.group(1), int(match.group(2) or 0)


def iter_labels(value: object) -> list[Label]:
    """The individual labels of a field value (container or single label)."""
    if value is None:
        return []
    for cls, attr in _CONTAINERS.items():
        if isinstance(value, cls):
            return list(getattr(value, attr) or [])
    if isinstance(value, fol.Label):
        return [value]
    return []


def label_ids(value: object, multiple: bool) -> list[str] | str | None:
    """The id_map entry of one sample: a list, a single id, or ``None``."""
    ids = [label.id for label in iter_labels(value)]
    if multiple:
        return ids
    return ids[0] if ids else None


def recorded_ids(value: object) -> list[str]:
    """The label ids an ``id_map`` entry holds (none for a scalar's ``True``
    or a missing entry)."""
    if value is None or value is True:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [str(value)]


def record_ids(id_map: MutableMapping[str, Any], spec: FieldSpec, sample_id: str, value: object) -> None:
    """Records one sample's uploaded ``value`` of field ``spec`` in the
    run's ``id_map``: its label ids, or ``True`` for a scalar that has a
    value (a scalar without one is not recorded)."""
    if spec.type == "scalar":
        if value is not None:
            id_map[sample_id] = True
    else:
        id_map[sample_id] = label_ids(value, spec.multiple)


def load_current_labels(samples: SampleCollection, fields: Sequence[str], sample_ids: Collection[str]) -> FieldValues:
    """The current values of ``fields`` for ``sample_ids``, by sample id.

    Returns:
        ``{field: {sample_id: value}}``
    """
    out: FieldValues = {field: {} for field in fields}
    dataset = compat.base_dataset(samples)
    present = [f for f in fields if dataset.has_field(f)]
    if not sample_ids or not present:
        return out
    columns = dataset.select(list(sample_ids)).values(["id"] + present)
    out.update({field: dict(zip(columns[0], column)) for field, column in zip(present, columns[1:])})
    return out


def field_values(
    samples: SampleCollection, fields: Sequence[str], sample_ids: Iterable[str] | None = None
) -> FieldValues:
    """The values of ``fields`` on the given samples of a view (all of them
    when ``sample_ids`` is ``None``: one query, no id selection), by sample id.

    Returns:
        ``{field: {sample_id: value}}`` (fields the view lacks map to ``{}``)
    """
    present = [f for f in fields if samples.has_field(f)]
    view = samples if sample_ids is None else samples.select(list(sample_ids), ordered=True)
    columns = view.values(["id"] + present)
    values: FieldValues = {field: {} for field in fields}
    values.update({field: dict(zip(columns[0], column)) for field, column in zip(present, columns[1:])})
    return values
