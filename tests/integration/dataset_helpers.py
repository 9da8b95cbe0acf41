"""Datasets of generated images, shared by the integration tests of every backend."""

import os

import fiftyone as fo
import fiftyone.core.labels as fol
import numpy as np
from PIL import Image


def make_image(folder, name, width=80, height=60, seed=0):
    path = os.path.join(folder, name)
    pixels = (np.random.default_rng(seed).random((height, width, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def add_images(dataset, folder, count, width=80, height=60, **fields_per_index):
    """Adds ``count`` generated images; ``fields_per_index[field](i)`` gives
    each sample's field values."""
    samples = []
    for i in range(count):
        sample = fo.Sample(filepath=make_image(folder, "img_%03d.png" % i, width, height, seed=i))
        for field, factory in fields_per_index.items():
            sample[field] = factory(i)
        samples.append(sample)
    dataset.add_samples(samples)
    return dataset


def dets(*specs):
    """``Detections`` from ``(label, [x, y, w, h], {attrs})`` tuples."""
    return fol.Detections(
        detections=[fol.Detection(label=s[0], bounding_box=list(s[1]), **(s[2] if len(s) > 2 else {})) for s in specs]
    )
