"""Generated images, datasets and comparable forms of labels for the
conformance tests (no zoo datasets: there is no internet here)."""

import math
import os

import fiftyone as fo
import fiftyone.core.labels as fol
import numpy as np
from PIL import Image

from fo_annotation_backends.testing.humans.base import HEIGHT, WIDTH, rect_mask  # noqa: F401 (used by the tests)


def add_samples(dataset, folder, count, **fields):
    """Adds ``count`` samples with generated PNG images; ``fields[name](i)``
    gives sample ``i``'s value of ``name``. Returns the samples, in order."""
    samples = []
    for i in range(count):
        path = os.path.join(folder, "image_%02d.png" % i)
        pixels = (np.random.default_rng(i).random((HEIGHT, WIDTH, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(path)
        sample = fo.Sample(filepath=path)
        for name, factory in fields.items():
            sample[name] = factory(i)
        samples.append(sample)
    dataset.add_samples(samples)
    return list(dataset)


def box(label, bounding_box, **attributes):
    return fol.Detection(label=label, bounding_box=list(bounding_box), **attributes)


def detections(*boxes):
    return fol.Detections(detections=list(boxes))


def labels_of(value):
    """The individual labels of a field value."""
    if value is None:
        return []
    for attr in ("classifications", "detections", "polylines", "keypoints"):
        if hasattr(value, attr):
            return list(getattr(value, attr) or [])
    return [value]


def by_id(value):
    """``{label id: label}`` of a field value."""
    return {label.id: label for label in labels_of(value)}


def ids(dataset, field):
    """Every label id of a field, over the dataset, sorted."""
    out = []
    for sample in dataset.select_fields(field):
        out.extend(label.id for label in labels_of(sample[field]))
    return sorted(out)


def _rounded(values):
    if isinstance(values, (list, tuple)):
        return [_rounded(v) for v in values]
    if isinstance(values, float):
        return None if math.isnan(values) else round(values, 6)
    return values


def comparable(label, attributes=()):
    """A label as a plain, comparable value (geometry rounded to 1e-6)."""
    if label is None:
        return None
    out = {"id": label.id, "type": type(label).__name__}
    if hasattr(label, "label"):
        out["label"] = label.label
    if isinstance(label, fol.Detection):
        out["bounding_box"] = _rounded(list(label.bounding_box))
        mask = label.get_mask()
        out["mask"] = None if mask is None else np.asarray(mask).astype(bool).tolist()
    elif isinstance(label, fol.Polyline):
        out.update(points=_rounded(label.points), closed=bool(label.closed), filled=bool(label.filled))
    elif isinstance(label, fol.Keypoint):
        out["points"] = _rounded([list(p) for p in label.points])
    elif isinstance(label, fol.Segmentation):
        out["mask"] = np.asarray(label.get_mask()).tolist()
    for name in attributes:
        out[name] = label.get_attribute_value(name, None)
    return out


def snapshot(dataset, fields, attributes=()):
    """``{sample id: {field: comparable value}}`` of every sample."""
    out = {}
    for sample in dataset.select_fields(list(fields)):
        row = {}
        for field in fields:
            value = sample[field]
            if isinstance(value, fol.Label):
                row[field] = sorted(
                    (comparable(label, attributes) for label in labels_of(value)), key=lambda c: c["id"]
                )
            else:
                row[field] = value
        out[sample.id] = row
    return out


def box_tolerance(human):
    """How close a box drawn by ``human`` comes back: exact (1e-6), or within
    a pixel of the generated images where the service stores whole pixels."""
    return 1.0 / min(WIDTH, HEIGHT) if human.box_pixels else 1e-6
