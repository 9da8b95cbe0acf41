"""Building the dict that FiftyOne merges after a download.

FiftyOne infers deletions: every label id of the run's ``id_map`` that is
not returned is deleted. So a backend must return, for every sample of the
run, either the labels the annotator's work says it has now, or the labels
that were uploaded (when nobody worked on the sample). This module does that
bookkeeping once for every service.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .idmap import iter_labels, load_current_labels
from .progress import progress_bar

if TYPE_CHECKING:
    from fiftyone.core.collections import SampleCollection
    from fiftyone.core.labels import Label

    from .backend import Annotations, IdMap
    from .schema import Fields, FieldSpec

#: a human annotation of one sample, in the service's own form
AnnotationT = TypeVar("AnnotationT")


class _Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"


#: returned by a converter (or used internally) for "leave the field as it is"
UNCHANGED = _Unchanged()


def uploaded_labels(spec: FieldSpec, uploaded_ids: object, current_value: object) -> dict[str, Label]:
    """``{label_id: Label}`` of the labels uploaded for one sample and field
    that still exist in the dataset."""
    if spec.type == "scalar" or uploaded_ids is None:
        return {}
    if not isinstance(uploaded_ids, (list, tuple)):
        uploaded_ids = [uploaded_ids]
    wanted = set(uploaded_ids)
    return {label.id: label for label in iter_labels(current_value) if label.id in wanted}


def build_annotations(
    samples: SampleCollection,
    fields: Fields,
    id_map: IdMap,
    sample_ids: Sequence[str],
    annotated: Mapping[str, AnnotationT],
    convert: Callable[[FieldSpec, AnnotationT, dict[str, Label], str], Any],
) -> Annotations:
    """FiftyOne's ``download_annotations`` result for a run.

    Args:
        samples: the run's sample collection
        fields: ``{field: FieldSpec}``
        id_map: the run's ``id_map`` (``{field: {sample_id: ids}}``)
        sample_ids: every sample id of the run
        annotated: ``{sample_id: annotation}`` for the samples whose human
            annotation counts (in the service's own form)
        convert: ``convert(spec, annotation, uploaded, sample_id)`` returning
            ``{label_id: Label}`` (or the scalar value) for one field, where
            ``uploaded`` is :func:`uploaded_labels` of that sample and field

    Returns:
        ``{field: {return_type: {sample_id: value}}}``
    """
    current = load_current_labels(samples, list(fields), sample_ids)
    out: Annotations = {field: {spec.return_type: {}} for field, spec in fields.items()}
    with progress_bar(len(sample_ids)) as advance:
        for sample_id in sample_ids:
            annotation = annotated.get(sample_id)
            for field, spec in fields.items():
                current_value = current[field].get(sample_id)
                uploaded = uploaded_labels(spec, id_map.get(field, {}).get(sample_id), current_value)
                if annotation is not None:
                    value = convert(spec, annotation, uploaded, sample_id)
                elif spec.type == "scalar":
                    # untouched: everything stays as it is
                    value = UNCHANGED if current_value is None else current_value
                else:
                    # a sample left out of the answer is not touched at all,
                    # which is right when nothing of it was uploaded; uploaded
                    # labels must be returned to survive
                    value = uploaded if uploaded else UNCHANGED
                if value is not UNCHANGED:
                    out[field][spec.return_type][sample_id] = value
            advance()
    return out
