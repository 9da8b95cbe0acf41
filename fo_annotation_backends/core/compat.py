"""Every use of a private internal of FiftyOne, in one place.

FiftyOne has no public API for a few things a backend needs (a view's
dataset, the results it caches per run, the label list of a ``Detections``-like
label, a dataset's database id). Each is wrapped here, and
``tests/unit/test_core_compat.py`` checks each one against the installed
FiftyOne, so that a FiftyOne release that changes one fails that test by name
instead of failing somewhere in a user's run. No other module of this package
touches a private attribute of FiftyOne. (No private internal of a service SDK
is used: ``label-studio-sdk`` is only used through its public modules.)
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import fiftyone.core.labels as fol


def root_dataset(samples: Any) -> Any:
    """The dataset a collection (a dataset, a view, a patches/frames/clips
    view) ultimately comes from: what FiftyOne stores annotation runs on."""
    return samples._root_dataset


def base_dataset(samples: Any) -> Any:
    """The dataset a view is built on (for a patches/frames/clips view: the
    generated dataset; for a dataset: itself): where its fields are defined."""
    return samples._dataset


def is_label_list(value: Any) -> bool:
    """Whether ``value`` is a label holding a list of labels (``Detections``,
    ``Polylines``, ``Keypoints``, ``Classifications``, ...)."""
    return isinstance(value, fol._HasLabelList)


def label_list(value: Any) -> list[Any] | None:
    """The labels of a list label (``Detections.detections``, ...), or None
    when ``value`` is not one."""
    if not is_label_list(value):
        return None
    return list(value[value._LABEL_LIST_FIELD] or [])


def dataset_key(dataset: Any) -> str:
    """An identifier of a dataset that survives renaming (its database id)."""
    return str(dataset._doc.id)


def cached_annotation_results(dataset: Any) -> MutableMapping[str, Any]:
    """The annotation results FiftyOne keeps in memory per run key on a
    dataset (``load_annotation_results(cache=True)`` fills it; a cached
    copy keeps the credentials it was loaded with)."""
    cache: MutableMapping[str, Any] = dataset._annotation_cache
    return cache
